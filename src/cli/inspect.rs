//! `modelseal inspect`: show what a bundle contains.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::trust::{PinArgs, TrustArg};
use super::{CliError, Exit, Output};
use modelseal::bundle::{self, VerifyOptions};
use modelseal::manifest::Manifest;
use modelseal::trust::Requirement;

/// Show what a bundle or a model file contains, without writing anything.
///
/// For a bundle: its manifest and metadata. Without --trust nothing is verified: the
/// output is what the bundle claims about itself and is marked UNVERIFIED. With --trust
/// the bundle is fully verified first.
///
/// For any other file (a model to import): the report an import would produce, parsed in
/// the sandbox: format, tensors (name, dtype, shape), every global referenced with its risk
/// class, warnings, and whether import would refuse it. Useful as a scanner: exit 0 when
/// import would accept every file, 1 when it would refuse one. Several files are inspected
/// in one process (the sandbox is compiled once); with --json each gets its own document.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundles or model files to inspect.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Verify against this public key (repeatable) or trust root first.
    #[arg(long, value_name = "K.pub|TRUST.json")]
    pub trust: Vec<PathBuf>,
    /// Trust-root pinning (only with a trust root).
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// How to parse a model file (ignored for bundles).
    #[command(flatten)]
    pub loader: super::import::LoaderArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    bundle: &'a Path,
    verified: bool,
    signers: Vec<String>,
    manifest: &'a Manifest,
}

/// Run the command: every file in turn; the exit code is the worst outcome.
pub fn run(args: Args) -> Result<(), CliError> {
    let several = args.files.len() > 1;
    let mut worst: Option<CliError> = None;
    for file in &args.files {
        if several && !args.json {
            println!("== {}", file.display());
        }
        if let Err(e) = inspect_one(&args, file) {
            if several {
                // Report now; keep going with the other files.
                let _ = e.report();
            }
            let worse = worst
                .as_ref()
                .is_none_or(|w| (e.exit as u8) > (w.exit as u8));
            if worse {
                worst = Some(e);
            }
        }
    }
    match worst {
        None => Ok(()),
        Some(mut e) if several => {
            e.quiet = true;
            Err(e)
        }
        Some(e) => Err(e),
    }
}

fn inspect_one(args: &Args, path: &Path) -> Result<(), CliError> {
    let is_bundle = bundle::looks_like_bundle(path)
        .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    if !is_bundle {
        if !args.trust.is_empty() {
            return Err(CliError::usage(format!(
                "{} is not a modelseal bundle; --trust applies to bundles only",
                path.display()
            )));
        }
        return super::inspect_model::run(path, args.json, &args.loader.options());
    }
    let (manifest, signers, verified) = if args.trust.is_empty() {
        let u = bundle::read_unverified(path)
            .map_err(|e| CliError::new(Exit::Rejected, format!("{}: {e}", path.display())))?;
        (u.manifest, u.claimed_signers, false)
    } else {
        let trust = TrustArg::load_with(&args.trust, &args.pin, Requirement::Threshold)?;
        let options = VerifyOptions::default();
        let v = bundle::verify(path, trust.policy(), &options).map_err(|e| {
            let mut err = CliError::new(
                Exit::Rejected,
                format!("{} does not verify", path.display()),
            );
            err.lines
                .extend(e.problems().iter().map(ToString::to_string));
            if e.problems().is_empty() {
                err.lines.push(e.to_string());
            }
            err
        })?;
        let signers = v.signers().to_vec();
        (v.manifest().clone(), signers, true)
    };
    let report = Report {
        bundle: path,
        verified,
        signers: signers.iter().map(ToString::to_string).collect(),
        manifest: &manifest,
    };
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&report);
    }
    print_human(&report);
    Ok(())
}

fn print_human(r: &Report<'_>) {
    let m = r.manifest;
    if r.verified {
        println!("VERIFIED bundle {}", r.bundle.display());
        println!("signed by: {}", r.signers.join(", "));
    } else {
        println!(
            "UNVERIFIED bundle {} (pass --trust K.pub to verify)",
            r.bundle.display()
        );
        println!("claims to be signed by: {}", r.signers.join(", "));
    }
    println!("name:      {}", m.name);
    println!("version:   {}", m.version);
    println!("created:   {}", m.created);
    println!("tool:      {} {}", m.tool.name, m.tool.version);
    if !m.metadata.is_empty() {
        println!("metadata:");
        let text = serde_json::to_string_pretty(&m.metadata).unwrap_or_default();
        for line in text.lines() {
            println!("  {line}");
        }
    }
    println!("files ({}, {} bytes):", m.files.len(), m.total_size());
    for f in &m.files {
        println!("  {:>14}  {}  {}", f.size, f.digest, f.path);
    }
}
