//! The gate's admission policy: the validated, typed rules the decision core applies.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lang::Lang;

/// Which way a gate lets people through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateDirection {
    Entry,
    Exit,
    Both,
}

/// Which way one scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanDirection {
    Entry,
    Exit,
}

impl GateDirection {
    /// The direction of a scan at this gate when the reader does not say: exit at an
    /// exit-only gate, entry otherwise.
    pub fn default_scan(self) -> ScanDirection {
        match self {
            Self::Exit => ScanDirection::Exit,
            Self::Entry | Self::Both => ScanDirection::Entry,
        }
    }
}

/// When a ticket already used today may enter again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reentry {
    /// Every entry is a new use.
    Never,
    /// A same-day entry after an exit scan is free; without an exit it is a new use.
    AfterExit,
    /// Any same-day entry is free (the anti-passback window still applies).
    Always,
}

/// What to do when the party is larger than the credential allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyOverflow {
    /// Refuse the whole party, saying how many are allowed, so staff can correct the count.
    Deny,
    /// Admit as many as allowed, with a note.
    AdmitAllowed,
}

/// The rules one gate applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    /// The gate's name, recorded with each scan.
    pub gate_id: String,
    pub direction: GateDirection,
    pub relay_pulse: Duration,
    pub result_display: Duration,
    /// Days after a membership's expiry on which it still admits.
    pub grace_days: u32,
    /// How early before a timed-entry slot a ticket admits.
    pub slot_tolerance_before: Duration,
    /// How late after a timed-entry slot's end a ticket admits.
    pub slot_tolerance_after: Duration,
    /// The same credential cannot enter twice within this window unless it exited. Zero
    /// disables it.
    pub anti_passback: Duration,
    pub reentry: Reentry,
    /// Entries per credential per local day (re-entries excluded); `None`: no limit.
    pub daily_limit: Option<u32>,
    /// Largest party size staff may choose.
    pub party_max: u32,
    pub party_overflow: PartyOverflow,
    /// Ticket products admitted at this gate; `None`: all.
    pub allowed_products: Option<BTreeSet<String>>,
    /// Blocked credential keys (see [`crate::gate::CredentialKey`]).
    pub revoked: BTreeSet<String>,
    /// The language of the gate's screen (its reasons, notes and what staff should do). Scan
    /// records and logs stay in English.
    pub language: Lang,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            gate_id: "Gate".into(),
            direction: GateDirection::Both,
            relay_pulse: Duration::from_millis(800),
            result_display: Duration::from_secs(3),
            grace_days: 0,
            slot_tolerance_before: Duration::from_secs(15 * 60),
            slot_tolerance_after: Duration::from_secs(30 * 60),
            anti_passback: Duration::from_secs(10 * 60),
            reentry: Reentry::AfterExit,
            daily_limit: None,
            party_max: 10,
            party_overflow: PartyOverflow::Deny,
            allowed_products: None,
            revoked: BTreeSet::new(),
            language: Lang::En,
        }
    }
}
