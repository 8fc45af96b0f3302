//! The registry on object storage through the `object_store` crate (feature
//! `object-store`): the same layout as the local store under a prefix, with
//! `PutMode::Create` (an atomic create-if-absent, `If-None-Match: *` on S3 and GCS) as the
//! compare-and-swap for log entries.
//!
//! `object_store` is asynchronous; this backend owns a small Tokio runtime and blocks on
//! it, so the [`Store`] trait stays synchronous like the rest of modelseal.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};

use super::store::{self, MAX_LOG_ENTRY_BYTES, MAX_LOG_INDEX, MAX_MARKER_BYTES, Store, StoreError};
use crate::digest::Sha256Digest;

/// Blobs up to this size are uploaded in one conditional request; larger ones in parts.
const SINGLE_PUT_MAX: u64 = 16 << 20;

/// A registry in an object store.
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    location: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectStoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn backend_err(what: impl std::fmt::Display) -> impl FnOnce(object_store::Error) -> StoreError {
    let what = what.to_string();
    move |e| match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(what),
        other => StoreError::Io {
            what,
            source: std::io::Error::other(other),
        },
    }
}

impl ObjectStoreBackend {
    /// A registry under `prefix` in `store`, described as `location` in messages. With
    /// `create`, a missing registry is created.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        location: impl Into<String>,
        create: bool,
    ) -> Result<Self, StoreError> {
        let location = location.into();
        let prefix = ObjectPath::parse(prefix)
            .map_err(|e| StoreError::Unsupported(format!("registry prefix {prefix:?}: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::io("async runtime"))?;
        let backend = ObjectStoreBackend {
            store,
            prefix,
            location,
            rt,
        };
        backend.check_marker(create)?;
        Ok(backend)
    }

    /// Open the registry at an object storage URL (`s3://bucket/prefix`, `gs://…`,
    /// `az://…`, `memory:///`); credentials and options come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `GOOGLE_SERVICE_ACCOUNT`, …).
    pub fn from_url(url: &str, create: bool) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::Unsupported(format!("registry URL {url:?}: {e}")))?;
        let options = std::env::vars().map(|(k, v)| (k.to_ascii_lowercase(), v));
        let (store, prefix) = object_store::parse_url_opts(&parsed, options).map_err(|e| {
            StoreError::Unsupported(format!(
                "registry URL {url:?}: {e} (was modelseal built with the `s3`, `gcs` or `azure` feature this URL needs?)"
            ))
        })?;
        Self::new(Arc::from(store), prefix.as_ref(), url, create)
    }

    fn path(&self, parts: &[&str]) -> ObjectPath {
        parts
            .iter()
            .fold(self.prefix.clone(), |p, part| p.join(*part))
    }

    fn check_marker(&self, create: bool) -> Result<(), StoreError> {
        let path = self.path(&["registry.json"]);
        match self.read_limited(&path, MAX_MARKER_BYTES, "registry.json") {
            Ok(bytes) => store::check_marker(&bytes, &self.location),
            Err(StoreError::NotFound(_)) if create => {
                match self.create(&path, store::marker_bytes(), "registry.json") {
                    Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(StoreError::NotFound(_)) => Err(StoreError::NoRegistry(self.location.clone())),
            Err(e) => Err(e),
        }
    }

    fn read_limited(
        &self,
        path: &ObjectPath,
        limit: usize,
        what: &str,
    ) -> Result<Vec<u8>, StoreError> {
        self.rt.block_on(async {
            let result = self.store.get(path).await.map_err(backend_err(what))?;
            if result.meta.size > limit as u64 {
                return Err(StoreError::Corrupt(format!(
                    "{what} is {} bytes, over the {limit}-byte limit",
                    result.meta.size
                )));
            }
            let mut stream = result.into_stream();
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(backend_err(what))?;
                if out.len().saturating_add(chunk.len()) > limit {
                    return Err(StoreError::Corrupt(format!(
                        "{what} is over the {limit}-byte limit"
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }

    /// Create `path` with `bytes` if absent ([`StoreError::Conflict`] with index 0 if not;
    /// callers that care map it).
    fn create(&self, path: &ObjectPath, bytes: Vec<u8>, what: &str) -> Result<(), StoreError> {
        let opts = PutOptions::from(PutMode::Create);
        self.rt.block_on(async {
            match self
                .store
                .put_opts(path, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => Err(StoreError::Conflict(0)),
                Err(e) => Err(backend_err(what)(e)),
            }
        })
    }

    fn names(&self, dir: &[&str], offset: Option<&str>) -> Result<Vec<String>, StoreError> {
        let prefix = self.path(dir);
        let what = prefix.to_string();
        self.rt.block_on(async {
            let mut stream = match offset {
                Some(o) => self
                    .store
                    .list_with_offset(Some(&prefix), &prefix.clone().join(o)),
                None => self.store.list(Some(&prefix)),
            };
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(backend_err(&what))?;
                let name = meta.location.filename().unwrap_or_default().to_string();
                if meta.location != prefix.clone().join(name.as_str()) {
                    return Err(StoreError::Corrupt(format!(
                        "unexpected object {} under {what}",
                        meta.location
                    )));
                }
                if !name.starts_with('.') {
                    out.push(name);
                }
            }
            Ok(out)
        })
    }
}

impl Store for ObjectStoreBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get_blob(&self, digest: &Sha256Digest, out: &mut dyn Write) -> Result<u64, StoreError> {
        let hex = digest.to_string();
        let path = self.path(&["blobs", "sha256", &hex]);
        let what = format!("blob sha256:{hex}");
        self.rt.block_on(async {
            let result = self.store.get(&path).await.map_err(backend_err(&what))?;
            let mut stream = result.into_stream();
            let mut total = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(backend_err(&what))?;
                out.write_all(&chunk).map_err(StoreError::io(&what))?;
                total = total.saturating_add(chunk.len() as u64);
            }
            Ok(total)
        })
    }

    fn has_blob(&self, digest: &Sha256Digest) -> Result<bool, StoreError> {
        let path = self.path(&["blobs", "sha256", &digest.to_string()]);
        self.rt.block_on(async {
            match self.store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(backend_err(format!("blob sha256:{digest}"))(e)),
            }
        })
    }

    fn put_blob(&self, digest: &Sha256Digest, src: &Path) -> Result<(), StoreError> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        let hex = digest.to_string();
        let path = self.path(&["blobs", "sha256", &hex]);
        let mut file = std::fs::File::open(src).map_err(StoreError::io(src.display()))?;
        let size = file
            .metadata()
            .map_err(StoreError::io(src.display()))?
            .len();
        let mismatch = |actual: Sha256Digest| StoreError::Io {
            what: src.display().to_string(),
            source: std::io::Error::other(format!(
                "changed while being stored (sha256 {actual}, expected {digest})"
            )),
        };
        if size <= SINGLE_PUT_MAX {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .map_err(StoreError::io(src.display()))?;
            let actual = Sha256Digest::of(&bytes);
            if actual != *digest {
                return Err(mismatch(actual));
            }
            return match self.create(&path, bytes, &format!("blob sha256:{hex}")) {
                Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
                Err(e) => Err(e),
            };
        }
        // Large blobs: a multipart upload (not conditional; a concurrent upload of the
        // same digest writes the same bytes), completed only if the bytes sent hash right.
        let what = format!("blob sha256:{hex}");
        self.rt.block_on(async {
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(backend_err(&what))?;
            let mut writer = WriteMultipart::new(upload);
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(StoreError::io(src.display())(e));
                    }
                };
                let chunk = buf.get(..n).unwrap_or_default();
                hasher.update(chunk);
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(backend_err(&what))?;
                writer.write(chunk);
            }
            let actual = Sha256Digest(hasher.finalize().into());
            if actual != *digest {
                let _ = writer.abort().await;
                return Err(mismatch(actual));
            }
            writer.finish().await.map_err(backend_err(&what))?;
            Ok(())
        })
    }

    fn list_blobs(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let mut out = Vec::new();
        for name in self.names(&["blobs", "sha256"], None)? {
            out.push(
                name.parse()
                    .map_err(|_| StoreError::Corrupt(format!("unexpected blob name {name:?}")))?,
            );
        }
        out.sort();
        Ok(out)
    }

    fn log_indexes(&self, from: u64) -> Result<Vec<u64>, StoreError> {
        // Names are fixed-width, so their byte order is their numeric order and the
        // listing can start after entry `from - 1`.
        let offset = from.checked_sub(1).map(store::log_entry_name);
        let mut out = Vec::new();
        for name in self.names(&["log"], offset.as_deref())? {
            let index = store::parse_log_entry_name(&name).ok_or_else(|| {
                StoreError::Corrupt(format!("unexpected object {name:?} in the log"))
            })?;
            if index >= from {
                out.push(index);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn read_log(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let name = store::log_entry_name(index);
        let path = self.path(&["log", &name]);
        self.read_limited(&path, MAX_LOG_ENTRY_BYTES, &format!("log entry {index}"))
    }

    fn create_log(&self, index: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if index > MAX_LOG_INDEX {
            return Err(StoreError::Unsupported(format!(
                "the log is full (more than {MAX_LOG_INDEX} entries)"
            )));
        }
        let name = store::log_entry_name(index);
        let path = self.path(&["log", &name]);
        match self.create(&path, bytes.to_vec(), &format!("log entry {index}")) {
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(index)),
            other => other,
        }
    }
}
