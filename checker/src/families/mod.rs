//! The checkers of each protocol family, fed by [`Observation`](crate::observe::Observation)s
//! through the [`Judge`](crate::judge::Judge).

pub mod commit;
pub mod consensus;
pub mod log;
pub mod store;
pub mod stream;
