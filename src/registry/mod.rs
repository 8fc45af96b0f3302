//! A model registry with verified deployment (`docs/format.md` §10, SECURITY.md
//! §Registry and deploy).
//!
//! A registry is a [`Store`] (a local directory by default, object storage with the
//! `object-store` feature) holding content-addressed bundles and an append-only log whose
//! entries are signed by the key that acted and hash-chained. Publishing verifies the
//! bundle first; promoting and rolling back are log entries; a deployer ([`Deployer`],
//! [`Watcher`]) verifies the log entries it relies on and the bundle itself, extracts the
//! bundle into a new directory and switches a `current` symlink atomically.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use modelseal::bundle::TrustedKeys;
//! use modelseal::keys;
//! use modelseal::registry::{Registry, Stage, Watcher};
//!
//! let trust = TrustedKeys(vec![keys::load_public_key("keys/release.pub".as_ref())?]);
//! let registry = Registry::open("./registry")?;
//! let mut watcher = Watcher::new(registry, trust, "iris", Stage::Production, "/srv/iris".as_ref())?;
//! loop {
//!     if let Some(deployment) = watcher.poll()? {
//!         // A new verified version is in /srv/iris/current; load it from the handle.
//!         let model = deployment.bundle.read("model.joblib")?;
//!         # let _ = model;
//!     }
//!     std::thread::sleep(std::time::Duration::from_secs(10));
//! }
//! # }
//! ```

mod deploy;
mod local;
pub mod log;
#[cfg(feature = "object-store")]
mod objstore;
mod ops;
pub mod store;
pub mod view;
mod watch;

pub use deploy::{
    DEFAULT_KEEP, DeployError, DeployOptions, DeployStep, Deployed, Deployer, Deployment,
    LOCK_FILE, STATE_FILE, version_dir_name,
};
pub use local::LocalStore;
pub use log::{Action, Checkpoint, Log, LogEntry, LogError, Stage, Standing};
#[cfg(feature = "object-store")]
pub use objstore::ObjectStoreBackend;
pub use ops::{
    Best, CheckReport, Comparison, EventReport, FileChange, MetricDelta, Published, Registry,
    RegistryError, StageChange, VersionDetails, metrics_of,
};
pub use store::{Store, StoreError};
pub use view::{Model, StageEvent, Version, View};
pub use watch::Watcher;

/// The registry used when none is given.
pub const DEFAULT_REGISTRY: &str = "./registry";

/// Open the store at `location`: a directory path (or `file://` URL), or, with the
/// `object-store` feature, an object storage URL (`s3://`, `gs://`, `az://`, …). With
/// `create`, a missing local registry is created.
pub fn open_store(location: &str, create: bool) -> Result<Box<dyn Store>, StoreError> {
    let (scheme, rest) = match location.split_once("://") {
        Some((s, r))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
        {
            (Some(s), r)
        }
        _ => (None, location),
    };
    match scheme {
        None | Some("file") => {
            let path = std::path::Path::new(rest);
            let store = if create {
                LocalStore::create(path)?
            } else {
                LocalStore::open(path)?
            };
            Ok(Box::new(store))
        }
        #[cfg(feature = "object-store")]
        Some(_) => Ok(Box::new(ObjectStoreBackend::from_url(location, create)?)),
        #[cfg(not(feature = "object-store"))]
        Some(other) => Err(StoreError::Unsupported(format!(
            "registry URL scheme {other:?} needs object storage support: rebuild modelseal with `--features object-store` (plus `s3`, `gcs` or `azure` for those clouds)"
        ))),
    }
}
