//! The wasmtime sandbox that runs the model loaders (`wasm-loaders/`).
//!
//! - [`engine`]: the hardened engine, the embedded module compiled once per process, the
//!   epoch ticker;
//! - [`limits`]: [`SandboxLimits`] and the named constants behind every limit;
//! - [`abi`]: the five host imports of `docs/sandbox-abi.md`;
//! - [`confine`]: opening external files strictly inside the model's directory;
//! - [`sources`]: the input, external files and the output buffer;
//! - [`run`]: one load in a fresh store on a thread with a large stack;
//! - [`error`]: [`SandboxError`], the classification of traps and limit hits.
//!
//! No WASI, no component model: the guest sees only the `modelseal` imports.

pub mod abi;
pub mod confine;
pub mod engine;
pub mod error;
pub mod limits;
pub mod run;
pub mod sources;

pub use engine::{loader_module_sha256, warm_up};
pub use error::SandboxError;
pub use limits::SandboxLimits;
pub use run::{GuestRun, run_loader};
pub use sources::{OutputBuffer, SourceFile, Sources};
