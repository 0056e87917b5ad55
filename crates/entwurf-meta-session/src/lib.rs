//! The meta-session store: who the garden citizens are.
//!
//! Owns garden ids, the store directories ([`Dirs`]), meta records (v2 written byte-compatible
//! with the reference, v1 read and normalised), receiver and sender markers with the
//! owner-process start-key guard, and the backend capability table.
//!
//! ```
//! use entwurf_meta_session::{Backend, GardenId};
//! let gid = GardenId::parse("20260614T120000-57a4c2").unwrap();
//! assert_eq!(gid.as_str(), "20260614T120000-57a4c2");
//! assert!(GardenId::parse("../etc/passwd").is_err());
//! assert!(Backend::Pi.is_socket_liveness());
//! ```

mod backend;
mod gid;
mod record;

pub use backend::{
    Backend, Capability, UnknownBackend, WakeMode, ALL_BACKENDS, MARKER_BACKENDS,
};
pub use record::MetaRecord;
pub use gid::{is_valid_garden_id, GardenId, InvalidGardenId, GARDEN_ID_GRAMMAR};
