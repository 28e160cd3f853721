//! The technician screen's model: from the [`Technician`] state machine and the facts the shell
//! gathered ([`TechFacts`]), what the screen shows — the PIN pad, the lock-out, or a page of
//! rows with the actions it offers.
//!
//! The pages speak to staff in English, in plain words: what is wrong is said, not coded.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::kiosk::checkout::{InputSeen, PrinterProblem};
use crate::kiosk::out_of_order::OutOfOrder;
use crate::technician::{Page, TechScreen, Technician};

/// What a technician can do from a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TechAction {
    /// Pull and push now, instead of at the next interval.
    SyncNow,
    /// Put every dead letter back in the upload queue.
    RequeueDeadLetters,
    /// Print a test page.
    TestPage,
    /// Print the last order's tickets and receipt again.
    ReprintLastOrder,
    /// Print the guest passes of today's last member check-in again.
    ReprintLastPasses,
    /// Pulse the turnstile relay once.
    PulseRelay,
    /// Take the kiosk out of service, or put it back.
    ServiceOff,
    ServiceOn,
}

/// One line of a page: what, its value, and whether it needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TechRow {
    pub label: String,
    pub value: String,
    pub warn: bool,
}

/// What the technician screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechPanel {
    /// The PIN pad: how many digits are typed (shown as dots), and whether the last PIN was
    /// wrong.
    Pin { typed: usize, wrong: bool },
    /// Locked after too many wrong PINs, for this many more seconds.
    Locked { secs: u64 },
    Page {
        page: Page,
        rows: Vec<TechRow>,
        actions: Vec<TechAction>,
        /// How the last action went.
        notice: String,
    },
}

/// What the shell found for the pages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TechFacts {
    pub device_id: String,
    pub version: String,
    pub online: bool,
    /// How long the hub has been silent (while offline).
    pub hub_silent_for: Option<Duration>,
    pub last_pull: Option<DateTime<Utc>>,
    pub last_push: Option<DateTime<Utc>>,
    pub outbox_waiting: u64,
    pub dead_letters: u64,
    /// Records kept aside because this build cannot read them.
    pub kept_aside: u64,
    pub constituents: u64,
    pub memberships: u64,
    pub tickets: u64,
    /// Free and total bytes of the database's disk.
    pub disk: Option<(u64, u64)>,
    /// Each configured reader, with the last frame it sent since the screen opened.
    pub readers: Vec<(String, Option<InputSeen>)>,
    /// The turnstile relay and the passage sensor, when the device has them.
    pub relay: Option<RelayFacts>,
    /// `None`: no printer configured; otherwise its problem as last checked.
    pub printer: Option<Option<PrinterProblem>>,
    pub last_order: Option<String>,
    /// Today's last member check-in with guest passes.
    pub last_passes: Option<LastPasses>,
    /// The card terminal, when one is configured.
    pub terminal: Option<TerminalFacts>,
    /// Whether the device has a service mode (a kiosk's visitor screen; a gate's lane is
    /// closed at its turnstile).
    pub has_service_mode: bool,
    pub service_mode: bool,
    pub out_of_order: Option<OutOfOrder>,
    /// Volunteer events that cannot be clocked into, and why.
    pub event_problems: Vec<(String, String)>,
}

/// A member's check-in with guest passes, as the printer page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastPasses {
    pub membership_id: String,
    pub passes: usize,
    pub printed: usize,
}

/// A gate's turnstile relay and passage sensor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayFacts {
    /// The relay as the config names it (`gpio /dev/gpiochip0 line 17`, `simulated`).
    pub relay: String,
    /// The passage sensor's passages since the gate started, and the last one's time; `None`:
    /// the gate has no sensor.
    pub sensor: Option<(u64, Option<DateTime<Utc>>)>,
    /// The last test pulse since the gate started: when, and whether the relay moved.
    pub last_test: Option<(DateTime<Utc>, Result<(), String>)>,
}

/// The card terminal: its kind, whether it answered, and its last payments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TerminalFacts {
    pub kind: String,
    pub reachable: bool,
    pub payments: Vec<PaymentLine>,
    /// Payments the terminal would not give back, with no order: staff refund them by hand.
    pub to_refund: u64,
}

/// A payment as the terminal page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentLine {
    /// `Mon 10:42`.
    pub at: String,
    pub amount: String,
    /// `completed`, `failed`, …
    pub outcome: String,
}

fn row(label: &str, value: impl Into<String>, warn: bool) -> TechRow {
    TechRow {
        label: label.to_owned(),
        value: value.into(),
        warn,
    }
}

/// `3 h 05 min`, `4 min`, `12 s`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ if s < 48 * 3600 => format!("{} h {:02} min", s / 3600, s / 60 % 60),
        _ => format!("{} days", s / 86_400),
    }
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(
        || "never".to_owned(),
        |t| format!("{} ago", span((now - t).to_std().unwrap_or_default())),
    )
}

fn bytes(n: u64) -> String {
    const GB: u64 = 1 << 30;
    const MB: u64 = 1 << 20;
    if n >= GB {
        format!("{:.1} GB", n as f64 / GB as f64)
    } else {
        format!("{} MB", n / MB)
    }
}

fn printer_words(p: Option<Option<PrinterProblem>>) -> (String, bool) {
    match p {
        None => ("no printer configured".into(), true),
        Some(None) => ("ready".into(), false),
        Some(Some(p)) => (OutOfOrder::Printer(p).words().into(), true),
    }
}

/// A page's rows and actions.
pub fn page(page: Page, f: &TechFacts, now: DateTime<Utc>) -> (Vec<TechRow>, Vec<TechAction>) {
    use TechAction as A;
    match page {
        Page::Status => {
            let mut rows = vec![
                row(
                    "Device",
                    format!("{} · Portico {}", f.device_id, f.version),
                    false,
                ),
                row(
                    "Hub",
                    if f.online {
                        "answering".to_owned()
                    } else {
                        format!(
                            "not answering for {}",
                            span(f.hub_silent_for.unwrap_or_default())
                        )
                    },
                    !f.online,
                ),
                row("Last pull", ago(f.last_pull, now), false),
                row("Last upload", ago(f.last_push, now), false),
                row(
                    "Uploads waiting",
                    f.outbox_waiting.to_string(),
                    f.outbox_waiting > 0 && !f.online,
                ),
                row(
                    "Uploads refused by the hub",
                    f.dead_letters.to_string(),
                    f.dead_letters > 0,
                ),
                row(
                    "Replica",
                    format!(
                        "{} constituents, {} memberships, {} tickets",
                        f.constituents, f.memberships, f.tickets
                    ),
                    false,
                ),
            ];
            if f.kept_aside > 0 {
                rows.push(row(
                    "Kept aside (unreadable)",
                    f.kept_aside.to_string(),
                    true,
                ));
            }
            rows.push(match f.disk {
                Some((free, total)) => row(
                    "Disk free",
                    format!("{} of {}", bytes(free), bytes(total)),
                    total > 0 && free * 10 < total,
                ),
                None => row("Disk free", "unknown", true),
            });
            if let Some(o) = f.out_of_order {
                rows.push(row(
                    "Visitors see",
                    format!("out of order, code {}: {}", o.code(), o.words()),
                    true,
                ));
            }
            let mut actions = vec![A::SyncNow];
            if f.dead_letters > 0 {
                actions.push(A::RequeueDeadLetters);
            }
            (rows, actions)
        }
        Page::Inputs => {
            if f.readers.is_empty() {
                return (vec![row("Readers", "none configured", true)], vec![]);
            }
            let rows = f
                .readers
                .iter()
                .map(|(name, seen)| match seen {
                    None => row(name, "waiting for a scan…", false),
                    Some(s) => row(name, format!("{} → {}", s.hex, s.parsed), false),
                })
                .collect();
            (rows, vec![])
        }
        Page::Relay => match &f.relay {
            None => (vec![row("Relay", "none on this device", false)], vec![]),
            Some(r) => {
                let sensor = match r.sensor {
                    None => row("Passage sensor", "none configured", false),
                    Some((0, _)) => row(
                        "Passage sensor",
                        "no passage seen since the gate started",
                        false,
                    ),
                    Some((n, last)) => row(
                        "Passage sensor",
                        format!(
                            "{n} passage(s) since the gate started, the last {}",
                            ago(last, now)
                        ),
                        false,
                    ),
                };
                let test = match &r.last_test {
                    None => row("Last test pulse", "none yet", false),
                    Some((at, Ok(()))) => row(
                        "Last test pulse",
                        format!("opened {}", ago(Some(*at), now)),
                        false,
                    ),
                    Some((at, Err(e))) => row(
                        "Last test pulse",
                        format!("failed {}: {e}", ago(Some(*at), now)),
                        true,
                    ),
                };
                (
                    vec![row("Relay", r.relay.clone(), false), sensor, test],
                    vec![A::PulseRelay],
                )
            }
        },
        Page::Printer => {
            let (words, warn) = printer_words(f.printer);
            let mut rows = vec![row("Printer", words, warn)];
            rows.push(row(
                "Last order",
                f.last_order.clone().unwrap_or_else(|| "none yet".into()),
                false,
            ));
            if let Some(p) = &f.last_passes {
                rows.push(row(
                    "Last guest passes",
                    format!("{}: {} printed of {}", p.membership_id, p.printed, p.passes),
                    p.printed < p.passes,
                ));
            }
            let mut actions = Vec::new();
            if f.printer.is_some() {
                actions.push(A::TestPage);
                if f.last_order.is_some() {
                    actions.push(A::ReprintLastOrder);
                }
                if f.last_passes.is_some() {
                    actions.push(A::ReprintLastPasses);
                }
            }
            (rows, actions)
        }
        Page::Terminal => match &f.terminal {
            None => (vec![row("Card terminal", "none configured", true)], vec![]),
            Some(t) => {
                let state = if t.reachable {
                    "answering"
                } else {
                    "not answering"
                };
                let mut rows = vec![row(
                    "Card terminal",
                    format!("{}, {state}", t.kind),
                    !t.reachable,
                )];
                if t.to_refund > 0 {
                    rows.push(row(
                        "To refund by hand",
                        format!(
                            "{}: the terminal would not give back; portico kiosk settle lists them",
                            t.to_refund
                        ),
                        true,
                    ));
                }
                if t.payments.is_empty() {
                    rows.push(row("Payments", "none yet", false));
                }
                rows.extend(
                    t.payments
                        .iter()
                        .map(|p| row(&p.at, format!("{} · {}", p.amount, p.outcome), false)),
                );
                (rows, vec![])
            }
        },
        Page::Service if !f.has_service_mode => (
            vec![row(
                "Out of service",
                "not on this device: a gate's lane is closed at its turnstile",
                false,
            )],
            vec![],
        ),
        Page::Service => (
            vec![row(
                "Visitors",
                if f.service_mode {
                    "out of service: the screen says so, with code S1".to_owned()
                } else {
                    match f.out_of_order {
                        None => "served".to_owned(),
                        Some(o) => format!("out of order, code {}: {}", o.code(), o.words()),
                    }
                },
                f.out_of_order.is_some(),
            )],
            vec![if f.service_mode {
                A::ServiceOn
            } else {
                A::ServiceOff
            }],
        ),
        Page::Volunteers => {
            if f.event_problems.is_empty() {
                return (
                    vec![row(
                        "Volunteer events",
                        "every event can be clocked into",
                        false,
                    )],
                    vec![],
                );
            }
            (
                f.event_problems
                    .iter()
                    .map(|(event, why)| row(event, why.clone(), true))
                    .collect(),
                vec![],
            )
        }
    }
}

/// The technician screen's panel, or `None` while it is hidden.
pub fn panel(
    t: &Technician,
    facts: &TechFacts,
    notice: &str,
    now: DateTime<Utc>,
) -> Option<TechPanel> {
    match t.screen() {
        TechScreen::Closed => None,
        TechScreen::Pin { typed, wrong } => Some(TechPanel::Pin {
            typed: typed.len(),
            wrong: *wrong,
        }),
        TechScreen::Locked { until } => Some(TechPanel::Locked {
            secs: u64::try_from((*until - now).num_seconds().max(0)).unwrap_or(0),
        }),
        TechScreen::Open { page: p } => {
            let (rows, actions) = page(*p, facts, now);
            Some(TechPanel::Page {
                page: *p,
                rows,
                actions,
                notice: notice.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn facts() -> TechFacts {
        TechFacts {
            device_id: "kiosk-lobby-1".into(),
            version: "0.1.0".into(),
            online: true,
            last_pull: Some(now() - chrono::TimeDelta::minutes(4)),
            constituents: 1200,
            memberships: 400,
            disk: Some((8 << 30, 16 << 30)),
            printer: Some(None),
            terminal: Some(TerminalFacts {
                kind: "simulated".into(),
                reachable: true,
                payments: vec![],
                to_refund: 0,
            }),
            readers: vec![("lobby-scanner".into(), None)],
            has_service_mode: true,
            ..TechFacts::default()
        }
    }

    fn values(page_: Page, f: &TechFacts) -> Vec<(String, String, bool)> {
        page(page_, f, now())
            .0
            .into_iter()
            .map(|r| (r.label, r.value, r.warn))
            .collect()
    }

    #[test]
    fn the_pages_say_what_is_wrong_in_words_and_offer_what_fixes_it() {
        let f = facts();
        let status = values(Page::Status, &f);
        assert!(status.contains(&("Hub".into(), "answering".into(), false)));
        assert!(status.contains(&("Last pull".into(), "4 min ago".into(), false)));
        assert!(status.contains(&("Last upload".into(), "never".into(), false)));
        assert!(status.contains(&("Disk free".into(), "8.0 GB of 16.0 GB".into(), false)));
        assert_eq!(page(Page::Status, &f, now()).1, [TechAction::SyncNow]);

        // Offline with refused uploads, a nearly full disk, the printer out of paper.
        let bad = TechFacts {
            online: false,
            hub_silent_for: Some(Duration::from_secs(3 * 3600 + 300)),
            outbox_waiting: 12,
            dead_letters: 2,
            disk: Some((1 << 30, 16 << 30)),
            printer: Some(Some(PrinterProblem::PaperOut)),
            out_of_order: Some(OutOfOrder::Printer(PrinterProblem::PaperOut)),
            ..facts()
        };
        let status = values(Page::Status, &bad);
        let cases = [
            ("Hub", "not answering for 3 h 05 min"),
            ("Uploads waiting", "12"),
            ("Uploads refused by the hub", "2"),
            ("Disk free", "1.0 GB of 16.0 GB"),
            (
                "Visitors see",
                "out of order, code P1: the printer is out of paper",
            ),
        ];
        for (label, value) in cases {
            assert!(
                status.contains(&(label.into(), value.into(), true)),
                "{label}: {status:?}"
            );
        }
        assert_eq!(
            page(Page::Status, &bad, now()).1,
            [TechAction::SyncNow, TechAction::RequeueDeadLetters]
        );

        // A payment the terminal would not give back shows on the terminal page, to refund.
        let terminal = values(Page::Terminal, &f);
        assert!(
            !terminal.iter().any(|r| r.0 == "To refund by hand"),
            "{terminal:?}"
        );
        let unrefunded = TechFacts {
            terminal: Some(TerminalFacts {
                to_refund: 1,
                ..f.terminal.clone().unwrap()
            }),
            ..facts()
        };
        assert!(values(Page::Terminal, &unrefunded).contains(&(
            "To refund by hand".into(),
            "1: the terminal would not give back; portico kiosk settle lists them".into(),
            true
        )));

        // The printer page prints a test page, and the last order again once there is one.
        assert_eq!(page(Page::Printer, &f, now()).1, [TechAction::TestPage]);
        let sold = TechFacts {
            last_order: Some("K1-00042".into()),
            ..facts()
        };
        assert_eq!(
            page(Page::Printer, &sold, now()).1,
            [TechAction::TestPage, TechAction::ReprintLastOrder]
        );
        // A check-in's guest passes that did not all print show, and print again.
        let short = TechFacts {
            last_passes: Some(LastPasses {
                membership_id: "M1000042".into(),
                passes: 2,
                printed: 1,
            }),
            ..sold.clone()
        };
        let (rows, actions) = page(Page::Printer, &short, now());
        assert!(
            rows.iter().any(|r| r.label == "Last guest passes"
                && r.value == "M1000042: 1 printed of 2"
                && r.warn),
            "{rows:?}"
        );
        assert_eq!(
            actions,
            [
                TechAction::TestPage,
                TechAction::ReprintLastOrder,
                TechAction::ReprintLastPasses
            ]
        );
        let none = TechFacts {
            printer: None,
            ..facts()
        };
        assert!(page(Page::Printer, &none, now()).1.is_empty());

        // The scan test shows the bytes beside what they parse to.
        let scanned = TechFacts {
            readers: vec![(
                "lobby-scanner".into(),
                Some(InputSeen {
                    reader: "lobby-scanner".into(),
                    hex: "4d 2d 31 30 30 31".into(),
                    parsed: "membership M-1001".into(),
                }),
            )],
            ..facts()
        };
        assert_eq!(
            values(Page::Inputs, &scanned),
            [(
                "lobby-scanner".into(),
                "4d 2d 31 30 30 31 → membership M-1001".into(),
                false
            )]
        );

        // Service mode: switched off says how to switch it on again.
        let off = TechFacts {
            service_mode: true,
            out_of_order: Some(OutOfOrder::ServiceMode),
            ..facts()
        };
        assert_eq!(page(Page::Service, &off, now()).1, [TechAction::ServiceOn]);
        assert_eq!(page(Page::Service, &f, now()).1, [TechAction::ServiceOff]);

        // Volunteer events the clock refuses are listed with their reason.
        let events = TechFacts {
            event_problems: vec![(
                "Garden".into(),
                "job \"Digging\" does not exist in the CRM".into(),
            )],
            ..facts()
        };
        assert_eq!(
            values(Page::Volunteers, &events),
            [(
                "Garden".into(),
                "job \"Digging\" does not exist in the CRM".into(),
                true
            )]
        );
        // A kiosk has no relay to pulse.
        assert!(page(Page::Relay, &f, now()).1.is_empty());

        // A gate: its relay pulses on request; the sensor counts passages; a failed pulse
        // says why. It has no service mode.
        let gate = TechFacts {
            relay: Some(RelayFacts {
                relay: "gpio /dev/gpiochip0 line 17".into(),
                sensor: Some((3, Some(now() - chrono::TimeDelta::seconds(12)))),
                last_test: Some((
                    now() - chrono::TimeDelta::seconds(5),
                    Err("line busy".into()),
                )),
            }),
            has_service_mode: false,
            ..facts()
        };
        assert_eq!(
            values(Page::Relay, &gate),
            [
                ("Relay".into(), "gpio /dev/gpiochip0 line 17".into(), false),
                (
                    "Passage sensor".into(),
                    "3 passage(s) since the gate started, the last 12 s ago".into(),
                    false
                ),
                (
                    "Last test pulse".into(),
                    "failed 5 s ago: line busy".into(),
                    true
                ),
            ]
        );
        assert_eq!(page(Page::Relay, &gate, now()).1, [TechAction::PulseRelay]);
        assert!(page(Page::Service, &gate, now()).1.is_empty());
    }

    #[test]
    fn spans_read_as_staff_say_them() {
        let cases = [
            (12, "12 s"),
            (240, "4 min"),
            (3 * 3600 + 300, "3 h 05 min"),
            (3 * 86_400, "3 days"),
        ];
        for (secs, want) in cases {
            assert_eq!(span(Duration::from_secs(secs)), want);
        }
    }
}
