//! A symbolic, allowlisting pickle machine and the plain-pickle loader.
//!
//! [`vm::Unpickler`] runs every opcode of protocols 0–5 without importing or calling
//! anything: it builds a tree of [`value::Node`]s (containers shared by reference, so memo
//! bombs stay linear) and records every global it meets with a risk class
//! ([`policy`]). Loaders then refuse the file if any global is not allowed ([`gate`]),
//! and otherwise interpret the allowlisted calls (tensor and array rebuilds) and flatten
//! the tree into named tensors and metadata ([`walk`]).
//!
//! This module's [`load`] handles a plain pickle (`pickle.dump` of arrays or dicts of
//! arrays, uncompressed joblib dumps) and hands legacy PyTorch files (which begin with
//! PyTorch's magic-number pickle) to [`crate::pytorch::legacy`].

pub mod globals;
pub mod names;
pub mod numpy;
pub mod persist;
pub mod policy;
pub mod reader;
pub mod text;
pub mod torch;
pub mod value;
pub mod vm;
pub mod walk;

use crate::host::Host;
use crate::result::{ErrorKind, LoadError, LoadResult, Options};
use persist::{NoPersistentIds, Resolver, Stream};
use reader::Reader;
use value::{Node, NodeId};
use vm::Unpickler;
use walk::{Flat, Walker};

/// The magic number PyTorch's legacy format pickles first
/// (`0x1950a86a20f9469cfc6c`), little-endian.
pub const TORCH_LEGACY_MAGIC: [u8; 10] =
    [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// True if node `id` is PyTorch's legacy magic number.
pub fn is_torch_magic(up: &Unpickler, id: NodeId) -> bool {
    match up.arena.get(id) {
        Node::BigInt(b) => !b.negative && b.magnitude[..] == TORCH_LEGACY_MAGIC[..],
        _ => false,
    }
}

/// Parse pickles back to back until the stream ends (several `pickle.dump` calls into one
/// file). Every pickle is parsed, so a global hidden in a later one is still seen.
pub fn parse_stacked(
    up: &mut Unpickler,
    r: &mut Reader<'_>,
    joblib: bool,
    roots: &mut Vec<NodeId>,
) -> Result<(), LoadError> {
    while !r.at_end() {
        roots.push(up.load(r, joblib)?);
    }
    if roots.is_empty() {
        return Err(LoadError::malformed("empty pickle stream"));
    }
    Ok(())
}

/// Apply the global policy to a parse outcome: any offending global refuses the file
/// (naming every one), even if parsing failed afterwards — a malicious pickle followed by
/// garbage is still refused as malicious. Otherwise the parse error stands, with the
/// globals attached.
pub fn gate<T>(
    up: &Unpickler,
    options: &Options,
    outcome: Result<T, LoadError>,
) -> Result<T, LoadError> {
    match outcome {
        Ok(v) => match globals::refusal(
            &up.globals,
            &up.violations,
            options.allow_unknown_classes,
            None,
        ) {
            Some(refusal) => Err(refusal),
            None => Ok(v),
        },
        Err(e) => {
            let context = format!("parsing also failed: {}", e.message);
            if e.kind != ErrorKind::Refused
                && let Some(refusal) = globals::refusal(
                    &up.globals,
                    &up.violations,
                    options.allow_unknown_classes,
                    Some(&context),
                )
            {
                return Err(refusal);
            }
            let mut e = e;
            e.globals = up.globals.refs();
            Err(e)
        }
    }
}

/// Turn a walk into the loader's answer; a file without any tensor is refused as
/// `unsupported` ("no tensors found"), naming what it held instead.
pub fn finish(format: &str, up: &Unpickler, flat: Flat) -> Result<LoadResult, LoadError> {
    if flat.tensors.is_empty() {
        let mut keys: Vec<&str> = flat.metadata.keys().map(String::as_str).take(5).collect();
        if flat.metadata.len() > 5 {
            keys.push("…");
        }
        let held = if keys.is_empty() {
            String::new()
        } else {
            format!(" (it holds only non-tensor values: {})", keys.join(", "))
        };
        let mut e = LoadError::unsupported(format!("no tensors found in this {format} file{held}"));
        e.globals = up.globals.refs();
        return Err(e.with_format(format));
    }
    Ok(LoadResult {
        format: format.to_string(),
        tensors: flat.tensors,
        metadata: flat.metadata,
        globals: up.globals.refs(),
        warnings: flat.warnings,
    })
}

/// Walk every root (prefixing names with the pickle's index when there are several).
pub fn walk_roots<'w>(
    up: &'w Unpickler,
    roots: &[NodeId],
    options: &'w Options,
    host: &'w mut dyn Host,
    stream: &'w mut Stream<'w>,
    resolver: &'w mut dyn Resolver,
) -> Result<Flat, LoadError> {
    let mut w = Walker::new(&up.arena, &up.globals, options, host, stream, resolver);
    if roots.len() > 1 {
        w.warn(format!(
            "the file holds {} pickles one after another; names are prefixed with their index",
            roots.len()
        ));
    }
    for (i, &root) in roots.iter().enumerate() {
        let prefix = if roots.len() > 1 {
            i.to_string()
        } else {
            String::new()
        };
        w.walk(root, &prefix)?;
    }
    Ok(w.finish())
}

/// Load a plain pickle (or an uncompressed joblib dump) from source 0. A file that starts
/// with PyTorch's magic-number pickle is loaded as a legacy PyTorch checkpoint.
pub fn load(host: &mut dyn Host, options: &Options) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let mut up = Unpickler::new(&options.limits);
    let mut roots = Vec::new();
    let outcome = {
        let mut r = Reader::from_host(host, 0, 0, len)?;
        match up.load(&mut r, true) {
            Ok(first) if is_torch_magic(&up, first) => {
                let legacy = crate::pytorch::legacy::parse_after_magic(&mut up, &mut r);
                drop(r);
                return crate::pytorch::legacy::finish_load(host, options, up, legacy);
            }
            Ok(first) => {
                roots.push(first);
                parse_stacked(&mut up, &mut r, true, &mut roots)
            }
            Err(e) => Err(e),
        }
    };
    let format = if up.joblib_arrays { "joblib" } else { "pickle" };
    gate(&up, options, outcome).map_err(|e| e.with_format(format))?;
    let mut stream = Stream::host(0, 0);
    let mut resolver = NoPersistentIds;
    let flat = walk_roots(&up, &roots, options, host, &mut stream, &mut resolver)
        .map_err(|e| e.with_format(format))?;
    finish(format, &up, flat)
}

/// Load a pickle stream held in guest memory (a decompressed joblib dump). Blobs left in
/// the stream are copied to the output buffer. `format` names the file when no joblib
/// array is found.
pub fn load_bytes(
    host: &mut dyn Host,
    options: &Options,
    data: &[u8],
    format: &str,
) -> Result<LoadResult, LoadError> {
    let mut up = Unpickler::new(&options.limits);
    let mut roots = Vec::new();
    let outcome = {
        let mut r = Reader::from_slice(data);
        parse_stacked(&mut up, &mut r, true, &mut roots)
    };
    let format = if up.joblib_arrays { "joblib" } else { format };
    gate(&up, options, outcome).map_err(|e| e.with_format(format))?;
    if roots.first().is_some_and(|&r| is_torch_magic(&up, r)) {
        return Err(LoadError::unsupported(
            "a compressed legacy PyTorch checkpoint is not a format PyTorch reads",
        )
        .with_format(format));
    }
    let mut stream = Stream::memory(data);
    let mut resolver = NoPersistentIds;
    let flat = walk_roots(&up, &roots, options, host, &mut stream, &mut resolver)
        .map_err(|e| e.with_format(format))?;
    finish(format, &up, flat)
}
