//! Telling systemd the daemon is ready and alive (`Type=notify`, `WatchdogSec=`).
//!
//! Each loop that must not hang — the gate's station, the kiosk's session, the screen's event
//! loop — [`beat`]s under its name. A part that will beat is [`expect`]ed first (the screen,
//! when its window is asked for), so READY=1 waits for it: the daemon is ready once the replica
//! is open ([`watch`] runs after it is) and every expected part has beaten once (the screen has
//! drawn). Then the watchdog is pinged only while every part has beaten within half the
//! watchdog's time: a hung station or screen stops the pings, and systemd restarts the
//! daemon. Outside systemd (no `$NOTIFY_SOCKET`) nothing is sent.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each part's last beat (`None`: expected, not beaten yet).
static BEATS: Mutex<BTreeMap<&'static str, Option<Instant>>> = Mutex::new(BTreeMap::new());

fn beats() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, Option<Instant>>> {
    BEATS.lock().unwrap_or_else(|p| p.into_inner())
}

/// `part` will beat: readiness waits for its first beat.
pub fn expect(part: &'static str) {
    beats().entry(part).or_insert(None);
}

/// `part` is alive now.
pub fn beat(part: &'static str) {
    beats().insert(part, Some(Instant::now()));
}

/// `part` stopped on purpose (the watchdog no longer waits for it).
pub fn forget(part: &'static str) {
    beats().remove(part);
}

/// What the parts' beats say at `now`, for a watchdog of `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulse {
    /// Every part has beaten within the limit.
    Alive,
    /// These parts have not beaten yet.
    Starting(Vec<&'static str>),
    /// These parts have not beaten for longer than the limit.
    Hung(Vec<&'static str>),
}

/// Judges the beats so far.
pub fn pulse(now: Instant, limit: Duration) -> Pulse {
    judge(&beats(), now, limit)
}

fn judge(beats: &BTreeMap<&'static str, Option<Instant>>, now: Instant, limit: Duration) -> Pulse {
    let hung: Vec<_> = beats
        .iter()
        .filter(|(_, t)| t.is_some_and(|t| now.saturating_duration_since(t) > limit))
        .map(|(p, _)| *p)
        .collect();
    if !hung.is_empty() {
        return Pulse::Hung(hung);
    }
    let starting: Vec<_> = beats
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(p, _)| *p)
        .collect();
    if starting.is_empty() {
        Pulse::Alive
    } else {
        Pulse::Starting(starting)
    }
}

/// Tells systemd READY=1 once every expected part has beaten, then pings its watchdog while
/// they keep beating; returns when `shutdown` turns true (after STOPPING=1).
pub async fn watch(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut usec = 0;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec)
        .then(|| Duration::from_micros(usec))
        .filter(|d| !d.is_zero());
    // Beats older than half the watchdog's time stop the pings (systemd's advice: ping at
    // least twice per period).
    let limit = watchdog.map_or(Duration::from_secs(10), |w| w / 2);
    let every = (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
    let mut ready = false;
    let mut told_hung = false;
    loop {
        match pulse(Instant::now(), limit) {
            Pulse::Alive => {
                if !ready {
                    ready = true;
                    tracing::info!("ready");
                    notify(&[sd_notify::NotifyState::Ready]);
                }
                if told_hung {
                    told_hung = false;
                    tracing::info!("every part beats again");
                }
                if watchdog.is_some() {
                    notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
            Pulse::Starting(parts) => {
                tracing::debug!(?parts, "waiting for the first beat");
            }
            Pulse::Hung(parts) => {
                if !told_hung {
                    told_hung = true;
                    tracing::error!(
                        ?parts,
                        "not beating: the watchdog is no longer pinged (systemd restarts the \
                         daemon)"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            notify(&[sd_notify::NotifyState::Stopping]);
            return;
        }
    }
}

fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "systemd could not be told");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_waits_for_every_expected_part_and_a_silent_part_stops_the_pings() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let limit = s(10);
        let at = |secs| Some(t0 + s(secs));
        type Beats = Vec<(&'static str, Option<Instant>)>;
        let cases: Vec<(Beats, u64, Pulse)> = vec![
            (vec![], 0, Pulse::Alive),
            (
                vec![("screen", None), ("station", at(0))],
                1,
                Pulse::Starting(vec!["screen"]),
            ),
            (
                vec![("screen", at(1)), ("station", at(0))],
                10,
                Pulse::Alive,
            ),
            (
                vec![("screen", at(1)), ("station", at(0))],
                11,
                Pulse::Hung(vec!["station"]),
            ),
            // A hung part counts before one still starting.
            (
                vec![("screen", None), ("station", at(0))],
                20,
                Pulse::Hung(vec!["station"]),
            ),
        ];
        for (beats, now, want) in cases {
            let map: BTreeMap<_, _> = beats.iter().copied().collect();
            assert_eq!(judge(&map, t0 + s(now), limit), want, "{beats:?} at {now}");
        }
        // The registry: expected, beaten, forgotten.
        expect("liveness-test");
        assert_eq!(beats().get("liveness-test"), Some(&None));
        beat("liveness-test");
        assert!(beats().get("liveness-test").is_some_and(Option::is_some));
        forget("liveness-test");
        assert_eq!(beats().get("liveness-test"), None);
    }
}
