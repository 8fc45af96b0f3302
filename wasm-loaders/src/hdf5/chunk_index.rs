//! Finding a chunked dataset's chunks, for every index the library writes: v1 B-tree
//! (layout v3), and for layout v4 single chunk, implicit, fixed array, extensible array
//! and v2 B-tree. Every index yields the same list of [`ChunkRef`]s.

use super::btree_v1;
use super::btree_v2;
use super::extensible_array;
use super::file::H5;
use super::fixed_array;
use super::io::{Cursor, R, UNDEFINED, le_uint, malformed};
use super::messages::layout::ChunkIndex;

/// One stored chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkRef {
    /// Chunk coordinates in units of chunks (scaled offsets).
    pub(crate) coords: Vec<u64>,
    /// Address of the stored bytes.
    pub(crate) addr: u64,
    /// Stored size in bytes.
    pub(crate) size: u64,
    /// Filters *skipped* for this chunk (bit i = filter i not applied).
    pub(crate) mask: u32,
}

/// The geometry of a chunked dataset.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    /// Current dimensions.
    pub(crate) dims: Vec<u64>,
    /// Maximum dimensions (`u64::MAX` = unlimited).
    pub(crate) maxdims: Vec<u64>,
    /// Chunk dimensions.
    pub(crate) chunk: Vec<u64>,
    /// Bytes of one unfiltered chunk.
    pub(crate) chunk_bytes: u64,
    /// Whether the dataset has a filter pipeline.
    pub(crate) filtered: bool,
}

impl Geometry {
    /// Chunks along each dimension for the current size.
    pub(crate) fn grid(&self) -> Vec<u64> {
        self.dims
            .iter()
            .zip(&self.chunk)
            .map(|(&d, &c)| d.div_ceil(c.max(1)))
            .collect()
    }

    /// Chunks along each dimension for the maximum size (unlimited dims use the current
    /// size; they only ever come first in a linearisation).
    fn max_grid(&self) -> Vec<u64> {
        self.maxdims
            .iter()
            .zip(&self.dims)
            .zip(&self.chunk)
            .map(|((&m, &d), &c)| if m == UNDEFINED { d } else { m.max(d) }.div_ceil(c.max(1)))
            .collect()
    }

    /// Row-major coordinates of linear chunk index `idx` over `grid` taken in the
    /// dimension order `order`.
    fn unlinearize(&self, mut idx: u64, grid: &[u64], order: &[usize]) -> Option<Vec<u64>> {
        let mut coords = vec![0u64; grid.len()];
        for (pos, &d) in order.iter().enumerate().rev() {
            let n = *grid.get(d)?;
            if pos == 0 {
                *coords.get_mut(d)? = idx;
            } else {
                if n == 0 {
                    return None;
                }
                *coords.get_mut(d)? = idx % n;
                idx /= n;
            }
        }
        Some(coords)
    }

    /// Whether chunk coordinates lie inside the current dataset.
    pub(crate) fn in_bounds(&self, coords: &[u64]) -> bool {
        coords.len() == self.dims.len() && coords.iter().zip(self.grid()).all(|(&c, g)| c < g)
    }
}

/// Lists the chunks of a dataset with index `index` at `addr`.
pub(crate) fn chunks(
    h5: &mut H5<'_>,
    index: &ChunkIndex,
    addr: u64,
    g: &Geometry,
) -> R<Vec<ChunkRef>> {
    if addr == UNDEFINED {
        return Ok(Vec::new()); // no chunk was ever written
    }
    let rank = g.dims.len();
    let natural: Vec<usize> = (0..rank).collect();
    match index {
        ChunkIndex::BTreeV1 => btree_v1_chunks(h5, addr, g),
        ChunkIndex::Single { filtered } => {
            let (size, mask) = filtered.unwrap_or((g.chunk_bytes, 0));
            Ok(vec![ChunkRef {
                coords: vec![0; rank],
                addr,
                size,
                mask,
            }])
        }
        ChunkIndex::Implicit => {
            let grid = g.max_grid();
            let n = grid
                .iter()
                .try_fold(1u64, |a, &x| a.checked_mul(x))
                .ok_or_else(|| malformed("implicit chunk index size overflows"))?;
            // The chunks are stored back to back: they must all lie inside the file.
            let span = n
                .checked_mul(g.chunk_bytes)
                .ok_or_else(|| malformed("implicit chunk index size overflows"))?;
            h5.check(addr, span, "implicit chunk index")?;
            h5.budget.objects(n, "implicit chunk index")?;
            let mut out = Vec::new();
            for i in 0..n {
                let coords = g
                    .unlinearize(i, &grid, &natural)
                    .ok_or_else(|| malformed("implicit chunk index"))?;
                if !g.in_bounds(&coords) {
                    continue;
                }
                let at = i
                    .checked_mul(g.chunk_bytes)
                    .and_then(|o| o.checked_add(addr))
                    .ok_or_else(|| malformed("implicit chunk address overflows"))?;
                out.push(ChunkRef {
                    coords,
                    addr: at,
                    size: g.chunk_bytes,
                    mask: 0,
                });
            }
            Ok(out)
        }
        ChunkIndex::FixedArray => {
            let grid = g.max_grid();
            let elems = fixed_array::elements(h5, addr, g.filtered)?;
            from_linear(g, elems, &grid, &natural)
        }
        ChunkIndex::ExtensibleArray => {
            // The unlimited dimension is moved first ("swizzled") before linearising.
            let unlim = g.maxdims.iter().position(|&m| m == UNDEFINED).unwrap_or(0);
            let mut order = vec![unlim];
            order.extend((0..rank).filter(|&d| d != unlim));
            let grid = g.max_grid();
            let elems = extensible_array::elements(h5, addr, g.filtered)?;
            from_linear(g, elems, &grid, &order)
        }
        ChunkIndex::BTreeV2 => btree_v2_chunks(h5, addr, g),
    }
}

/// A chunk index element: linear index, address, stored size (filtered only), mask.
pub(crate) struct Element {
    /// Linear chunk index.
    pub(crate) index: u64,
    /// Chunk address.
    pub(crate) addr: u64,
    /// Stored size, when the dataset is filtered.
    pub(crate) size: Option<u64>,
    /// Filter mask.
    pub(crate) mask: u32,
}

/// Decodes one array element (address, and for filtered datasets size and mask).
pub(crate) fn decode_element(
    c: &mut Cursor<'_>,
    esize: usize,
    filtered: bool,
) -> R<(u64, Option<u64>, u32)> {
    let so = usize::from(c.so);
    let addr = c.addr()?;
    if filtered {
        let size_len = esize
            .checked_sub(so + 4)
            .filter(|&n| (1..=8).contains(&n))
            .ok_or_else(|| malformed(format!("filtered chunk element size {esize}")))?;
        let size = c.uint(size_len)?;
        let mask = c.u32()?;
        Ok((addr, Some(size), mask))
    } else {
        if esize != so {
            return Err(malformed(format!("chunk element size {esize}")));
        }
        Ok((addr, None, 0))
    }
}

fn from_linear(
    g: &Geometry,
    elems: Vec<Element>,
    grid: &[u64],
    order: &[usize],
) -> R<Vec<ChunkRef>> {
    let mut out = Vec::new();
    for e in elems {
        if e.addr == UNDEFINED {
            continue;
        }
        let coords = g
            .unlinearize(e.index, grid, order)
            .ok_or_else(|| malformed("chunk index element outside the chunk grid"))?;
        if !g.in_bounds(&coords) {
            continue;
        }
        out.push(ChunkRef {
            coords,
            addr: e.addr,
            size: e.size.unwrap_or(g.chunk_bytes),
            mask: e.mask,
        });
    }
    Ok(out)
}

fn btree_v1_chunks(h5: &mut H5<'_>, addr: u64, g: &Geometry) -> R<Vec<ChunkRef>> {
    let rank = g.dims.len();
    // Key: chunk size (4), filter mask (4), offsets of rank + 1 dimensions (8 each).
    let key_size = 8 + 8 * (rank as u64 + 1);
    let leaves = btree_v1::leaves(h5, addr, 1, key_size)?;
    let mut out = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        let mut c = Cursor::new(&leaf.key, h5.so, h5.sl, "v1 B-tree chunk key");
        let size = u64::from(c.u32()?);
        let mask = c.u32()?;
        let mut coords = Vec::with_capacity(rank);
        for d in 0..rank {
            let off = c.u64()?;
            let cd = *g.chunk.get(d).unwrap_or(&1);
            if cd == 0 || off % cd != 0 {
                return Err(malformed(format!(
                    "chunk offset {off} is not a multiple of the chunk size"
                )));
            }
            coords.push(off / cd);
        }
        if !g.in_bounds(&coords) {
            continue;
        }
        out.push(ChunkRef {
            coords,
            addr: leaf.child,
            size,
            mask,
        });
    }
    Ok(out)
}

fn btree_v2_chunks(h5: &mut H5<'_>, addr: u64, g: &Geometry) -> R<Vec<ChunkRef>> {
    let rank = g.dims.len();
    let so = usize::from(h5.so);
    let rtype = if g.filtered { 11 } else { 10 };
    let records = btree_v2::records(h5, addr, rtype)?;
    let mut out = Vec::with_capacity(records.len());
    for rec in records {
        let mut c = Cursor::new(&rec, h5.so, h5.sl, "v2 B-tree chunk record");
        let chunk_addr = c.addr()?;
        let (size, mask) = if g.filtered {
            let size_len = rec
                .len()
                .checked_sub(so + 4 + 8 * rank)
                .filter(|&n| (1..=8).contains(&n))
                .ok_or_else(|| malformed("v2 B-tree chunk record size"))?;
            let size = c.uint(size_len)?;
            (size, c.u32()?)
        } else {
            (g.chunk_bytes, 0)
        };
        let mut coords = Vec::with_capacity(rank);
        for _ in 0..rank {
            coords.push(le_uint(c.bytes(8)?));
        }
        if chunk_addr == UNDEFINED || !g.in_bounds(&coords) {
            continue;
        }
        out.push(ChunkRef {
            coords,
            addr: chunk_addr,
            size,
            mask,
        });
    }
    Ok(out)
}
