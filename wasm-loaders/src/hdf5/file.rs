//! An opened HDF5 file: the byte source, the superblock facts every structure needs
//! (base address, address and length sizes), the work budget and collected warnings.

use super::heaps::GlobalHeaps;
use super::io::{Backing, R, Source, limit, malformed};
use super::superblock;
use crate::host::Host;
use crate::result::Limits;

/// Most warnings kept (further ones are counted, not stored).
const MAX_WARNINGS: usize = 200;

/// Counters checked against the configured limits.
#[derive(Debug)]
pub(crate) struct Budget {
    objects: u64,
    max_objects: u64,
    decompressed: u64,
    max_decompressed: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        Budget {
            objects: 0,
            max_objects: limits.max_objects,
            decompressed: 0,
            max_decompressed: limits.max_decompressed,
        }
    }

    /// Counts one parsed structure (object header, B-tree node, link, chunk record…).
    pub(crate) fn object(&mut self, what: &str) -> R<()> {
        self.objects = self.objects.saturating_add(1);
        if self.objects > self.max_objects {
            return Err(limit(format!(
                "limits.max_objects ({}) exceeded while reading {what}",
                self.max_objects
            )));
        }
        Ok(())
    }

    /// Counts `n` structures at once.
    pub(crate) fn objects(&mut self, n: u64, what: &str) -> R<()> {
        self.objects = self.objects.saturating_add(n);
        if self.objects > self.max_objects {
            return Err(limit(format!(
                "limits.max_objects ({}) exceeded while reading {what}",
                self.max_objects
            )));
        }
        Ok(())
    }

    /// Bytes still allowed to be produced by decompression or decoding.
    pub(crate) fn decompressed_left(&self) -> u64 {
        self.max_decompressed.saturating_sub(self.decompressed)
    }

    /// Accounts `n` produced bytes.
    pub(crate) fn decompressed(&mut self, n: u64, what: &str) -> R<()> {
        self.decompressed = self.decompressed.saturating_add(n);
        if self.decompressed > self.max_decompressed {
            return Err(limit(format!(
                "limits.max_decompressed ({} bytes) exceeded while decoding {what}",
                self.max_decompressed
            )));
        }
        Ok(())
    }
}

/// An opened HDF5 file.
pub struct H5<'h> {
    pub(crate) src: Source<'h>,
    /// File position of the superblock (addresses are relative to it).
    pub(crate) base: u64,
    /// Address size.
    pub(crate) so: u8,
    /// Length size.
    pub(crate) sl: u8,
    /// Root group object header address.
    pub(crate) root: u64,
    /// Superblock version.
    superblock_version: u8,
    /// Work counters.
    pub(crate) budget: Budget,
    /// Loader-side limits.
    pub(crate) limits: Limits,
    /// Global heap collections read so far (variable-length strings).
    pub(crate) global_heaps: GlobalHeaps,
    warnings: Vec<String>,
    dropped_warnings: usize,
}

impl<'h> H5<'h> {
    /// Opens the HDF5 file held by `backing`: finds and parses the superblock.
    pub fn open(host: &'h mut dyn Host, backing: Backing, limits: &Limits) -> R<Self> {
        let mut src = Source::new(host, backing)?;
        let at = superblock::find(&mut src)?.ok_or_else(|| malformed("no HDF5 signature found"))?;
        let sb = superblock::parse(&mut src, at)?;
        Ok(H5 {
            src,
            base: sb.base,
            so: sb.so,
            sl: sb.sl,
            root: sb.root,
            superblock_version: sb.version,
            budget: Budget::new(limits),
            limits: limits.clone(),
            global_heaps: GlobalHeaps::default(),
            warnings: Vec::new(),
            dropped_warnings: 0,
        })
    }

    /// The superblock version (0–3).
    pub fn superblock_version(&self) -> u8 {
        self.superblock_version
    }

    /// File position of address `addr`.
    pub(crate) fn pos(&self, addr: u64) -> R<u64> {
        self.base
            .checked_add(addr)
            .ok_or_else(|| malformed(format!("address {addr} overflows")))
    }

    /// Bytes from address `addr` to the end of the file.
    pub(crate) fn avail(&self, addr: u64) -> R<u64> {
        let p = self.pos(addr)?;
        self.src
            .len()
            .checked_sub(p)
            .ok_or_else(|| malformed(format!("address {addr} lies past the end of the file")))
    }

    /// Reads `len` bytes at address `addr`.
    pub(crate) fn read(&mut self, addr: u64, len: u64, what: &str) -> R<Vec<u8>> {
        let p = self.pos(addr)?;
        self.src.read(p, len, what)
    }

    /// Fills `buf` from address `addr`.
    pub(crate) fn read_into(&mut self, addr: u64, buf: &mut [u8], what: &str) -> R<()> {
        let p = self.pos(addr)?;
        self.src.read_into(p, buf, what)
    }

    /// Checks that `len` bytes at `addr` lie inside the file; returns their file position.
    pub(crate) fn check(&self, addr: u64, len: u64, what: &str) -> R<u64> {
        let p = self.pos(addr)?;
        self.src.check_range(p, len, what)?;
        Ok(p)
    }

    /// The absolute input offset of address `addr`, if the file is a window of the input.
    pub(crate) fn input_offset(&self, addr: u64) -> R<Option<u64>> {
        Ok(self.src.input_offset(self.pos(addr)?))
    }

    /// The host (to write output).
    pub(crate) fn host(&mut self) -> &mut dyn Host {
        self.src.host()
    }

    /// Records a warning for the report.
    pub(crate) fn warn(&mut self, w: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w.into());
        } else {
            self.dropped_warnings += 1;
        }
    }

    /// The warnings collected so far.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        let mut w = std::mem::take(&mut self.warnings);
        if self.dropped_warnings > 0 {
            w.push(format!(
                "{} more HDF5 warnings omitted",
                self.dropped_warnings
            ));
            self.dropped_warnings = 0;
        }
        w
    }
}
