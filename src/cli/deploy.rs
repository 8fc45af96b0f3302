//! `modelseal deploy`: verified hot-swap of a registry stage into a serving directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::registry::{registry_error, store_error};
use super::trust::TrustArg;
use super::{CliError, Exit, Output};
use modelseal::registry::{
    Action, DeployError, DeployOptions, DeployStep, Deployer, Deployment, LogError, Registry,
    RegistryError, STATE_FILE, Stage,
};

/// The shortest poll interval (a smaller --interval is raised to this).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Test-only: abort the process right after the named deploy step (fetched, extracted,
/// link-created, switched, state-saved, pruned), to test crash safety.
pub const CRASH_ENV: &str = "MODELSEAL_TEST_DEPLOY_CRASH_AT";

/// Deploy a stage of a model from a registry into DIR, verified, atomically.
///
/// Reads the registry log under --trust (the entries it relies on must be signed by a
/// trusted key, and a log that lost or changed entries seen before is refused), fetches
/// the bundle the stage names, checks its SHA-256, verifies it under --trust while
/// extracting it into DIR/versions/NAME-VERSION-DIGEST12/, then switches the symlink
/// DIR/current to it with one atomic rename. A crash at any point leaves DIR/current
/// pointing to a complete, verified version.
///
/// With --watch it polls every --interval: a new version is deployed when the stage
/// moves (promote or rollback); a version that fails verification is refused with one
/// line on stderr while the old one keeps serving. Stop it with SIGTERM or Ctrl-C: every
/// step is atomic, so it is safe to kill at any moment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry: a directory or an object storage URL.
    #[arg(long, value_name = "PATH_OR_URL", default_value = modelseal::registry::DEFAULT_REGISTRY)]
    pub registry: String,
    /// Trusted public key (.pub) or trust root (repeatable): for the log and the bundles.
    #[arg(long, value_name = "TRUST", required = true)]
    pub trust: Vec<PathBuf>,
    /// The model.
    #[arg(long)]
    pub name: String,
    /// The stage to follow: production or staging.
    #[arg(long, default_value = "production")]
    pub stage: Stage,
    /// The serving directory (DIR/current is what to serve).
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
    /// Keep polling and hot-swap when the stage changes.
    #[arg(long)]
    pub watch: bool,
    /// Poll interval with --watch (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Versions to keep in DIR/versions (the current one always stays).
    #[arg(long, default_value_t = modelseal::registry::DEFAULT_KEEP)]
    pub keep: usize,
    /// Print events as JSON (one object per line with --watch).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Event<'a> {
    event: &'static str,
    name: &'a str,
    stage: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a std::path::Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    if !args.stage.is_deployable() {
        return Err(CliError::usage(format!(
            "cannot deploy the {} stage (production or staging)",
            args.stage
        )));
    }
    let trust = TrustArg::load(&args.trust)?;
    let registry = Registry::open(&args.registry).map_err(store_error)?;
    let mut options = DeployOptions {
        keep: args.keep.max(1),
        ..DeployOptions::default()
    };
    if let Ok(step) = std::env::var(CRASH_ENV)
        && let Some(step) = DeployStep::from_name(&step)
    {
        options.step_hook = Some(Arc::new(move |s: DeployStep| {
            if s == step {
                eprintln!("{CRASH_ENV}: aborting after step {}", s.name());
                std::process::abort();
            }
        }));
    }
    let mut deployer = Deployer::new(registry, &args.name, args.stage, &args.target, options)
        .map_err(deploy_error)?;
    let out = Output { json: args.json };
    if !args.watch {
        return match deployer.poll(trust.policy()) {
            Ok(Some(d)) => report_deployed(&args, &out, &d),
            Ok(None) => Ok(()),
            Err(e) => {
                if out.json {
                    report_error(
                        &args,
                        &out,
                        &e,
                        deployer.current().map(|c| c.version.as_str()),
                    )?;
                }
                let mut err = deploy_error(e);
                err.quiet = out.json;
                Err(err)
            }
        };
    }
    let mut last_error: Option<String> = None;
    loop {
        match deployer.poll(trust.policy()) {
            Ok(Some(d)) => {
                last_error = None;
                report_deployed(&args, &out, &d)?;
            }
            Ok(None) => {}
            Err(e) => {
                // One line per distinct problem, not one per poll.
                let line = e.to_string();
                if last_error.as_deref() != Some(line.as_str()) {
                    report_error(
                        &args,
                        &out,
                        &e,
                        deployer.current().map(|c| c.version.as_str()),
                    )?;
                    last_error = Some(line);
                }
            }
        }
        std::thread::sleep(args.interval.max(MIN_INTERVAL));
    }
}

fn report_deployed(args: &Args, out: &Output, d: &Deployment) -> Result<(), CliError> {
    let signers: Vec<String> = d.bundle.signers().iter().map(ToString::to_string).collect();
    let event = match (d.switched, d.info.action) {
        (false, _) => "up-to-date",
        (true, Action::Rollback) => "rolled-back",
        (true, _) => "deployed",
    };
    if out.json {
        let text = serde_json::to_string(&Event {
            event,
            name: &args.name,
            stage: args.stage,
            version: Some(&d.info.version),
            bundle: Some(d.info.bundle.to_string()),
            entry: Some(d.info.entry),
            path: Some(&d.path),
            signers: Some(signers),
            message: None,
        })
        .map_err(|e| CliError::failure(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{event} {}@{} ({}, log entry {}, sha256 {}, signed by {}) -> {}",
        args.name,
        d.info.version,
        args.stage,
        d.info.entry,
        d.info.bundle,
        signers.join(", "),
        args.target.join("current").display()
    );
    Ok(())
}

fn report_error(
    args: &Args,
    out: &Output,
    e: &DeployError,
    serving: Option<&str>,
) -> Result<(), CliError> {
    let still = match serving {
        Some(v) => format!("still serving {}@{v}", args.name),
        None => "nothing deployed yet".to_string(),
    };
    if out.json {
        let text = serde_json::to_string(&Event {
            event: if matches!(e, DeployError::Refused { .. }) {
                "refused"
            } else {
                "error"
            },
            name: &args.name,
            stage: args.stage,
            version: serving,
            bundle: None,
            entry: None,
            path: None,
            signers: None,
            message: Some(e.to_string()),
        })
        .map_err(|e| CliError::failure(e.to_string()))?;
        println!("{text}");
    } else {
        eprintln!("error: {e}; {still}");
    }
    Ok(())
}

fn deploy_error(e: DeployError) -> CliError {
    match e {
        DeployError::Registry(RegistryError::Log(
            l @ (LogError::RolledBack { .. } | LogError::Rewritten { .. }),
        )) => CliError::new(Exit::Rejected, l.to_string()).hint(format!(
            "entries this deployer saw before are gone or changed, so the registry may be serving an old state; DIR/current was not changed. If the registry was restored from a backup on purpose, delete DIR/{STATE_FILE}"
        )),
        DeployError::Registry(r) => registry_error(r),
        e @ DeployError::Refused { .. } => CliError::new(Exit::Rejected, e.to_string())
            .hint("the version in the registry does not verify; DIR/current was not changed"),
        e @ DeployError::NothingInStage { .. } => CliError::new(Exit::Rejected, e.to_string())
            .hint("promote a version first: modelseal registry promote NAME@VERSION --stage production"),
        e @ DeployError::Busy(_) => CliError::failure(e.to_string()),
        e @ DeployError::Target { .. } => CliError::usage(e.to_string()),
        other => CliError::failure(other.to_string()),
    }
}
