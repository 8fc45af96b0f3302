//! Group-related messages: link (§IV.A.2.g), link info (§IV.A.2.c), symbol table
//! (§IV.A.2.r) and attribute info (§IV.A.2.v).

use crate::hdf5::io::{Cursor, R, UNDEFINED, malformed, unsupported};

/// Longest link name accepted.
pub(crate) const MAX_NAME: usize = 64 * 1024;

/// Where a link points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkTarget {
    /// An object header address in this file.
    Hard(u64),
    /// A path in this file (not followed).
    Soft(String),
    /// An object in another file (never followed).
    External,
    /// A user-defined link type.
    Other(u8),
}

/// One named link of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// The link name (raw bytes).
    pub(crate) name: Vec<u8>,
    /// Its target.
    pub(crate) target: LinkTarget,
}

/// Parses a link message body.
pub(crate) fn parse_link(data: &[u8], so: u8, sl: u8) -> R<Link> {
    let mut c = Cursor::new(data, so, sl, "link message");
    let version = c.u8()?;
    if version != 1 {
        return Err(unsupported(format!("link message version {version}")));
    }
    let flags = c.u8()?;
    let ltype = if flags & 0x08 != 0 { c.u8()? } else { 0 };
    if flags & 0x04 != 0 {
        c.skip(8)?; // creation order
    }
    if flags & 0x10 != 0 {
        c.skip(1)?; // name character set
    }
    let len_size = 1usize << (flags & 0x03);
    let name_len = crate::hdf5::io::to_usize(c.uint(len_size)?)?;
    if name_len == 0 || name_len > MAX_NAME {
        return Err(malformed(format!("link name length {name_len}")));
    }
    let name = c.bytes(name_len)?.to_vec();
    let target = match ltype {
        0 => {
            let a = c.addr()?;
            if a == UNDEFINED {
                return Err(malformed("hard link with an undefined address"));
            }
            LinkTarget::Hard(a)
        }
        1 => {
            let n = usize::from(c.u16()?);
            LinkTarget::Soft(String::from_utf8_lossy(c.bytes(n)?).into_owned())
        }
        64 => LinkTarget::External,
        t => LinkTarget::Other(t),
    };
    Ok(Link { name, target })
}

/// Link info message: where a new-style group keeps dense links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkInfo {
    /// Fractal heap address (undefined for compact storage).
    pub(crate) heap: u64,
    /// Name-index v2 B-tree address.
    pub(crate) name_index: u64,
}

/// Parses a link info (or attribute info) message body: both carry a fractal heap address
/// and a name-index B-tree address after a version, flags and optional counter.
pub(crate) fn parse_link_info(data: &[u8], so: u8, sl: u8, attribute: bool) -> R<LinkInfo> {
    let what = if attribute {
        "attribute info message"
    } else {
        "link info message"
    };
    let mut c = Cursor::new(data, so, sl, what);
    let version = c.u8()?;
    if version != 0 {
        return Err(unsupported(format!("{what} version {version}")));
    }
    let flags = c.u8()?;
    if flags & 0x01 != 0 {
        // Maximum creation index: 8 bytes for links, 2 for attributes.
        c.skip(if attribute { 2 } else { 8 })?;
    }
    let heap = c.addr()?;
    let name_index = c.addr()?;
    Ok(LinkInfo { heap, name_index })
}

/// Symbol table message: an old-style group's B-tree and local heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SymbolTable {
    /// Version 1 B-tree (group nodes) address.
    pub(crate) btree: u64,
    /// Local heap address.
    pub(crate) heap: u64,
}

/// Parses a symbol table message body.
pub(crate) fn parse_symbol_table(data: &[u8], so: u8, sl: u8) -> R<SymbolTable> {
    let mut c = Cursor::new(data, so, sl, "symbol table message");
    let btree = c.addr()?;
    let heap = c.addr()?;
    Ok(SymbolTable { btree, heap })
}

/// Parses a shared-message reference: the address of the object header holding the
/// actual message.
pub(crate) fn parse_shared(data: &[u8], so: u8, sl: u8) -> R<u64> {
    let mut c = Cursor::new(data, so, sl, "shared message");
    let version = c.u8()?;
    let kind = c.u8()?;
    match version {
        1 => {
            c.skip(6)?;
            c.addr()
        }
        2 => c.addr(),
        3 if kind == 2 || kind == 3 => c.addr(),
        3 => Err(unsupported(
            "messages shared through the shared-object-header-message heap",
        )),
        v => Err(malformed(format!("shared message version {v}"))),
    }
}
