//! The passage state machine: after an admission the turnstile opens and the use is confirmed
//! only when someone goes through. "Opened but nobody passed" within the timeout annuls the
//! use, so the ticket is not burned.
//!
//! Pure: the shell feeds events with the time it read and carries out the effects. Each
//! admission waits in a queue; a passage confirms the oldest waiting one (two quick scans, two
//! people). Without a passage sensor a use is confirmed as soon as the relay opened.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Waiting for the relay to open.
    Opening,
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
                Stage::Opening => None,
            })
            .min()
    }

    pub fn handle(&mut self, event: PassageEvent, now: DateTime<Utc>) -> Vec<PassageEffect> {
        let mut out = self.expire(now);
        match event {
            PassageEvent::Admitted { scan } => {
                self.pending.push_back(Pending {
                    scan,
                    stage: Stage::Opening,
                });
                out.push(PassageEffect::OpenRelay {
                    scan,
                    pulse: self.config.relay_pulse,
                });
            }
            PassageEvent::RelayOpened => {
                if let Some(i) = self.first_opening() {
                    if self.config.sensor {
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
                    out.push(PassageEffect::AnnulUse {
                        scan: p.scan,
                        reason: AnnulReason::RelayFailed,
                    });
                }
                out.push(PassageEffect::ReportFault { error });
            }
            PassageEvent::PassageDetected => {
                let waiting = self
                    .pending
                    .iter()
                    .position(|p| matches!(p.stage, Stage::WaitingForPassage { .. }));
                match waiting.and_then(|i| self.pending.remove(i)) {
                    Some(p) => out.push(PassageEffect::ConfirmUse { scan: p.scan }),
                    None => out.push(PassageEffect::UnexpectedPassage),
                }
            }
            PassageEvent::Tick => {}
        }
        out
    }

    fn first_opening(&self) -> Option<usize> {
        self.pending.iter().position(|p| p.stage == Stage::Opening)
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
