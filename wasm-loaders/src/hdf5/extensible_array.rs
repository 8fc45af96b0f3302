//! Extensible array chunk index (spec §VII.A): header `EAHD`, index block `EAIB` (with a
//! few elements inline, direct data block addresses and super block addresses), super
//! blocks `EASB` and data blocks `EADB` (optionally paged).

use super::chunk_index::{Element, decode_element};
use super::file::H5;
use super::io::{Cursor, R, UNDEFINED, malformed, to_usize, verify_checksum};

struct Params {
    header: u64,
    esize: u8,
    filtered: bool,
    arr_off_size: usize,
    page_nelmts: u64,
    max_index: u64,
}

struct SuperInfo {
    ndblks: u64,
    dblk_nelmts: u64,
    start_idx: u64,
}

fn log2(n: u64) -> u32 {
    63 - n.max(1).leading_zeros()
}

/// The elements (chunk addresses) of the extensible array whose header is at `addr`.
pub(crate) fn elements(h5: &mut H5<'_>, addr: u64, filtered: bool) -> R<Vec<Element>> {
    let (so, sl) = (u64::from(h5.so), u64::from(h5.sl));
    let hlen = 4 + 1 + 1 + 6 + 6 * sl + so + 4;
    let buf = h5.read(addr, hlen, "extensible array header")?;
    verify_checksum(&buf, "extensible array header")?;
    let mut c = Cursor::new(&buf, h5.so, h5.sl, "extensible array header");
    c.expect_sig(b"EAHD")?;
    let _version = c.u8()?;
    let client = c.u8()?;
    let esize = c.u8()?;
    let max_bits = c.u8()?;
    let idx_elmts = u64::from(c.u8()?);
    let dblk_min = u64::from(c.u8()?);
    let sblk_min_ptrs = u64::from(c.u8()?);
    let page_bits = c.u8()?;
    for _ in 0..4 {
        c.len()?;
    }
    let max_index = c.len()?;
    let _realized = c.len()?;
    let iblock = c.addr()?;
    let pow2 = |n: u64| n != 0 && n & (n - 1) == 0;
    if client != u8::from(filtered)
        || esize == 0
        || !(1..=64).contains(&max_bits)
        || !pow2(dblk_min)
        || !pow2(sblk_min_ptrs)
        || page_bits > 32
        || u32::from(max_bits) <= log2(dblk_min)
    {
        return Err(malformed(
            "extensible array header has impossible parameters",
        ));
    }
    if iblock == UNDEFINED || max_index == 0 {
        return Ok(Vec::new());
    }
    // Every element occupies `esize` bytes of the file.
    let need = max_index
        .checked_mul(u64::from(esize))
        .ok_or_else(|| malformed("extensible array size overflows"))?;
    if need > h5.src.len() {
        return Err(malformed(
            "extensible array claims more elements than the file holds",
        ));
    }
    h5.budget.objects(max_index, "extensible array elements")?;
    let p = Params {
        header: addr,
        esize,
        filtered,
        arr_off_size: usize::from(max_bits).div_ceil(8),
        page_nelmts: 1u64 << page_bits,
        max_index,
    };
    // Super block layout.
    let nsblks = 1 + u64::from(max_bits) - u64::from(log2(dblk_min));
    let mut sblks = Vec::new();
    let mut start = 0u64;
    for s in 0..nsblks {
        let ndblks = 1u64 << (s / 2);
        let dblk_nelmts = (1u64 << s.div_ceil(2)).saturating_mul(dblk_min);
        sblks.push(SuperInfo {
            ndblks,
            dblk_nelmts,
            start_idx: start,
        });
        start = start.saturating_add(ndblks.saturating_mul(dblk_nelmts));
    }
    let iblock_sblks = 2 * u64::from(log2(sblk_min_ptrs));
    let ndblk_addrs = 2 * (sblk_min_ptrs - 1);
    let nsblk_addrs = nsblks.saturating_sub(iblock_sblks);

    // Index block.
    let es = u64::from(esize);
    let ilen = 4 + 1 + 1 + so + idx_elmts * es + (ndblk_addrs + nsblk_addrs) * so + 4; // all small
    let ib = h5.read(iblock, ilen, "extensible array index block")?;
    verify_checksum(&ib, "extensible array index block")?;
    let mut c = Cursor::new(&ib, h5.so, h5.sl, "extensible array index block");
    c.expect_sig(b"EAIB")?;
    let _version = c.u8()?;
    let _client = c.u8()?;
    if c.addr()? != addr {
        return Err(malformed(
            "extensible array index block belongs to another array",
        ));
    }
    let mut out = Vec::new();
    for i in 0..idx_elmts {
        let (a, size, mask) = decode_element(&mut c, usize::from(esize), filtered)?;
        if i < max_index {
            out.push(Element {
                index: i,
                addr: a,
                size,
                mask,
            });
        }
    }
    let mut dblk_addrs = Vec::new();
    for _ in 0..ndblk_addrs {
        dblk_addrs.push(c.addr()?);
    }
    let mut sblk_addrs = Vec::new();
    for _ in 0..nsblk_addrs {
        sblk_addrs.push(c.addr()?);
    }

    // Data blocks referenced from the index block.
    let mut d = 0usize;
    for info in sblks.iter().take(to_usize(iblock_sblks)?) {
        for k in 0..info.ndblks {
            let first = idx_elmts
                .saturating_add(info.start_idx)
                .saturating_add(k.saturating_mul(info.dblk_nelmts));
            let a = *dblk_addrs
                .get(d)
                .ok_or_else(|| malformed("extensible array index block is short"))?;
            d += 1;
            if first >= max_index {
                return Ok(out);
            }
            if a != UNDEFINED {
                data_block(h5, &p, a, first, info.dblk_nelmts, None, &mut out)?;
            }
        }
    }
    // Super blocks.
    for (j, &sa) in sblk_addrs.iter().enumerate() {
        let s = to_usize(iblock_sblks)? + j;
        let info = sblks
            .get(s)
            .ok_or_else(|| malformed("extensible array super block index"))?;
        let first = idx_elmts.saturating_add(info.start_idx);
        if first >= max_index {
            break;
        }
        if sa == UNDEFINED {
            continue;
        }
        super_block(h5, &p, sa, info, first, &mut out)?;
    }
    Ok(out)
}

fn super_block(
    h5: &mut H5<'_>,
    p: &Params,
    addr: u64,
    info: &SuperInfo,
    first: u64,
    out: &mut Vec<Element>,
) -> R<()> {
    h5.budget.object("extensible array super block")?;
    let so = u64::from(h5.so);
    let paged = info.dblk_nelmts > p.page_nelmts;
    let npages = if paged {
        info.dblk_nelmts / p.page_nelmts
    } else {
        0
    };
    let bitmap_len = npages.div_ceil(8);
    let len = bitmap_len
        .checked_add(so)
        .and_then(|per| per.checked_mul(info.ndblks))
        .and_then(|v| v.checked_add(4 + 1 + 1 + so + p.arr_off_size as u64 + 4))
        .ok_or_else(|| malformed("extensible array super block size overflows"))?;
    let buf = h5.read(addr, len, "extensible array super block")?;
    verify_checksum(&buf, "extensible array super block")?;
    let mut c = Cursor::new(&buf, h5.so, h5.sl, "extensible array super block");
    c.expect_sig(b"EASB")?;
    let _version = c.u8()?;
    let _client = c.u8()?;
    if c.addr()? != p.header {
        return Err(malformed(
            "extensible array super block belongs to another array",
        ));
    }
    c.skip(p.arr_off_size)?;
    let mut bitmaps = Vec::new();
    for _ in 0..info.ndblks {
        bitmaps.push(c.bytes(to_usize(bitmap_len)?)?.to_vec());
    }
    for (k, bitmap) in bitmaps.iter().enumerate() {
        let a = c.addr()?;
        let start = first.saturating_add((k as u64).saturating_mul(info.dblk_nelmts));
        if start >= p.max_index {
            break;
        }
        if a != UNDEFINED {
            let bm = if paged { Some(bitmap.as_slice()) } else { None };
            data_block(h5, p, a, start, info.dblk_nelmts, bm, out)?;
        }
    }
    Ok(())
}

fn data_block(
    h5: &mut H5<'_>,
    p: &Params,
    addr: u64,
    first: u64,
    nelmts: u64,
    bitmap: Option<&[u8]>,
    out: &mut Vec<Element>,
) -> R<()> {
    h5.budget.object("extensible array data block")?;
    let so = u64::from(h5.so);
    let es = u64::from(p.esize);
    let prefix = 4 + 1 + 1 + so + p.arr_off_size as u64;
    let paged = nelmts > p.page_nelmts;
    let check = |c: &mut Cursor<'_>| -> R<()> {
        c.expect_sig(b"EADB")?;
        let _version = c.u8()?;
        let _client = c.u8()?;
        if c.addr()? != p.header {
            return Err(malformed(
                "extensible array data block belongs to another array",
            ));
        }
        Ok(())
    };
    let mut push = |c: &mut Cursor<'_>, start: u64, count: u64| -> R<()> {
        for i in 0..count {
            let idx = start.saturating_add(i);
            let (a, size, mask) = decode_element(c, usize::from(p.esize), p.filtered)?;
            if idx < p.max_index {
                out.push(Element {
                    index: idx,
                    addr: a,
                    size,
                    mask,
                });
            }
        }
        Ok(())
    };
    if !paged {
        let len = nelmts
            .checked_mul(es)
            .and_then(|b| b.checked_add(prefix + 4))
            .ok_or_else(|| malformed("extensible array data block size overflows"))?;
        let buf = h5.read(addr, len, "extensible array data block")?;
        verify_checksum(&buf, "extensible array data block")?;
        let mut c = Cursor::new(&buf, h5.so, h5.sl, "extensible array data block");
        check(&mut c)?;
        c.skip(p.arr_off_size)?;
        return push(&mut c, first, nelmts);
    }
    let head = h5.read(addr, prefix + 4, "extensible array data block")?;
    verify_checksum(&head, "extensible array data block")?;
    let mut c = Cursor::new(&head, h5.so, h5.sl, "extensible array data block");
    check(&mut c)?;
    let npages = nelmts / p.page_nelmts;
    let page_len = p.page_nelmts * es + 4;
    let mut page_addr = addr
        .checked_add(prefix + 4)
        .ok_or_else(|| malformed("extensible array page address overflows"))?;
    for pg in 0..npages {
        let start = first.saturating_add(pg.saturating_mul(p.page_nelmts));
        if start >= p.max_index {
            break;
        }
        let init = bitmap.is_none_or(|b| {
            b.get(to_usize(pg / 8).unwrap_or(usize::MAX))
                .is_some_and(|x| x & (0x80 >> (pg % 8)) != 0)
        });
        if init {
            let page = h5.read(page_addr, page_len, "extensible array page")?;
            verify_checksum(&page, "extensible array page")?;
            let mut c = Cursor::new(&page, h5.so, h5.sl, "extensible array page");
            push(&mut c, start, p.page_nelmts)?;
        }
        page_addr = page_addr
            .checked_add(page_len)
            .ok_or_else(|| malformed("extensible array page address overflows"))?;
    }
    Ok(())
}
