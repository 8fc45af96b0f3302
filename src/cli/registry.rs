//! `modelseal registry`: publish verified bundles, compare versions, promote and roll back.

use std::path::PathBuf;

use serde::Serialize;

use super::trust::TrustArg;
use super::{CliError, Exit, Output};
use modelseal::bundle::VerifyOptions;
use modelseal::keys::{self, SecretKey};
use modelseal::registry::{
    self, Action, LogError, Registry, RegistryError, Stage, Standing, StoreError, View,
};

/// Keep model versions in a registry and move them between stages.
///
/// A registry is a directory (default ./registry) or, in builds with the object-store
/// feature, an object storage URL. It holds bundles by SHA-256 and a log of signed,
/// hash-chained entries. Every command reads that log under --trust: only entries signed
/// by trusted keys count, and a log that was altered is refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every registry command takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The registry: a directory or an object storage URL (s3://…, gs://…, az://…).
    #[arg(long, value_name = "PATH_OR_URL", default_value = registry::DEFAULT_REGISTRY)]
    pub registry: String,
    /// Trusted public key (.pub) or trust root, for the log entries and the bundles
    /// (repeatable).
    #[arg(long, value_name = "TRUST", required = true)]
    pub trust: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The registry commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a bundle and add it to the registry (creating a local registry if needed).
    ///
    /// Refuses a bundle that does not verify under --trust, and a name+version already
    /// published with other content. Publishing the same bundle again changes nothing.
    Publish {
        /// The bundle.
        #[arg(value_name = "BUNDLE.zip")]
        bundle: PathBuf,
        /// The publisher's secret key: signs the log entry (must be in --trust).
        #[arg(long, value_name = "K.key")]
        key: PathBuf,
        /// Hashing threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// List the models, or the versions of one model with their stages.
    List {
        /// The model.
        name: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Show one version: metadata, metrics, signers, digest, stage history.
    Show {
        /// NAME@VERSION.
        #[arg(value_name = "NAME@VERSION")]
        target: String,
        #[command(flatten)]
        common: Common,
    },
    /// Compare two versions: metric deltas and changed, added and removed files.
    Compare {
        /// The model.
        name: String,
        /// The first version.
        a: String,
        /// The second version.
        b: String,
        #[command(flatten)]
        common: Common,
    },
    /// The version with the best value of a metric (from metadata.metrics).
    Best {
        /// The model.
        name: String,
        /// The metric, e.g. accuracy (nested metrics as eval.f1).
        #[arg(long)]
        metric: String,
        /// Smaller is better (loss, latency).
        #[arg(long)]
        min: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Put a version into a stage; recorded in the log with your key id and the time.
    ///
    /// For production and staging the bundle is fetched and verified first.
    Promote {
        /// NAME@VERSION.
        #[arg(value_name = "NAME@VERSION")]
        target: String,
        /// production, staging or archived.
        #[arg(long)]
        stage: Stage,
        /// The secret key that signs the log entry (must be in --trust).
        #[arg(long, value_name = "K.key")]
        key: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Put a stage back to the version it held before; deployers follow.
    Rollback {
        /// The model.
        name: String,
        /// production or staging.
        #[arg(long)]
        stage: Stage,
        /// The secret key that signs the log entry (must be in --trust).
        #[arg(long, value_name = "K.key")]
        key: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Print the log: who did what, when.
    Log {
        /// Only this model.
        name: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Check the registry: log chain and signatures, every blob's digest (--deep: verify
    /// every bundle).
    Check {
        /// Also verify every bundle under --trust.
        #[arg(long)]
        deep: bool,
        #[command(flatten)]
        common: Common,
    },
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    match args.command {
        Command::Publish {
            bundle,
            key,
            threads,
            common,
        } => {
            let (trust, out) = setup(&common)?;
            let key = load_key(&key)?;
            let registry = Registry::open_or_create(&common.registry).map_err(store_error)?;
            let mut options = VerifyOptions::default();
            if let Some(t) = threads {
                options.threads = t.max(1);
            }
            let p = registry
                .publish(&bundle, trust.policy(), &key, &options)
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&p);
            }
            match p.entry {
                Some(i) => println!(
                    "published {}@{} (sha256 {}, {} bytes, signed by {}) as log entry {i} by key {}",
                    p.name,
                    p.version,
                    p.bundle,
                    p.size,
                    join(&p.signers),
                    key.id()
                ),
                None => println!(
                    "{}@{} is already published with exactly this content (sha256 {}); nothing changed",
                    p.name, p.version, p.bundle
                ),
            }
            Ok(())
        }
        Command::List { name, common } => list(name, &common),
        Command::Show { target, common } => {
            let (trust, out) = setup(&common)?;
            let (name, version) = split_target(&target)?;
            let registry = open(&common)?;
            let d = registry
                .show(trust.policy(), name, version)
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&d);
            }
            println!("{}@{}", d.name, d.version);
            println!("stages:     {}", stages(&d.stages));
            println!("bundle:     sha256 {} ({} bytes)", d.bundle, d.size);
            println!("signed by:  {}", join(&d.signers));
            println!(
                "published:  {} by key {} (log entry {})",
                d.published, d.publisher, d.entry
            );
            println!("created:    {}", d.created);
            println!("files:      {} ({} bytes)", d.files, d.content_bytes);
            if !d.metrics.is_empty() {
                println!("metrics:");
                for (k, v) in &d.metrics {
                    println!("  {k:<24} {v}");
                }
            }
            if !d.metadata.is_empty() {
                println!("metadata:");
                let text = serde_json::to_string_pretty(&d.metadata).unwrap_or_default();
                for line in text.lines() {
                    println!("  {line}");
                }
            }
            if !d.events.is_empty() {
                println!("history:");
                for e in &d.events {
                    println!(
                        "  #{:<5} {}  {} {} -> {}{}  by {}",
                        e.entry,
                        e.time,
                        e.action,
                        e.stage,
                        e.version,
                        e.from_version
                            .as_ref()
                            .map(|f| format!(" (from {f})"))
                            .unwrap_or_default(),
                        e.actor
                    );
                }
            }
            Ok(())
        }
        Command::Compare { name, a, b, common } => {
            let (trust, out) = setup(&common)?;
            let registry = open(&common)?;
            let c = registry
                .compare(trust.policy(), &name, &a, &b)
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&c);
            }
            println!("{name}: {a} -> {b}");
            println!("metrics:");
            if c.metrics.is_empty() {
                println!("  (none in metadata.metrics)");
            }
            for m in &c.metrics {
                let show = |x: Option<f64>| x.map_or("-".to_string(), |v| v.to_string());
                let delta = m
                    .delta
                    .map(|d| format!("{:+}", (d * 1e9).round() / 1e9))
                    .unwrap_or_else(|| "n/a".into());
                println!(
                    "  {:<24} {:>12} {:>12}  {delta}",
                    m.metric,
                    show(m.a),
                    show(m.b)
                );
            }
            let count = |kind: &str| c.files.iter().filter(|f| f.change == kind).count();
            println!(
                "files: {} changed, {} added, {} removed, {} unchanged",
                count("changed"),
                count("added"),
                count("removed"),
                c.unchanged_files
            );
            for f in &c.files {
                println!("  {:<8} {}", f.change, f.path);
            }
            Ok(())
        }
        Command::Best {
            name,
            metric,
            min,
            common,
        } => {
            let (trust, out) = setup(&common)?;
            let registry = open(&common)?;
            let b = registry
                .best(trust.policy(), &name, &metric, min)
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&b);
            }
            println!(
                "best {name} by {metric} ({}): {}",
                if min { "lowest" } else { "highest" },
                b.best
            );
            for (v, x) in &b.ranking {
                println!("  {v:<20} {x}");
            }
            if !b.missing.is_empty() {
                println!("  without {metric}: {}", b.missing.join(", "));
            }
            Ok(())
        }
        Command::Promote {
            target,
            stage,
            key,
            common,
        } => {
            let (trust, out) = setup(&common)?;
            let (name, version) = split_target(&target)?;
            let key = load_key(&key)?;
            let registry = open(&common)?;
            let c = registry
                .promote(
                    trust.policy(),
                    &key,
                    name,
                    version,
                    stage,
                    &VerifyOptions::default(),
                )
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&c);
            }
            match c.entry {
                Some(i) => println!(
                    "promoted {name}@{version} to {stage} (was {}) as log entry {i} by key {}",
                    c.previous.as_deref().unwrap_or("empty"),
                    c.actor
                ),
                None => println!("{name}@{version} is already in {stage}; nothing changed"),
            }
            Ok(())
        }
        Command::Rollback {
            name,
            stage,
            key,
            common,
        } => {
            let (trust, out) = setup(&common)?;
            let key = load_key(&key)?;
            let registry = open(&common)?;
            let c = registry
                .rollback(trust.policy(), &key, &name, stage)
                .map_err(registry_error)?;
            if out.json {
                return out.print_json(&c);
            }
            println!(
                "rolled back {name} {stage}: {} -> {} as log entry {} by key {}",
                c.previous.as_deref().unwrap_or("?"),
                c.version,
                c.entry.map_or("?".to_string(), |i| i.to_string()),
                c.actor
            );
            Ok(())
        }
        Command::Log { name, common } => show_log(name, &common),
        Command::Check { deep, common } => {
            let (trust, out) = setup(&common)?;
            let registry = open(&common)?;
            let r = registry
                .check(trust.policy(), deep, &VerifyOptions::default())
                .map_err(registry_error)?;
            let ok = r.problems.is_empty();
            if out.json {
                out.print_json(&r)?;
            } else {
                println!(
                    "log: {} entries ({} trusted), chain and signatures intact; {} versions",
                    r.entries, r.trusted_entries, r.versions
                );
                for w in &r.warnings {
                    println!("warning: {w}");
                }
                for p in &r.problems {
                    println!("problem: {p}");
                }
            }
            if ok {
                return Ok(());
            }
            let mut e = CliError::new(
                Exit::Rejected,
                format!("{} problems in the registry", r.problems.len()),
            );
            e.quiet = out.json;
            Err(e)
        }
    }
}

fn setup(common: &Common) -> Result<(TrustArg, Output), CliError> {
    Ok((TrustArg::load(&common.trust)?, Output { json: common.json }))
}

fn open(common: &Common) -> Result<Registry, CliError> {
    Registry::open(&common.registry).map_err(store_error)
}

fn load_key(path: &std::path::Path) -> Result<SecretKey, CliError> {
    keys::load_secret_key(path).map_err(|e| CliError::failure(e.to_string()))
}

fn split_target(target: &str) -> Result<(&str, &str), CliError> {
    target
        .split_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| CliError::usage(format!("{target:?} is not NAME@VERSION")))
}

fn join(ids: &[modelseal::keys::KeyId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn stages(s: &[Stage]) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Serialize)]
struct ModelSummary {
    name: String,
    versions: usize,
    production: Option<String>,
    staging: Option<String>,
}

#[derive(Serialize)]
struct VersionRow {
    version: String,
    bundle: String,
    size: u64,
    published: String,
    publisher: String,
    stages: Vec<Stage>,
}

fn list(name: Option<String>, common: &Common) -> Result<(), CliError> {
    let (trust, out) = setup(common)?;
    let registry = open(common)?;
    let (_, view) = registry.view(trust.policy()).map_err(registry_error)?;
    warn(&view);
    let Some(name) = name else {
        let rows: Vec<ModelSummary> = view
            .models()
            .map(|m| ModelSummary {
                name: m.name.clone(),
                versions: m.versions.len(),
                production: m.current(Stage::Production).map(|v| v.version.clone()),
                staging: m.current(Stage::Staging).map(|v| v.version.clone()),
            })
            .collect();
        if out.json {
            return out.print_json(&rows);
        }
        if rows.is_empty() {
            println!("no models in {}", registry.store().location());
        }
        for r in rows {
            println!(
                "{:<24} {:>3} versions  production: {:<12} staging: {}",
                r.name,
                r.versions,
                r.production.as_deref().unwrap_or("-"),
                r.staging.as_deref().unwrap_or("-")
            );
        }
        return Ok(());
    };
    let model = view
        .model(&name)
        .ok_or_else(|| registry_error(RegistryError::NoSuchModel(name.clone())))?;
    let rows: Vec<VersionRow> = model
        .versions
        .iter()
        .map(|v| VersionRow {
            version: v.version.clone(),
            bundle: v.bundle.to_string(),
            size: v.size,
            published: v.published.clone(),
            publisher: v.publisher.to_string(),
            stages: model.stages_of(&v.version),
        })
        .collect();
    if out.json {
        return out.print_json(&rows);
    }
    for r in rows {
        println!(
            "{:<16} sha256 {}  {:>10} bytes  {}  {}",
            r.version,
            r.bundle.get(..12).unwrap_or_default(),
            r.size,
            r.published,
            stages(&r.stages)
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct LogRow {
    index: u64,
    time: String,
    actor: String,
    trusted: bool,
    action: Action,
    name: String,
    version: String,
    bundle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_version: Option<String>,
}

fn show_log(name: Option<String>, common: &Common) -> Result<(), CliError> {
    let (trust, out) = setup(common)?;
    let registry = open(common)?;
    let (log, _) = registry.view(trust.policy()).map_err(registry_error)?;
    let rows: Vec<LogRow> = log
        .entries()
        .iter()
        .filter(|e| name.as_ref().is_none_or(|n| *n == e.body.name))
        .map(|e| LogRow {
            index: e.body.index,
            time: e.body.time.clone(),
            actor: e.body.actor.to_string(),
            trusted: e.standing == Standing::Trusted,
            action: e.body.action,
            name: e.body.name.clone(),
            version: e.body.version.clone(),
            bundle: e.body.bundle.to_string(),
            stage: e.body.stage,
            from_version: e.body.from_version.clone(),
        })
        .collect();
    if out.json {
        return out.print_json(&rows);
    }
    for r in rows {
        println!(
            "#{:<5} {}  {:<8} {}@{}{}{}  by {}{}",
            r.index,
            r.time,
            r.action.to_string(),
            r.name,
            r.version,
            r.stage.map(|s| format!(" -> {s}")).unwrap_or_default(),
            r.from_version
                .map(|f| format!(" (from {f})"))
                .unwrap_or_default(),
            r.actor,
            if r.trusted {
                ""
            } else {
                "  [UNTRUSTED, ignored]"
            }
        );
    }
    Ok(())
}

fn warn(view: &View) {
    for w in &view.warnings {
        eprintln!("warning: {w}");
    }
}

/// A store error for people.
pub(super) fn store_error(e: StoreError) -> CliError {
    match e {
        StoreError::NoRegistry(loc) => CliError::failure(format!(
            "{loc} is not a modelseal registry"
        ))
        .hint("check --registry (default ./registry); `modelseal registry publish` creates a local one"),
        StoreError::Unsupported(msg) => CliError::usage(msg),
        other => CliError::failure(other.to_string()),
    }
}

/// A registry error for people: refusals exit 1, wrong arguments 2, failures 3.
pub(super) fn registry_error(e: RegistryError) -> CliError {
    match e {
        RegistryError::Bundle(v) => {
            let mut err = CliError::new(Exit::Rejected, "the bundle does not verify");
            err.lines.extend(v.problems().iter().map(ToString::to_string));
            if v.problems().is_empty() {
                err.lines.push(v.to_string());
            }
            err.hint("only bundles that verify under --trust can enter the registry")
        }
        RegistryError::Log(LogError::Store(s)) | RegistryError::Store(s) => store_error(s),
        RegistryError::Log(l) => CliError::new(Exit::Rejected, l.to_string()).hint(
            "the registry log was tampered with or damaged; nothing was changed. Run `modelseal registry check` and restore the store from a backup",
        ),
        e @ RegistryError::KeyNotTrusted { .. } => CliError::usage(e.to_string())
            .hint("pass --trust with the .pub of this --key (or a trust root that lists it, valid for this model)"),
        e @ (RegistryError::NoSuchModel(_) | RegistryError::NoSuchVersion { .. }) => {
            CliError::usage(e.to_string()).hint("`modelseal registry list` shows what is there")
        }
        e @ (RegistryError::Duplicate { .. }
        | RegistryError::Refused(_)
        | RegistryError::BlobMismatch { .. }) => CliError::new(Exit::Rejected, e.to_string()),
        other => CliError::failure(other.to_string()),
    }
}
