//! The passage state machine: after an admission the turnstile opens and the use is confirmed
//! only when someone goes through. "Opened but nobody passed" within the timeout annuls the
//! use, so the ticket is not burned.
//!
//! Pure: the shell feeds events with the time it read and carries out the effects. Each
//! admission waits in a queue; a passage belongs to the oldest one nobody has gone through yet
//! (two quick scans, two people), also while its relay pulse is still running: visitors push
//! through the moment the turnstile unlocks, before the pulse ends and the relay reports back.
//! Without a passage sensor a use is confirmed as soon as the relay opened.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// The shell's handle on a persisted scan (its row id).
pub type ScanId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassageConfig {
    /// Whether a passage sensor reports people going through.
    pub sensor: bool,
    /// How long an opened gate waits for a passage before the use is annulled.
    pub timeout: Duration,
    pub relay_pulse: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassageEvent {
    /// The core admitted a scan (already persisted as `scan`).
    Admitted { scan: ScanId },
    /// The relay pulse for the oldest admission not yet opened succeeded.
    RelayOpened,
    /// The relay failed for the oldest admission not yet opened.
    RelayFailed { error: String },
    /// The sensor saw someone go through.
    PassageDetected,
    /// Time moved on (the shell calls this at [`PassageTracker::next_deadline`]).
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnulReason {
    /// The gate opened but nobody went through in time.
    NoPassage,
    /// The gate never opened.
    RelayFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum PassageEffect {
    OpenRelay {
        scan: ScanId,
        pulse: Duration,
    },
    /// The use is final.
    ConfirmUse {
        scan: ScanId,
    },
    /// Give the use back (the ticket is not burned); log why.
    AnnulUse {
        scan: ScanId,
        reason: AnnulReason,
    },
    /// A passage with no admission waiting (tailgating or a stray signal); log it.
    UnexpectedPassage,
    /// Tell staff the gate did not open.
    ReportFault {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the relay to report its pulse; `passed` once someone went through meanwhile.
    Opening { passed: bool },
    /// Open; waiting for someone to go through until the deadline.
    WaitingForPassage { deadline: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub scan: ScanId,
    pub stage: Stage,
}

/// The state machine. See the module documentation.
#[derive(Debug, Clone)]
pub struct PassageTracker {
    config: PassageConfig,
    pending: VecDeque<Pending>,
}

impl PassageTracker {
    pub fn new(config: PassageConfig) -> Self {
        Self {
            config,
            pending: VecDeque::new(),
        }
    }

    /// Admissions not yet confirmed or annulled, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.pending.iter()
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the shell must next send [`PassageEvent::Tick`].
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.pending
            .iter()
            .filter_map(|p| match p.stage {
                Stage::WaitingForPassage { deadline } => Some(deadline),
                Stage::Opening { .. } => None,
            })
            .min()
    }

    pub fn handle(&mut self, event: PassageEvent, now: DateTime<Utc>) -> Vec<PassageEffect> {
        let mut out = self.expire(now);
        match event {
            PassageEvent::Admitted { scan } => {
                self.pending.push_back(Pending {
                    scan,
                    stage: Stage::Opening { passed: false },
                });
                out.push(PassageEffect::OpenRelay {
                    scan,
                    pulse: self.config.relay_pulse,
                });
            }
            PassageEvent::RelayOpened => {
                if let Some(i) = self.first_opening() {
                    let passed = self.pending[i].stage == Stage::Opening { passed: true };
                    if self.config.sensor && !passed {
                        let timeout =
                            TimeDelta::from_std(self.config.timeout).unwrap_or(TimeDelta::MAX);
                        let deadline = now.checked_add_signed(timeout).unwrap_or(now);
                        self.pending[i].stage = Stage::WaitingForPassage { deadline };
                    } else if let Some(p) = self.pending.remove(i) {
                        out.push(PassageEffect::ConfirmUse { scan: p.scan });
                    }
                }
            }
            PassageEvent::RelayFailed { error } => {
                if let Some(p) = self.first_opening().and_then(|i| self.pending.remove(i)) {
                    // Someone went through all the same (the relay failed closing it, or the
                    // turnstile was pushed): the use is taken.
                    out.push(if p.stage == (Stage::Opening { passed: true }) {
                        PassageEffect::ConfirmUse { scan: p.scan }
                    } else {
                        PassageEffect::AnnulUse {
                            scan: p.scan,
                            reason: AnnulReason::RelayFailed,
                        }
                    });
                }
                out.push(PassageEffect::ReportFault { error });
            }
            PassageEvent::PassageDetected => {
                // The oldest admission nobody has gone through: open and waiting, or still in
                // its relay pulse (then confirmed when the relay reports back).
                let next = self.pending.iter().position(|p| {
                    matches!(
                        p.stage,
                        Stage::WaitingForPassage { .. } | Stage::Opening { passed: false }
                    )
                });
                match next {
                    Some(i) => match self.pending[i].stage {
                        Stage::WaitingForPassage { .. } => {
                            if let Some(p) = self.pending.remove(i) {
                                out.push(PassageEffect::ConfirmUse { scan: p.scan });
                            }
                        }
                        Stage::Opening { .. } => {
                            self.pending[i].stage = Stage::Opening { passed: true };
                        }
                    },
                    None => out.push(PassageEffect::UnexpectedPassage),
                }
            }
            PassageEvent::Tick => {}
        }
        out
    }

    fn first_opening(&self) -> Option<usize> {
        self.pending
            .iter()
            .position(|p| matches!(p.stage, Stage::Opening { .. }))
    }

    /// Annuls every admission whose deadline has passed (a deadline equal to `now` has not).
    fn expire(&mut self, now: DateTime<Utc>) -> Vec<PassageEffect> {
        let mut out = Vec::new();
        self.pending.retain(|p| match p.stage {
            Stage::WaitingForPassage { deadline } if now > deadline => {
                out.push(PassageEffect::AnnulUse {
                    scan: p.scan,
                    reason: AnnulReason::NoPassage,
                });
                false
            }
            _ => true,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PassageEffect::{AnnulUse, ConfirmUse, ReportFault, UnexpectedPassage};
    use PassageEvent::{Admitted, PassageDetected, RelayFailed, RelayOpened, Tick};

    fn tracker(sensor: bool) -> PassageTracker {
        PassageTracker::new(PassageConfig {
            sensor,
            timeout: Duration::from_secs(10),
            relay_pulse: Duration::from_millis(800),
        })
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// Runs `(second, event)` steps; returns every effect except the relay commands.
    fn run(sensor: bool, steps: Vec<(i64, PassageEvent)>) -> Vec<PassageEffect> {
        let mut tr = tracker(sensor);
        steps
            .into_iter()
            .flat_map(|(s, e)| tr.handle(e, t(s)))
            .filter(|e| !matches!(e, PassageEffect::OpenRelay { .. }))
            .collect()
    }

    #[test]
    fn sequences() {
        let fault = || ReportFault {
            error: "relay".into(),
        };
        let failed = || RelayFailed {
            error: "relay".into(),
        };
        let no_passage = |scan| AnnulUse {
            scan,
            reason: AnnulReason::NoPassage,
        };
        // (what happens, with a sensor, events at milliseconds, the effects expected)
        type Case = (
            &'static str,
            bool,
            Vec<(i64, PassageEvent)>,
            Vec<PassageEffect>,
        );
        let cases: Vec<Case> = vec![
            (
                "no sensor: confirmed when the relay opened",
                false,
                vec![(0, Admitted { scan: 1 }), (1, RelayOpened)],
                vec![ConfirmUse { scan: 1 }],
            ),
            (
                "a passage after the pulse confirms",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (1, RelayOpened),
                    (3, PassageDetected),
                ],
                vec![ConfirmUse { scan: 1 }],
            ),
            (
                "a passage during the pulse confirms once the relay reports",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, PassageDetected),
                    (1, RelayOpened),
                ],
                vec![ConfirmUse { scan: 1 }],
            ),
            (
                "a passage during the pulse is not annulled by the timeout",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, PassageDetected),
                    (1, RelayOpened),
                    (60, Tick),
                ],
                vec![ConfirmUse { scan: 1 }],
            ),
            (
                "nobody passed within the timeout: annulled",
                true,
                vec![(0, Admitted { scan: 1 }), (1, RelayOpened), (12, Tick)],
                vec![no_passage(1)],
            ),
            (
                "the relay failed and nobody passed: annulled",
                true,
                vec![(0, Admitted { scan: 1 }), (1, failed())],
                vec![
                    AnnulUse {
                        scan: 1,
                        reason: AnnulReason::RelayFailed,
                    },
                    fault(),
                ],
            ),
            (
                "the relay failed but someone went through: the use is taken",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, PassageDetected),
                    (1, failed()),
                ],
                vec![ConfirmUse { scan: 1 }, fault()],
            ),
            (
                "a passage with nothing admitted",
                true,
                vec![(0, PassageDetected)],
                vec![UnexpectedPassage],
            ),
            (
                "two quick scans: each passage takes the oldest, open or opening",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, Admitted { scan: 2 }),
                    (1, RelayOpened),
                    (1, PassageDetected),
                    (1, PassageDetected),
                    (2, RelayOpened),
                ],
                vec![ConfirmUse { scan: 1 }, ConfirmUse { scan: 2 }],
            ),
            (
                "one passage during two pulses marks only the first",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, Admitted { scan: 2 }),
                    (0, PassageDetected),
                    (1, RelayOpened),
                    (2, RelayOpened),
                    (13, Tick),
                ],
                vec![ConfirmUse { scan: 1 }, no_passage(2)],
            ),
            (
                "a second passage during one pulse is unexpected",
                true,
                vec![
                    (0, Admitted { scan: 1 }),
                    (0, PassageDetected),
                    (0, PassageDetected),
                    (1, RelayOpened),
                ],
                vec![UnexpectedPassage, ConfirmUse { scan: 1 }],
            ),
        ];
        for (name, sensor, steps, expected) in cases {
            assert_eq!(run(sensor, steps), expected, "{name}");
        }
    }

    #[test]
    fn a_passage_during_the_pulse_leaves_no_deadline() {
        let mut tr = tracker(true);
        tr.handle(Admitted { scan: 1 }, t(0));
        tr.handle(PassageDetected, t(0));
        assert_eq!(tr.next_deadline(), None);
        tr.handle(RelayOpened, t(1));
        assert!(tr.is_idle());
    }
}
