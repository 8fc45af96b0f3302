//! Helpers shared by the fuzz targets: the fixed test keys the seed corpus is signed with,
//! the native guest run with the host's own validation as an oracle, and a splitter for
//! inputs that hold several documents.
#![forbid(unsafe_code)]

use modelseal::import::descriptor::RawOutcome;
use modelseal::import::validate::{SourceLengths, ValidationLimits, validate};
use modelseal::keys::{PublicKey, SecretKey};
use modelseal_loaders::{LoadError, Options, Outcome, SliceHost};

/// Test keys (committed under `fuzz/keys/`, never used for anything else): the bundle and
/// registry signer, and the two root keys of the seed trust roots.
pub mod keys {
    use super::*;

    fn secret(text: &str) -> SecretKey {
        SecretKey::from_file_bytes(text.as_bytes(), std::path::Path::new("fuzz key"))
            .unwrap_or_else(|e| panic!("committed fuzz key does not parse: {e}"))
    }

    /// The key that signed every seed bundle and registry entry.
    pub fn signer() -> SecretKey {
        secret(include_str!("../keys/signer.key"))
    }

    /// Root keys of the seed trust roots.
    pub fn roots() -> [SecretKey; 2] {
        [
            secret(include_str!("../keys/root1.key")),
            secret(include_str!("../keys/root2.key")),
        ]
    }

    /// The signer's public key.
    pub fn signer_public() -> PublicKey {
        signer().public().clone()
    }
}

/// Splits `data` into at most `max` parts at each `\n--\n` (the separator used by the seed
/// files of the multi-document targets).
pub fn split_documents(data: &[u8], max: usize) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\n--\n";
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Names of external files the guest fuzz host offers (ONNX external data), with the
/// content they get: the input itself, so offsets into it are meaningful.
const EXTERNAL_NAMES: &[&str] = &["weights.bin", "model.onnx.data", "data.bin", "ext.bin"];

/// Limits small enough that a legitimate-looking input cannot exhaust the fuzzer's memory
/// (in the sandbox the memory limit would stop it; natively nothing would).
pub fn guest_options(format: &str) -> Options {
    let mut options = Options {
        format: format.into(),
        file_name: "fuzz-input".into(),
        ..Options::default()
    };
    options.limits.max_decompressed = 64 << 20;
    options.limits.max_objects = 1_000_000;
    options.limits.max_memo = 100_000;
    options.limits.max_tensors = 10_000;
    options
}

/// Runs the guest loaders natively on `data` as `format` (`auto` to detect), once plain
/// and once with the options a user can set (`allow_unknown_classes`, `dequantize`), and
/// holds every answer to the contract of `docs/sandbox-abi.md`: an error has a message; a
/// result survives the JSON round trip and passes the host's validation (a result the host
/// would refuse is a guest bug: the user gets a confusing error instead of the loader's).
pub fn run_guest(format: &str, data: &[u8]) {
    for lenient in [false, true] {
        let mut host = SliceHost::new(data.to_vec());
        host.output_limit = 64 << 20;
        host.externals = EXTERNAL_NAMES
            .iter()
            .map(|n| (n.to_string(), data.to_vec()))
            .collect();
        let mut options = guest_options(format);
        options.allow_unknown_classes = lenient;
        options.dequantize = lenient;
        let outcome = match modelseal_loaders::load(&mut host, &options) {
            Ok(result) => Outcome::Loaded(result),
            Err(error) => {
                check_error(&error);
                Outcome::Failed { error }
            }
        };
        check_with_host(&outcome, &host, &options);
    }
}

fn check_error(error: &LoadError) {
    assert!(
        !error.message.is_empty(),
        "error without a message: {error:?}"
    );
}

/// The guest's answer, as JSON, through the host's parser and validator.
fn check_with_host(outcome: &Outcome, host: &SliceHost, options: &Options) {
    let json = serde_json::to_vec(outcome).expect("outcome serialises");
    let raw: RawOutcome = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("host cannot parse the guest's answer: {e}"));
    if raw.error.is_some() {
        return;
    }
    let lengths = SourceLengths {
        input: host.sources.first().map_or(0, |s| s.len() as u64),
        output: host.output.len() as u64,
        external: host
            .sources
            .iter()
            .skip(1)
            .map(|s| s.len() as u64)
            .collect(),
    };
    let limits = ValidationLimits {
        max_tensors: options.limits.max_tensors,
        max_output: u64::MAX,
    };
    if let Err(e) = validate(raw, &lengths, limits, false) {
        panic!("the host refuses a result the guest returned as valid: {e}");
    }
}
