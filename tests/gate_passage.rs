//! The passage state machine, driven with an injected clock.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use portico::gate::passage::{
    AnnulReason, PassageConfig, PassageEffect, PassageEvent, PassageTracker,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 10, 10, 0, 0).unwrap()
}

fn secs(s: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(s)
}

fn tracker(sensor: bool) -> PassageTracker {
    PassageTracker::new(PassageConfig {
        sensor,
        timeout: Duration::from_secs(8),
        relay_pulse: Duration::from_millis(800),
    })
}

#[test]
fn admitted_then_passage_confirms_the_use() {
    let mut p = tracker(true);
    let fx = p.handle(PassageEvent::Admitted { scan: 1 }, secs(0));
    assert_eq!(
        fx,
        vec![PassageEffect::OpenRelay {
            scan: 1,
            pulse: Duration::from_millis(800)
        }]
    );
    assert!(p.handle(PassageEvent::RelayOpened, secs(0)).is_empty());
    assert_eq!(p.next_deadline(), Some(secs(8)));
    assert_eq!(
        p.handle(PassageEvent::PassageDetected, secs(3)),
        vec![PassageEffect::ConfirmUse { scan: 1 }]
    );
    assert!(p.is_idle());
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn nobody_passed_annuls_the_use_after_the_timeout() {
    let mut p = tracker(true);
    p.handle(PassageEvent::Admitted { scan: 7 }, secs(0));
    p.handle(PassageEvent::RelayOpened, secs(0));
    // At the deadline itself the gate is still waiting.
    assert!(p.handle(PassageEvent::Tick, secs(8)).is_empty());
    assert!(!p.is_idle());
    assert_eq!(
        p.handle(PassageEvent::Tick, secs(9)),
        vec![PassageEffect::AnnulUse {
            scan: 7,
            reason: AnnulReason::NoPassage
        }]
    );
    assert!(p.is_idle());
    // A late passage confirms nothing.
    assert_eq!(
        p.handle(PassageEvent::PassageDetected, secs(10)),
        vec![PassageEffect::UnexpectedPassage]
    );
}

#[test]
fn two_quick_scans_two_people() {
    let mut p = tracker(true);
    p.handle(PassageEvent::Admitted { scan: 1 }, secs(0));
    p.handle(PassageEvent::RelayOpened, secs(0));
    p.handle(PassageEvent::Admitted { scan: 2 }, secs(1));
    p.handle(PassageEvent::RelayOpened, secs(1));
    assert_eq!(p.pending().count(), 2);
    assert_eq!(
        p.handle(PassageEvent::PassageDetected, secs(2)),
        vec![PassageEffect::ConfirmUse { scan: 1 }]
    );
    assert_eq!(
        p.handle(PassageEvent::PassageDetected, secs(3)),
        vec![PassageEffect::ConfirmUse { scan: 2 }]
    );
    assert!(p.is_idle());
}

#[test]
fn two_quick_scans_one_person_annuls_the_second() {
    let mut p = tracker(true);
    p.handle(PassageEvent::Admitted { scan: 1 }, secs(0));
    p.handle(PassageEvent::RelayOpened, secs(0));
    p.handle(PassageEvent::Admitted { scan: 2 }, secs(1));
    p.handle(PassageEvent::RelayOpened, secs(1));
    assert_eq!(
        p.handle(PassageEvent::PassageDetected, secs(2)),
        vec![PassageEffect::ConfirmUse { scan: 1 }]
    );
    assert_eq!(p.next_deadline(), Some(secs(9)));
    assert_eq!(
        p.handle(PassageEvent::Tick, secs(10)),
        vec![PassageEffect::AnnulUse {
            scan: 2,
            reason: AnnulReason::NoPassage
        }]
    );
}

#[test]
fn relay_failure_annuls_and_reports() {
    let mut p = tracker(true);
    p.handle(PassageEvent::Admitted { scan: 4 }, secs(0));
    let fx = p.handle(
        PassageEvent::RelayFailed {
            error: "line busy".into(),
        },
        secs(0),
    );
    assert_eq!(
        fx,
        vec![
            PassageEffect::AnnulUse {
                scan: 4,
                reason: AnnulReason::RelayFailed
            },
            PassageEffect::ReportFault {
                error: "line busy".into()
            },
        ]
    );
    assert!(p.is_idle());
}

#[test]
fn without_a_sensor_the_opening_confirms() {
    let mut p = tracker(false);
    p.handle(PassageEvent::Admitted { scan: 3 }, secs(0));
    assert_eq!(
        p.handle(PassageEvent::RelayOpened, secs(0)),
        vec![PassageEffect::ConfirmUse { scan: 3 }]
    );
    assert_eq!(p.next_deadline(), None);
}
