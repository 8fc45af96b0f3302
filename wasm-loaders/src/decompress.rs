//! Bounded decompression of whole streams (joblib's compressed pickles) and a streaming raw
//! or zlib inflater (zip members).
//!
//! Every decoder is pure Rust and builds for wasm32 with no imports. Output is capped by the
//! caller's `limit`: going past it is [`ErrorKind::Limit`] (decompression bombs), a corrupt
//! or truncated stream is [`ErrorKind::Malformed`]. Nothing is allocated from a size the
//! stream declares: buffers grow with the bytes actually produced.

use std::io::{self, Read, Write};

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use crate::result::{ErrorKind, LoadError};

/// Size of the scratch buffer the streaming inflater writes into.
const INFLATE_CHUNK: usize = 64 << 10;

/// A compression format, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Raw DEFLATE (RFC 1951), no header: never sniffed, only used when the container says so.
    Deflate,
    /// zlib (RFC 1950): DEFLATE with a 2-byte header and an Adler-32 trailer.
    Zlib,
    /// gzip (RFC 1952): one or more members, each with a CRC-32 and size trailer.
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`FD 37 7A 58 5A 00`).
    Xz,
    /// Legacy `.lzma` ("LZMA alone": properties byte, dictionary size, unpacked size).
    Lzma,
    /// LZ4 frame format (`04 22 4D 18`).
    Lz4Frame,
}

impl Codec {
    /// Short lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Deflate => "deflate",
            Codec::Zlib => "zlib",
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
            Codec::Lzma => "lzma",
            Codec::Lz4Frame => "lz4",
        }
    }
}

/// Recognises a compressed stream by its first bytes (at least 6 are needed for xz).
///
/// zlib is only reported when the two header bytes pass the RFC 1950 check (CM = 8,
/// window ≤ 32 KiB, `(CMF·256 + FLG) % 31 == 0`, no preset dictionary).
pub fn sniff(prefix: &[u8]) -> Option<Codec> {
    match prefix {
        [0x1f, 0x8b, ..] => Some(Codec::Gzip),
        [b'B', b'Z', b'h', level, ..] if (b'1'..=b'9').contains(level) => Some(Codec::Bzip2),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Codec::Xz),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Codec::Lz4Frame),
        [0x5d, 0x00, 0x00, ..] => Some(Codec::Lzma),
        // Sniffing accepts only the 32 KiB window every common writer uses (0x78): other
        // valid zlib headers collide with protocol-0 pickles such as `(S`.
        [0x78, flg, ..] if is_zlib_header(0x78, *flg) => Some(Codec::Zlib),
        _ => None,
    }
}

fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    let method = cmf & 0x0f;
    let window = cmf >> 4;
    let check = (u16::from(cmf) << 8) | u16::from(flg);
    method == 8 && window <= 7 && check % 31 == 0 && flg & 0x20 == 0
}

/// Decompresses all of `data` as `codec`, producing at most `limit` bytes.
///
/// Trailing bytes after a complete deflate, zlib or gzip stream are refused as malformed
/// (gzip may hold several members back to back, as Python's `gzip` module reads them).
pub fn decompress(data: &[u8], codec: Codec, limit: u64) -> Result<Vec<u8>, LoadError> {
    let mut out = Vec::new();
    match codec {
        Codec::Deflate | Codec::Zlib => {
            let format = if codec == Codec::Zlib {
                DataFormat::Zlib
            } else {
                DataFormat::Raw
            };
            let mut inflater = Inflater::new(format, codec.name(), limit);
            let used = inflater.feed(data, &mut |piece| {
                out.extend_from_slice(piece);
                Ok(())
            })?;
            inflater.finish()?;
            if used != data.len() {
                return Err(LoadError::malformed(format!(
                    "{} bytes of trailing data after the {} stream",
                    data.len() - used,
                    codec.name()
                )));
            }
        }
        Codec::Gzip => gunzip(data, limit, &mut out)?,
        Codec::Bzip2 => read_all(bzip2_rs::DecoderReader::new(data), codec, limit, &mut out)?,
        Codec::Lz4Frame => read_all(
            lz4_flex::frame::FrameDecoder::new(data),
            codec,
            limit,
            &mut out,
        )?,
        Codec::Xz => {
            let mut sink = LimitedWriter::new(&mut out, limit);
            let mut input = data;
            let r = lzma_rs::xz_decompress(&mut input, &mut sink);
            finish_lzma(r, sink.exceeded, codec, limit)?;
        }
        Codec::Lzma => {
            let mut sink = LimitedWriter::new(&mut out, limit);
            let mut input = data;
            // The dictionary buffer grows with the output; cap it like the output.
            let options = lzma_rs::decompress::Options {
                memlimit: Some(usize::try_from(limit).unwrap_or(usize::MAX)),
                ..Default::default()
            };
            let r = lzma_rs::lzma_decompress_with_options(&mut input, &mut sink, &options);
            finish_lzma(r, sink.exceeded, codec, limit)?;
        }
    }
    Ok(out)
}

fn limit_error(codec: Codec, limit: u64) -> LoadError {
    LoadError::limit(format!(
        "{} stream decompresses to more than the {limit}-byte limit (max_decompressed)",
        codec.name()
    ))
}

fn finish_lzma(
    r: Result<(), lzma_rs::error::Error>,
    exceeded: bool,
    codec: Codec,
    limit: u64,
) -> Result<(), LoadError> {
    match r {
        Ok(()) => Ok(()),
        Err(_) if exceeded => Err(limit_error(codec, limit)),
        Err(lzma_rs::error::Error::LzmaError(m)) if m.contains("exceeded memory limit") => {
            Err(limit_error(codec, limit))
        }
        Err(e) => Err(LoadError::malformed(format!(
            "corrupt {} stream: {e}",
            codec.name()
        ))),
    }
}

/// Pulls everything out of a decoding reader, at most `limit` bytes.
fn read_all(
    mut reader: impl Read,
    codec: Codec,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), LoadError> {
    let mut buf = vec![0u8; INFLATE_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(LoadError::malformed(format!(
                    "corrupt {} stream: {e}",
                    codec.name()
                )));
            }
        };
        if n == 0 {
            return Ok(());
        }
        let piece = buf.get(..n).unwrap_or_default();
        if (out.len() as u64).saturating_add(n as u64) > limit {
            return Err(limit_error(codec, limit));
        }
        out.extend_from_slice(piece);
    }
}

/// A `Write` into a vector that refuses to grow past a limit.
struct LimitedWriter<'a> {
    out: &'a mut Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl<'a> LimitedWriter<'a> {
    fn new(out: &'a mut Vec<u8>, limit: u64) -> Self {
        LimitedWriter {
            out,
            limit,
            exceeded: false,
        }
    }
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.out.len() as u64).saturating_add(buf.len() as u64) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decompression limit exceeded"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// gzip: header (RFC 1952 §2.3), raw deflate, CRC-32 and ISIZE trailer; repeated members.
fn gunzip(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), LoadError> {
    let mut rest = data;
    loop {
        let body = skip_gzip_header(rest)?;
        let start = out.len();
        let budget = limit.saturating_sub(start as u64);
        let mut inflater = Inflater::new(DataFormat::Raw, "gzip", budget);
        let used = inflater.feed(body, &mut |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })?;
        inflater.finish()?;
        let trailer = body
            .get(used..used.saturating_add(8))
            .filter(|t| t.len() == 8)
            .ok_or_else(|| LoadError::malformed("gzip member is truncated (no trailer)"))?;
        let member = out.get(start..).unwrap_or_default();
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc32fast::hash(member) != crc {
            return Err(LoadError::malformed("gzip member CRC-32 mismatch"));
        }
        if member.len() as u32 != isize {
            return Err(LoadError::malformed("gzip member size mismatch (ISIZE)"));
        }
        rest = body.get(used + 8..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(());
        }
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Err(LoadError::malformed(format!(
                "{} bytes of trailing data after the gzip stream",
                rest.len()
            )));
        }
    }
}

/// Returns the bytes after a gzip member header.
fn skip_gzip_header(data: &[u8]) -> Result<&[u8], LoadError> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let short = || LoadError::malformed("gzip header is truncated");
    let head = data.get(..10).ok_or_else(short)?;
    if head[0] != 0x1f || head[1] != 0x8b {
        return Err(LoadError::malformed("not a gzip member (bad magic)"));
    }
    if head[2] != 8 {
        return Err(LoadError::unsupported(format!(
            "gzip compression method {} is not deflate",
            head[2]
        )));
    }
    let flags = head[3];
    if flags & 0xe0 != 0 {
        return Err(LoadError::malformed(
            "gzip header has reserved flag bits set",
        ));
    }
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = data.get(pos..pos + 2).ok_or_else(short)?;
        let xlen = usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        pos = pos + 2 + xlen;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let field = data.get(pos..).ok_or_else(short)?;
            let nul = field.iter().position(|&b| b == 0).ok_or_else(short)?;
            pos = pos + nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    data.get(pos..).ok_or_else(short)
}

/// A streaming raw-DEFLATE or zlib decoder with an output limit.
///
/// Feed it compressed bytes piece by piece; every piece of output goes to a sink. Memory use
/// is fixed (the 32 KiB window plus a 64 KiB scratch buffer) whatever the stream says.
pub struct Inflater {
    state: Box<InflateState>,
    buf: Vec<u8>,
    last: usize,
    produced: u64,
    limit: u64,
    done: bool,
    what: &'static str,
}

impl Inflater {
    /// A decoder for `format` (`Raw` or `Zlib`); `what` names the stream in messages.
    pub fn new(format: DataFormat, what: &'static str, limit: u64) -> Self {
        Inflater {
            state: InflateState::new_boxed(format),
            buf: vec![0u8; INFLATE_CHUNK],
            last: 0,
            produced: 0,
            limit,
            done: false,
            what,
        }
    }

    /// Bytes produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Whether the end of the stream has been reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// One decoding step: consumes some of `input` and returns how many bytes it used and
    /// how many it produced (at most 64 KiB, then readable with [`Inflater::last_output`]).
    /// Producing nothing means the stream ended ([`Inflater::is_done`]) or, with no input
    /// left, that more input is needed.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, usize), LoadError> {
        self.last = 0;
        if self.done {
            return Ok((0, 0));
        }
        let r = inflate(&mut self.state, input, &mut self.buf, MZFlush::None);
        match r.status {
            Ok(MZStatus::StreamEnd) => self.done = true,
            Ok(_) | Err(MZError::Buf) => {}
            Err(_) => {
                return Err(LoadError::malformed(format!(
                    "corrupt {} data (invalid deflate stream)",
                    self.what
                )));
            }
        }
        if !self.done && !input.is_empty() && r.bytes_consumed == 0 && r.bytes_written == 0 {
            return Err(LoadError::malformed(format!(
                "corrupt {} data (deflate stream makes no progress)",
                self.what
            )));
        }
        self.produced = self.produced.saturating_add(r.bytes_written as u64);
        if self.produced > self.limit {
            return Err(LoadError::limit(format!(
                "{} data decompresses to more than the {}-byte limit",
                self.what, self.limit
            )));
        }
        self.last = r.bytes_written;
        Ok((r.bytes_consumed, r.bytes_written))
    }

    /// The bytes produced by the last [`Inflater::step`].
    pub fn last_output(&self) -> &[u8] {
        self.buf.get(..self.last).unwrap_or_default()
    }

    /// Decodes `input`, passing output to `sink`. Returns how many input bytes were used:
    /// all of them unless the stream ended inside `input`.
    pub fn feed(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), LoadError>,
    ) -> Result<usize, LoadError> {
        let mut used = 0usize;
        while !self.done {
            let rest = input.get(used..).unwrap_or_default();
            let (consumed, produced) = self.step(rest)?;
            used = used.saturating_add(consumed);
            if produced > 0 {
                sink(self.last_output())?;
            } else if consumed == 0 {
                break;
            }
        }
        Ok(used)
    }

    /// Checks that the stream ended (a truncated stream is malformed).
    pub fn finish(&self) -> Result<(), LoadError> {
        if self.done {
            Ok(())
        } else {
            Err(LoadError::new(
                ErrorKind::Malformed,
                format!(
                    "{} data is truncated (deflate stream does not end)",
                    self.what
                ),
            ))
        }
    }
}
