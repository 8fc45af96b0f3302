//! Version 1 B-trees (spec §III.A.1): group nodes (type 0, leading to symbol table nodes)
//! and raw-data chunk nodes (type 1, leading to chunks). Traversal is iterative with a
//! visited set; levels must strictly decrease towards the leaves.

use std::collections::BTreeSet;

use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, malformed};

/// Deepest B-tree accepted (a tree this tall would index more than 2^64 entries).
const MAX_LEVEL: u8 = 64;

/// A child of a leaf node, with the key to its left.
pub(crate) struct LeafEntry {
    /// The raw left key.
    pub(crate) key: Vec<u8>,
    /// The child address (a symbol table node or a chunk).
    pub(crate) child: u64,
}

/// Collects every leaf-level child of the v1 B-tree at `root` of node type `node_type`,
/// whose keys are `key_size` bytes.
pub(crate) fn leaves(
    h5: &mut H5<'_>,
    root: u64,
    node_type: u8,
    key_size: u64,
) -> R<Vec<LeafEntry>> {
    let mut out = Vec::new();
    let mut visited = BTreeSet::new();
    // (address, expected level or None for the root)
    let mut stack = vec![(root, None::<u8>)];
    let head = 8 + 2 * u64::from(h5.so);
    while let Some((addr, expect)) = stack.pop() {
        if addr == UNDEFINED {
            return Err(malformed("v1 B-tree child with an undefined address"));
        }
        if !visited.insert(addr) {
            return Err(malformed(format!(
                "v1 B-tree node at {addr} is reached twice (cycle)"
            )));
        }
        h5.budget.object("v1 B-tree node")?;
        let pre = h5.read(addr, head, "v1 B-tree node")?;
        let mut c = Cursor::new(&pre, h5.so, h5.sl, "v1 B-tree node");
        c.expect_sig(b"TREE")?;
        let t = c.u8()?;
        let level = c.u8()?;
        let entries = u64::from(c.u16()?);
        if t != node_type {
            return Err(malformed(format!(
                "v1 B-tree node type {t}, expected {node_type}"
            )));
        }
        if level > MAX_LEVEL || expect.is_some_and(|e| e != level) {
            return Err(malformed(format!(
                "v1 B-tree node at {addr} has level {level}"
            )));
        }
        let body_len = entries
            .checked_mul(key_size + u64::from(h5.so))
            .and_then(|v| v.checked_add(key_size))
            .ok_or_else(|| malformed("v1 B-tree node size overflows"))?;
        let body_addr = addr
            .checked_add(head)
            .ok_or_else(|| malformed("v1 B-tree address overflows"))?;
        h5.budget.objects(entries, "v1 B-tree entries")?;
        let body = h5.read(body_addr, body_len, "v1 B-tree node entries")?;
        let mut c = Cursor::new(&body, h5.so, h5.sl, "v1 B-tree node entries");
        let ks = super::io::to_usize(key_size)?;
        let mut children = Vec::new();
        for _ in 0..entries {
            let key = c.bytes(ks)?.to_vec();
            let child = c.addr()?;
            children.push((key, child));
        }
        if level == 0 {
            out.extend(
                children
                    .into_iter()
                    .map(|(key, child)| LeafEntry { key, child }),
            );
        } else {
            // Reverse so the leftmost child is visited first.
            for (_, child) in children.into_iter().rev() {
                stack.push((child, Some(level - 1)));
            }
        }
    }
    Ok(out)
}
