//! Local heaps (link names of old-style groups, spec §III.D) and global heap collections
//! (variable-length data, spec §III.E).

use std::collections::BTreeMap;

use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, limit, malformed, to_usize};

/// Largest local heap data segment read.
const MAX_LOCAL_HEAP: u64 = 16 << 20;
/// Largest global heap collection read.
const MAX_GLOBAL_COLLECTION: u64 = 64 << 20;
/// Most bytes of global heap collections kept in the cache.
const MAX_GLOBAL_CACHE: usize = 64 << 20;

/// A local heap's data segment.
pub(crate) struct LocalHeap {
    data: Vec<u8>,
}

impl LocalHeap {
    /// Reads the local heap whose header is at `addr`.
    pub(crate) fn read(h5: &mut H5<'_>, addr: u64) -> R<Self> {
        let hlen = 8 + 2 * u64::from(h5.sl) + u64::from(h5.so);
        let hdr = h5.read(addr, hlen, "local heap")?;
        let mut c = Cursor::new(&hdr, h5.so, h5.sl, "local heap");
        c.expect_sig(b"HEAP")?;
        let _version = c.u8()?;
        c.skip(3)?;
        let size = c.len()?;
        let _free = c.len()?;
        let data_addr = c.addr()?;
        if data_addr == UNDEFINED || size == UNDEFINED {
            return Err(malformed("local heap: undefined data segment"));
        }
        if size > MAX_LOCAL_HEAP {
            return Err(limit(format!(
                "local heap data segment of {size} bytes exceeds {MAX_LOCAL_HEAP}"
            )));
        }
        h5.budget.object("local heap")?;
        let data = h5.read(data_addr, size, "local heap data segment")?;
        Ok(LocalHeap { data })
    }

    /// The NUL-terminated string at `offset`.
    pub(crate) fn name(&self, offset: u64) -> R<Vec<u8>> {
        let off = to_usize(offset)?;
        let rest = self
            .data
            .get(off..)
            .ok_or_else(|| malformed(format!("local heap offset {offset} is outside the heap")))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed(format!("local heap string at {offset} is not terminated")))?;
        Ok(rest.get(..end).unwrap_or(&[]).to_vec())
    }
}

/// A cache of global heap collections, by address.
#[derive(Default)]
pub(crate) struct GlobalHeaps {
    collections: BTreeMap<u64, Vec<u8>>,
    cached: usize,
}

impl GlobalHeaps {
    /// The bytes of object `index` in the collection at `addr`.
    pub(crate) fn object(&mut self, h5: &mut H5<'_>, addr: u64, index: u32) -> R<Vec<u8>> {
        if !self.collections.contains_key(&addr) {
            let coll = read_collection(h5, addr)?;
            if self.cached.saturating_add(coll.len()) > MAX_GLOBAL_CACHE {
                self.collections.clear();
                self.cached = 0;
            }
            self.cached = self.cached.saturating_add(coll.len());
            self.collections.insert(addr, coll);
        }
        let coll = self
            .collections
            .get(&addr)
            .ok_or_else(|| malformed("global heap collection vanished"))?;
        find_object(coll, h5.sl, index)
            .ok_or_else(|| malformed(format!("global heap object {index} not found at {addr}")))?
    }
}

fn read_collection(h5: &mut H5<'_>, addr: u64) -> R<Vec<u8>> {
    if addr == UNDEFINED {
        return Err(malformed("global heap reference with an undefined address"));
    }
    let hlen = 8 + u64::from(h5.sl);
    let hdr = h5.read(addr, hlen, "global heap collection")?;
    let mut c = Cursor::new(&hdr, h5.so, h5.sl, "global heap collection");
    c.expect_sig(b"GCOL")?;
    let _version = c.u8()?;
    c.skip(3)?;
    let size = c.len()?;
    if size < hlen || size > MAX_GLOBAL_COLLECTION {
        return Err(malformed(format!("global heap collection size {size}")));
    }
    h5.budget.object("global heap collection")?;
    h5.read(addr, size, "global heap collection")
}

fn find_object(coll: &[u8], sl: u8, index: u32) -> Option<R<Vec<u8>>> {
    let mut c = Cursor::new(coll, 8, sl, "global heap object");
    c.seek(8 + usize::from(sl)).ok()?;
    let ohdr = 8 + usize::from(sl);
    while c.remaining() >= ohdr {
        let idx = c.u16().ok()?;
        if idx == 0 {
            return None; // free space: the rest of the collection is unused
        }
        c.skip(6).ok()?;
        let size = c.len().ok()?;
        let size = match to_usize(size) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let data = match c.bytes(size) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        if u32::from(idx) == index {
            return Some(Ok(data.to_vec()));
        }
        if c.align8().is_err() {
            return None;
        }
    }
    None
}
