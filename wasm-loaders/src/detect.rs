//! Format detection by content (never by file name).
//!
//! Order of the checks, first match wins:
//! 1. safetensors: a little-endian `u64` header length that fits the file and the 100 MB
//!    cap, followed by `{`;
//! 2. NumPy `.npy`: `\x93NUMPY`;
//! 3. GGUF: `GGUF`;
//! 4. HDF5: the superblock signature `\x89HDF\r\n\x1a\n` at offset 0;
//! 5. zip (`PK\x03\x04` or `PK\x05\x06` at 0): the archive is opened (strictly, see
//!    [`crate::zip`]) and classified by its member names: TorchScript (`*/constants.pkl` or
//!    a `code/` folder) is unsupported, PyTorch (`data.pkl` at the root or in one top
//!    folder), Keras 3 (`config.json` + `model.weights.h5`), `.npz` (every member `*.npy`);
//! 6. tar (`ustar` at offset 257): the legacy PyTorch tar format;
//! 7. HDF5 behind a user block (signature at 512, 1024, 2048, …). Plain and Keras 2 `.h5`
//!    files are both reported as `hdf5` here; the HDF5 loader tells them apart;
//! 8. legacy PyTorch: a pickle whose first object is the magic number
//!    `0x1950a86a20f9469cfc6c` (`LONG1` encoding, as `torch.save` writes it);
//! 9. a compressed stream by its magic (zlib, gzip, bzip2, xz, lzma, lz4): joblib
//!    (uncompressed joblib files are pickles and detected as such);
//! 10. ONNX: the first bytes parse as `ModelProto` fields (1 `ir_version`, 2 producer, 7
//!     graph, 8 opset); the ONNX loader checks the rest;
//! 11. pickle with a `PROTO` opcode (`0x80`, protocol ≤ 5);
//! 12. a zip archive behind a prefix (end-of-central-directory record at the end);
//! 13. a pickle starting with a protocol 0/1 opcode.
//!
//! Anything else is unsupported.

use crate::decompress::sniff;
use crate::host::Host;
use crate::result::LoadError;
use crate::safetensors::MAX_HEADER_SIZE;
use crate::zip::ZipArchive;

/// Every format id of the ABI (`docs/sandbox-abi.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// A bare pickle (protocol 0–5).
    Pickle,
    /// `torch.save` zip format (`archive/data.pkl` + `archive/data/N`).
    PytorchZip,
    /// `torch.save` legacy format (several pickles back to back, then raw storages).
    PytorchLegacy,
    /// The oldest `torch.save` format: a tar of `sys_info`, `pickle`, `tensors`, `storages`.
    PytorchTar,
    /// NumPy `.npy`.
    Npy,
    /// NumPy `.npz`.
    Npz,
    /// joblib pickle (plain or compressed) with raw NumPy arrays.
    Joblib,
    /// safetensors.
    Safetensors,
    /// Keras 3 `.keras` zip (`config.json`, `model.weights.h5`).
    Keras,
    /// Legacy Keras HDF5 `.h5` model.
    KerasH5,
    /// Plain HDF5.
    Hdf5,
    /// ONNX `ModelProto`.
    Onnx,
    /// GGUF.
    Gguf,
}

impl Format {
    /// Every format, in ABI order.
    pub const ALL: [Format; 13] = [
        Format::Pickle,
        Format::PytorchZip,
        Format::PytorchLegacy,
        Format::PytorchTar,
        Format::Npy,
        Format::Npz,
        Format::Joblib,
        Format::Safetensors,
        Format::Keras,
        Format::KerasH5,
        Format::Hdf5,
        Format::Onnx,
        Format::Gguf,
    ];

    /// The format id used in options and results.
    pub fn id(self) -> &'static str {
        match self {
            Format::Pickle => "pickle",
            Format::PytorchZip => "pytorch-zip",
            Format::PytorchLegacy => "pytorch-legacy",
            Format::PytorchTar => "pytorch-tar",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Joblib => "joblib",
            Format::Safetensors => "safetensors",
            Format::Keras => "keras",
            Format::KerasH5 => "keras-h5",
            Format::Hdf5 => "hdf5",
            Format::Onnx => "onnx",
            Format::Gguf => "gguf",
        }
    }

    /// The format with id `id`.
    pub fn from_id(id: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.id() == id)
    }
}

/// Bytes read from the start of the input for the signature checks.
const PROBE_LEN: u64 = 512;
/// HDF5 superblock signature.
const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
/// `torch.save`'s legacy magic number 0x1950a86a20f9469cfc6c as a pickle `LONG1` operand.
const TORCH_MAGIC_LONG1: [u8; 12] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];
/// Opcodes a protocol 0 or 1 pickle can plausibly start with.
const PICKLE_FIRST_OPCODES: &[u8] = b"(cISVLFNJKMTUXG]})ghjPQ.";

/// Detects the format of source 0 from its content.
pub fn detect(host: &mut dyn Host) -> Result<Format, LoadError> {
    let len = host.input_len()?;
    if len == 0 {
        return Err(LoadError::malformed("the file is empty"));
    }
    let head = host.read_vec(0, 0, len.min(PROBE_LEN))?;

    if looks_like_safetensors(&head, len) {
        return Ok(Format::Safetensors);
    }
    if head.starts_with(crate::numpy::npy::MAGIC) {
        return Ok(Format::Npy);
    }
    if head.starts_with(b"GGUF") {
        return Ok(Format::Gguf);
    }
    if head.starts_with(HDF5_MAGIC) {
        return Ok(Format::Hdf5);
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return classify_zip(host);
    }
    if head.get(257..262) == Some(b"ustar") {
        return Ok(Format::PytorchTar);
    }
    // After the zip check: a stored member of a zip (e.g. a .keras file's weights) could
    // put an HDF5 signature at one of these offsets.
    if has_hdf5_superblock_after_user_block(host, len)? {
        return Ok(Format::Hdf5);
    }
    if let [0x80, proto, rest @ ..] = head.as_slice()
        && (2..=5).contains(proto)
        && rest.starts_with(&TORCH_MAGIC_LONG1)
    {
        return Ok(Format::PytorchLegacy);
    }
    if sniff(&head).is_some() {
        return Ok(Format::Joblib);
    }
    if looks_like_onnx(&head, len) {
        return Ok(Format::Onnx);
    }
    if let [0x80, proto, ..] = head.as_slice()
        && *proto <= 5
    {
        return Ok(Format::Pickle);
    }
    if has_zip_end_record(host, len)? {
        return classify_zip(host);
    }
    if head
        .first()
        .is_some_and(|b| PICKLE_FIRST_OPCODES.contains(b))
    {
        return Ok(Format::Pickle);
    }
    Err(LoadError::unsupported(
        "unrecognised file format (not safetensors, NumPy, PyTorch, pickle, joblib, Keras, \
         HDF5, ONNX or GGUF)",
    ))
}

fn looks_like_safetensors(head: &[u8], len: u64) -> bool {
    let Some(n) = head.get(..8) else {
        return false;
    };
    let mut a = [0u8; 8];
    a.copy_from_slice(n);
    let n = u64::from_le_bytes(a);
    (2..=MAX_HEADER_SIZE).contains(&n) && 8 + n <= len && head.get(8) == Some(&b'{')
}

/// An HDF5 file with a user block has its superblock at 512, 1024, 2048, …
fn has_hdf5_superblock_after_user_block(host: &mut dyn Host, len: u64) -> Result<bool, LoadError> {
    let mut at: u64 = 512;
    while at
        .checked_add(HDF5_MAGIC.len() as u64)
        .is_some_and(|end| end <= len)
    {
        if host.read_vec(0, at, HDF5_MAGIC.len() as u64)? == HDF5_MAGIC {
            return Ok(true);
        }
        let Some(next) = at.checked_mul(2) else { break };
        at = next;
    }
    Ok(false)
}

fn has_zip_end_record(host: &mut dyn Host, len: u64) -> Result<bool, LoadError> {
    const EOCD_LEN: u64 = 22;
    if len < EOCD_LEN {
        return Ok(false);
    }
    let tail_len = len.min(EOCD_LEN + 0xffff);
    let tail = host.read_vec(0, len - tail_len, tail_len)?;
    // As the zip reader requires: the record's comment runs exactly to the end of the file.
    Ok(tail.windows(22).enumerate().any(|(pos, rec)| {
        rec.starts_with(b"PK\x05\x06")
            && pos + 22 + usize::from(u16::from_le_bytes([rec[20], rec[21]])) == tail.len()
    }))
}

/// Reads a protobuf varint at `*pos`.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Whether the first fields parse as an ONNX `ModelProto` (a hook: the ONNX loader does
/// the real validation).
fn looks_like_onnx(head: &[u8], len: u64) -> bool {
    let mut pos = 0usize;
    for index in 0..3 {
        if pos >= head.len() {
            return index > 0;
        }
        let Some(tag) = varint(head, &mut pos) else {
            return false;
        };
        let (field, wire) = (tag >> 3, tag & 7);
        if index == 0 && ![1, 2, 7, 8].contains(&field) {
            return false;
        }
        match (field, wire) {
            (1 | 5, 0) => {
                let Some(v) = varint(head, &mut pos) else {
                    return false;
                };
                if field == 1 && !(1..=64).contains(&v) {
                    return false;
                }
            }
            (2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25, 2) => {
                let Some(n) = varint(head, &mut pos) else {
                    return false;
                };
                let end = (pos as u64).checked_add(n);
                if end.is_none_or(|e| e > len) {
                    return false;
                }
                // Only the first field of a large graph fits in the probe: stop there.
                match usize::try_from(n).ok().and_then(|n| pos.checked_add(n)) {
                    Some(next) if next <= head.len() => pos = next,
                    _ => return true,
                }
            }
            _ => return false,
        }
    }
    true
}

/// Opens a zip and tells which container it is from its member names.
fn classify_zip(host: &mut dyn Host) -> Result<Format, LoadError> {
    let archive = ZipArchive::open(host, 0)?;
    let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
    let torchscript = names.iter().any(|n| {
        n.ends_with("/constants.pkl")
            || *n == "constants.pkl"
            || n.starts_with("code/")
            || n.contains("/code/")
    });
    if torchscript {
        return Err(LoadError::unsupported(
            "TorchScript archives are not supported (they contain code)",
        ));
    }
    let is_data_pkl = |n: &&str| {
        *n == "data.pkl"
            || n.strip_suffix("/data.pkl")
                .is_some_and(|dir| !dir.is_empty() && !dir.contains('/'))
    };
    if names.iter().any(is_data_pkl) {
        return Ok(Format::PytorchZip);
    }
    if names.contains(&"config.json")
        && (names.contains(&"model.weights.h5") || names.contains(&"model.weights.npz"))
    {
        return Ok(Format::Keras);
    }
    if names.iter().all(|n| n.ends_with(".npy")) {
        return Ok(Format::Npz);
    }
    let shown: Vec<&str> = names.iter().take(5).copied().collect();
    Err(LoadError::unsupported(format!(
        "zip archive is not a known model container (members: {}{})",
        shown.join(", "),
        if names.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    )))
}
