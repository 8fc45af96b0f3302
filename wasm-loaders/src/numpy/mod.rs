//! NumPy containers: `.npy` arrays, `.npz` archives of them, and the dtype descriptors
//! shared with the joblib loader.

pub mod descr;

pub use descr::parse_descr;
