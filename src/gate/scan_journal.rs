//! The gate's scan journal: where a decided scan becomes durable.
//!
//! A scan and its outbox row are one record, written into a file of fixed size that was
//! allocated and zero-filled when it was made, with one synchronous write (`O_DSYNC`, and
//! `O_DIRECT` where the file system allows it, so the write goes from the record's buffer to
//! the disk without the page cache) before the station takes the next scan. That is the disk's
//! own smallest durable write, an overwrite of an allocated block: no b-tree, no index, no file
//! growth, no lock shared with the sync engine. The scan writer then commits the same write into the scan log
//! and the outbox (SQLite, one transaction, many scans at a time) and records, in that
//! transaction, the journal sequence number it has applied through.
//!
//! When the station opens, every record newer than that number is committed before the first
//! scan is decided, so a crash between the journal and the scan log loses nothing, and a
//! record is never applied twice.
//!
//! The file is a ring. Each record starts on a 4 KiB boundary (a torn write can only damage the
//! record being written, which was not yet acknowledged; and every disk's direct-I/O alignment
//! divides it) and is overwritten only once the scan log holds it:
//!
//! ```text
//! 0   magic "PSJ1" (format version 1)
//! 4   payload length, u32 LE
//! 8   sequence number, u64 LE
//! 16  CRC-32 of bytes 4..16 and the payload, u32 LE
//! 20  payload (JSON)
//!     zeros to the next 4 KiB boundary
//! ```
//!
//! Reading takes every record whose checksum holds; a stale record (already applied, partly
//! overwritten or not) is either rejected by its checksum or filtered out by its sequence
//! number.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The journal file's size: room for 4,096 scans not yet in the scan log (a gate at 3,000
/// scans a second waiting more than a second for the write lock).
pub const JOURNAL_BYTES: u64 = 16 * 1024 * 1024;
/// Records start on 4 KiB boundaries and take whole blocks of 4 KiB.
const ALIGN: u64 = 4096;
const MAGIC: &[u8; 4] = b"PSJ1";
const HEADER: usize = 20;
/// The largest payload a record may carry.
pub const MAX_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("scan journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scan journal {path} is in use by another station of this gate")]
    InUse { path: String },
    #[error("a scan journal record of {bytes} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLarge { bytes: usize },
    #[error("the scan journal is full: the scan log has not taken its records yet")]
    Full,
}

/// A record read back from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
    /// Where it starts and ends in the file (the end rounded up to a sector).
    start: u64,
    end: u64,
}

/// See the module documentation.
pub struct ScanJournal {
    /// Holds the lock; reads and the zero-fill go through it.
    file: File,
    /// Appends: `O_DSYNC`, with `O_DIRECT` where the file system takes it.
    sync_file: Option<File>,
    /// Whether `sync_file` bypasses the page cache.
    direct: bool,
    /// A record's bytes, at a 4 KiB-aligned place for direct I/O.
    buf: AlignedBuf,
    path: PathBuf,
    /// Where the next record goes.
    pos: u64,
    /// Records not yet known to be in the scan log, oldest first: (start, end, seq).
    live: VecDeque<(u64, u64, u64)>,
    /// The file has the journal's size and holds no record the scan log lacks.
    ready: bool,
}

impl std::fmt::Debug for ScanJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanJournal")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .field("live", &self.live.len())
            .finish()
    }
}

impl ScanJournal {
    /// Opens (or creates) the journal at `path`, locked for this process, and reads the
    /// records it holds, in sequence order. Nothing is written until [`ScanJournal::prepare`].
    pub fn open(path: &Path) -> Result<(Self, Vec<Record>), JournalError> {
        let io = |source| io_error(path, source);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::InUse {
                    path: path.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let len = file.metadata().map_err(io)?.len();
        let mut bytes = vec![0u8; usize::try_from(len.min(JOURNAL_BYTES * 2)).unwrap_or(0)];
        file.read_exact_at(&mut bytes, 0).map_err(io)?;
        let mut records = parse(&bytes);
        records.sort_by_key(|r| r.seq);
        records.dedup_by_key(|r| r.seq);
        let journal = Self {
            file,
            sync_file: None,
            direct: false,
            buf: AlignedBuf::new(HEADER + MAX_PAYLOAD),
            path: path.to_owned(),
            pos: 0,
            live: VecDeque::new(),
            ready: len == JOURNAL_BYTES,
        };
        Ok((journal, records))
    }

    /// Makes the journal ready for new records, once every record [`ScanJournal::open`]
    /// returned is in the scan log: a file of the wrong size (new, or from an older build) is
    /// zero-filled to [`JOURNAL_BYTES`] and synced; the next record goes after the newest.
    pub fn prepare(&mut self, records: &[Record]) -> Result<(), JournalError> {
        let io = |source| io_error(&self.path, source);
        if !self.ready {
            self.file.set_len(0).map_err(io)?;
            let zeros = vec![0u8; 1024 * 1024];
            let mut at = 0;
            while at < JOURNAL_BYTES {
                self.file.write_all_at(&zeros, at).map_err(io)?;
                at += zeros.len() as u64;
            }
            self.file.sync_all().map_err(io)?;
            if let Some(dir) = self.path.parent()
                && let Ok(dir) = File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            {
                dir.sync_all().map_err(io)?;
            }
            self.ready = true;
            self.pos = 0;
        } else {
            self.pos = records.last().map_or(0, |r| r.end % JOURNAL_BYTES);
        }
        self.live.clear();
        let (sync_file, direct) = open_for_appends(&self.path).map_err(io)?;
        self.sync_file = Some(sync_file);
        self.direct = direct;
        Ok(())
    }

    /// Whether appends bypass the page cache (`O_DIRECT`); otherwise they are `O_DSYNC`
    /// writes through it.
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// Writes one record and syncs it. `applied` is the newest sequence number the scan log
    /// holds: records up to it may be overwritten. [`JournalError::Full`] when the space the
    /// record needs still holds records the scan log lacks.
    pub fn append(&mut self, seq: u64, payload: &[u8], applied: u64) -> Result<(), JournalError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(JournalError::TooLarge {
                bytes: payload.len(),
            });
        }
        // Only a prepared journal has its append handle.
        let Some(sync_file) = &self.sync_file else {
            return Err(JournalError::Full);
        };
        while self.live.front().is_some_and(|&(_, _, s)| s <= applied) {
            self.live.pop_front();
        }
        let len = encode_into(seq, payload, &mut self.buf) as u64;
        let start = if self.pos + len > JOURNAL_BYTES {
            0
        } else {
            self.pos
        };
        let end = start + len;
        if self.live.iter().any(|&(s, e, _)| s < end && start < e) {
            return Err(JournalError::Full);
        }
        let io = |source| io_error(&self.path, source);
        match sync_file.write_all_at(self.buf.slice(len as usize), start) {
            Ok(()) => {}
            // A file system that took O_DIRECT at open but refuses this write: go on without.
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::warn!(path = %self.path.display(), "direct writes refused; the scan journal writes through the page cache");
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_DSYNC)
                    .open(&self.path)
                    .map_err(io)?;
                f.write_all_at(self.buf.slice(len as usize), start)
                    .map_err(io)?;
                self.sync_file = Some(f);
                self.direct = false;
            }
            Err(e) => return Err(io(e)),
        }
        self.live.push_back((start, end, seq));
        self.pos = end % JOURNAL_BYTES;
        Ok(())
    }

    /// Records written and not yet known to be in the scan log.
    pub fn unapplied(&self) -> usize {
        self.live.len()
    }
}

fn io_error(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The journal's append handle: `O_DSYNC | O_DIRECT`, or `O_DSYNC` alone where the file system
/// refuses direct I/O (tmpfs before Linux 6.6, for one).
fn open_for_appends(path: &Path) -> std::io::Result<(File, bool)> {
    let open = |flags| {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(flags)
            .open(path)
    };
    match open(libc::O_DSYNC | libc::O_DIRECT) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => open(libc::O_DSYNC).map(|f| (f, false)),
        Err(e) => Err(e),
    }
}

/// A buffer whose usable part starts on a 4 KiB boundary (direct I/O needs the memory aligned
/// too), in safe code: a larger `Vec` that never reallocates, used from an aligned offset.
struct AlignedBuf {
    bytes: Vec<u8>,
    offset: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let align = ALIGN as usize;
        let bytes = vec![0u8; len.next_multiple_of(align) + align];
        let offset = bytes.as_ptr().align_offset(align);
        Self { bytes, offset }
    }

    fn capacity(&self) -> usize {
        self.bytes.len() - ALIGN as usize
    }

    fn slice(&self, len: usize) -> &[u8] {
        &self.bytes[self.offset..self.offset + len]
    }

    fn slice_mut(&mut self, len: usize) -> &mut [u8] {
        &mut self.bytes[self.offset..self.offset + len]
    }
}

/// Writes the record for `seq` into `buf`; returns its length (a multiple of 4 KiB).
fn encode_into(seq: u64, payload: &[u8], buf: &mut AlignedBuf) -> usize {
    let len = (HEADER + payload.len()).next_multiple_of(ALIGN as usize);
    debug_assert!(len <= buf.capacity());
    let out = buf.slice_mut(len);
    out.fill(0);
    out[0..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    out[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    let crc = checksum(&out[4..16], payload);
    out[16..20].copy_from_slice(&crc.to_le_bytes());
    len
}

/// A record as written, in a `Vec` of its own.
#[cfg(test)]
fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = AlignedBuf::new(HEADER + payload.len());
    let len = encode_into(seq, payload, &mut buf);
    buf.slice(len).to_vec()
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

/// Every intact record in `bytes`, in file order. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let sector = ALIGN as usize;
    while at + HEADER <= bytes.len() {
        match record_at(bytes, at) {
            Some(r) => {
                at = r.end as usize;
                out.push(r);
            }
            None => at += sector,
        }
    }
    out
}

fn record_at(bytes: &[u8], at: usize) -> Option<Record> {
    let head = bytes.get(at..at + HEADER)?;
    if &head[0..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
    if len > MAX_PAYLOAD {
        return None;
    }
    let seq = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let crc = u32::from_le_bytes(head[16..20].try_into().ok()?);
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    if checksum(&head[4..16], payload) != crc {
        return None;
    }
    let end = (at + HEADER + len).next_multiple_of(ALIGN as usize);
    Some(Record {
        seq,
        payload: payload.to_vec(),
        start: at as u64,
        end: end as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(path: &Path) -> (ScanJournal, Vec<Record>) {
        let (mut j, records) = ScanJournal::open(path).unwrap();
        j.prepare(&records).unwrap();
        (j, records)
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn records_written_are_read_back_in_order_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, first) = opened(&path);
        assert!(first.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), JOURNAL_BYTES);
        for seq in 1..=3 {
            j.append(seq, format!("scan {seq}").as_bytes(), 0).unwrap();
        }
        drop(j);
        let (_, records) = ScanJournal::open(&path).unwrap();
        assert_eq!(seqs(&records), [1, 2, 3]);
        assert_eq!(records[1].payload, b"scan 2");
    }

    #[test]
    fn a_second_opener_of_the_same_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let _held = opened(&path);
        let again = ScanJournal::open(&path).unwrap_err();
        assert!(matches!(again, JournalError::InUse { .. }), "{again}");
    }

    #[test]
    fn a_torn_or_corrupted_record_is_skipped_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = opened(&path);
        for seq in 1..=3 {
            j.append(seq, &vec![b'x'; 700], 0).unwrap();
        }
        drop(j);
        // Record 2 starts at 4 KiB (each record takes one block): flip a payload byte, as a
        // write torn by a power cut would leave it.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(b"y", 4096 + 300).unwrap();
        let (_, records) = ScanJournal::open(&path).unwrap();
        assert_eq!(seqs(&records), [1, 3]);
    }

    #[test]
    fn the_ring_wraps_over_applied_records_and_never_over_unapplied_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = opened(&path);
        // Records of 64 KiB (17 blocks with the header): 240 fit in the file.
        let big = vec![7u8; MAX_PAYLOAD];
        let fit = JOURNAL_BYTES / encode(0, &big).len() as u64;
        for seq in 1..=fit {
            j.append(seq, &big, 0).unwrap();
        }
        // Nothing applied yet: no room.
        assert!(matches!(
            j.append(fit + 1, &big, 0),
            Err(JournalError::Full)
        ));
        // The scan log took the first two: the next record wraps over the first.
        j.append(fit + 1, &big, 2).unwrap();
        assert_eq!(j.unapplied() as u64, fit - 1);
        drop(j);
        let (_, records) = ScanJournal::open(&path).unwrap();
        // Record 1 was overwritten; 2 is stale but intact (the scan log filters it by number).
        assert_eq!(records.first().map(|r| r.seq), Some(2));
        assert_eq!(records.last().map(|r| r.seq), Some(fit + 1));
        assert_eq!(records.len() as u64, fit);
    }

    #[test]
    fn after_a_reopen_new_records_follow_the_newest_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = opened(&path);
        j.append(1, b"one", 0).unwrap();
        j.append(2, b"two", 0).unwrap();
        drop(j);
        let (mut j, records) = opened(&path);
        assert_eq!(seqs(&records), [1, 2]);
        j.append(3, b"three", 2).unwrap();
        drop(j);
        let (_, records) = ScanJournal::open(&path).unwrap();
        assert_eq!(seqs(&records), [1, 2, 3]);
    }

    #[test]
    fn a_journal_of_the_wrong_size_is_read_then_made_anew() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        // A short file holding one record (a journal cut short).
        std::fs::write(&path, encode(9, b"nine")).unwrap();
        let (mut j, records) = ScanJournal::open(&path).unwrap();
        assert_eq!(seqs(&records), [9]);
        j.prepare(&records).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), JOURNAL_BYTES);
        drop(j);
        assert!(ScanJournal::open(&path).unwrap().1.is_empty());
    }

    #[test]
    fn a_file_system_without_direct_io_still_gets_synchronous_records() {
        // tmpfs (/dev/shm) refuses O_DIRECT on older kernels; the journal then writes
        // O_DSYNC through the page cache. Either way the records read back.
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let path = dir.path().join("journal");
        let (mut j, _) = opened(&path);
        j.append(1, b"one", 0).unwrap();
        j.append(2, b"two", 0).unwrap();
        drop(j);
        let (_, records) = ScanJournal::open(&path).unwrap();
        assert_eq!(seqs(&records), [1, 2]);
    }

    #[test]
    fn an_oversized_payload_is_refused_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = opened(&dir.path().join("journal"));
        let err = j.append(1, &vec![0u8; MAX_PAYLOAD + 1], 0).unwrap_err();
        assert!(matches!(err, JournalError::TooLarge { .. }), "{err}");
        assert_eq!(j.unapplied(), 0);
    }

    #[test]
    fn parsing_noise_finds_nothing_and_does_not_panic() {
        let cases: [&[u8]; 5] = [
            b"",
            b"PSJ1",
            b"PSJ1\xff\xff\xff\xff\0\0\0\0\0\0\0\0\0\0\0\0",
            &[0u8; 4096],
            b"PSJ1\x04\0\0\0\x01\0\0\0\0\0\0\0\0\0\0\0abcd",
        ];
        for bytes in cases {
            assert!(parse(bytes).is_empty(), "{bytes:?}");
        }
    }
}
