//! Messages and disk records off the simulator: on a real network (`faultline
//! cluster`) and in a node's own files.
//!
//! The trace and the wire share one serde implementation. A field that the trace
//! abbreviates (a snapshot's whole store shown as a size, a fingerprint every holder
//! recomputes) asks [`carrying`] how to serialize itself: abbreviated while the trace
//! is written, whole while [`encode`] runs. So a protocol derives `Serialize` and
//! `Deserialize` once, and the trace stays byte for byte what it was.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Snapshot {
//!     index: u64,
//!     #[serde(default, skip_serializing_if = "faultline_sim::wire::tracing")]
//!     chain: u64,
//! }
//! let s = Snapshot { index: 3, chain: 99 };
//! assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"index":3}"#);
//! let bytes = faultline_sim::wire::encode(&s).unwrap();
//! assert_eq!(faultline_sim::wire::decode::<Snapshot>(&bytes).unwrap(), s);
//! ```

use std::cell::Cell;

use serde::Serialize;
use serde::de::DeserializeOwned;

thread_local! {
    static CARRYING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the value being serialized is going over the wire or to disk (whole),
/// rather than into the trace (abbreviated).
pub fn carrying() -> bool {
    CARRYING.with(Cell::get)
}

/// For `#[serde(skip_serializing_if = "faultline_sim::wire::tracing")]`: a field the
/// trace leaves out and the wire carries.
pub fn tracing<T>(_: &T) -> bool {
    !carrying()
}

/// Resets the flag even if serialization panics.
struct Carrying(bool);

impl Drop for Carrying {
    fn drop(&mut self) {
        CARRYING.with(|c| c.set(self.0));
    }
}

/// Serializes `value` whole, as JSON, for the wire or a disk file.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let _restore = Carrying(CARRYING.with(|c| c.replace(true)));
    serde_json::to_vec(value)
}

/// Reads back what [`encode`] wrote.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice(bytes)
}
