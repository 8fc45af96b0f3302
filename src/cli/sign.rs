//! `modelseal sign`: package files into a signed bundle, or countersign one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

use super::progress::Progress;
use super::trust::{PinArgs, TrustArg};
use super::{CliError, Exit, Output};
use modelseal::bundle::{self, CollectOptions, SignOptions};
use modelseal::trust::Requirement;
use modelseal::{canonical, keys, manifest};

/// Package model files and signed metadata into a bundle (a zip file).
///
/// Each PATH may be a directory (its contents are stored with paths relative to it) or a
/// file (stored under its name). The bundle holds the files under files/, a manifest.json
/// listing every file's path, size and SHA-256 digest with the metadata, and
/// signatures.json with an Ed25519 signature over the manifest. Large and binary files are
/// stored uncompressed and 4096-byte aligned; small text files are deflated.
///
/// Symbolic links, special files, names that are not UTF-8 or not portable (`\`, `:`,
/// control characters) and names differing only by case are refused.
///
/// The bundle is written to a temporary file and renamed into place: a failed sign leaves
/// nothing behind.
///
/// With --add-signature BUNDLE, countersign an existing bundle instead: its files are
/// checked against its manifest, then a signature by --key is added (the manifest and
/// files are untouched).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to package.
    #[arg(value_name = "PATH", required_unless_present = "add_signature")]
    pub paths: Vec<PathBuf>,
    /// Secret key file (from `modelseal keygen`).
    #[arg(long, value_name = "K.key")]
    pub key: PathBuf,
    /// Output bundle (with --add-signature: defaults to replacing BUNDLE in place).
    #[arg(
        long,
        value_name = "BUNDLE.zip",
        required_unless_present = "add_signature"
    )]
    pub out: Option<PathBuf>,
    /// Model name (default: the first PATH's name). Letters, digits, `.`, `_`, `-`, `+`.
    #[arg(long)]
    pub name: Option<String>,
    /// Model version, e.g. 1.4.2.
    #[arg(long, default_value = "unversioned")]
    pub version: String,
    /// JSON object with metadata to sign: framework, library versions, metrics,
    /// hyperparameters, feature names, training data…
    #[arg(long, value_name = "META.json")]
    pub metadata: Option<PathBuf>,
    /// Deflate level for small text files, 0 (store everything) to 9.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compress_level: u32,
    /// Creation time to record (RFC 3339, e.g. 2026-11-23T12:00:00Z). Default: now, or
    /// SOURCE_DATE_EPOCH when set (for reproducible bundles).
    #[arg(long, value_name = "TIME")]
    pub created: Option<String>,
    /// Package the targets of symbolic links instead of refusing them.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Skip files and directories with this name (repeatable), e.g. --exclude .git.
    #[arg(long, value_name = "NAME")]
    pub exclude: Vec<String>,
    /// Write a detached bundle: the manifest and signatures only (kilobytes); the files
    /// stay where they are and are verified in place with `verify --files DIR`. Nothing is
    /// copied, so signing costs one read of the files.
    #[arg(long)]
    pub detached: bool,
    /// Countersign this existing bundle instead of creating one.
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["paths", "name", "metadata", "created"])]
    pub add_signature: Option<PathBuf>,
    /// With --add-signature: also require the existing signatures to satisfy this trust
    /// (a .pub file, or a trust root: then at least one existing signature must count and
    /// none may be by a revoked key; the scope's threshold is what countersigning is for).
    #[arg(long, value_name = "TRUST", requires = "add_signature")]
    pub trust: Option<PathBuf>,
    /// Trust-root pinning (only with --trust TRUST.json).
    #[command(flatten)]
    pub pin: PinArgs,
    /// Hashing threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    bundle: &'a Path,
    name: &'a str,
    version: &'a str,
    created: &'a str,
    key_id: String,
    files: usize,
    content_bytes: u64,
    bundle_bytes: u64,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    let key = keys::load_secret_key(&args.key).map_err(|e| CliError::failure(e.to_string()))?;
    if let Some(bundle) = &args.add_signature {
        return countersign(&args, bundle, &key);
    }
    let out_path = args
        .out
        .clone()
        .ok_or_else(|| CliError::usage("--out is required"))?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => default_name(&args.paths)?,
    };
    let mut options = SignOptions::new(name, args.version.clone());
    options.metadata = read_metadata(args.metadata.as_deref())?;
    options.created = created_time(args.created.as_deref())?;
    options.compress_level = args.compress_level;
    options.detached = args.detached;
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    options.collect = CollectOptions {
        follow_symlinks: args.follow_symlinks,
        exclude: args.exclude.clone(),
        skip: None,
    };
    let total = super::progress::total_size(&args.paths);
    let progress = Progress::bytes(total, "signing", args.quiet || args.json);
    options.progress = progress.callback();
    let summary = bundle::sign(&args.paths, &key, &out_path, &options).map_err(sign_error)?;
    progress.finish();
    let m = &summary.manifest;
    let report = Report {
        bundle: &out_path,
        name: &m.name,
        version: &m.version,
        created: &m.created,
        key_id: summary.key_id.to_string(),
        files: m.files.len(),
        content_bytes: m.total_size(),
        bundle_bytes: summary.bundle_size,
    };
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&report);
    }
    println!(
        "signed {} {} -> {} ({} files, {} bytes) with key {}",
        report.name,
        report.version,
        out_path.display(),
        report.files,
        report.content_bytes,
        report.key_id
    );
    Ok(())
}

fn countersign(args: &Args, bundle_path: &Path, key: &keys::SecretKey) -> Result<(), CliError> {
    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| bundle_path.to_path_buf());
    let trust = match &args.trust {
        Some(t) => Some(TrustArg::load_with(
            std::slice::from_ref(t),
            &args.pin,
            Requirement::AtLeastOne,
        )?),
        None => None,
    };
    let summary = bundle::add_signature(
        bundle_path,
        key,
        &out_path,
        trust.as_ref().map(|t| t.policy()),
    )
    .map_err(sign_error)?;
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&serde_json::json!({
            "bundle": out_path,
            "name": summary.manifest.name,
            "version": summary.manifest.version,
            "added_key_id": summary.key_id.to_string(),
        }));
    }
    println!(
        "countersigned {} {} ({}) with key {}",
        summary.manifest.name,
        summary.manifest.version,
        out_path.display(),
        summary.key_id
    );
    Ok(())
}

fn sign_error(e: bundle::SignError) -> CliError {
    match e {
        bundle::SignError::Countersign(inner) => {
            let mut err = CliError::new(
                Exit::Rejected,
                "cannot countersign: the bundle does not verify",
            );
            err.lines
                .extend(inner.problems().iter().map(ToString::to_string));
            if inner.problems().is_empty() {
                err.lines.push(inner.to_string());
            }
            err
        }
        bundle::SignError::Inputs(bundle::CollectError::Symlink(p)) => {
            CliError::failure(format!("{} is a symbolic link", p.display()))
                .hint("pass --follow-symlinks to package its target, or remove the link")
        }
        other => CliError::failure(other.to_string()),
    }
}

/// The bundle name from the first input: its file stem or directory name, made safe.
fn default_name(paths: &[PathBuf]) -> Result<String, CliError> {
    let first = paths
        .first()
        .ok_or_else(|| CliError::usage("no PATH given"))?;
    let canonical = std::fs::canonicalize(first).unwrap_or_else(|_| first.clone());
    let stem = if canonical.is_dir() {
        canonical.file_name()
    } else {
        canonical.file_stem()
    };
    let raw = stem
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    manifest::validate_label("name", &cleaned)
        .map(|()| cleaned)
        .map_err(|_| {
            CliError::usage(format!(
                "cannot derive a bundle name from {}",
                first.display()
            ))
            .hint("pass --name NAME")
        })
}

fn read_metadata(path: Option<&Path>) -> Result<Map<String, Value>, CliError> {
    let Some(path) = path else {
        return Ok(Map::new());
    };
    let bytes =
        std::fs::read(path).map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    let value = canonical::parse_value_lenient_format(
        &bytes,
        "metadata file",
        manifest::MAX_METADATA_BYTES,
    )
    .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::failure(format!(
            "{}: metadata must be a JSON object",
            path.display()
        ))),
    }
}

fn created_time(arg: Option<&str>) -> Result<SystemTime, CliError> {
    if let Some(text) = arg {
        return humantime::parse_rfc3339_weak(text)
            .map_err(|e| CliError::usage(format!("--created {text:?}: {e}")));
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: u64 = epoch.trim().parse().map_err(|_| {
            CliError::usage(format!(
                "SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds"
            ))
        })?;
        return SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .filter(|t| *t <= manifest::max_timestamp())
            .ok_or_else(|| {
                CliError::usage(format!("SOURCE_DATE_EPOCH={epoch} is after the year 9999"))
            });
    }
    Ok(SystemTime::now())
}
