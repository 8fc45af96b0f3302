//! Entry points for the fuzz targets in `fuzz/` (see `fuzz/README.md`). Not part of the
//! supported API: hidden from the documentation and free to change.
//!
//! Each function runs a real code path on bytes in memory instead of a file path, so the
//! fuzzer needs no temporary files. Paths that hash or copy through an open [`File`] (bundle
//! verification, tensor assembly) get an anonymous in-memory file (`memfd_create(2)`); the
//! code under test is exactly the one `modelseal verify` and `modelseal import` run.
//!
//! Why a module rather than generic public functions: the verifier hashes members on all
//! cores through `digest::parallel`, which works on open files; making it generic over
//! in-memory sources would widen the public API for the fuzzer's sake only.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use crate::bundle::{
    AnySignature, TrustPolicy, UnverifiedBundle, VerifiedBundle, VerifyError, VerifyOptions,
};
use crate::import::ValidatedTensor;
use crate::keys::passphrase::FixedPassphrase;
use crate::keys::{KeyError, SecretKey};
use crate::trust::{Requirement, TrustRoot, TrustRootPolicy};

/// The name fuzzed inputs carry in error messages.
const NAME: &str = "<fuzz input>";

/// An anonymous in-memory file holding `bytes`.
pub fn memory_file(bytes: &[u8]) -> io::Result<File> {
    let fd = rustix::fs::memfd_create("modelseal-fuzz", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    Ok(file)
}

/// `bundle::verify` on `bytes` under `policy`; `None` accepts any signature envelope
/// without checking it (the countersigning path of `sign --add-signature` without
/// `--trust`), so the manifest and member checks are reached whatever the signatures.
pub fn verify_bytes(
    bytes: &[u8],
    policy: Option<&dyn TrustPolicy>,
) -> Result<VerifiedBundle, VerifyError> {
    let file = memory_file(bytes).map_err(|source| VerifyError::Io {
        path: NAME.into(),
        source,
    })?;
    let options = VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    };
    crate::bundle::verify_open(
        Path::new(NAME),
        Arc::new(file),
        policy.unwrap_or(&AnySignature),
        &options,
    )
}

/// `bundle::read_unverified` (what `inspect` shows without `--trust`) on `bytes`.
pub fn read_unverified_bytes(bytes: &[u8]) -> Result<UnverifiedBundle, VerifyError> {
    let file = memory_file(bytes).map_err(|source| VerifyError::Io {
        path: NAME.into(),
        source,
    })?;
    crate::bundle::read_unverified_open(Path::new(NAME), Arc::new(file))
}

/// Secret key file contents, plain or passphrase-encrypted (decrypted with `passphrase`).
pub fn secret_key_from_bytes(bytes: &[u8], passphrase: &str) -> Result<SecretKey, KeyError> {
    crate::keys::secret_key_from_bytes_with(
        bytes,
        Path::new(NAME),
        &FixedPassphrase::new(passphrase),
    )
}

/// Gather `t` from `file` as `modelseal import` does, but with tiny block sizes so that
/// every strided path (in memory, 1-D windows, tiles, peeling) is reached by small views.
pub fn assemble_small_blocks(t: &ValidatedTensor, file: &File) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::import::assemble::write_tensor_with_blocks(t, file, &mut out, 64, 256, 16)?;
    Ok(out)
}

/// The bundle policy of a trust root **whose signatures were not checked** (the fuzzer
/// exercises the policy's decisions, not the chain, which has its own target).
pub fn trust_root_policy(
    root: TrustRoot,
    now: SystemTime,
    requirement: Requirement,
) -> TrustRootPolicy {
    TrustRootPolicy::from_root(root, now, requirement)
}
