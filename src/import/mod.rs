//! Sandboxed import of untrusted model files.
//!
//! - [`descriptor`]: the loader's result JSON as it arrives (tainted, shape only);
//! - [`validate`]: checks that turn it into [`ValidatedTensor`]s;
//! - [`policy`]: the host's own refusal rules for referenced globals;
//! - [`assemble`]: contiguous little-endian bytes from any validated view, bounded memory;
//! - [`pipeline`]: [`import`] and [`inspect_model`];
//! - [`bundle`]: importing into a signed bundle with an import record;
//! - [`report`]: the [`Report`] on a model; [`error`]: [`ImportError`].

pub mod assemble;
pub mod bundle;
pub mod descriptor;
pub mod error;
pub mod options;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod validate;

pub use error::{ErrorClass, ImportError};
pub use options::{FORMAT_IDS, ImportOptions, LoaderLimits, Progress};
pub use pipeline::{
    ImportOutcome, import, import_with_test_hook, inspect_model, inspect_model_with_test_hook,
};
pub use report::{GlobalEntry, Report, Risk, TensorSummary};
pub use validate::{ValidatedModel, ValidatedTensor};
