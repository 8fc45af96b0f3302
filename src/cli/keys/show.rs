//! `keys list`, `keys verify`, `keys pin`: show and check a trust root, move the pin.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::trust::{PinArgs, trust_error};
use crate::cli::{CliError, Output};
use modelseal::trust::{
    self, Anchor, Expiry, KeyStatus, SigningKey, TrustFiles, TrustRoot, VerifiedTrustRoot,
};

/// Show the keys of a trust root (after verifying its chain; an expired trust root is
/// shown and marked EXPIRED).
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Pinning (the pin is read, not moved).
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Verify a trust root: its chain of versions from the pinned one (or, on first use, from
/// the oldest version kept in TRUST.d/), every root threshold, and its expiry. On success
/// the pin moves to the newest version. Exit 0 if it holds, 1 if not.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// Pinning.
    #[command(flatten)]
    pub pin: PinArgs,
    /// Print the result as JSON (on stdout, also on failure).
    #[arg(long)]
    pub json: bool,
}

/// Pin a trust root on this machine: like `keys verify`, or with --reset replace the pin
/// by the given file as it is (after checking its own root signatures and expiry) — only
/// after a deliberate reset of the root keys, verified out of band.
#[derive(Debug, clap::Args)]
pub struct PinCmdArgs {
    /// The trust root.
    #[arg(value_name = "TRUST.json")]
    pub file: PathBuf,
    /// State file (default: next to the trust file, e.g. keys/trust.state).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Forget the previous pin and trust this file as it is.
    #[arg(long)]
    pub reset: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct AnchorReport {
    kind: &'static str,
    version: u64,
}

impl From<Anchor> for AnchorReport {
    fn from(a: Anchor) -> Self {
        match a {
            Anchor::Pinned(version) => AnchorReport {
                kind: "pinned",
                version,
            },
            Anchor::FirstUse(version) => AnchorReport {
                kind: "first-use",
                version,
            },
        }
    }
}

#[derive(Serialize)]
struct ListReport<'a> {
    trust_root: &'a Path,
    version: u64,
    expired: bool,
    anchor: AnchorReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_version: Option<u64>,
    content: &'a TrustRoot,
}

/// `keys list`.
pub fn list(args: ListArgs) -> Result<(), CliError> {
    let file = &args.file;
    let options = args.pin.load_options(file, Expiry::Ignore, false);
    let verified = trust::load(file, &options).map_err(|e| trust_error(e, file))?;
    let pending = trust::store::read_pending(&TrustFiles::new(file))
        .ok()
        .flatten()
        .map(|p| p.version());
    let root = verified.root();
    let report = ListReport {
        trust_root: file,
        version: root.version,
        expired: root.expires.system() <= options.now,
        anchor: verified.anchor().into(),
        pending_version: pending,
        content: root,
    };
    let out = Output { json: args.json };
    if out.json {
        return out.print_json(&report);
    }
    println!(
        "trust root {} version {}, issued {}, expires {}{}",
        file.display(),
        root.version,
        root.issued,
        root.expires,
        if report.expired {
            "  ** EXPIRED **"
        } else {
            ""
        }
    );
    println!("verified {}", describe_anchor(verified.anchor()));
    println!(
        "root keys ({} of {} must sign every change):",
        root.root.threshold,
        root.root.keys.len()
    );
    for k in &root.root.keys {
        println!("  {}  {}", k.id(), k.comment());
    }
    println!("signing keys:");
    if root.signing_keys.is_empty() {
        println!("  (none: add one with `modelseal keys add`)");
    }
    for k in &root.signing_keys {
        println!("  {}  {}", k.id(), describe_key(k));
    }
    if !root.thresholds.is_empty() {
        println!("signature thresholds (default 1):");
        for t in &root.thresholds {
            println!("  {:<24} {} signatures", t.scope.as_str(), t.signatures);
        }
    }
    if let Some(v) = pending {
        println!("pending: version {v} awaits root signatures (`modelseal keys sign`)");
    }
    Ok(())
}

fn describe_anchor(a: Anchor) -> String {
    match a {
        Anchor::Pinned(v) => format!("from version {v}, pinned on this machine"),
        Anchor::FirstUse(v) => {
            format!("from version {v}, trusted on first use (no pin on this machine yet)")
        }
    }
}

fn describe_key(k: &SigningKey) -> String {
    let status = match &k.status {
        KeyStatus::Active => "active".to_string(),
        KeyStatus::Retired { since, grace_until } => {
            format!("retired {since}, grace until {grace_until}")
        }
        KeyStatus::Revoked { since, reason } => format!("REVOKED {since}: {reason}"),
    };
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    let mut text = format!("{status}; scope {}", scopes.join(", "));
    if let Some(t) = k.not_before {
        text.push_str(&format!("; not before {t}"));
    }
    if let Some(t) = k.not_after {
        text.push_str(&format!("; not after {t}"));
    }
    if !k.key.comment().is_empty() {
        text.push_str(&format!("; {}", k.key.comment()));
    }
    text
}

#[derive(Serialize)]
struct VerifyReport<'a> {
    trust_root: &'a Path,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anchor: Option<AnchorReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<PathBuf>,
    pin_updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn report_verified(
    file: &Path,
    state: Option<PathBuf>,
    result: Result<VerifiedTrustRoot, trust::TrustError>,
    json: bool,
) -> Result<(), CliError> {
    let out = Output { json };
    match result {
        Ok(v) => {
            let report = VerifyReport {
                trust_root: file,
                verified: true,
                version: Some(v.root().version),
                expires: Some(v.root().expires.to_string()),
                anchor: Some(v.anchor().into()),
                state,
                pin_updated: v.pin_written().is_some(),
                error: None,
            };
            if json {
                return out.print_json(&report);
            }
            println!(
                "trust root {} version {} verified {}; expires {}",
                file.display(),
                v.root().version,
                describe_anchor(v.anchor()),
                v.root().expires
            );
            match (&report.state, report.pin_updated) {
                (Some(s), true) => {
                    println!("pinned version {} in {}", v.root().version, s.display())
                }
                (Some(s), false) => println!("pin unchanged ({})", s.display()),
                (None, _) => println!("not pinned (--no-pin): no rollback protection"),
            }
            Ok(())
        }
        Err(e) => {
            let err = trust_error(e, file);
            if json {
                out.print_json(&VerifyReport {
                    trust_root: file,
                    verified: false,
                    version: None,
                    expires: None,
                    anchor: None,
                    state,
                    pin_updated: false,
                    error: Some(err.lines.join("; ")),
                })?;
                let mut quiet = err;
                quiet.quiet = true;
                return Err(quiet);
            }
            Err(err)
        }
    }
}

/// `keys verify`.
pub fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let options = args.pin.load_options(&args.file, Expiry::Enforce, true);
    let result = trust::load(&args.file, &options);
    report_verified(&args.file, options.state.clone(), result, args.json)
}

/// `keys pin`.
pub fn pin(args: PinCmdArgs) -> Result<(), CliError> {
    let pin = PinArgs {
        state: args.state.clone(),
        no_pin: false,
    };
    let options = pin.load_options(&args.file, Expiry::Enforce, true);
    let state = options.state.clone();
    let result = match (&state, args.reset) {
        (Some(s), true) => trust::reset_pin(&args.file, s, SystemTime::now()),
        _ => trust::load(&args.file, &options),
    };
    report_verified(&args.file, state, result, args.json)
}

/// What changed from `prev` to `next`, one line each (for people checking what they sign).
pub fn changes(prev: Option<&TrustRoot>, next: &TrustRoot) -> Vec<String> {
    let mut out = Vec::new();
    let Some(prev) = prev else {
        out.push(format!(
            "new trust root: {} root key(s), {} needed for changes; expires {}",
            next.root.keys.len(),
            next.root.threshold,
            next.expires
        ));
        for k in &next.root.keys {
            out.push(format!("root key {} {}", k.id(), k.comment()));
        }
        for k in &next.signing_keys {
            out.push(format!("signing key {}: {}", k.id(), describe_key(k)));
        }
        return out;
    };
    out.push(format!("version {} -> {}", prev.version, next.version));
    if prev.expires != next.expires {
        out.push(format!("expiry {} -> {}", prev.expires, next.expires));
    }
    for k in &next.root.keys {
        if !prev.root.contains(k.id()) {
            out.push(format!("root key added: {} {}", k.id(), k.comment()));
        }
    }
    for k in &prev.root.keys {
        if !next.root.contains(k.id()) {
            out.push(format!("root key removed: {} {}", k.id(), k.comment()));
        }
    }
    if prev.root.threshold != next.root.threshold {
        out.push(format!(
            "root threshold {} -> {}",
            prev.root.threshold, next.root.threshold
        ));
    }
    for k in &next.signing_keys {
        match prev.signing_key(k.id()) {
            None => out.push(format!("signing key added {}: {}", k.id(), describe_key(k))),
            Some(old) if old != k => {
                out.push(format!("signing key {}: {}", k.id(), describe_key(k)))
            }
            Some(_) => {}
        }
    }
    for t in &next.thresholds {
        let before = prev.thresholds.iter().find(|p| p.scope == t.scope);
        if before.map(|b| b.signatures) != Some(t.signatures) {
            out.push(format!(
                "scope {} needs {} signatures",
                t.scope, t.signatures
            ));
        }
    }
    for t in &prev.thresholds {
        if !next.thresholds.iter().any(|n| n.scope == t.scope) {
            out.push(format!("scope {} needs 1 signature again", t.scope));
        }
    }
    out
}
