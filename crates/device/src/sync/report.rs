//! The device's report of itself to the hub (`POST /v1/device-report`): every few minutes
//! while the hub answers, and as soon as it answers again after an outage, so `portico hub
//! devices` shows the venue's IT each device's last contact, firmware, uploads waiting and
//! refused, and how long it has been without the hub.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SyncEngine;
use crate::protocol::{DEVICE_REPORT_VERSION, DeviceReport};

/// How often a device reports while the hub answers.
pub const REPORT_EVERY: Duration = Duration::from_secs(300);
/// How often the link is looked at (the time without the hub is counted at this grain).
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// The time without the hub since the daemon started, from looks at the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineClock {
    pub up_since: DateTime<Utc>,
    /// Outages that ended, in seconds.
    ended_secs: u64,
    /// The outage under way, since when.
    since: Option<DateTime<Utc>>,
    pub last_outage_secs: Option<u64>,
}

impl OfflineClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            up_since: now,
            ended_secs: 0,
            since: None,
            last_outage_secs: None,
        }
    }

    /// The link as seen at `now`; whether an outage just ended.
    pub fn look(&mut self, online: bool, now: DateTime<Utc>) -> bool {
        match (online, self.since) {
            (false, None) => {
                self.since = Some(now);
                false
            }
            (true, Some(since)) => {
                let secs = u64::try_from((now - since).num_seconds()).unwrap_or(0);
                self.ended_secs += secs;
                self.last_outage_secs = Some(secs);
                self.since = None;
                true
            }
            _ => false,
        }
    }

    /// Seconds without the hub since start, the outage under way included.
    pub fn offline_secs(&self, now: DateTime<Utc>) -> u64 {
        self.ended_secs
            + self
                .since
                .map_or(0, |s| u64::try_from((now - s).num_seconds()).unwrap_or(0))
    }
}

/// The report at `now`.
pub fn report(
    engine: &SyncEngine,
    clock: &OfflineClock,
    now: DateTime<Utc>,
) -> crate::replica::Result<DeviceReport> {
    let stats = crate::outbox::stats(&engine.store().reader()?)?;
    Ok(DeviceReport {
        report: DEVICE_REPORT_VERSION,
        firmware: env!("CARGO_PKG_VERSION").to_owned(),
        roles: engine
            .config()
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        outbox_pending: stats.pending,
        dead_letters: stats.dead,
        up_since: clock.up_since,
        offline_secs: clock.offline_secs(now),
        last_outage_secs: clock.last_outage_secs,
        out_of_order: crate::metrics::kiosk_health()
            .and_then(|k| k.out_of_order)
            .map(|o| o.code().to_owned()),
        sent_at: now,
    })
}

/// Reports until `shutdown` turns true.
pub async fn run(engine: Arc<SyncEngine>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut clock = OfflineClock::new(engine.now());
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        let now = engine.now();
        let link = engine.link_status();
        let back = clock.look(link.online, now);
        let due = last_sent.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if link.online && (due || back) {
            let r = {
                let engine = engine.clone();
                let clock = clock.clone();
                tokio::task::spawn_blocking(move || report(&engine, &clock, now)).await
            };
            match r {
                Ok(Ok(r)) => match engine.client().device_report(&r).await {
                    Ok(_) => {
                        last_sent = Some(tokio::time::Instant::now());
                        tracing::debug!(pending = r.outbox_pending, "reported to the hub");
                    }
                    Err(e) => {
                        // A hub that predates fleet reports answers 404: try again later.
                        last_sent = Some(tokio::time::Instant::now());
                        tracing::debug!(error = %e, "device report not taken");
                    }
                },
                Ok(Err(e)) => tracing::warn!(error = %e, "device report not made"),
                Err(e) => tracing::warn!(error = %e, "device report stopped"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_time_without_the_hub_adds_up_its_outages() {
        let t = |m: i64| {
            Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap() + chrono::TimeDelta::minutes(m)
        };
        let mut c = OfflineClock::new(t(0));
        // (minute, online, an outage ended, offline seconds so far)
        let looks = [
            (1, true, false, 0),
            (2, false, false, 0),
            (5, false, false, 180),
            (6, true, true, 240),
            (10, true, false, 240),
            (20, false, false, 240),
            (30, true, true, 840),
        ];
        for (m, online, ended, secs) in looks {
            assert_eq!(c.look(online, t(m)), ended, "minute {m}");
            assert_eq!(c.offline_secs(t(m)), secs, "minute {m}");
        }
        assert_eq!(c.last_outage_secs, Some(600));
        assert_eq!(c.up_since, t(0));
    }
}
