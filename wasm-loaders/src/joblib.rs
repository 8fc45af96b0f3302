//! joblib dumps (`joblib.dump`): a pickle in which each NumPy array is a
//! `joblib.numpy_pickle.NumpyArrayWrapper` whose BUILD is followed by the array's raw bytes
//! (after a padding-length byte and 0xff padding in joblib ≥ 1.2), or by a nested pickle
//! for object arrays. Compressed dumps compress the whole stream (zlib, gzip, bz2, lzma,
//! xz, lz4); they are decompressed in the guest, bounded by `max_decompressed`.

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};

/// Format id.
pub const FORMAT: &str = "joblib";

/// Load an uncompressed joblib dump from source 0.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let mut r = crate::pickle::load(host, options)?;
    r.format = FORMAT.to_string();
    Ok(r)
}
