//! Benchmarks behind `portico bench NAME --json`. Each prints one JSON object whose fields name
//! the figures and their targets; `docs/BENCHMARKS.md` records results and the commands.

pub mod crash;
pub mod input;
pub mod match_data;
pub mod matching;
pub mod scan;
pub mod sync;
