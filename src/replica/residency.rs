//! Keeping the replica in memory.
//!
//! Every decision and every feed change reads a few pages of the database file at random. With
//! the file in the kernel's page cache those reads are copies; after a reboot (many venues
//! switch their kiosks off at night) each one waits for the disk, and the first 10,000-change
//! delta took 4–24 s instead of 0.6–0.8 s. A running device therefore reads its database file
//! at start-up, in order, at background priority ([`warm`]), and reads back whatever the kernel
//! has dropped of it since before each pull ([`warm_if_evicted`]), when the file fits in the
//! memory the device has to spare ([`plan`], [`Spare`]: the machine's `MemAvailable`, and the
//! room under the service's own memory limit, which counts the page cache of the files it
//! reads); what is already cached is skipped. The status report shows how much of the file is
//! in memory ([`resident`]).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads of this size warm the file; chunks already wholly cached are skipped. A multiple of
/// every page size Linux uses (4, 16 and 64 KiB).
const CHUNK: u64 = 1 << 20;

/// The kernel's page size, the unit `mincore` reports in (16 KiB on some ARM boards' kernels).
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    }
}

/// How much of a file is in the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Residency {
    pub file_bytes: u64,
    pub resident_bytes: u64,
}

impl Residency {
    pub fn percent(&self) -> f64 {
        if self.file_bytes == 0 {
            return 100.0;
        }
        (self.resident_bytes as f64 * 100.0 / self.file_bytes as f64).min(100.0)
    }
}

/// Whether the start-up read is worth doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmPlan {
    /// Read the file's uncached parts.
    Warm,
    /// At least 99 % of the file is already in memory.
    AlreadyResident,
    /// The file's uncached part is more than half of the memory to spare (the machine's, or the
    /// room under the service's memory limit): reading it would push out other pages (or its
    /// own first pages) and still leave the device waiting on the disk.
    TooLarge {
        file_bytes: u64,
        available_bytes: u64,
    },
    /// The memory to spare is unknown (no `/proc/meminfo`, no memory control group).
    Unknown,
}

/// Decides from the file's residency and the memory to spare ([`Spare::bytes`]); pure, so
/// the rule is tested as a table.
pub fn plan(r: Residency, spare: Option<u64>) -> WarmPlan {
    if r.resident_bytes.saturating_mul(100) >= r.file_bytes.saturating_mul(99) {
        return WarmPlan::AlreadyResident;
    }
    let Some(available) = spare else {
        return WarmPlan::Unknown;
    };
    // What is cached already counts as available: warming it costs nothing more.
    let missing = r.file_bytes - r.resident_bytes.min(r.file_bytes);
    if missing > available / 2 {
        return WarmPlan::TooLarge {
            file_bytes: r.file_bytes,
            available_bytes: available,
        };
    }
    WarmPlan::Warm
}

/// `MemAvailable` from the text of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemAvailable:")?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

/// This machine's available memory, when the kernel reports it.
pub fn system_mem_available() -> Option<u64> {
    mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// Memory limits at or above this are "no limit" (cgroup v1 writes one just under 2^63).
const NO_LIMIT: u64 = 1 << 60;

/// The memory control group's files for this process, from the text of `/proc/self/cgroup`:
/// `(limit file, usage file)` under `/sys/fs/cgroup`. A v1 `memory` hierarchy wins over the v2
/// unified one (on a hybrid system the v2 one carries no memory controller).
pub fn cgroup_memory_files(proc_self_cgroup: &str) -> Option<(String, String)> {
    let mut v2 = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            continue;
        }
        let path = path.trim_end_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some((
                format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),
                format!("/sys/fs/cgroup/memory{path}/memory.usage_in_bytes"),
            ));
        }
        if controllers.is_empty() {
            v2 = Some((
                format!("/sys/fs/cgroup{path}/memory.max"),
                format!("/sys/fs/cgroup{path}/memory.current"),
            ));
        }
    }
    v2
}

/// A memory limit's file text as bytes: `None` for no limit (`max`, or a v1 "unlimited").
pub fn memory_limit(text: &str) -> Option<u64> {
    let limit: u64 = text.trim().parse().ok()?;
    (limit < NO_LIMIT).then_some(limit)
}

/// The limit of the control group this process runs in (systemd's `MemoryMax=`), and its
/// usage. The limit counts the page cache of the files the group reads, the database's too.
pub fn cgroup_memory() -> Option<(u64, u64)> {
    let (limit, usage) = cgroup_memory_files(&std::fs::read_to_string("/proc/self/cgroup").ok()?)?;
    let limit = memory_limit(&std::fs::read_to_string(limit).ok()?)?;
    let usage = std::fs::read_to_string(usage).ok()?.trim().parse().ok()?;
    Some((limit, usage))
}

/// The memory the device has to spare for its database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Spare {
    /// The machine's `MemAvailable`.
    pub available_bytes: Option<u64>,
    /// The service's memory limit and what it uses now.
    pub limit_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
}

impl Spare {
    pub fn now() -> Self {
        let cgroup = cgroup_memory();
        Self {
            available_bytes: system_mem_available(),
            limit_bytes: cgroup.map(|c| c.0),
            used_bytes: cgroup.map(|c| c.1),
        }
    }

    /// The smaller of what the machine has available and the room left under the service's
    /// limit.
    pub fn bytes(&self) -> Option<u64> {
        let room = self
            .limit_bytes
            .map(|l| l.saturating_sub(self.used_bytes.unwrap_or(0)));
        match (self.available_bytes, room) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }
}

/// A read-only mapping of a whole file, for `mincore`.
struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `file` from `offset` (a multiple of the page size).
    fn of(file: &File, offset: u64, len: u64) -> std::io::Result<Option<Self>> {
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let offset = libc::off_t::try_from(offset).map_err(std::io::Error::other)?;
        // SAFETY: a fresh shared read-only mapping of an open file; it is only passed to
        // `mincore` (never dereferenced) and unmapped on drop.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Some(Self { addr, len }))
    }

    /// One byte per page: bit 0 set when the page is in memory.
    fn pages(&self) -> std::io::Result<Vec<u8>> {
        let mut vec = vec![0u8; self.len.div_ceil(page_size() as usize)];
        // SAFETY: `addr..addr+len` is this mapping and `vec` has one byte per page of it.
        if unsafe { libc::mincore(self.addr, self.len, vec.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(vec)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `of`.
        unsafe {
            libc::munmap(self.addr, self.len);
        }
    }
}

/// The file is mapped this much at a time, so a large database fits the address space of a
/// 32-bit device too.
const WINDOW: u64 = 64 << 20;

/// Which pages of `file` (of `len` bytes) are in memory.
fn cached_pages(file: &File, len: u64) -> std::io::Result<Vec<bool>> {
    let mut pages = Vec::with_capacity(len.div_ceil(page_size()) as usize);
    let mut offset = 0;
    while offset < len {
        let window = WINDOW.min(len - offset);
        if let Some(m) = Mapping::of(file, offset, window)? {
            pages.extend(m.pages()?.into_iter().map(|b| b & 1 == 1));
        }
        offset += window;
    }
    Ok(pages)
}

fn residency_of(pages: &[bool], file_bytes: u64) -> Residency {
    let resident = pages.iter().filter(|&&p| p).count() as u64 * page_size();
    Residency {
        file_bytes,
        resident_bytes: resident.min(file_bytes),
    }
}

/// How much of the file at `path` is in the page cache.
pub fn resident(path: &Path) -> std::io::Result<Residency> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(residency_of(&cached_pages(&file, len)?, len))
}

/// What [`warm`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warmed {
    pub before: Residency,
    pub after: Residency,
    pub read_bytes: u64,
    pub took: Duration,
}

/// Reads the parts of the file at `path` that are not in memory, in order, a chunk at a time.
/// The caller decides whether to ([`plan`]) and runs this on a background thread.
pub fn warm(path: &Path) -> std::io::Result<Warmed> {
    let started = Instant::now();
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let pages = cached_pages(&file, len)?;
    let before = residency_of(&pages, len);
    // SAFETY: advice only; the kernel may read ahead further on a sequential read.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
    let per_chunk = (CHUNK / page_size()).max(1) as usize;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut read_bytes = 0u64;
    for (i, chunk) in pages.chunks(per_chunk).enumerate() {
        if chunk.iter().all(|&p| p) {
            continue;
        }
        let offset = i as u64 * CHUNK;
        let want = CHUNK.min(len - offset) as usize;
        // A file that shrank meanwhile (a checkpoint truncating) just ends the read early.
        let n = read_fully_at(&file, &mut buf[..want], offset)?;
        read_bytes += n as u64;
        if n < want {
            break;
        }
    }
    let after = residency_of(&cached_pages(&file, len)?, len);
    Ok(Warmed {
        before,
        after,
        read_bytes,
        took: started.elapsed(),
    })
}

fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Drops the file's clean pages from the page cache, as a reboot would (benchmarks and tests:
/// the kernel keeps dirty pages, so the file is synced first).
pub fn evict(path: &Path) -> std::io::Result<()> {
    let file = File::open(path)?;
    file.sync_all()?;
    // SAFETY: advice only.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Reads back what the kernel has dropped of the database file, when the file fits in the
/// memory the device has to spare: the device's start-up read, and the read before each pull
/// (`occasion` names which in the log). A device that sat idle for a while finds part of its
/// replica evicted (reclaim takes the page cache of files nobody touched); a delta then waits
/// for the disk at every cold page it changes, 4–24 s for 10,000 changes from a cold file, 2.5 s
/// with a tenth of it evicted, where reading the missing chunks in order first takes a fraction
/// of a second. A file already in memory costs one `mincore` pass. Runs on the calling thread
/// (callers give it one of their own at background priority); returns what it read, if
/// anything.
pub fn warm_if_evicted(path: &Path, occasion: &'static str) -> Option<Warmed> {
    match resident(path) {
        Ok(r) => warm_from(path, r, occasion),
        Err(e) => {
            tracing::debug!(error = %e, occasion, "replica residency unknown; not warming");
            None
        }
    }
}

/// [`warm_if_evicted`] for a caller that has just measured the file's residency `r`.
pub fn warm_from(path: &Path, r: Residency, occasion: &'static str) -> Option<Warmed> {
    let spare = Spare::now();
    match plan(r, spare.bytes()) {
        WarmPlan::Warm => match warm(path) {
            Ok(w) => {
                tracing::info!(
                    occasion,
                    file_mb = w.after.file_bytes / 1_000_000,
                    read_mb = w.read_bytes / 1_000_000,
                    resident_before_pct = w.before.percent().round() as u64,
                    resident_pct = w.after.percent().round() as u64,
                    seconds = w.took.as_secs_f64(),
                    "replica read into memory"
                );
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, occasion, "reading the replica into memory failed");
                None
            }
        },
        WarmPlan::AlreadyResident => {
            tracing::debug!(
                occasion,
                resident_pct = r.percent().round() as u64,
                "replica already in memory"
            );
            None
        }
        WarmPlan::TooLarge {
            file_bytes,
            available_bytes,
        } => {
            tracing::warn!(
                occasion,
                file_mb = file_bytes / 1_000_000,
                spare_mb = available_bytes / 1_000_000,
                limit_mb = spare.limit_bytes.map(|l| l / 1_000_000),
                "the replica does not fit in the memory this device has to spare (the machine's, \
                 or the service's MemoryMax): lookups and syncs will wait for the disk"
            );
            None
        }
        WarmPlan::Unknown => {
            tracing::debug!(
                occasion,
                "available memory unknown; not warming the replica"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn res(file: u64, resident: u64) -> Residency {
        Residency {
            file_bytes: file,
            resident_bytes: resident,
        }
    }

    #[test]
    fn the_start_up_read_runs_only_when_the_file_fits_in_half_the_spare_memory() {
        let cases = [
            // (file, cached, MemAvailable) → plan
            (res(800 * MB, 0), Some(4_000 * MB), WarmPlan::Warm),
            (res(800 * MB, 0), Some(1_600 * MB), WarmPlan::Warm),
            (
                res(800 * MB, 0),
                Some(1_599 * MB),
                WarmPlan::TooLarge {
                    file_bytes: 800 * MB,
                    available_bytes: 1_599 * MB,
                },
            ),
            // What is cached already needs no more room.
            (res(800 * MB, 600 * MB), Some(400 * MB), WarmPlan::Warm),
            (res(800 * MB, 792 * MB), Some(MB), WarmPlan::AlreadyResident),
            (res(800 * MB, 791 * MB), None, WarmPlan::Unknown),
            (res(0, 0), None, WarmPlan::AlreadyResident),
        ];
        for (r, available, want) in cases {
            assert_eq!(plan(r, available), want, "{r:?} with {available:?}");
        }
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let meminfo = "MemTotal:       24563520 kB\nMemFree:        14000000 kB\n\
                       MemAvailable:   22000000 kB\nBuffers:           46244 kB\n";
        let cases = [
            (meminfo, Some(22_000_000 * 1024)),
            ("MemAvailable: 123", Some(123)),
            ("MemAvailable: 12 MB", None),
            ("MemAvailable: lots kB", None),
            ("MemAvailable: 99999999999999999999 kB", None),
            ("MemFree: 1 kB", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(mem_available(text), want, "{text:?}");
        }
    }

    #[test]
    fn the_memory_limit_is_found_in_either_cgroup_hierarchy() {
        let v1 = "9:name=systemd:/system.slice/portico.service\n\
                  4:memory:/system.slice/portico.service\n0::/system.slice/portico.service\n";
        let v2 = "0::/system.slice/portico.service\n";
        let cases = [
            (
                v1,
                Some((
                    "/sys/fs/cgroup/memory/system.slice/portico.service/memory.limit_in_bytes",
                    "/sys/fs/cgroup/memory/system.slice/portico.service/memory.usage_in_bytes",
                )),
            ),
            (
                v2,
                Some((
                    "/sys/fs/cgroup/system.slice/portico.service/memory.max",
                    "/sys/fs/cgroup/system.slice/portico.service/memory.current",
                )),
            ),
            (
                "0::/\n",
                Some(("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")),
            ),
            (
                "4:cpu,memory:/a/",
                Some((
                    "/sys/fs/cgroup/memory/a/memory.limit_in_bytes",
                    "/sys/fs/cgroup/memory/a/memory.usage_in_bytes",
                )),
            ),
            ("0::/../../etc\n", None),
            ("4:memory:relative\n", None),
            ("garbage", None),
            ("", None),
        ];
        for (text, want) in cases {
            let want = want.map(|(a, b): (&str, &str)| (a.to_owned(), b.to_owned()));
            assert_eq!(cgroup_memory_files(text), want, "{text:?}");
        }
        let limits = [
            ("268435456\n", Some(268_435_456)),
            ("max\n", None),
            ("9223372036854771712\n", None),
            ("", None),
            ("-1", None),
        ];
        for (text, want) in limits {
            assert_eq!(memory_limit(text), want, "{text:?}");
        }
    }

    #[test]
    fn the_spare_memory_is_the_smaller_of_the_machines_and_the_services() {
        let spare = |available, limit, used| Spare {
            available_bytes: available,
            limit_bytes: limit,
            used_bytes: used,
        };
        let cases = [
            (spare(Some(20_000 * MB), None, None), Some(20_000 * MB)),
            // systemd's MemoryMax=256M with 90 MB in use: the replica's cache must fit in 166 MB.
            (
                spare(Some(20_000 * MB), Some(256 * MB), Some(90 * MB)),
                Some(166 * MB),
            ),
            (
                spare(Some(100 * MB), Some(256 * MB), Some(90 * MB)),
                Some(100 * MB),
            ),
            (spare(None, Some(256 * MB), Some(300 * MB)), Some(0)),
            (spare(None, None, None), None),
        ];
        for (s, want) in cases {
            assert_eq!(s.bytes(), want, "{s:?}");
        }
        // An 803 MB replica under a 256 MB service limit is never read in.
        assert!(matches!(
            plan(res(803 * MB, 0), cases[1].0.bytes()),
            WarmPlan::TooLarge { .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_cgroup_text_reads_without_panicking(text in "\\PC{0,200}") {
            let _ = cgroup_memory_files(&text);
            let _ = memory_limit(&text);
        }

        #[test]
        fn any_meminfo_text_reads_without_panicking(text in "\\PC{0,200}") {
            let _ = mem_available(&text);
        }

        #[test]
        fn a_kib_figure_reads_as_bytes(n in 0u64..(u64::MAX / 1024), pad in 1usize..12) {
            let line = format!("MemTotal: 1 kB\nMemAvailable:{}{n} kB\n", " ".repeat(pad));
            proptest::prop_assert_eq!(mem_available(&line), Some(n * 1024));
        }
    }

    #[test]
    fn warming_reads_what_is_not_cached_and_leaves_the_file_resident() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replica.db");
        let data: Vec<u8> = (0..3 * CHUNK + 5_000).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        evict(&path).unwrap();
        let w = warm(&path).unwrap();
        assert_eq!(w.after.file_bytes, data.len() as u64);
        assert_eq!(w.after.resident_bytes, data.len() as u64, "{w:?}");
        assert!(w.read_bytes <= data.len() as u64);
        // Where the file system honours the eviction (not tmpfs), the read did the work.
        if w.before.resident_bytes == 0 {
            assert_eq!(w.read_bytes, data.len() as u64);
        }
        // A second call finds everything cached and reads nothing.
        let again = warm(&path).unwrap();
        assert_eq!(again.read_bytes, 0);
        assert_eq!(plan(again.after, Some(0)), WarmPlan::AlreadyResident);
        assert_eq!(std::fs::read(&path).unwrap(), data, "the file is only read");
    }

    #[test]
    fn a_file_larger_than_one_mapping_window_is_counted_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.db");
        let len = 2 * WINDOW + 3 * 4096 + 100;
        let f = File::create(&path).unwrap();
        f.set_len(len).unwrap();
        // Written pages at the start, in the second window and at the very end.
        for at in [0, WINDOW + 8192, len - 50] {
            f.write_all_at(&[7u8; 50], at).unwrap();
        }
        drop(f);
        let file = File::open(&path).unwrap();
        let pages = cached_pages(&file, len).unwrap();
        assert_eq!(pages.len() as u64, len.div_ceil(page_size()));
        let page = |at: u64| pages[(at / page_size()) as usize];
        assert!(
            page(0) && page(WINDOW + 8192) && page(len - 1),
            "written pages are cached"
        );
        // A hole never written is not in memory (sparse file, nothing read).
        assert!(!page(WINDOW / 2));
        let r = resident(&path).unwrap();
        assert_eq!(r.file_bytes, len);
        assert!(
            r.resident_bytes >= 3 * page_size() && r.resident_bytes < len / 2,
            "{r:?}"
        );
    }

    #[test]
    fn an_empty_or_missing_file_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(resident(&empty).unwrap(), res(0, 0));
        assert_eq!(warm(&empty).unwrap().read_bytes, 0);
        assert!(resident(&dir.path().join("missing.db")).is_err());
        assert!(warm(&dir.path().join("missing.db")).is_err());
    }
}
