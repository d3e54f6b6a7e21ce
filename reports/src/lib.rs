//! faultline-reports: what a run looks like to a person. For now the run summary, as
//! text for the terminal and as `summary.json`; timelines and the HTML viewer follow.

pub mod summary;

pub use summary::{Summary, summarize};
