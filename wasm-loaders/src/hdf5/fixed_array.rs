//! Fixed array chunk index (spec §VII.B): header `FAHD`, data block `FADB`, optionally
//! split into checksummed pages with an "initialised" bitmap.

use super::chunk_index::{Element, decode_element};
use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, malformed, to_usize, verify_checksum};

/// Most page bits accepted (the library caps them at 32).
const MAX_PAGE_BITS: u8 = 32;

/// The elements (chunk addresses) of the fixed array whose header is at `addr`.
pub(crate) fn elements(h5: &mut H5<'_>, addr: u64, filtered: bool) -> R<Vec<Element>> {
    let so = u64::from(h5.so);
    let hlen = 4 + 1 + 1 + 1 + 1 + u64::from(h5.sl) + so + 4;
    let buf = h5.read(addr, hlen, "fixed array header")?;
    verify_checksum(&buf, "fixed array header")?;
    let mut c = Cursor::new(&buf, h5.so, h5.sl, "fixed array header");
    c.expect_sig(b"FAHD")?;
    let _version = c.u8()?;
    let client = c.u8()?;
    let esize = c.u8()?;
    let page_bits = c.u8()?;
    let n = c.len()?;
    let dblock = c.addr()?;
    if client != u8::from(filtered) {
        return Err(malformed(
            "fixed array client does not match the filter pipeline",
        ));
    }
    if page_bits > MAX_PAGE_BITS || esize == 0 {
        return Err(malformed("fixed array header has impossible parameters"));
    }
    if dblock == UNDEFINED || n == 0 {
        return Ok(Vec::new());
    }
    let es = u64::from(esize);
    // Every element occupies `esize` bytes of the file: a count the file cannot hold is
    // rejected before anything is allocated.
    let bytes = n
        .checked_mul(es)
        .ok_or_else(|| malformed("fixed array size overflows"))?;
    h5.check(dblock, bytes, "fixed array data block")?;
    h5.budget.objects(n, "fixed array elements")?;
    let page_n = 1u64 << page_bits;
    let paged = n > page_n;
    let npages = if paged { n.div_ceil(page_n) } else { 0 };
    let bitmap_len = npages.div_ceil(8);
    let prefix = 4 + 1 + 1 + so + bitmap_len;
    let mut out = Vec::new();
    if !paged {
        let block = h5.read(dblock, prefix + bytes + 4, "fixed array data block")?;
        verify_checksum(&block, "fixed array data block")?;
        let mut c = Cursor::new(&block, h5.so, h5.sl, "fixed array data block");
        check_prefix(&mut c, addr)?;
        for i in 0..n {
            let (a, size, mask) = decode_element(&mut c, usize::from(esize), filtered)?;
            out.push(Element {
                index: i,
                addr: a,
                size,
                mask,
            });
        }
        return Ok(out);
    }
    let head = h5.read(dblock, prefix + 4, "fixed array data block")?;
    verify_checksum(&head, "fixed array data block")?;
    let mut c = Cursor::new(&head, h5.so, h5.sl, "fixed array data block");
    check_prefix(&mut c, addr)?;
    let bitmap = c.bytes(to_usize(bitmap_len)?)?.to_vec();
    let mut page_addr = dblock
        .checked_add(prefix + 4)
        .ok_or_else(|| malformed("fixed array page address overflows"))?;
    for p in 0..npages {
        let first = p * page_n;
        let count = page_n.min(n - first);
        let page_len = count * es + 4;
        let init = bitmap
            .get(to_usize(p / 8)?)
            .is_some_and(|b| b & (0x80 >> (p % 8)) != 0);
        if init {
            let page = h5.read(page_addr, page_len, "fixed array page")?;
            verify_checksum(&page, "fixed array page")?;
            let mut c = Cursor::new(&page, h5.so, h5.sl, "fixed array page");
            for i in 0..count {
                let (a, size, mask) = decode_element(&mut c, usize::from(esize), filtered)?;
                out.push(Element {
                    index: first + i,
                    addr: a,
                    size,
                    mask,
                });
            }
        }
        page_addr = page_addr
            .checked_add(page_n * es + 4)
            .ok_or_else(|| malformed("fixed array page address overflows"))?;
    }
    Ok(out)
}

fn check_prefix(c: &mut Cursor<'_>, header: u64) -> R<()> {
    c.expect_sig(b"FADB")?;
    let _version = c.u8()?;
    let _client = c.u8()?;
    if c.addr()? != header {
        return Err(malformed("fixed array data block belongs to another array"));
    }
    Ok(())
}
