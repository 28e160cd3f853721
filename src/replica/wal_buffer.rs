//! A thin SQLite VFS over the platform's own that gathers WAL frames into large writes.
//!
//! SQLite writes each WAL frame with two `pwrite` calls (its 24-byte header, then the page), so
//! a commit of n pages costs 2n system calls. On a small machine that is a large share of a
//! commit: about a quarter of applying a 10,000-change delta (33,000 frames), and a third of a
//! gate scan's commit beside its `fdatasync`. This VFS keeps a WAL file's consecutive writes in
//! a buffer and hands them to the real file as one write when anything else happens to the
//! file: a sync, a read that reaches the buffered run, a size or lock query, a shared-memory
//! operation (SQLite publishes new frames to other connections only through those), or when
//! the buffer reaches [`FLUSH_AT`]. Reads of earlier frames (pages a large transaction spilled
//! and needs again) and rewrites of earlier frames (a spilled page changed again, the commit's
//! checksum pass) go past the run to the file: the run keeps growing instead of being written
//! out a frame or two at a time between them. Everything else — the database file, journals,
//! every other method — goes straight to the platform VFS.
//!
//! Durability is unchanged: SQLite syncs the WAL before a commit is visible or acknowledged,
//! and the buffer is written out before that sync. Crash behaviour is unchanged too: bytes not
//! yet synced were never promised to survive, whether they sat in this buffer or in the page
//! cache.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's registered name.
pub const NAME: &CStr = c"portico-wal";

/// Buffered bytes written out at once.
pub const FLUSH_AT: usize = 1 << 20;
/// The largest single write handed to the platform VFS: SQLite's unix VFS takes a write's
/// length modulo 128 KiB (`nBuf &= 0x1ffff`), so longer writes go in pieces below that.
const WRITE_CHUNK: usize = 120 * 1024;

/// Registers the VFS (once per process). Returns whether it is available; when not, callers
/// use SQLite's default VFS.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find(NULL)` returns the default VFS (initialising SQLite first);
        // the struct registered is leaked, so it outlives every connection as SQLite requires.
        unsafe {
            let real = ffi::sqlite3_vfs_find(ptr::null());
            if real.is_null() {
                return false;
            }
            let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
                iVersion: 2,
                szOsFile: std::mem::size_of::<File>() as c_int,
                mxPathname: (*real).mxPathname,
                pNext: ptr::null_mut(),
                zName: NAME.as_ptr(),
                pAppData: real.cast(),
                xOpen: Some(x_open),
                xDelete: Some(x_delete),
                xAccess: Some(x_access),
                xFullPathname: Some(x_full_pathname),
                xDlOpen: Some(x_dl_open),
                xDlError: Some(x_dl_error),
                // The platform's own: its signature does not name the VFS it is called on.
                xDlSym: (*real).xDlSym,
                xDlClose: Some(x_dl_close),
                xRandomness: Some(x_randomness),
                xSleep: Some(x_sleep),
                xCurrentTime: Some(x_current_time),
                xGetLastError: Some(x_get_last_error),
                xCurrentTimeInt64: Some(x_current_time_int64),
                xSetSystemCall: None,
                xGetSystemCall: None,
                xNextSystemCall: None,
            }));
            ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK
        }
    })
}

/// An open file: SQLite's header, the platform VFS's file, and for a WAL file the bytes not
/// yet written.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    wal: bool,
    pending: Vec<u8>,
    pending_at: i64,
    /// A failed write-out in a method that cannot report it, reported by the next that can.
    deferred: c_int,
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    unsafe { (*vfs).pAppData.cast() }
}

unsafe fn methods(f: *mut File) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: `real` was opened successfully, so its method table is set and static.
    unsafe { &*(*(*f).real).pMethods }
}

/// Writes out the buffered bytes. Returns SQLite's result code.
unsafe fn flush(f: *mut File) -> c_int {
    unsafe {
        let file = &mut *f;
        if file.deferred != ffi::SQLITE_OK {
            let rc = file.deferred;
            file.deferred = ffi::SQLITE_OK;
            file.pending.clear();
            return rc;
        }
        if file.pending.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = methods(f).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut at = file.pending_at;
        for chunk in file.pending.chunks(WRITE_CHUNK) {
            // A chunk is at most WRITE_CHUNK bytes, which fits a C int.
            rc = write(file.real, chunk.as_ptr().cast(), chunk.len() as c_int, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += chunk.len() as i64;
        }
        file.pending.clear();
        rc
    }
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let real_vfs = real_vfs(vfs);
        let f = file.cast::<File>();
        (*file).pMethods = ptr::null();
        let size = (*real_vfs).szOsFile;
        let real = ffi::sqlite3_malloc(size).cast::<ffi::sqlite3_file>();
        if real.is_null() {
            return ffi::SQLITE_NOMEM;
        }
        ptr::write_bytes(real.cast::<u8>(), 0, usize::try_from(size).unwrap_or(0));
        let Some(open) = (*real_vfs).xOpen else {
            ffi::sqlite3_free(real.cast());
            return ffi::SQLITE_CANTOPEN;
        };
        let rc = open(real_vfs, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
            if !(*real).pMethods.is_null()
                && let Some(close) = (*(*real).pMethods).xClose
            {
                close(real);
            }
            ffi::sqlite3_free(real.cast());
            return if rc == ffi::SQLITE_OK {
                ffi::SQLITE_CANTOPEN
            } else {
                rc
            };
        }
        ptr::write(
            f,
            File {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real,
                wal: flags & ffi::SQLITE_OPEN_WAL != 0,
                pending: Vec::new(),
                pending_at: 0,
                deferred: ffi::SQLITE_OK,
            },
        );
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let f = file.cast::<File>();
        let flushed = flush(f);
        let closed = match methods(f).xClose {
            Some(close) => close((*f).real),
            None => ffi::SQLITE_OK,
        };
        ffi::sqlite3_free((*f).real.cast());
        ptr::drop_in_place(f);
        (*file).pMethods = ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let f = file.cast::<File>();
        let file = &mut *f;
        // Not a WAL, or an earlier frame rewritten in place (a spilled page changed again, or
        // the commit's checksum pass) that lies before the buffered run: straight to the file,
        // and the run keeps growing. (A frame inside the run is always read first, which
        // writes the run out.)
        let end = offset.saturating_add(i64::from(amount));
        if !file.wal || (!file.pending.is_empty() && end <= file.pending_at) {
            return match methods(f).xWrite {
                Some(write) => write((*f).real, buf, amount, offset),
                None => ffi::SQLITE_IOERR_WRITE,
            };
        }
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let pending_end = file.pending_at + file.pending.len() as i64;
        if !file.pending.is_empty() && offset != pending_end {
            let rc = flush(f);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let file = &mut *f;
        if file.pending.is_empty() {
            file.pending_at = offset;
        }
        file.pending
            .extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), len));
        if file.pending.len() >= FLUSH_AT {
            return flush(f);
        }
        ffi::SQLITE_OK
    }
}

/// Reads a file. A read that ends before the buffered run (a page spilled earlier in the
/// transaction, a frame of the commit's checksum pass) goes straight to the file; one that
/// reaches the run writes it out first.
unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let f = file.cast::<File>();
        let file = &*f;
        let clear_of_run =
            file.pending.is_empty() || offset.saturating_add(i64::from(amount)) <= file.pending_at;
        if !clear_of_run || file.deferred != ffi::SQLITE_OK {
            let rc = flush(f);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        match methods(f).xRead {
            Some(read) => read((*f).real, buf, amount, offset),
            None => ffi::SQLITE_IOERR_READ,
        }
    }
}

/// Methods that write out the buffer first, then do what the platform VFS does.
macro_rules! flushing {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            unsafe {
                let f = file.cast::<File>();
                let rc = flush(f);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match methods(f).$method {
                    Some(m) => m((*f).real $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

flushing!(x_truncate, xTruncate, (size: ffi::sqlite3_int64), ffi::SQLITE_IOERR_TRUNCATE);
flushing!(x_sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
flushing!(x_file_size, xFileSize, (size: *mut ffi::sqlite3_int64), ffi::SQLITE_IOERR_FSTAT);
flushing!(x_lock, xLock, (level: c_int), ffi::SQLITE_IOERR_LOCK);
flushing!(x_unlock, xUnlock, (level: c_int), ffi::SQLITE_IOERR_UNLOCK);
flushing!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
flushing!(x_file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
flushing!(x_shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
flushing!(x_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
flushing!(x_shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
flushing!(x_fetch, xFetch, (offset: ffi::sqlite3_int64, amount: c_int, out: *mut *mut c_void), {
    *out = ptr::null_mut();
    ffi::SQLITE_OK
});
flushing!(x_unfetch, xUnfetch, (offset: ffi::sqlite3_int64, p: *mut c_void), ffi::SQLITE_OK);

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let f = file.cast::<File>();
        methods(f).xSectorSize.map_or(4096, |m| m((*f).real))
    }
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let f = file.cast::<File>();
        methods(f)
            .xDeviceCharacteristics
            .map_or(0, |m| m((*f).real))
    }
}

/// The barrier that publishes new frames to other connections: the frames go out first. It
/// cannot report an error; a failed write-out is returned by the file's next method.
unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe {
        let f = file.cast::<File>();
        let rc = flush(f);
        if rc != ffi::SQLITE_OK {
            (*f).deferred = rc;
        }
        if let Some(m) = methods(f).xShmBarrier {
            m((*f).real);
        }
    }
}

// The VFS's own methods go to the platform VFS, called as itself.

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync: c_int,
) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real)
            .xDelete
            .map_or(ffi::SQLITE_IOERR_DELETE, |m| m(real, name, sync))
    }
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real)
            .xAccess
            .map_or(ffi::SQLITE_IOERR_ACCESS, |m| m(real, name, flags, out))
    }
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real)
            .xFullPathname
            .map_or(ffi::SQLITE_CANTOPEN, |m| m(real, name, n, out))
    }
}

unsafe extern "C" fn x_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    unsafe {
        let real = real_vfs(vfs);
        (*real).xDlOpen.map_or(ptr::null_mut(), |m| m(real, name))
    }
}

unsafe extern "C" fn x_dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    unsafe {
        let real = real_vfs(vfs);
        if let Some(m) = (*real).xDlError {
            m(real, n, out);
        }
    }
}

unsafe extern "C" fn x_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    unsafe {
        let real = real_vfs(vfs);
        if let Some(m) = (*real).xDlClose {
            m(real, handle);
        }
    }
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real).xRandomness.map_or(0, |m| m(real, n, out))
    }
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real).xSleep.map_or(0, |m| m(real, micros))
    }
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real)
            .xCurrentTime
            .map_or(ffi::SQLITE_ERROR, |m| m(real, out))
    }
}

unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real).xGetLastError.map_or(0, |m| m(real, n, out))
    }
}

unsafe extern "C" fn x_current_time_int64(
    vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let real = real_vfs(vfs);
        (*real)
            .xCurrentTimeInt64
            .map_or(ffi::SQLITE_ERROR, |m| m(real, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    fn open(path: &std::path::Path) -> Connection {
        assert!(register());
        let conn = Connection::open_with_flags_and_vfs(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            NAME,
        )
        .unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn
    }

    #[test]
    fn commits_through_the_buffer_are_seen_by_other_connections_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open(&path);
        let reader = open(&path);
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        for round in 0..20i64 {
            // Large transactions pass the write-out threshold; small ones stay under it.
            let rows = if round % 2 == 0 { 600 } else { 3 };
            writer.execute_batch("BEGIN").unwrap();
            for i in 0..rows {
                writer
                    .execute(
                        "INSERT INTO t (v) VALUES (zeroblob(3000) || ?1)",
                        [round * 10_000 + i],
                    )
                    .unwrap();
            }
            writer.execute_batch("COMMIT").unwrap();
            let seen: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            let written: i64 = writer
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(seen, written, "round {round}");
        }
        let ok: String = reader
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        drop((writer, reader));
        // The frames left in the WAL (no checkpoint ran) are read back on reopen.
        let again = open(&path);
        let n: i64 = again
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 10 * 600 + 10 * 3);
    }

    /// A transaction larger than its cache spills pages to the WAL, changes some of them
    /// again (rewritten in place, in the buffer or in the file) and reads others back; the
    /// commit then re-checksums the frames. A copy of the files taken before any checkpoint
    /// is recovered from the WAL alone, which SQLite accepts only frame by frame while the
    /// checksums chain: every row must be there.
    #[test]
    fn a_spilling_transaction_recovers_from_its_wal_with_every_frame_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path);
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.pragma_update(None, "cache_size", 40).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);
             CREATE INDEX t_v ON t(v);",
        )
        .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for k in 0..3_000i64 {
            conn.execute("INSERT INTO t (k, v) VALUES (?1, randomblob(200))", [k])
                .unwrap();
        }
        // Revisit rows spread over the table so that spilled pages change again.
        for round in 0..4i64 {
            for k in (round..3_000).step_by(7) {
                conn.execute("UPDATE t SET v = randomblob(180) WHERE k = ?1", [k])
                    .unwrap();
            }
        }
        conn.execute_batch("COMMIT").unwrap();
        let expected: (i64, i64) = conn
            .query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let wal =
            std::fs::copy(dir.path().join("t.db-wal"), dir.path().join("copy.db-wal")).unwrap();
        assert!(
            wal > 100 * 4096,
            "the transaction lives in the WAL ({wal} bytes)"
        );
        let recovered = open(&copy);
        let got: (i64, i64) = recovered
            .query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(got, expected);
        let ok: String = recovered
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn a_rolled_back_transaction_that_spilled_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path);
        conn.pragma_update(None, "cache_size", 10).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (1);")
            .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for _ in 0..500 {
            conn.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        // Past the tiny cache the transaction spilled frames to the WAL and read them back.
        let mid: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mid, 501);
        conn.execute_batch("ROLLBACK").unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}
