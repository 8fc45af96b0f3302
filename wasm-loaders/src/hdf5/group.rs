//! The links of a group, whatever its storage: an old-style symbol table (v1 B-tree of
//! symbol table nodes + local heap), compact link messages, or dense links (fractal heap
//! indexed by a v2 B-tree of name hashes).

use super::btree_v1;
use super::btree_v2;
use super::file::H5;
use super::fractal_heap::FractalHeap;
use super::heaps::LocalHeap;
use super::io::{Cursor, R, UNDEFINED, malformed};
use super::messages::link::{self, Link, LinkTarget};
use super::object_header::{MSG_LINK, MSG_LINK_INFO, MSG_SYMBOL_TABLE, ObjectHeader};

/// Most entries in one symbol table node (2 × the largest leaf K the format allows).
const MAX_SYMBOLS_PER_NODE: u64 = 65_536;

/// Is this object header a group's?
pub(crate) fn is_group(hdr: &ObjectHeader) -> bool {
    hdr.first(MSG_SYMBOL_TABLE).is_some()
        || hdr.first(MSG_LINK_INFO).is_some()
        || hdr.first(MSG_LINK).is_some()
}

/// The links of the group whose header is `hdr`, sorted by name.
pub(crate) fn links(h5: &mut H5<'_>, hdr: &ObjectHeader) -> R<Vec<Link>> {
    let mut out = Vec::new();
    if let Some(m) = hdr.first(MSG_SYMBOL_TABLE) {
        let st = link::parse_symbol_table(&m.data, h5.so, h5.sl)?;
        symbol_table_links(h5, st.btree, st.heap, &mut out)?;
    }
    for m in hdr.all(MSG_LINK) {
        h5.budget.object("link")?;
        out.push(link::parse_link(&m.data, h5.so, h5.sl)?);
    }
    if let Some(m) = hdr.first(MSG_LINK_INFO) {
        let info = link::parse_link_info(&m.data, h5.so, h5.sl, false)?;
        if info.heap != UNDEFINED && info.name_index != UNDEFINED {
            dense_links(h5, info.heap, info.name_index, &mut out)?;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.windows(2).any(|w| w[0].name == w[1].name) {
        return Err(malformed("group has two links with the same name"));
    }
    Ok(out)
}

fn symbol_table_links(h5: &mut H5<'_>, btree: u64, heap: u64, out: &mut Vec<Link>) -> R<()> {
    let heap = LocalHeap::read(h5, heap)?;
    let key_size = u64::from(h5.sl);
    let nodes = btree_v1::leaves(h5, btree, 0, key_size)?;
    let entry_size = 2 * u64::from(h5.so) + 24;
    for node in nodes {
        h5.budget.object("symbol table node")?;
        let head = h5.read(node.child, 8, "symbol table node")?;
        let mut c = Cursor::new(&head, h5.so, h5.sl, "symbol table node");
        c.expect_sig(b"SNOD")?;
        let _version = c.u8()?;
        c.skip(1)?;
        let n = u64::from(c.u16()?);
        if n > MAX_SYMBOLS_PER_NODE {
            return Err(malformed("symbol table node lists too many symbols"));
        }
        h5.budget.objects(n, "symbol table entries")?;
        let at = node
            .child
            .checked_add(8)
            .ok_or_else(|| malformed("symbol table node address overflows"))?;
        let body = h5.read(at, n * entry_size, "symbol table entries")?;
        let mut c = Cursor::new(&body, h5.so, h5.sl, "symbol table entry");
        for _ in 0..n {
            let name_off = c.addr()?;
            let obj = c.addr()?;
            let cache_type = c.u32()?;
            c.skip(4)?;
            let scratch = c.bytes(16)?;
            let name = heap.name(name_off)?;
            if name.is_empty() || name.len() > link::MAX_NAME {
                return Err(malformed(
                    "symbol table entry with an empty or oversized name",
                ));
            }
            let target = if cache_type == 2 {
                // Soft link: the scratch pad holds the heap offset of the link value.
                let off = super::io::le_uint(scratch.get(..4).unwrap_or(&[]));
                LinkTarget::Soft(String::from_utf8_lossy(&heap.name(off)?).into_owned())
            } else {
                if obj == UNDEFINED {
                    return Err(malformed("symbol table entry with an undefined address"));
                }
                LinkTarget::Hard(obj)
            };
            out.push(Link { name, target });
        }
    }
    Ok(())
}

fn dense_links(h5: &mut H5<'_>, heap: u64, index: u64, out: &mut Vec<Link>) -> R<()> {
    let mut fh = FractalHeap::open(h5, heap)?;
    let records = btree_v2::records(h5, index, 5)?;
    for rec in records {
        h5.budget.object("dense link")?;
        // Record type 5: name hash (4 bytes) then the heap ID.
        let id = rec
            .get(4..4 + fh.id_len())
            .ok_or_else(|| malformed("link name record is shorter than a heap ID"))?;
        let msg = fh.object(h5, id)?;
        out.push(link::parse_link(&msg, h5.so, h5.sl)?);
    }
    Ok(())
}
