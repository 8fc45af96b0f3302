//! Object headers (spec §IV.A): version 1 (8-byte aligned messages, no checksum) and
//! version 2 (`OHDR`, checksummed), with continuation blocks followed through a visited
//! set and a byte budget.

use std::collections::{BTreeSet, VecDeque};

use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, limit, malformed, unsupported, verify_checksum};

/// Message type: NIL (padding).
pub(crate) const MSG_NIL: u16 = 0x0000;
/// Message type: dataspace.
pub(crate) const MSG_DATASPACE: u16 = 0x0001;
/// Message type: link info.
pub(crate) const MSG_LINK_INFO: u16 = 0x0002;
/// Message type: datatype.
pub(crate) const MSG_DATATYPE: u16 = 0x0003;
/// Message type: old fill value.
pub(crate) const MSG_FILL_OLD: u16 = 0x0004;
/// Message type: fill value.
pub(crate) const MSG_FILL: u16 = 0x0005;
/// Message type: link.
pub(crate) const MSG_LINK: u16 = 0x0006;
/// Message type: external data files.
pub(crate) const MSG_EXTERNAL_FILES: u16 = 0x0007;
/// Message type: data layout.
pub(crate) const MSG_LAYOUT: u16 = 0x0008;
/// Message type: filter pipeline.
pub(crate) const MSG_FILTERS: u16 = 0x000B;
/// Message type: attribute.
pub(crate) const MSG_ATTRIBUTE: u16 = 0x000C;
/// Message type: object header continuation.
pub(crate) const MSG_CONTINUATION: u16 = 0x0010;
/// Message type: symbol table (old-style group).
pub(crate) const MSG_SYMBOL_TABLE: u16 = 0x0011;
/// Message type: attribute info (dense attribute storage).
pub(crate) const MSG_ATTRIBUTE_INFO: u16 = 0x0015;

/// Message flag: the message is stored elsewhere (shared).
pub(crate) const FLAG_SHARED: u8 = 0x02;

/// Most bytes of header messages read for one object.
const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Most messages in one object header.
const MAX_MESSAGES: usize = 65_536;
/// Most continuation blocks in one object header.
const MAX_CONTINUATIONS: usize = 4096;

/// One header message: its type, flags and raw body.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// Message type.
    pub(crate) mtype: u16,
    /// Message flags.
    pub(crate) flags: u8,
    /// Message body.
    pub(crate) data: Vec<u8>,
}

/// A parsed object header.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectHeader {
    /// All non-NIL messages, in order.
    pub(crate) messages: Vec<Message>,
}

impl ObjectHeader {
    /// The first message of type `t`.
    pub(crate) fn first(&self, t: u16) -> Option<&Message> {
        self.messages.iter().find(|m| m.mtype == t)
    }

    /// Every message of type `t`.
    pub(crate) fn all(&self, t: u16) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(move |m| m.mtype == t)
    }
}

/// Reads the object header at `addr` (relative to the base).
pub(crate) fn read(h5: &mut H5<'_>, addr: u64) -> R<ObjectHeader> {
    if addr == UNDEFINED {
        return Err(malformed("object header address is undefined"));
    }
    h5.budget.object("object header")?;
    let mut prefix = [0u8; 16];
    let avail = h5.avail(addr)?.min(16);
    let pbuf = prefix
        .get_mut(..super::io::to_usize(avail)?)
        .ok_or_else(|| malformed("object header prefix"))?;
    h5.read_into(addr, pbuf, "object header")?;
    if pbuf.starts_with(b"OHDR") {
        read_v2(h5, addr)
    } else if pbuf.first() == Some(&1) {
        read_v1(h5, addr)
    } else {
        Err(malformed(format!(
            "object header at {addr}: unknown version or signature"
        )))
    }
}

struct Walk {
    messages: Vec<Message>,
    bytes: u64,
    visited: BTreeSet<u64>,
    pending: VecDeque<(u64, u64)>,
}

impl Walk {
    fn new(first: u64) -> Self {
        let mut visited = BTreeSet::new();
        visited.insert(first);
        Walk {
            messages: Vec::new(),
            bytes: 0,
            visited,
            pending: VecDeque::new(),
        }
    }

    fn account(&mut self, n: u64) -> R<()> {
        self.bytes = self
            .bytes
            .checked_add(n)
            .filter(|&b| b <= MAX_HEADER_BYTES)
            .ok_or_else(|| {
                limit(format!(
                    "object header is larger than {MAX_HEADER_BYTES} bytes"
                ))
            })?;
        Ok(())
    }

    fn push(&mut self, so: u8, sl: u8, m: Message) -> R<()> {
        if self.messages.len() >= MAX_MESSAGES {
            return Err(limit(format!(
                "object header has more than {MAX_MESSAGES} messages"
            )));
        }
        if m.mtype == MSG_CONTINUATION {
            let mut c = Cursor::new(&m.data, so, sl, "continuation message");
            let addr = c.addr()?;
            let len = c.len()?;
            if addr == UNDEFINED || len == UNDEFINED {
                return Err(malformed("continuation message with undefined address"));
            }
            if !self.visited.insert(addr) {
                return Err(malformed(format!(
                    "object header continuation at {addr} is visited twice (cycle)"
                )));
            }
            if self.visited.len() > MAX_CONTINUATIONS {
                return Err(limit(format!(
                    "object header has more than {MAX_CONTINUATIONS} continuation blocks"
                )));
            }
            self.pending.push_back((addr, len));
        } else if m.mtype != MSG_NIL {
            self.messages.push(m);
        }
        Ok(())
    }
}

fn read_v1(h5: &mut H5<'_>, addr: u64) -> R<ObjectHeader> {
    let pre = h5.read(addr, 16, "object header v1")?;
    let mut c = Cursor::new(&pre, h5.so, h5.sl, "object header v1");
    let _version = c.u8()?;
    c.skip(1)?;
    let _nmesgs = c.u16()?;
    let _refcount = c.u32()?;
    let size = u64::from(c.u32()?);
    let mut walk = Walk::new(addr);
    let first = addr
        .checked_add(16)
        .ok_or_else(|| malformed("object header address overflows"))?;
    walk.pending.push_back((first, size));
    while let Some((at, len)) = walk.pending.pop_front() {
        walk.account(len)?;
        let block = h5.read(at, len, "object header v1 block")?;
        let mut c = Cursor::new(&block, h5.so, h5.sl, "object header v1 message");
        while c.remaining() >= 8 {
            let mtype = c.u16()?;
            let msize = usize::from(c.u16()?);
            let flags = c.u8()?;
            c.skip(3)?;
            let data = c.bytes(msize)?.to_vec();
            walk.push(h5.so, h5.sl, Message { mtype, flags, data })?;
        }
    }
    Ok(ObjectHeader {
        messages: walk.messages,
    })
}

fn read_v2(h5: &mut H5<'_>, addr: u64) -> R<ObjectHeader> {
    let pre = h5.read(addr, h5.avail(addr)?.min(40), "object header v2")?;
    let mut c = Cursor::new(&pre, h5.so, h5.sl, "object header v2");
    c.expect_sig(b"OHDR")?;
    let version = c.u8()?;
    if version != 2 {
        return Err(unsupported(format!("object header version {version}")));
    }
    let flags = c.u8()?;
    if flags & 0x20 != 0 {
        c.skip(16)?; // access, modification, change, birth times
    }
    if flags & 0x10 != 0 {
        c.skip(4)?; // max compact / min dense attribute counts
    }
    let size_bytes = 1usize << (flags & 0x03);
    let chunk0 = c.uint(size_bytes)?;
    let head = c.pos() as u64;
    let total = head
        .checked_add(chunk0)
        .and_then(|v| v.checked_add(4))
        .ok_or_else(|| malformed("object header size overflows"))?;
    let creation_order = flags & 0x04 != 0;
    let mut walk = Walk::new(addr);
    walk.account(total)?;
    let block = h5.read(addr, total, "object header v2")?;
    verify_checksum(&block, "object header v2")?;
    let body = block
        .get(super::io::to_usize(head)?..block.len().saturating_sub(4))
        .ok_or_else(|| malformed("object header v2 is truncated"))?;
    parse_v2_messages(h5, body, creation_order, &mut walk)?;
    while let Some((at, len)) = walk.pending.pop_front() {
        walk.account(len)?;
        let block = h5.read(at, len, "object header continuation")?;
        if !block.starts_with(b"OCHK") {
            return Err(malformed(format!(
                "object header continuation at {at}: missing OCHK signature"
            )));
        }
        verify_checksum(&block, "object header continuation")?;
        let body = block
            .get(4..block.len().saturating_sub(4))
            .ok_or_else(|| malformed("object header continuation is truncated"))?;
        parse_v2_messages(h5, body, creation_order, &mut walk)?;
    }
    Ok(ObjectHeader {
        messages: walk.messages,
    })
}

fn parse_v2_messages(h5: &H5<'_>, body: &[u8], crt: bool, walk: &mut Walk) -> R<()> {
    let hdr = if crt { 6 } else { 4 };
    let mut c = Cursor::new(body, h5.so, h5.sl, "object header v2 message");
    while c.remaining() >= hdr {
        let mtype = u16::from(c.u8()?);
        let msize = usize::from(c.u16()?);
        let flags = c.u8()?;
        if crt {
            c.skip(2)?;
        }
        let data = c.bytes(msize)?.to_vec();
        walk.push(h5.so, h5.sl, Message { mtype, flags, data })?;
    }
    // A gap shorter than a message header is allowed at the end of a chunk.
    Ok(())
}
