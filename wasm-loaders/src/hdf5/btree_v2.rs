//! Version 2 B-trees (spec §III.A.2): header `BTHD`, internal nodes `BTIN`, leaves `BTLF`.
//! Every record is returned raw; callers decode the record type they expect (5: link
//! names, 8: attribute names, 10/11: chunks).

use std::collections::BTreeSet;

use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, malformed, to_usize, verify_checksum};

/// Deepest tree accepted.
const MAX_DEPTH: u16 = 64;
/// Node prefix: signature, version, type, checksum.
const NODE_OVERHEAD: u64 = 10;

/// Bytes needed to encode `n` (the library's `H5VM_limit_enc_size`).
fn enc_size(n: u64) -> u64 {
    u64::from(63 - n.max(1).leading_zeros()) / 8 + 1
}

struct Header {
    rtype: u8,
    node_size: u64,
    rec_size: u64,
    depth: u16,
    root: u64,
    root_nrec: u64,
}

/// Returns the raw records of the v2 B-tree at `addr`, which must be of record type
/// `rtype`.
pub(crate) fn records(h5: &mut H5<'_>, addr: u64, rtype: u8) -> R<Vec<Vec<u8>>> {
    let hlen = 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + u64::from(h5.so) + 2 + u64::from(h5.sl) + 4;
    let buf = h5.read(addr, hlen, "v2 B-tree header")?;
    verify_checksum(&buf, "v2 B-tree header")?;
    let mut c = Cursor::new(&buf, h5.so, h5.sl, "v2 B-tree header");
    c.expect_sig(b"BTHD")?;
    let _version = c.u8()?;
    let t = c.u8()?;
    let node_size = u64::from(c.u32()?);
    let rec_size = u64::from(c.u16()?);
    let depth = c.u16()?;
    c.skip(2)?;
    let root = c.addr()?;
    let root_nrec = u64::from(c.u16()?);
    let _total = c.len()?;
    let hdr = Header {
        rtype: t,
        node_size,
        rec_size,
        depth,
        root,
        root_nrec,
    };
    if hdr.rtype != rtype {
        return Err(malformed(format!(
            "v2 B-tree record type {t}, expected {rtype}"
        )));
    }
    if hdr.depth > MAX_DEPTH || hdr.rec_size == 0 || hdr.node_size <= NODE_OVERHEAD {
        return Err(malformed("v2 B-tree header has impossible parameters"));
    }
    if hdr.root == UNDEFINED || hdr.root_nrec == 0 {
        return Ok(Vec::new());
    }
    walk(h5, &hdr)
}

/// Per-depth sizes of the "number of records" fields in child pointers.
fn pointer_sizes(h5: &H5<'_>, hdr: &Header) -> R<(u64, Vec<u64>)> {
    let so = u64::from(h5.so);
    let leaf_max = (hdr.node_size - NODE_OVERHEAD) / hdr.rec_size;
    if leaf_max == 0 {
        return Err(malformed("v2 B-tree nodes cannot hold a record"));
    }
    let nrec_size = enc_size(leaf_max);
    // cum_size[d] = bytes of the "total records" field for children of a node at depth d+1.
    let mut cum_max = vec![leaf_max];
    let mut cum_size = vec![0u64];
    for d in 1..=u64::from(hdr.depth) {
        let prev_cum_size = *cum_size.last().unwrap_or(&0);
        let ptr = so + nrec_size + if d > 1 { prev_cum_size } else { 0 };
        let max = hdr
            .node_size
            .checked_sub(NODE_OVERHEAD + ptr)
            .map(|v| v / (hdr.rec_size + ptr))
            .unwrap_or(0);
        let prev = *cum_max.last().unwrap_or(&0);
        let cum = max
            .saturating_add(1)
            .saturating_mul(prev)
            .saturating_add(max);
        cum_max.push(cum);
        cum_size.push(enc_size(cum));
    }
    Ok((nrec_size, cum_size))
}

fn walk(h5: &mut H5<'_>, hdr: &Header) -> R<Vec<Vec<u8>>> {
    let (nrec_size, cum_size) = pointer_sizes(h5, hdr)?;
    let rs = to_usize(hdr.rec_size)?;
    let mut out = Vec::new();
    let mut visited = BTreeSet::new();
    let mut stack = vec![(hdr.root, hdr.root_nrec, hdr.depth)];
    while let Some((addr, nrec, depth)) = stack.pop() {
        if addr == UNDEFINED {
            return Err(malformed("v2 B-tree child with an undefined address"));
        }
        if !visited.insert(addr) {
            return Err(malformed(format!(
                "v2 B-tree node at {addr} is reached twice (cycle)"
            )));
        }
        h5.budget.object("v2 B-tree node")?;
        h5.budget.objects(nrec, "v2 B-tree records")?;
        let buf = h5.read(addr, hdr.node_size.min(h5.avail(addr)?), "v2 B-tree node")?;
        let mut c = Cursor::new(&buf, h5.so, h5.sl, "v2 B-tree node");
        let sig = if depth == 0 { b"BTLF" } else { b"BTIN" };
        c.expect_sig(sig)?;
        let _version = c.u8()?;
        let t = c.u8()?;
        if t != hdr.rtype {
            return Err(malformed("v2 B-tree node of the wrong record type"));
        }
        let mut recs = Vec::new();
        for _ in 0..nrec {
            recs.push(c.bytes(rs)?.to_vec());
        }
        if depth == 0 {
            let end = c.pos() + 4;
            let node = buf
                .get(..end)
                .ok_or_else(|| malformed("v2 B-tree leaf is truncated"))?;
            verify_checksum(node, "v2 B-tree leaf")?;
            out.extend(recs);
            continue;
        }
        let d = usize::from(depth);
        let total_size = if depth > 1 {
            *cum_size.get(d - 1).unwrap_or(&0)
        } else {
            0
        };
        let mut children = Vec::new();
        for _ in 0..=nrec {
            let child = c.addr()?;
            let n = c.uint(to_usize(nrec_size)?)?;
            if total_size > 0 {
                c.skip(to_usize(total_size)?)?;
            }
            children.push((child, n));
        }
        let end = c.pos() + 4;
        let node = buf
            .get(..end)
            .ok_or_else(|| malformed("v2 B-tree node is truncated"))?;
        verify_checksum(node, "v2 B-tree internal node")?;
        // Records of internal nodes are real records too (they sit between children).
        out.extend(recs);
        for (child, n) in children.into_iter().rev() {
            stack.push((child, n, depth - 1));
        }
    }
    Ok(out)
}
