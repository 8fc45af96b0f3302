//! joblib dumps (`joblib.dump`): a pickle in which each NumPy array is a
//! `joblib.numpy_pickle.NumpyArrayWrapper` whose BUILD is followed by the array's raw bytes
//! (after a padding-length byte and 0xff padding in joblib ≥ 1.2), or by a nested pickle
//! for object arrays (see [`crate::pickle::vm`]). Compressed dumps compress the whole
//! stream (zlib, gzip, bz2, lzma, xz, lz4); they are decompressed in the guest, bounded by
//! `max_decompressed`, and the arrays' bytes are copied to the output buffer.
//!
//! scikit-learn estimators reference `sklearn.*` classes: refused by default (naming them);
//! with `allow_unknown_classes` their array attributes are extracted under generic dotted
//! names (`steps.0.1.mean_` = attribute `mean_` of item 1 of item 0 of `steps`).

use crate::decompress::{self, Codec};
use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};

/// Format id.
pub const FORMAT: &str = "joblib";

/// Prefix of joblib < 0.10's own zlib container (arrays in separate files): unsupported.
const OLD_ZLIB_PREFIX: &[u8] = b"ZF0x";

/// The codec a joblib file's first bytes announce, if it is compressed.
///
/// zlib is only recognised with the `0x78` header byte Python's `zlib` always writes: a
/// protocol-0 pickle can start with two bytes that pass zlib's header check (`(S` does).
pub fn compression(prefix: &[u8]) -> Option<Codec> {
    match decompress::sniff(prefix) {
        Some(Codec::Zlib) if prefix.first() != Some(&0x78) => None,
        other => other,
    }
}

/// Load a joblib dump (compressed or not) from source 0.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let prefix = host.read_vec(0, 0, len.min(8))?;
    if prefix.starts_with(OLD_ZLIB_PREFIX) {
        return Err(LoadError::unsupported(
            "joblib < 0.10 compressed format (arrays kept in separate files)",
        )
        .with_format(FORMAT));
    }
    match compression(&prefix) {
        Some(codec) => {
            let raw = host.read_vec(0, 0, len)?;
            let data = decompress::decompress(&raw, codec, options.limits.max_decompressed)
                .map_err(|e| {
                    LoadError {
                        message: format!("{} stream: {}", codec.name(), e.message),
                        ..e
                    }
                    .with_format(FORMAT)
                })?;
            drop(raw);
            crate::pickle::load_bytes(host, options, &data, FORMAT)
        }
        // Not compressed (or a protocol-0 pickle whose first bytes pass zlib's header
        // check): a plain pickle, reported as `joblib` when it holds joblib arrays.
        None => crate::pickle::load(host, options),
    }
}
