//! `modelseal verify`: prove a bundle is exactly what a trusted key signed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::progress::Progress;
use super::trust::{PinArgs, TrustArg};
use super::{CliError, Exit, Output};
use modelseal::bundle::{self, CollectOptions, VerifyError, VerifyOptions};
use modelseal::trust::Requirement;

/// Verify a bundle against trusted keys; optionally extract it.
///
/// Exit 0 only if everything holds: the zip is unambiguous (no prepended or trailing data,
/// gaps, duplicate or unlisted members, encryption, other compression methods, header
/// disagreements), a trusted key signed the exact manifest bytes, and every file is present
/// with its exact size and digest. Otherwise exit 1 with one line per problem.
///
/// With --extract DIR the files are written only after everything verified, only inside
/// DIR (which must be absent or empty), and DIR appears complete or not at all.
///
/// With --files DIR, BUNDLE is a detached bundle (`sign --detached`): the files in DIR are
/// verified in place and must be exactly the signed ones. That proves what was read at that
/// moment; a directory others can write may change afterwards (deploy full bundles, or a
/// read-only copy).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle to verify.
    #[arg(value_name = "BUNDLE.zip")]
    pub bundle: PathBuf,
    /// Trusted public key file (repeatable), or one trust root (keys/trust.json) that
    /// applies rotation, revocation, expiry, scopes and signature thresholds.
    #[arg(long, value_name = "K.pub|TRUST.json", required = true)]
    pub trust: Vec<PathBuf>,
    /// Trust-root pinning (only with a trust root).
    #[command(flatten)]
    pub pin: PinArgs,
    /// Extract the files into DIR once verified.
    #[arg(long, value_name = "DIR", conflicts_with = "files")]
    pub extract: Option<PathBuf>,
    /// Verify the files of DIR in place against a detached bundle.
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
    /// With --files: follow symbolic links in DIR instead of refusing them.
    #[arg(long, requires = "files")]
    pub follow_symlinks: bool,
    /// Hashing threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as JSON (on stdout, also on failure).
    #[arg(long)]
    pub json: bool,
    /// No progress bar; only errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Serialize)]
struct ProblemReport {
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Report<'a> {
    verified: bool,
    bundle: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    signers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust_root_version: Option<u64>,
    files: usize,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    extracted_to: Option<&'a Path>,
    problems: Vec<ProblemReport>,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    let trust = TrustArg::load_with(&args.trust, &args.pin, Requirement::Threshold)?;
    let mut options = VerifyOptions {
        extract_to: args.extract.clone(),
        ..VerifyOptions::default()
    };
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    let size = match &args.files {
        Some(dir) => super::progress::total_size(std::slice::from_ref(dir)),
        None => std::fs::metadata(&args.bundle)
            .map(|m| m.len())
            .unwrap_or(0),
    };
    let progress = Progress::bytes(size, "verifying", args.quiet || args.json);
    options.progress = progress.callback();
    let result = match &args.files {
        None => bundle::verify(&args.bundle, trust.policy(), &options)
            .map(|v| (v.manifest().clone(), v.signers().to_vec())),
        Some(dir) => {
            let collect = CollectOptions {
                follow_symlinks: args.follow_symlinks,
                ..CollectOptions::default()
            };
            bundle::verify_detached(&args.bundle, dir, trust.policy(), &options, &collect)
                .map(|v| (v.manifest().clone(), v.signers().to_vec()))
        }
    };
    progress.finish();
    let out = Output { json: args.json };
    match result {
        Ok((manifest, signers)) => {
            let m = &manifest;
            let report = Report {
                verified: true,
                bundle: &args.bundle,
                name: Some(&m.name),
                version: Some(&m.version),
                created: Some(&m.created),
                signers: signers.iter().map(ToString::to_string).collect(),
                trust_root_version: trust.root.as_ref().map(|r| r.root().version),
                files: m.files.len(),
                bytes: m.total_size(),
                extracted_to: args.extract.as_deref(),
                problems: Vec::new(),
            };
            if out.json {
                return out.print_json(&report);
            }
            if !args.quiet {
                println!(
                    "verified {} {} ({} files, {} bytes) signed by {}",
                    m.name,
                    m.version,
                    report.files,
                    report.bytes,
                    report.signers.join(", ")
                );
                if let Some(dir) = &args.extract {
                    println!("extracted to {}", dir.display());
                }
            }
            Ok(())
        }
        Err(err) => {
            let (exit, problems) = match &err {
                VerifyError::Rejected(problems) => (
                    Exit::Rejected,
                    problems
                        .iter()
                        .map(|p| ProblemReport {
                            code: p.code(),
                            message: p.to_string(),
                        })
                        .collect(),
                ),
                VerifyError::DestinationNotEmpty(_) => (
                    Exit::Usage,
                    vec![ProblemReport {
                        code: "destination-not-empty",
                        message: err.to_string(),
                    }],
                ),
                other => (
                    Exit::Failure,
                    vec![ProblemReport {
                        code: "io",
                        message: other.to_string(),
                    }],
                ),
            };
            if out.json {
                let report = Report {
                    verified: false,
                    bundle: &args.bundle,
                    name: None,
                    version: None,
                    created: None,
                    signers: Vec::new(),
                    trust_root_version: None,
                    files: 0,
                    bytes: 0,
                    extracted_to: None,
                    problems,
                };
                out.print_json(&report)?;
                let mut e = CliError::new(exit, "");
                e.quiet = true;
                return Err(e);
            }
            let mut e = CliError::new(exit, format!("{} does not verify", args.bundle.display()));
            e.lines.extend(problems.into_iter().map(|p| p.message));
            if exit == Exit::Rejected {
                e = if err.problems().iter().all(|p| p.code() == "policy") {
                    e.hint("do not deploy this bundle: its signatures are intact but the trust root does not accept them (`modelseal keys list TRUST.json` shows every key's status and scope)")
                } else {
                    e.hint("do not deploy this bundle; it is not exactly what a trusted key signed")
                };
            }
            Err(e)
        }
    }
}
