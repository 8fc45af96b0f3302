//! Turning a dataset into a tensor descriptor. Contiguous data in an input-backed file is
//! described in place (`StorageSource::Input`); compact, chunked and filtered data is
//! decoded and appended to the output buffer one row-slab of chunks at a time (a slab is
//! every chunk sharing the same first coordinate, so slabs written in order form the
//! C-contiguous array).

use std::collections::BTreeMap;

use super::chunk_index::{self, ChunkRef, Geometry};
use super::file::H5;
use super::filters;
use super::io::{R, UNDEFINED, limit, malformed, to_usize, unsupported};
use super::messages::dataspace::Dataspace;
use super::messages::datatype::Datatype;
use super::messages::filters::Filter;
use super::messages::layout::{self, Layout};
use super::messages::{fill, link};
use super::object_header::{
    self, FLAG_SHARED, MSG_DATASPACE, MSG_DATATYPE, MSG_EXTERNAL_FILES, MSG_FILL, MSG_FILL_OLD,
    MSG_FILTERS, MSG_LAYOUT, ObjectHeader,
};
use crate::result::{Storage, StorageSource, TensorDesc};

/// Largest rank a tensor descriptor may have (the ABI's limit).
pub(crate) const MAX_TENSOR_RANK: usize = 16;
/// Largest chunk (decoded or stored) handled.
const MAX_CHUNK_BYTES: u64 = 256 << 20;
/// Largest slab of chunks assembled in memory before it is written out.
const MAX_SLAB_BYTES: u64 = 512 << 20;
/// Piece size when copying in-memory contiguous data or fill values to the output.
const COPY_PIECE: u64 = 1 << 20;

/// What a dataset's header says about it.
#[derive(Debug, Clone)]
pub(crate) struct DatasetInfo {
    /// Shape.
    pub(crate) space: Dataspace,
    /// Element type.
    pub(crate) dtype: Datatype,
    /// Storage layout.
    pub(crate) layout: Layout,
    /// Filter pipeline (empty when none).
    pub(crate) filters: Vec<Filter>,
    /// Fill value bytes, when defined.
    pub(crate) fill: Option<Vec<u8>>,
    /// Data lives in external raw files.
    pub(crate) external: bool,
}

/// Is this object header a dataset's?
pub(crate) fn is_dataset(hdr: &ObjectHeader) -> bool {
    hdr.first(MSG_LAYOUT).is_some()
}

/// Reads the dataset facts from its header.
pub(crate) fn info(h5: &mut H5<'_>, hdr: &ObjectHeader) -> R<DatasetInfo> {
    let (so, sl) = (h5.so, h5.sl);
    let space_msg = hdr
        .first(MSG_DATASPACE)
        .ok_or_else(|| malformed("dataset without a dataspace message"))?;
    if space_msg.flags & FLAG_SHARED != 0 {
        return Err(unsupported("shared dataspace message"));
    }
    let space = Dataspace::parse(&space_msg.data, so, sl)?;
    let dt_msg = hdr
        .first(MSG_DATATYPE)
        .ok_or_else(|| malformed("dataset without a datatype message"))?;
    let dtype = if dt_msg.flags & FLAG_SHARED != 0 {
        // A committed (named) datatype: the message lives in another object header.
        let at = link::parse_shared(&dt_msg.data, so, sl)?;
        let target = object_header::read(h5, at)?;
        let m = target
            .first(MSG_DATATYPE)
            .filter(|m| m.flags & FLAG_SHARED == 0)
            .ok_or_else(|| malformed("shared datatype does not point at a datatype"))?;
        Datatype::parse(&m.data, so, sl)?.0
    } else {
        Datatype::parse(&dt_msg.data, so, sl)?.0
    };
    let layout_msg = hdr
        .first(MSG_LAYOUT)
        .ok_or_else(|| malformed("dataset without a layout message"))?;
    let layout = layout::parse(&layout_msg.data, so, sl)?;
    let filters = match hdr.first(MSG_FILTERS) {
        Some(m) => super::messages::filters::parse(&m.data, so, sl)?,
        None => Vec::new(),
    };
    let fill = match (hdr.first(MSG_FILL), hdr.first(MSG_FILL_OLD)) {
        (Some(m), _) => fill::parse(&m.data, so, sl)?,
        (None, Some(m)) => fill::parse_old(&m.data, so, sl)?,
        (None, None) => None,
    };
    Ok(DatasetInfo {
        space,
        dtype,
        layout,
        filters,
        fill,
        external: hdr.first(MSG_EXTERNAL_FILES).is_some(),
    })
}

/// Why a dataset is not a tensor (it is reported as a warning, not an error).
pub(crate) struct Skip(pub(crate) String);

/// Describes dataset `name` as a tensor, decoding it to the output when needed.
pub(crate) fn extract(h5: &mut H5<'_>, name: &str, d: &DatasetInfo) -> R<Result<TensorDesc, Skip>> {
    let Some((dtype, order)) = d.dtype.tensor_dtype() else {
        return Ok(Err(Skip(format!(
            "dataset {name}: {} data is not a tensor; skipped",
            d.dtype.describe()
        ))));
    };
    if matches!(d.space, Dataspace::Null) {
        return Ok(Err(Skip(format!(
            "dataset {name} has no dataspace; skipped"
        ))));
    }
    let dims = d.space.dims().to_vec();
    if dims.len() > MAX_TENSOR_RANK {
        return Err(unsupported(format!(
            "dataset {name} has rank {} (at most {MAX_TENSOR_RANK})",
            dims.len()
        )));
    }
    if d.external {
        return Err(unsupported(format!(
            "dataset {name} keeps its data in external files, which are never read"
        )));
    }
    let esize = dtype.size();
    let nbytes = d
        .space
        .numel()?
        .checked_mul(esize)
        .ok_or_else(|| malformed(format!("dataset {name}: byte size overflows")))?;
    let storage = match &d.layout {
        Layout::Compact { data } => {
            let bytes = data
                .get(..to_usize(nbytes)?)
                .ok_or_else(|| malformed(format!("dataset {name}: compact data is too short")))?;
            output(h5, bytes, name)?
        }
        Layout::Contiguous { addr, size } => {
            if *addr == UNDEFINED {
                fill_output(h5, d, nbytes, esize, name)?
            } else {
                if *size < nbytes {
                    return Err(malformed(format!(
                        "dataset {name}: contiguous storage has {size} bytes, needs {nbytes}"
                    )));
                }
                h5.check(*addr, nbytes, &format!("dataset {name}"))?;
                match h5.input_offset(*addr)? {
                    Some(offset) => Storage {
                        source: StorageSource::Input,
                        offset,
                        length: nbytes,
                    },
                    None => copy_output(h5, *addr, nbytes, name)?,
                }
            }
        }
        Layout::Chunked {
            chunk,
            element_size,
            index,
            addr,
            unfiltered_edges,
        } => {
            if element_size.is_some_and(|e| e != esize) {
                return Err(malformed(format!(
                    "dataset {name}: layout element size differs from the datatype"
                )));
            }
            if chunk.len() != dims.len() || chunk.contains(&0) {
                return Err(malformed(format!(
                    "dataset {name}: chunk rank or size does not fit the dataspace"
                )));
            }
            for f in &d.filters {
                if !filters::supported(f.id) {
                    return Err(unsupported(format!(
                        "dataset {name}: filter {} is not supported",
                        f.id
                    )));
                }
            }
            let maxdims = match &d.space {
                Dataspace::Simple {
                    maxdims: Some(m), ..
                } => m.clone(),
                _ => dims.clone(),
            };
            let chunk_bytes = chunk
                .iter()
                .try_fold(esize, |a, &c| a.checked_mul(c))
                .filter(|&b| b <= MAX_CHUNK_BYTES)
                .ok_or_else(|| {
                    limit(format!(
                        "dataset {name}: chunks are larger than {MAX_CHUNK_BYTES} bytes"
                    ))
                })?;
            let g = Geometry {
                dims: dims.clone(),
                maxdims,
                chunk: chunk.clone(),
                chunk_bytes,
                filtered: !d.filters.is_empty(),
            };
            let refs = chunk_index::chunks(h5, index, *addr, &g)?;
            chunked(h5, d, &g, refs, *unfiltered_edges, nbytes, name)?
        }
    };
    Ok(Ok(TensorDesc::contiguous(
        name, dtype, dims, order, storage,
    )))
}

/// Appends `bytes` to the output (accounted as produced bytes).
fn output(h5: &mut H5<'_>, bytes: &[u8], name: &str) -> R<Storage> {
    h5.budget
        .decompressed(bytes.len() as u64, &format!("dataset {name}"))?;
    let offset = h5.host().write_output(bytes)?;
    Ok(Storage {
        source: StorageSource::Output,
        offset,
        length: bytes.len() as u64,
    })
}

/// Appends pieces that must end up adjacent in the output.
struct Appender {
    start: Option<u64>,
    written: u64,
}

impl Appender {
    fn new() -> Self {
        Appender {
            start: None,
            written: 0,
        }
    }

    fn push(&mut self, h5: &mut H5<'_>, bytes: &[u8], name: &str) -> R<()> {
        h5.budget
            .decompressed(bytes.len() as u64, &format!("dataset {name}"))?;
        let at = h5.host().write_output(bytes)?;
        let expect = self.start.map(|s| s.saturating_add(self.written));
        if expect.is_some_and(|e| e != at) {
            return Err(malformed("output buffer pieces are not adjacent"));
        }
        self.start.get_or_insert(at);
        self.written = self.written.saturating_add(bytes.len() as u64);
        Ok(())
    }

    fn finish(self, h5: &mut H5<'_>) -> R<Storage> {
        let offset = match self.start {
            Some(s) => s,
            None => h5.host().write_output(&[])?,
        };
        Ok(Storage {
            source: StorageSource::Output,
            offset,
            length: self.written,
        })
    }
}

/// The fill pattern for one element.
fn fill_pattern(d: &DatasetInfo, esize: u64) -> Vec<u8> {
    match &d.fill {
        Some(f) if f.len() as u64 == esize => f.clone(),
        _ => vec![0u8; usize::try_from(esize).unwrap_or(1)],
    }
}

/// `n` bytes of repeated fill pattern.
fn filled(pattern: &[u8], n: usize) -> Vec<u8> {
    if pattern.iter().all(|&b| b == 0) {
        return vec![0u8; n];
    }
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(pattern.get(..n.min(pattern.len())).unwrap_or(&[]));
    // Doubling copies: O(log n) calls.
    while out.len() < n {
        let take = out.len().min(n - out.len());
        out.extend_from_within(..take);
    }
    out
}

/// A never-written contiguous dataset: every element is the fill value.
fn fill_output(
    h5: &mut H5<'_>,
    d: &DatasetInfo,
    nbytes: u64,
    esize: u64,
    name: &str,
) -> R<Storage> {
    if nbytes > h5.budget.decompressed_left() {
        return Err(limit(format!(
            "dataset {name}: {nbytes} bytes of fill value exceed limits.max_decompressed"
        )));
    }
    let pattern = fill_pattern(d, esize);
    let piece_elems = (COPY_PIECE / esize.max(1)).max(1);
    let piece = filled(&pattern, to_usize((piece_elems * esize).min(nbytes))?);
    let mut app = Appender::new();
    let mut left = nbytes;
    while left > 0 {
        let n = left.min(piece.len() as u64);
        app.push(h5, piece.get(..to_usize(n)?).unwrap_or(&[]), name)?;
        left -= n;
    }
    app.finish(h5)
}

/// Contiguous data of an in-memory file: copied to the output in pieces.
fn copy_output(h5: &mut H5<'_>, addr: u64, nbytes: u64, name: &str) -> R<Storage> {
    let mut app = Appender::new();
    let mut done = 0u64;
    while done < nbytes {
        let n = (nbytes - done).min(COPY_PIECE);
        let at = addr
            .checked_add(done)
            .ok_or_else(|| malformed("dataset address overflows"))?;
        let piece = h5.read(at, n, &format!("dataset {name}"))?;
        app.push(h5, &piece, name)?;
        done += n;
    }
    app.finish(h5)
}

fn chunked(
    h5: &mut H5<'_>,
    d: &DatasetInfo,
    g: &Geometry,
    refs: Vec<ChunkRef>,
    unfiltered_edges: bool,
    nbytes: u64,
    name: &str,
) -> R<Storage> {
    if nbytes > h5.budget.decompressed_left() {
        return Err(limit(format!(
            "dataset {name}: {nbytes} bytes exceed limits.max_decompressed"
        )));
    }
    let mut map: BTreeMap<Vec<u64>, ChunkRef> = BTreeMap::new();
    for r in refs {
        let key = r.coords.clone();
        if map.insert(key, r).is_some() {
            return Err(malformed(format!(
                "dataset {name}: a chunk is indexed twice"
            )));
        }
    }
    let esize = g.chunk_bytes / g.chunk.iter().product::<u64>().max(1);
    let pattern = fill_pattern(d, esize);
    let mut app = Appender::new();
    if nbytes == 0 {
        return app.finish(h5);
    }
    let (Some(&dim0), Some(&c0)) = (g.dims.first(), g.chunk.first()) else {
        return Err(malformed(format!("dataset {name}: chunked data of rank 0")));
    };
    let row_bytes = g
        .dims
        .iter()
        .skip(1)
        .try_fold(esize, |a, &x| a.checked_mul(x))
        .ok_or_else(|| malformed("row size overflows"))?;
    let nslabs = dim0.div_ceil(c0);
    for s in 0..nslabs {
        let first_row = s * c0;
        let rows = c0.min(dim0 - first_row);
        let slab_bytes = rows
            .checked_mul(row_bytes)
            .filter(|&b| b <= MAX_SLAB_BYTES)
            .ok_or_else(|| {
                limit(format!(
                    "dataset {name}: a row of chunks needs more than {MAX_SLAB_BYTES} bytes"
                ))
            })?;
        let mut slab = filled(&pattern, to_usize(slab_bytes)?);
        let lo = vec![s];
        let hi = vec![s + 1];
        let keys: Vec<Vec<u64>> = map.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in keys {
            let Some(r) = map.remove(&k) else { continue };
            let chunk = read_chunk(h5, d, g, &r, unfiltered_edges, name)?;
            place(&mut slab, &chunk, g, &r.coords, rows, esize)?;
        }
        app.push(h5, &slab, name)?;
    }
    app.finish(h5)
}

/// Reads one chunk and undoes its filters.
fn read_chunk(
    h5: &mut H5<'_>,
    d: &DatasetInfo,
    g: &Geometry,
    r: &ChunkRef,
    unfiltered_edges: bool,
    name: &str,
) -> R<Vec<u8>> {
    h5.budget.object("chunk")?;
    let what = format!("dataset {name} chunk {:?}", r.coords);
    let partial = r
        .coords
        .iter()
        .zip(g.chunk.iter().zip(&g.dims))
        .any(|(&c, (&cd, &dd))| c.saturating_add(1).saturating_mul(cd) > dd);
    let filtered = !(d.filters.is_empty() || unfiltered_edges && partial);
    if !filtered {
        if r.size < g.chunk_bytes {
            return Err(malformed(format!(
                "{what}: stored size {} is short",
                r.size
            )));
        }
        h5.check(r.addr, g.chunk_bytes, &what)?;
        let mut buf = vec![0u8; to_usize(g.chunk_bytes)?];
        h5.read_into(r.addr, &mut buf, &what)?;
        return Ok(buf);
    }
    if r.size > MAX_CHUNK_BYTES {
        return Err(limit(format!(
            "{what}: stored size {} is too large",
            r.size
        )));
    }
    h5.check(r.addr, r.size, &what)?;
    let mut raw = vec![0u8; to_usize(r.size)?];
    h5.read_into(r.addr, &mut raw, &what)?;
    filters::decode(&d.filters, r.mask, raw, g.chunk_bytes, &what)
}

/// Copies the part of `chunk` (at chunk coordinates `coords`) that lies inside the
/// dataset into `slab` (rows `coords[0] * chunk[0] ..` of the C-ordered array).
fn place(
    slab: &mut [u8],
    chunk: &[u8],
    g: &Geometry,
    coords: &[u64],
    rows: u64,
    esize: u64,
) -> R<()> {
    let rank = g.dims.len();
    // Invariant for the indexing below: the chunk index only yields coordinates of the
    // dataset's rank (`Geometry::in_bounds`), `extract` checked the chunk rank, and a
    // chunked layout has rank >= 1.
    if rank == 0 || coords.len() != rank || g.chunk.len() != rank {
        return Err(malformed("chunk rank mismatch"));
    }
    let mut ext = Vec::with_capacity(rank);
    let mut origin = Vec::with_capacity(rank);
    for ((&c, &cd), &dd) in coords.iter().zip(&g.chunk).zip(&g.dims) {
        let o = c.saturating_mul(cd);
        let e = cd.min(dd.saturating_sub(o));
        if e == 0 {
            return Ok(());
        }
        origin.push(o);
        ext.push(e);
    }
    ext[0] = ext[0].min(rows);
    // Element strides of the chunk and of the slab.
    let mut cstride = vec![1u64; rank];
    let mut sstride = vec![1u64; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        cstride[k] = cstride[k + 1] * g.chunk[k + 1];
        sstride[k] = sstride[k + 1] * g.dims[k + 1];
    }
    let run = to_usize(ext[rank - 1] * esize)?;
    let outer = rank - 1;
    // Axis 0 is counted from the slab's first row.
    let last_origin = if outer == 0 { 0 } else { origin[outer] };
    let mut idx = vec![0u64; outer];
    loop {
        let mut src = 0u64;
        let mut dst = last_origin;
        for k in 0..outer {
            src += idx[k] * cstride[k];
            let pos = if k == 0 { idx[0] } else { origin[k] + idx[k] };
            dst += pos * sstride[k];
        }
        let (s, t) = (to_usize(src * esize)?, to_usize(dst * esize)?);
        let from = chunk
            .get(s..s + run)
            .ok_or_else(|| malformed("chunk copy outside the chunk"))?;
        let to = slab
            .get_mut(t..t + run)
            .ok_or_else(|| malformed("chunk copy outside the slab"))?;
        to.copy_from_slice(from);
        // Next index (odometer over the outer dimensions).
        let mut k = outer;
        loop {
            if k == 0 {
                return Ok(());
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < ext[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}
