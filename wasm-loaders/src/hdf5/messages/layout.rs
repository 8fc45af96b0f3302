//! Data layout message (spec §IV.A.2.i, versions 3 and 4): compact, contiguous and
//! chunked storage with every chunk index the library writes.

use crate::hdf5::io::{Cursor, R, malformed, unsupported};

/// How a chunked dataset indexes its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkIndex {
    /// Layout v3: a version 1 B-tree (node type 1) at this address.
    BTreeV1,
    /// Layout v4: one chunk, at the index address; `filtered` gives its stored size and
    /// filter mask.
    Single {
        /// `(stored size, filter mask)` when the chunk is filtered.
        filtered: Option<(u64, u32)>,
    },
    /// Layout v4: chunks stored back to back from the index address (no filters).
    Implicit,
    /// Layout v4: a fixed array.
    FixedArray,
    /// Layout v4: an extensible array.
    ExtensibleArray,
    /// Layout v4: a version 2 B-tree.
    BTreeV2,
}

/// Where a dataset's elements are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// In the layout message itself.
    Compact {
        /// The raw element bytes.
        data: Vec<u8>,
    },
    /// One block at `addr` (undefined when never written).
    Contiguous {
        /// Address of the block.
        addr: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// Tiles of `chunk` elements.
    Chunked {
        /// Chunk dimensions (dataset rank).
        chunk: Vec<u64>,
        /// Element size recorded in the layout (v3), if any.
        element_size: Option<u64>,
        /// The index kind.
        index: ChunkIndex,
        /// Address of the index (or of the single chunk / first implicit chunk).
        addr: u64,
        /// Layout v4 flag: partial edge chunks are stored unfiltered.
        unfiltered_edges: bool,
    },
}

/// Parses a data layout message body.
pub(crate) fn parse(data: &[u8], so: u8, sl: u8) -> R<Layout> {
    let mut c = Cursor::new(data, so, sl, "data layout message");
    let version = c.u8()?;
    // Version 5 (HDF5 2.0) has the version 4 layout; only the width of filtered chunk
    // sizes inside the chunk index differs, and the index readers take that width from
    // the index's own element or record size.
    if !(3..=5).contains(&version) {
        return Err(unsupported(format!(
            "data layout message version {version}"
        )));
    }
    let class = c.u8()?;
    match class {
        0 => {
            let size = usize::from(c.u16()?);
            Ok(Layout::Compact {
                data: c.bytes(size)?.to_vec(),
            })
        }
        1 => {
            let addr = c.addr()?;
            let size = c.len()?;
            Ok(Layout::Contiguous { addr, size })
        }
        2 if version == 3 => {
            let ndims = usize::from(c.u8()?);
            if !(2..=33).contains(&ndims) {
                return Err(malformed(format!("chunked layout dimensionality {ndims}")));
            }
            let addr = c.addr()?;
            let mut dims = Vec::with_capacity(ndims);
            for _ in 0..ndims {
                dims.push(u64::from(c.u32()?));
            }
            // The last "dimension" is the element size.
            let element_size = dims.pop();
            Ok(Layout::Chunked {
                chunk: dims,
                element_size,
                index: ChunkIndex::BTreeV1,
                addr,
                unfiltered_edges: false,
            })
        }
        2 => {
            let flags = c.u8()?;
            let ndims = usize::from(c.u8()?);
            if !(2..=33).contains(&ndims) {
                return Err(malformed(format!("chunked layout dimensionality {ndims}")));
            }
            let enc = usize::from(c.u8()?);
            if !(1..=8).contains(&enc) {
                return Err(malformed(format!("chunk dimension encoding size {enc}")));
            }
            let mut dims = Vec::with_capacity(ndims);
            for _ in 0..ndims {
                dims.push(c.uint(enc)?);
            }
            let element_size = dims.pop();
            let index_type = c.u8()?;
            let index = match index_type {
                1 => {
                    let filtered = if flags & 0x02 != 0 {
                        let size = c.len()?;
                        let mask = c.u32()?;
                        Some((size, mask))
                    } else {
                        None
                    };
                    ChunkIndex::Single { filtered }
                }
                2 => ChunkIndex::Implicit,
                3 => {
                    c.skip(1)?; // page bits (the fixed array header repeats them)
                    ChunkIndex::FixedArray
                }
                4 => {
                    c.skip(5)?; // creation parameters (repeated in the array header)
                    ChunkIndex::ExtensibleArray
                }
                5 => {
                    c.skip(6)?; // node size, split and merge percentages
                    ChunkIndex::BTreeV2
                }
                t => return Err(malformed(format!("unknown chunk index type {t}"))),
            };
            let addr = c.addr()?;
            Ok(Layout::Chunked {
                chunk: dims,
                element_size,
                index,
                addr,
                unfiltered_edges: flags & 0x01 != 0,
            })
        }
        3 => Err(unsupported("virtual dataset layout")),
        k => Err(malformed(format!("unknown data layout class {k}"))),
    }
}
