//! GGUF loader (format id `gguf`), versions 1 to 3, little-endian files.
//!
//! Layout (ggml's `docs/gguf.md`): magic `GGUF`, version u32, tensor count and metadata
//! count (u32 in v1, u64 from v2), the metadata key/values, the tensor infos (name,
//! `n_dims` ≤ 4, `ne[]` — u32 in v1, u64 after —, ggml type, offset), padding to
//! `general.alignment` (default 32), then the tensor data; each offset is relative to the
//! start of the data section.
//!
//! Plain types (F32, F16, BF16, F64, I8–I64) become tensors described in place
//! (little-endian, row-major shape = ggml's `ne` reversed). Quantized types are kept as
//! their raw blocks, losslessly: a `U8` tensor of the exact byte size with
//! `extra = {"ggml_type": "<type>", "shape": "[<row-major dims>]"}`; nothing is computed
//! in the sandbox by default. With `Options.dequantize`, Q8_0 and Q4_0 tensors are decoded
//! to F32 in the output buffer instead (`extra = {"dequantized_from": "Q8_0"}`), bit-exact
//! with ggml's reference dequantization; other quantized types stay raw, with a warning.
//! Unknown or removed type ids are refused as unsupported, naming the id.
//!
//! Metadata goes into `LoadResult.metadata` under its own key (plus `gguf.version`):
//! scalars as text, strings truncated past 16 KiB, arrays shown up to 16 items and
//! summarised after. `tokenizer.chat_template*` values are Jinja templates
//! (CVE-2024-34359): they are not copied, only their size, and a warning is emitted.
//! Big-endian GGUF files are refused as unsupported.

mod dequant;
mod meta;
mod reader;
mod tensors;
pub mod types;

use std::collections::BTreeSet;

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};
use meta::{ValueReader, vt};
use reader::Reader;

/// The format id.
pub const FORMAT: &str = "gguf";
/// File magic.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Default data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest `general.alignment` accepted.
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// Most metadata key/value pairs accepted.
pub const MAX_KV: u64 = 65_536;
/// Longest metadata key, in bytes.
pub const MAX_KEY_BYTES: u64 = 4096;
/// Deepest array nesting followed (the effective limit is the smaller of this and
/// `limits.max_depth`).
pub const MAX_ARRAY_NESTING: u64 = 64;
/// Most metadata entries copied into the result (the host accepts 10 000).
const MAX_METADATA_ENTRIES: usize = 5000;

/// Whether a metadata key holds a chat template (never copied).
fn is_chat_template(key: &str) -> bool {
    key == "tokenizer.chat_template" || key.starts_with("tokenizer.chat_template.")
}

/// Parse a GGUF file from source 0 of `host`.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    load_inner(host, options).map_err(|e| e.with_format(FORMAT))
}

fn load_inner(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let mut r = Reader::new(host)?;
    let magic = r.u32("magic")?.to_le_bytes();
    if &magic != MAGIC {
        return Err(LoadError::malformed("not a GGUF file (bad magic)"));
    }
    let version = r.u32("version")?;
    match version {
        1..=3 => {}
        v if (1..=3).contains(&v.swap_bytes()) => {
            return Err(LoadError::unsupported(
                "big-endian GGUF files are not supported",
            ));
        }
        v => {
            return Err(LoadError::unsupported(format!(
                "GGUF version {v} (only versions 1 to 3 are supported)"
            )));
        }
    }
    r.wide = version >= 2;
    let n_tensors = r.count("tensor count")?;
    let n_kv = r.count("metadata count")?;
    if n_tensors > options.limits.max_tensors {
        return Err(LoadError::limit(format!(
            "GGUF declares {n_tensors} tensors, more than max_tensors = {}",
            options.limits.max_tensors
        )));
    }
    if n_kv > MAX_KV {
        return Err(LoadError::limit(format!(
            "GGUF declares {n_kv} metadata entries (limit {MAX_KV})"
        )));
    }
    let least = n_kv
        .checked_mul(meta::min_kv_size(r.wide))
        .ok_or_else(|| LoadError::malformed("metadata count overflows"))?;
    r.need(least, "metadata")?;

    let mut result = LoadResult {
        format: FORMAT.to_string(),
        ..LoadResult::default()
    };
    result
        .metadata
        .insert("gguf.version".into(), version.to_string());
    let max_depth = options.limits.max_depth.min(MAX_ARRAY_NESTING);
    let mut keys = BTreeSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut dropped = 0u64;
    for _ in 0..n_kv {
        let key = read_key(&mut r)?;
        if !keys.insert(key.clone()) {
            return Err(LoadError::malformed(format!(
                "duplicate metadata key '{key}'"
            )));
        }
        let t = r.u32("metadata value type")?;
        if key == "general.alignment" {
            alignment = read_alignment(&mut r, t)?;
            store(&mut result, &mut dropped, key, alignment.to_string());
            continue;
        }
        let mut v = ValueReader {
            r: &mut r,
            key: &key,
            max_depth,
        };
        if is_chat_template(&key) {
            let start = v.r.pos();
            v.skip_value(t, 0)?;
            let size = r.pos() - start;
            result.warnings.push(format!(
                "GGUF metadata '{key}' is a Jinja chat template ({size} bytes); templates can run code in vulnerable renderers (CVE-2024-34359): not copied"
            ));
            store(
                &mut result,
                &mut dropped,
                key,
                format!("[Jinja chat template, {size} bytes, not copied]"),
            );
            continue;
        }
        let value = v.render(t)?;
        if key == "gguf.version" {
            result
                .warnings
                .push("the file's own 'gguf.version' metadata key was replaced".into());
            continue;
        }
        store(&mut result, &mut dropped, key, value);
    }
    if dropped > 0 {
        result.warnings.push(format!(
            "{dropped} metadata entries beyond {MAX_METADATA_ENTRIES} were not copied"
        ));
    }

    tensors::read(
        &mut r,
        n_tensors,
        alignment,
        options.dequantize,
        &mut result,
    )?;
    Ok(result)
}

/// Store a metadata entry unless the cap is reached.
fn store(result: &mut LoadResult, dropped: &mut u64, key: String, value: String) {
    if result.metadata.len() < MAX_METADATA_ENTRIES {
        result.metadata.insert(key, value);
    } else {
        *dropped += 1;
    }
}

/// A metadata key: bounded, UTF-8.
fn read_key(r: &mut Reader<'_>) -> Result<String, LoadError> {
    let n = r.string_len("metadata key")?;
    if n > MAX_KEY_BYTES {
        return Err(LoadError::limit(format!(
            "metadata key of {n} bytes (limit {MAX_KEY_BYTES})"
        )));
    }
    // n ≤ MAX_KEY_BYTES fits in usize.
    let bytes = r.prefix(n, n as usize, "metadata key")?;
    let key =
        String::from_utf8(bytes).map_err(|_| LoadError::malformed("metadata key is not UTF-8"))?;
    if key.is_empty() {
        return Err(LoadError::malformed("empty metadata key"));
    }
    Ok(key)
}

/// `general.alignment`: a uint32 power of two, at most [`MAX_ALIGNMENT`].
fn read_alignment(r: &mut Reader<'_>, t: u32) -> Result<u64, LoadError> {
    if t != vt::UINT32 {
        return Err(LoadError::malformed(format!(
            "general.alignment has type {} (must be uint32)",
            meta::type_name(t)
        )));
    }
    let a = u64::from(r.u32("general.alignment")?);
    if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
        return Err(LoadError::malformed(format!(
            "general.alignment {a} is not a power of two between 1 and {MAX_ALIGNMENT}"
        )));
    }
    Ok(a)
}
