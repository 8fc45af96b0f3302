//! The superblock (HDF5 file format spec §II.A, versions 0–3): where the file starts
//! (after an optional user block), the sizes of addresses and lengths, and the root group.

use super::io::{Cursor, R, Source, UNDEFINED, malformed, unsupported, verify_checksum};

/// The 8-byte format signature.
pub(crate) const SIGNATURE: [u8; 8] = *b"\x89HDF\r\n\x1a\n";

/// Largest user block probed for the signature (the spec allows 0, 512, 1024, 2048, …).
const MAX_USER_BLOCK: u64 = 1 << 40;

/// What the rest of the reader needs from the superblock.
#[derive(Debug, Clone)]
pub(crate) struct Superblock {
    /// Superblock version (0–3).
    pub(crate) version: u8,
    /// File position of the superblock; every address in the file is relative to it.
    pub(crate) base: u64,
    /// Size of addresses.
    pub(crate) so: u8,
    /// Size of lengths.
    pub(crate) sl: u8,
    /// Address of the root group's object header.
    pub(crate) root: u64,
}

/// Finds the superblock at 0, 512, 1024, … and returns its file position.
pub(crate) fn find(src: &mut Source<'_>) -> R<Option<u64>> {
    let len = src.len();
    let mut pos = 0u64;
    let mut sig = [0u8; 8];
    while pos <= MAX_USER_BLOCK && pos.saturating_add(8) <= len {
        src.read_into(pos, &mut sig, "HDF5 signature")?;
        if sig == SIGNATURE {
            return Ok(Some(pos));
        }
        pos = if pos == 0 { 512 } else { pos.saturating_mul(2) };
    }
    Ok(None)
}

/// Parses the superblock at file position `at` (where the signature was found).
pub(crate) fn parse(src: &mut Source<'_>, at: u64) -> R<Superblock> {
    // Enough for every version with 8-byte addresses and lengths.
    let avail = src.len().saturating_sub(at).min(256);
    let buf = src.read(at, avail, "superblock")?;
    let mut c = Cursor::new(&buf, 8, 8, "superblock");
    c.skip(8)?;
    let version = c.u8()?;
    let (so, sl, root) = match version {
        0 | 1 => {
            c.skip(4)?; // free-space, root symbol table, reserved, shared header versions
            let so = c.u8()?;
            let sl = c.u8()?;
            check_sizes(so, sl)?;
            c.skip(1)?; // reserved
            c.skip(4)?; // group leaf/internal node K
            c.skip(4)?; // file consistency flags
            if version == 1 {
                c.skip(4)?; // indexed storage internal node K, reserved
            }
            let mut c = Cursor::new(&buf, so, sl, "superblock");
            c.seek(if version == 1 { 28 } else { 24 })?;
            let _base_addr = c.addr()?;
            let _free_space = c.addr()?;
            let _eof = c.addr()?;
            let _driver = c.addr()?;
            // Root group symbol table entry: link name offset, object header address, …
            let _name = c.addr()?;
            let root = c.addr()?;
            (so, sl, root)
        }
        2 | 3 => {
            let so = c.u8()?;
            let sl = c.u8()?;
            check_sizes(so, sl)?;
            c.skip(1)?; // file consistency flags
            let mut c = Cursor::new(&buf, so, sl, "superblock");
            c.seek(12)?;
            let _base_addr = c.addr()?;
            let _ext = c.addr()?;
            let _eof = c.addr()?;
            let root = c.addr()?;
            let end = c.pos() + 4;
            let block = buf
                .get(..end)
                .ok_or_else(|| malformed("superblock is truncated"))?;
            verify_checksum(block, "superblock")?;
            (so, sl, root)
        }
        v => return Err(unsupported(format!("HDF5 superblock version {v}"))),
    };
    if root == UNDEFINED {
        return Err(malformed("superblock: root group address is undefined"));
    }
    Ok(Superblock {
        version,
        base: at,
        so,
        sl,
        root,
    })
}

fn check_sizes(so: u8, sl: u8) -> R<()> {
    let ok = |n: u8| matches!(n, 2 | 4 | 8);
    if !ok(so) || !ok(sl) {
        return Err(unsupported(format!(
            "superblock: address size {so} / length size {sl} (only 2, 4 or 8 are valid)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdf5::io::Backing;
    use crate::host::SliceHost;

    /// A version 0 or 1 superblock as the library lays it out (spec §II.A, version 1 adds
    /// the indexed-storage K and two reserved bytes before the base address).
    fn old_superblock(version: u8, root: u64) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&[version, 0, 0, 0, 0, 8, 8, 0]);
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        if version == 1 {
            b.extend_from_slice(&64u16.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
        }
        for v in [0u64, u64::MAX, 4096, u64::MAX, 0, root] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0u8; 24]);
        b
    }

    #[test]
    fn versions_0_and_1_find_the_root_group() {
        for version in [0u8, 1] {
            let bytes = old_superblock(version, 1234);
            let len = bytes.len() as u64;
            let mut host = SliceHost::new(bytes);
            let mut src = Source::new(&mut host, Backing::Input { start: 0, len }).unwrap();
            let sb = parse(&mut src, 0).unwrap();
            assert_eq!((sb.version, sb.root, sb.so, sb.sl), (version, 1234, 8, 8));
        }
    }

    #[test]
    fn bad_sizes_and_versions_are_errors() {
        let mut bytes = old_superblock(0, 1234);
        bytes[13] = 3; // size of offsets
        let len = bytes.len() as u64;
        let mut host = SliceHost::new(bytes);
        let mut src = Source::new(&mut host, Backing::Input { start: 0, len }).unwrap();
        assert!(parse(&mut src, 0).is_err());
        let mut bytes = old_superblock(0, 1234);
        bytes[8] = 9;
        let mut host = SliceHost::new(bytes);
        let mut src = Source::new(&mut host, Backing::Input { start: 0, len }).unwrap();
        assert!(parse(&mut src, 0).is_err());
    }
}
