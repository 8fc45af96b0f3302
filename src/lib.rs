//! modelseal: make ML model artifacts safe to ship (signed bundles) and safe to take in
//! (sandboxed import of untrusted formats).
//!
//! See `ARCHITECTURE.md` for the map of modules and `docs/format.md` for the bundle format.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bundle;
pub mod canonical;
pub mod digest;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod hex;
pub mod import;
pub mod keys;
pub mod manifest;
pub mod registry;
pub mod sandbox;
pub mod signing;
pub mod tensor;
pub mod trust;
