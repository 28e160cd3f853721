//! Benchmarks behind `portico bench NAME --json`. Each prints one JSON object whose fields name
//! the figures and their targets; `docs/BENCHMARKS.md` records results and the commands.

pub mod crash;
pub mod import;
pub mod input;
pub mod kiosk;
#[cfg(feature = "ui")]
pub mod kiosk_screens;
pub mod match_data;
pub mod match_quality;
pub mod matching;
pub mod scan;
pub mod sync;

/// Where a benchmark keeps its files: `dir` (created if need be) when given, otherwise a
/// temporary folder named for the benchmark, deleted when the returned guard is dropped.
pub(crate) fn work_dir(
    dir: Option<&std::path::Path>,
    name: &str,
) -> std::io::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Ok((d.to_owned(), None))
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix(&format!("portico-bench-{name}"))
                .tempdir()?;
            Ok((tmp.path().to_owned(), Some(tmp)))
        }
    }
}
