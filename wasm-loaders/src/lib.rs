//! Model-format loaders that run inside modelseal's wasmtime sandbox.
//!
//! The crate builds for `wasm32-unknown-unknown` (the sandboxed guest; see `abi`) and for
//! the host (tests, fuzzing, differential checks). Loaders never execute anything from the
//! file: they parse bytes pulled through a [`Host`] and describe where tensor bytes are.
//! The contract with the host is `docs/sandbox-abi.md`.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod abi;
pub mod host;
pub mod result;
pub mod testhooks;

pub use host::{Host, SliceHost};
pub use result::{
    ByteOrder, Dtype, ErrorKind, GlobalRef, Limits, LoadError, LoadResult, Options, Outcome, Risk,
    Storage, StorageSource, TensorDesc,
};

/// Detects the format of the input and runs the matching loader.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    if let Some(outcome) = testhooks::run(host, options) {
        return outcome;
    }
    Err(LoadError::new(
        ErrorKind::Unsupported,
        "no loader recognised this file",
    ))
}
