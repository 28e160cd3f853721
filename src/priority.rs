//! CPU priority of background work. A gate decides scans on a small machine while the sync
//! engine applies feed pages and the checkpointer copies the WAL back; both are background
//! work and run at a lower priority (a higher nice value) so a decision is not kept waiting
//! for a CPU. Lowering a thread's own priority needs no privilege.

/// The nice value background database work runs at.
pub const BACKGROUND_NICE: i32 = 10;

/// `ioprio_set`/`ioprio_get` arguments (linux/ioprio.h): a thread's own I/O priority, and
/// where its class sits in the priority value.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;
const IOPRIO_CLASS_IDLE: libc::c_int = 3;

/// The calling thread's nice value (Linux: per thread).
fn current() -> Option<i32> {
    // SAFETY: `gettid` and `getpriority` only read the calling thread's own attributes.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, tid);
        (*libc::__errno_location() == 0).then_some(nice)
    }
}

fn set(nice: i32) -> bool {
    // SAFETY: changes only the calling thread's own scheduling priority.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice) == 0
    }
}

/// Lowers the calling thread to [`BACKGROUND_NICE`] for good (a thread that only does
/// background work).
pub fn lower_this_thread() {
    if !set(BACKGROUND_NICE) {
        tracing::debug!("cannot lower the background thread's priority");
    }
}

/// Puts the calling thread's disk reads and writes in the idle I/O class: the kernel's I/O
/// scheduler (mq-deadline, BFQ) serves them when no other request waits, so a gate's lookups
/// never queue behind a background read. Needs no privilege; a scheduler without classes
/// ignores it.
pub fn idle_io_this_thread() {
    // SAFETY: ioprio_set on `who = 0` (the calling thread) only changes its own I/O class.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot set the idle I/O class");
    }
}

/// The calling thread's I/O priority class (1 real-time, 2 best effort, 3 idle; 0 none set).
#[cfg(test)]
fn io_class() -> Option<i64> {
    // SAFETY: ioprio_get only reads the calling thread's own I/O priority.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    (rc >= 0).then_some(rc >> IOPRIO_CLASS_SHIFT)
}

/// Runs `f` at background priority on the calling thread and restores the thread's priority
/// afterwards (for work on a shared thread pool). Restoring a raised nice value needs
/// privilege, so a thread that cannot restore stays lowered and says so.
pub fn in_background<T>(f: impl FnOnce() -> T) -> T {
    let before = current();
    let lowered = before.is_some_and(|b| b < BACKGROUND_NICE) && set(BACKGROUND_NICE);
    let out = f();
    if lowered
        && let Some(before) = before
        && !set(before)
    {
        tracing::debug!("a pool thread stays at background priority");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_background_reader_takes_the_idle_io_class() {
        std::thread::spawn(|| {
            assert_ne!(
                io_class(),
                Some(3),
                "a new thread starts outside the idle class"
            );
            idle_io_this_thread();
            assert_eq!(io_class(), Some(3), "3 is the idle class");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn background_work_runs_lowered_and_the_thread_gets_its_priority_back() {
        std::thread::spawn(|| {
            let before = current().expect("readable");
            let during = in_background(|| current().expect("readable"));
            assert_eq!(during, BACKGROUND_NICE.max(before));
            let after = current().expect("readable");
            // Raising a nice value back needs CAP_SYS_NICE: as root (CI) it is restored.
            if unsafe { libc::geteuid() } == 0 {
                assert_eq!(after, before);
            }
        })
        .join()
        .unwrap();
    }
}
