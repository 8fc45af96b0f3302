//! Fractal heaps (spec §III.G): where dense groups keep link messages and dense attribute
//! storage keeps attribute messages. Managed objects are located through the doubling
//! table (root direct or indirect block, child indirect blocks); tiny objects live in the
//! heap ID itself. Huge objects and filtered heaps are not supported (h5py never writes
//! them for links or attributes).

use std::collections::{BTreeMap, BTreeSet};

use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, le_uint, malformed, to_usize, unsupported, verify_checksum};

/// Deepest chain of indirect blocks followed.
const MAX_INDIRECT_DEPTH: u32 = 64;
/// Widest doubling table accepted.
const MAX_TABLE_WIDTH: u64 = 65_536;

/// A fractal heap header's parameters.
pub(crate) struct FractalHeap {
    addr: u64,
    id_len: usize,
    filtered: bool,
    checksummed_direct: bool,
    width: u64,
    start_block: u64,
    max_direct: u64,
    max_heap_bits: u16,
    root: u64,
    root_rows: u64,
    off_size: usize,
    len_size: usize,
    /// Child addresses of indirect blocks already read.
    indirect: BTreeMap<u64, Vec<u64>>,
    /// Direct blocks already checked.
    checked: BTreeSet<u64>,
}

/// Bytes needed to encode `n` (the library's `H5VM_limit_enc_size`).
fn enc_size(n: u64) -> usize {
    (63 - n.max(1).leading_zeros()) as usize / 8 + 1
}

fn log2(n: u64) -> u32 {
    63 - n.max(1).leading_zeros()
}

impl FractalHeap {
    /// Reads the heap header at `addr`.
    pub(crate) fn open(h5: &mut H5<'_>, addr: u64) -> R<Self> {
        let (so, sl) = (u64::from(h5.so), u64::from(h5.sl));
        let fixed = 4 + 1 + 2 + 2 + 1 + 4 + 12 * sl + 3 * so + 2 + 2 + 2 + 2 + 4;
        let avail = h5.avail(addr)?;
        let buf = h5.read(
            addr,
            avail.min(fixed + sl + 4 + 4096),
            "fractal heap header",
        )?;
        let mut c = Cursor::new(&buf, h5.so, h5.sl, "fractal heap header");
        c.expect_sig(b"FRHP")?;
        let _version = c.u8()?;
        let id_len = usize::from(c.u16()?);
        let filter_len = usize::from(c.u16()?);
        let flags = c.u8()?;
        let max_managed = u64::from(c.u32()?);
        let _next_huge = c.len()?;
        let _huge_btree = c.addr()?;
        let _free = c.len()?;
        let _free_mgr = c.addr()?;
        let _managed_space = c.len()?;
        let _alloc_space = c.len()?;
        let _iter = c.len()?;
        let _n_managed = c.len()?;
        let _huge_size = c.len()?;
        let _n_huge = c.len()?;
        let _tiny_size = c.len()?;
        let _n_tiny = c.len()?;
        let width = u64::from(c.u16()?);
        let start_block = c.len()?;
        let max_direct = c.len()?;
        let max_heap_bits = c.u16()?;
        let _start_rows = c.u16()?;
        let root = c.addr()?;
        let root_rows = u64::from(c.u16()?);
        if filter_len > 0 {
            c.skip(usize::from(h5.sl) + 4)?;
            c.skip(filter_len)?;
        }
        let end = c.pos() + 4;
        let block = buf
            .get(..end)
            .ok_or_else(|| malformed("fractal heap header is truncated"))?;
        verify_checksum(block, "fractal heap header")?;
        let pow2 = |n: u64| n != 0 && n & (n - 1) == 0;
        if !(1..=MAX_TABLE_WIDTH).contains(&width)
            || !pow2(width)
            || !pow2(start_block)
            || !pow2(max_direct)
            || max_direct < start_block
            || !(1..=64).contains(&max_heap_bits)
            || id_len == 0
        {
            return Err(malformed("fractal heap header has impossible parameters"));
        }
        let off_size = usize::from(max_heap_bits).div_ceil(8);
        let len_size = enc_size(max_direct).min(enc_size(max_managed));
        Ok(FractalHeap {
            addr,
            id_len,
            filtered: filter_len > 0,
            checksummed_direct: flags & 0x02 != 0,
            width,
            start_block,
            max_direct,
            max_heap_bits,
            root,
            root_rows,
            off_size,
            len_size,
            indirect: BTreeMap::new(),
            checked: BTreeSet::new(),
        })
    }

    /// Length of heap IDs in this heap.
    pub(crate) fn id_len(&self) -> usize {
        self.id_len
    }

    /// Size of blocks in row `r` of a doubling table.
    fn row_block(&self, r: u64) -> R<u64> {
        if r == 0 {
            return Ok(self.start_block);
        }
        1u64.checked_shl(u32::try_from(r - 1).unwrap_or(u32::MAX))
            .and_then(|m| m.checked_mul(self.start_block))
            .ok_or_else(|| malformed("fractal heap row size overflows"))
    }

    /// Rows of a doubling table holding direct blocks.
    fn max_direct_rows(&self) -> u64 {
        u64::from(log2(self.max_direct) - log2(self.start_block)) + 2
    }

    /// The bytes of the object with heap ID `id`.
    pub(crate) fn object(&mut self, h5: &mut H5<'_>, id: &[u8]) -> R<Vec<u8>> {
        let first = *id
            .first()
            .ok_or_else(|| malformed("empty fractal heap ID"))?;
        if first >> 6 != 0 {
            return Err(unsupported(format!(
                "fractal heap ID version {}",
                first >> 6
            )));
        }
        match (first >> 4) & 0x03 {
            0 => self.managed(h5, id),
            2 => {
                // Tiny object: length in the ID (4 bits, or 12 bits for long IDs).
                let (len, start) = if self.id_len <= 18 {
                    (usize::from(first & 0x0f) + 1, 1)
                } else {
                    let b1 = usize::from(*id.get(1).unwrap_or(&0));
                    ((usize::from(first & 0x0f) << 8 | b1) + 1, 2)
                };
                id.get(start..start + len)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| malformed("tiny fractal heap object overruns its ID"))
            }
            1 => Err(unsupported("huge fractal heap objects")),
            t => Err(malformed(format!("fractal heap ID type {t}"))),
        }
    }

    fn managed(&mut self, h5: &mut H5<'_>, id: &[u8]) -> R<Vec<u8>> {
        if self.filtered {
            return Err(unsupported("filtered fractal heaps"));
        }
        let off_end = 1 + self.off_size;
        let len_end = off_end + self.len_size;
        let offset = le_uint(
            id.get(1..off_end)
                .ok_or_else(|| malformed("heap ID too short"))?,
        );
        let length = le_uint(
            id.get(off_end..len_end)
                .ok_or_else(|| malformed("heap ID too short"))?,
        );
        if self.max_heap_bits < 64 && offset >> self.max_heap_bits != 0 {
            return Err(malformed(
                "heap object offset beyond the heap's address space",
            ));
        }
        let (block_addr, block_off, block_size) = self.locate(h5, offset)?;
        let within = offset - block_off;
        let end = within
            .checked_add(length)
            .filter(|&e| e <= block_size)
            .ok_or_else(|| malformed("fractal heap object overruns its direct block"))?;
        debug_assert!(end <= block_size);
        let at = block_addr
            .checked_add(within)
            .ok_or_else(|| malformed("fractal heap address overflows"))?;
        h5.read(at, length, "fractal heap object")
    }

    /// Finds the direct block holding heap offset `offset`: (address, heap offset of the
    /// block's start, block size).
    fn locate(&mut self, h5: &mut H5<'_>, offset: u64) -> R<(u64, u64, u64)> {
        if self.root == UNDEFINED {
            return Err(malformed("fractal heap is empty"));
        }
        if self.root_rows == 0 {
            self.check_direct(h5, self.root, 0, self.start_block)?;
            return Ok((self.root, 0, self.start_block));
        }
        let mut visited = BTreeSet::new();
        let (mut iaddr, mut ibase, mut rows) = (self.root, 0u64, self.root_rows);
        for _ in 0..MAX_INDIRECT_DEPTH {
            if !visited.insert(iaddr) {
                return Err(malformed("fractal heap indirect blocks form a cycle"));
            }
            h5.budget.object("fractal heap indirect block")?;
            let rel = offset
                .checked_sub(ibase)
                .ok_or_else(|| malformed("heap offset before its indirect block"))?;
            let mut row_start = 0u64;
            let mut found = None;
            for r in 0..rows {
                let bs = self.row_block(r)?;
                let span = bs
                    .checked_mul(self.width)
                    .ok_or_else(|| malformed("fractal heap row span overflows"))?;
                if rel < row_start.saturating_add(span) {
                    let col = (rel - row_start) / bs;
                    found = Some((r, col, row_start + col * bs, bs));
                    break;
                }
                row_start = row_start.saturating_add(span);
            }
            let (r, col, entry_rel, bs) =
                found.ok_or_else(|| malformed("heap offset beyond its indirect block"))?;
            let entry_off = ibase + entry_rel;
            let index = r
                .checked_mul(self.width)
                .and_then(|v| v.checked_add(col))
                .ok_or_else(|| malformed("fractal heap entry index overflows"))?;
            let child = self.indirect_entry(h5, iaddr, rows, index)?;
            if child == UNDEFINED {
                return Err(malformed("heap object in an unallocated block"));
            }
            if r < self.max_direct_rows() {
                self.check_direct(h5, child, entry_off, bs)?;
                return Ok((child, entry_off, bs));
            }
            let child_rows = u64::from(log2(bs))
                .checked_sub(u64::from(log2(self.start_block) + log2(self.width)))
                .map(|v| v + 1)
                .ok_or_else(|| malformed("fractal heap child indirect block rows"))?;
            iaddr = child;
            ibase = entry_off;
            rows = child_rows;
        }
        Err(malformed("fractal heap indirect blocks nest too deeply"))
    }

    /// Entry `index` (a child block address) of the indirect block at `iaddr`.
    fn indirect_entry(&mut self, h5: &mut H5<'_>, iaddr: u64, rows: u64, index: u64) -> R<u64> {
        if !self.indirect.contains_key(&iaddr) {
            let entries = self.read_indirect(h5, iaddr, rows)?;
            self.indirect.insert(iaddr, entries);
        }
        let entries = self
            .indirect
            .get(&iaddr)
            .ok_or_else(|| malformed("fractal heap indirect block vanished"))?;
        let i = to_usize(index)?;
        entries
            .get(i)
            .copied()
            .ok_or_else(|| malformed("fractal heap entry outside its indirect block"))
    }

    fn read_indirect(&self, h5: &mut H5<'_>, iaddr: u64, rows: u64) -> R<Vec<u64>> {
        let so = u64::from(h5.so);
        let prefix = 4 + 1 + so + self.off_size as u64;
        let nentries = rows
            .checked_mul(self.width)
            .ok_or_else(|| malformed("fractal heap indirect block size overflows"))?;
        let total = nentries
            .checked_mul(so)
            .and_then(|v| v.checked_add(prefix + 4))
            .ok_or_else(|| malformed("fractal heap indirect block size overflows"))?;
        let buf = h5.read(iaddr, total, "fractal heap indirect block")?;
        verify_checksum(&buf, "fractal heap indirect block")?;
        let mut c = Cursor::new(&buf, h5.so, h5.sl, "fractal heap indirect block");
        c.expect_sig(b"FHIB")?;
        let _version = c.u8()?;
        let hdr = c.addr()?;
        if hdr != self.addr {
            return Err(malformed(
                "fractal heap indirect block belongs to another heap",
            ));
        }
        c.skip(self.off_size)?;
        let mut out = Vec::new();
        for _ in 0..nentries {
            out.push(c.addr()?);
        }
        Ok(out)
    }

    /// Checks a direct block's signature, owner and (if enabled) checksum.
    fn check_direct(&mut self, h5: &mut H5<'_>, addr: u64, block_off: u64, size: u64) -> R<()> {
        if self.checked.contains(&addr) {
            return Ok(());
        }
        h5.budget.object("fractal heap direct block")?;
        let so = u64::from(h5.so);
        let prefix = 4 + 1 + so + self.off_size as u64;
        let head_len = if self.checksummed_direct {
            prefix + 4
        } else {
            prefix
        };
        let head = h5.read(addr, head_len.min(size), "fractal heap direct block")?;
        let mut c = Cursor::new(&head, h5.so, h5.sl, "fractal heap direct block");
        c.expect_sig(b"FHDB")?;
        let _version = c.u8()?;
        let hdr = c.addr()?;
        let off = c.uint(self.off_size)?;
        if hdr != self.addr || off != block_off {
            return Err(malformed(
                "fractal heap direct block does not match its position",
            ));
        }
        if self.checksummed_direct {
            // The checksum covers the whole block with the checksum field zeroed.
            let mut block = h5.read(addr, size, "fractal heap direct block")?;
            let at = to_usize(prefix)?;
            let stored = block
                .get(at..at + 4)
                .map(le_uint)
                .ok_or_else(|| malformed("fractal heap direct block is truncated"))?;
            if let Some(s) = block.get_mut(at..at + 4) {
                s.fill(0);
            }
            if super::checksum::lookup3(&block, 0) != stored as u32 {
                return Err(malformed("fractal heap direct block checksum mismatch"));
            }
        } else {
            h5.check(addr, size, "fractal heap direct block")?;
        }
        self.checked.insert(addr);
        Ok(())
    }
}
