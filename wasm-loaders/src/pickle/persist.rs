//! How a format turns persistent ids and stream positions into byte ranges the host can
//! read: the glue between the symbolic pickle and the container around it.

use std::collections::BTreeMap;

use super::globals::GlobalTable;
use super::policy::TorchDtype;
use super::reader::Origin;
use super::value::{Arena, NodeId};
use crate::host::Host;
use crate::result::{ByteOrder, LoadError, Storage, StorageSource};

/// A storage a persistent id refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// Where its bytes are.
    pub storage: Storage,
    /// Element type (`None` for an untyped byte storage).
    pub dtype: Option<TorchDtype>,
    /// Byte order of its elements.
    pub byte_order: ByteOrder,
    /// Its name in the file, for messages (`archive/data/0`, storage key…).
    pub name: String,
}

/// A tensor fully described by the container (the old tar format's `tensors` file).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    /// Its storage.
    pub storage: StorageRef,
    /// Element offset into the storage.
    pub offset: u64,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Strides in elements.
    pub strides: Vec<u64>,
}

/// What a persistent id stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Persistent {
    /// A storage.
    Storage(StorageRef),
    /// A whole tensor.
    Tensor(StoredTensor),
    /// A value of the pickle itself (e.g. the class in a legacy `module` id).
    Value(NodeId),
}

/// Resolves persistent ids for one format.
pub trait Resolver {
    /// Resolve the persistent id whose payload is node `pid`.
    fn resolve(
        &mut self,
        host: &mut dyn Host,
        arena: &Arena,
        globals: &GlobalTable,
        pid: NodeId,
    ) -> Result<Persistent, LoadError>;
}

/// Plain pickles have no persistent ids: CPython refuses them without a `persistent_load`.
pub struct NoPersistentIds;

impl Resolver for NoPersistentIds {
    fn resolve(
        &mut self,
        _host: &mut dyn Host,
        _arena: &Arena,
        _globals: &GlobalTable,
        _pid: NodeId,
    ) -> Result<Persistent, LoadError> {
        Err(LoadError::unsupported(
            "the pickle holds a persistent id, which only PyTorch checkpoints define; this \
             file is not a complete PyTorch checkpoint",
        ))
    }
}

/// The pickle stream's bytes: where blobs left in the stream can be found.
pub struct Stream<'a> {
    /// Where the stream lives.
    pub origin: Origin,
    /// The stream itself when it is in guest memory.
    pub memory: Option<&'a [u8]>,
    written: BTreeMap<(u64, u64), Storage>,
}

impl<'a> Stream<'a> {
    /// A stream in host source `source` from `base`.
    pub fn host(source: u32, base: u64) -> Self {
        Stream {
            origin: Origin::Host { source, base },
            memory: None,
            written: BTreeMap::new(),
        }
    }

    /// A stream in guest memory.
    pub fn memory(data: &'a [u8]) -> Self {
        Stream {
            origin: Origin::Memory,
            memory: Some(data),
            written: BTreeMap::new(),
        }
    }

    /// A storage for `len` bytes at stream position `pos`: pointing into the input when
    /// the stream is the input, else copied to the output buffer (once per range).
    pub fn storage(
        &mut self,
        host: &mut dyn Host,
        pos: u64,
        len: u64,
    ) -> Result<Storage, LoadError> {
        match self.origin {
            Origin::Host { source, base } => {
                let offset = base
                    .checked_add(pos)
                    .ok_or_else(|| LoadError::malformed("stream offset overflows"))?;
                let source = if source == 0 {
                    StorageSource::Input
                } else {
                    StorageSource::External(source)
                };
                Ok(Storage {
                    source,
                    offset,
                    length: len,
                })
            }
            Origin::Memory => {
                if let Some(s) = self.written.get(&(pos, len)) {
                    return Ok(*s);
                }
                let data = self.memory.unwrap_or(&[]);
                let start = usize::try_from(pos).map_err(|_| LoadError::malformed("offset"))?;
                let end = pos
                    .checked_add(len)
                    .and_then(|e| usize::try_from(e).ok())
                    .filter(|&e| e <= data.len())
                    .ok_or_else(|| LoadError::malformed("stream range past its end"))?;
                let bytes = data
                    .get(start..end)
                    .ok_or_else(|| LoadError::malformed("stream range past its end"))?;
                let s = output_storage(host, bytes)?;
                self.written.insert((pos, len), s);
                Ok(s)
            }
        }
    }
}

/// Copy `bytes` to the output buffer and describe them.
pub fn output_storage(host: &mut dyn Host, bytes: &[u8]) -> Result<Storage, LoadError> {
    let offset = host.write_output(bytes)?;
    Ok(Storage {
        source: StorageSource::Output,
        offset,
        length: bytes.len() as u64,
    })
}
