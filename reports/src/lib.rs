//! faultline-reports: what a run looks like to a person. The run summary, as text for
//! the terminal and as `summary.json`; the message and operation timelines as SVG.
//! The HTML viewer follows.

pub mod summary;
pub mod timeline;

pub use summary::{Summary, summarize};
pub use timeline::{Window, message_timeline, operation_timeline};
