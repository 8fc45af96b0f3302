//! Model-format loaders that run inside modelseal's wasmtime sandbox.
//!
//! The crate builds for `wasm32-unknown-unknown` (the sandboxed guest; see `abi`) and for
//! the host (tests, fuzzing, differential checks). Loaders never execute anything from the
//! file: they parse bytes pulled through a [`Host`] and describe where tensor bytes are.
//! The contract with the host is `docs/sandbox-abi.md`.

#![deny(missing_docs)]
// No `unsafe` anywhere but the ABI glue: natively (tests, fuzzing) the crate has none at
// all; on wasm32 only `abi` (host imports, exports) may use it, each block justified.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![cfg_attr(target_arch = "wasm32", deny(unsafe_code))]

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod abi;
pub mod decompress;
pub mod detect;
pub mod gguf;
pub mod hdf5;
pub mod host;
pub mod joblib;
pub mod keras;
pub mod numpy;
pub mod onnx;
pub mod pickle;
pub mod pytorch;
pub mod result;
pub mod safetensors;
pub mod test_hooks;
pub mod zip;

pub use detect::{Format, detect};
pub use host::{Host, SliceHost};
pub use result::{
    ByteOrder, Dtype, ErrorKind, GlobalRef, Limits, LoadError, LoadResult, Options, Outcome, Risk,
    Storage, StorageSource, TensorDesc,
};

/// Detects the format of the input (or takes `options.format` when it is not `auto`) and
/// runs the matching loader. Errors carry the format id once it is known.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    if let Some(outcome) = test_hooks::run(host, options) {
        return outcome;
    }
    let format = if options.format == "auto" {
        detect(host)?
    } else {
        Format::from_id(&options.format).ok_or_else(|| {
            LoadError::malformed(format!("unknown format id {:?}", options.format))
        })?
    };
    let mut result = run_loader(format, host, options).map_err(|e| e.with_format(format.id()))?;
    result.fit_metadata_to_host_limits();
    Ok(result)
}

fn run_loader(
    format: Format,
    host: &mut dyn Host,
    options: &Options,
) -> Result<LoadResult, LoadError> {
    match format {
        Format::Npy => numpy::npy::load(host, options),
        Format::Npz => numpy::npz::load(host, options),
        Format::Safetensors => safetensors::load(host, options),
        Format::Pickle => pickle::load(host, options),
        Format::PytorchZip => pytorch::zip::load(host, options),
        Format::PytorchLegacy => pytorch::legacy::load(host, options),
        Format::PytorchTar => pytorch::tar::load(host, options),
        Format::Joblib => joblib::load(host, options),
        Format::Keras => keras::load_zip(host, options),
        Format::KerasH5 | Format::Hdf5 => hdf5::load(host, options),
        Format::Onnx => onnx::load(host, options),
        Format::Gguf => gguf::load(host, options),
    }
}
