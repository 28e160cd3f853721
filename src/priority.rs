//! CPU priority of background work. A gate decides scans on a small machine while the sync
//! engine applies feed pages and the checkpointer copies the WAL back; both are background
//! work and run at a lower priority (a higher nice value) so a decision is not kept waiting
//! for a CPU. Lowering a thread's own priority needs no privilege.

/// The nice value background database work runs at.
pub const BACKGROUND_NICE: i32 = 10;

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
