//! What a loader may ask of the host: read the input (and external files) by range, and
//! append bytes it produced to the output buffer.

use crate::result::{ErrorKind, LoadError};

/// The loader's only window on the world. On wasm32 it is backed by host imports; natively
/// by [`SliceHost`] (tests) or any other implementation (fuzzing).
pub trait Host {
    /// Length in bytes of `source` (0 = the input file, others from [`Host::open_external`]).
    fn source_len(&self, source: u32) -> Result<u64, LoadError>;
    /// Fill `buf` with the bytes of `source` starting at `offset`; errors if out of range.
    fn read_at(&mut self, source: u32, offset: u64, buf: &mut [u8]) -> Result<(), LoadError>;
    /// Ask the host for an external file named by the model, relative to its directory.
    fn open_external(&mut self, name: &str) -> Result<u32, LoadError>;
    /// Append bytes to the output buffer; returns the offset where they start.
    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, LoadError>;

    /// Length of the input file.
    fn input_len(&self) -> Result<u64, LoadError> {
        self.source_len(0)
    }
    /// Read `len` bytes of the input at `offset` into a new vector (checked against the
    /// input length first, so a hostile length never allocates).
    fn read_vec(&mut self, source: u32, offset: u64, len: u64) -> Result<Vec<u8>, LoadError> {
        let total = self.source_len(source)?;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| LoadError::malformed("read range overflows"))?;
        if end > total {
            return Err(LoadError::malformed(format!(
                "read of {len} bytes at offset {offset} runs past the end ({total} bytes)"
            )));
        }
        let len = usize::try_from(len)
            .map_err(|_| LoadError::new(ErrorKind::Limit, "read larger than the address space"))?;
        let mut buf = vec![0u8; len];
        self.read_at(source, offset, &mut buf)?;
        Ok(buf)
    }
}

/// A host over in-memory bytes: the input, named external files, and an output vector.
#[derive(Debug, Default)]
pub struct SliceHost {
    /// Source 0 and any opened external files, by id.
    pub sources: Vec<Vec<u8>>,
    /// External files the loader may open, by name.
    pub externals: Vec<(String, Vec<u8>)>,
    /// Bytes appended by [`Host::write_output`].
    pub output: Vec<u8>,
    /// Maximum output size.
    pub output_limit: u64,
}

impl SliceHost {
    /// A host whose input is `input`, with no external files and a 4 GiB output limit.
    pub fn new(input: Vec<u8>) -> Self {
        SliceHost {
            sources: vec![input],
            externals: Vec::new(),
            output: Vec::new(),
            output_limit: 4 << 30,
        }
    }
}

impl Host for SliceHost {
    fn source_len(&self, source: u32) -> Result<u64, LoadError> {
        self.sources
            .get(source as usize)
            .map(|s| s.len() as u64)
            .ok_or_else(|| LoadError::malformed(format!("no source {source}")))
    }

    fn read_at(&mut self, source: u32, offset: u64, buf: &mut [u8]) -> Result<(), LoadError> {
        let data = self
            .sources
            .get(source as usize)
            .ok_or_else(|| LoadError::malformed(format!("no source {source}")))?;
        let start =
            usize::try_from(offset).map_err(|_| LoadError::malformed("offset too large"))?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= data.len())
            .ok_or_else(|| {
                LoadError::malformed(format!(
                    "read of {} bytes at offset {offset} runs past the end ({} bytes)",
                    buf.len(),
                    data.len()
                ))
            })?;
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn open_external(&mut self, name: &str) -> Result<u32, LoadError> {
        let found = self
            .externals
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| {
                LoadError::new(
                    ErrorKind::Refused,
                    format!("external file not available: {name}"),
                )
            })?;
        self.sources.push(found);
        Ok((self.sources.len() - 1) as u32)
    }

    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        let start = self.output.len() as u64;
        if start + bytes.len() as u64 > self.output_limit {
            return Err(LoadError::new(
                ErrorKind::Limit,
                "output size limit exceeded",
            ));
        }
        self.output.extend_from_slice(bytes);
        Ok(start)
    }
}
