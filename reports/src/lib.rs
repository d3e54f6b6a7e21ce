//! faultline-reports: what a run looks like to a person. The run summary, as text for
//! the terminal and as `summary.json`; the message and operation timelines as SVG.
//! And the self-contained HTML viewer (`viewer.html`), and the consistent-hashing
//! charts, and a stream job's output chart.

pub mod hashing;
pub mod stream;
pub mod summary;
pub mod timeline;
pub mod trace;
pub mod viewer;

pub use summary::{Summary, summarize};
pub use timeline::{message_timeline, operation_timeline};
pub use trace::Window;
pub use trace::{Trace, TraceError};
pub use viewer::viewer_html;
