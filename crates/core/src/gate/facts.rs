//! The facts the shell looks up in the replica before asking the core for a decision.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::domain::{Constituent, Membership, PersonName, Ticket};

/// What the lookups found for a credential.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Found {
    /// Nothing in the replica matches the credential.
    #[default]
    Nothing,
    /// A membership (from a membership card), with its primary member when known.
    Membership {
        membership: Membership,
        holder: Option<Person>,
    },
    /// A constituent (from a Lookup ID) and every membership that covers them.
    Constituent {
        constituent: Person,
        memberships: Vec<Membership>,
    },
    /// A ticket from the replica, or an offline-signed ticket verified by its signature.
    Ticket {
        ticket: Ticket,
        origin: TicketOrigin,
    },
    /// Several records claim the credential and none can be preferred.
    Ambiguous { candidates: Vec<String> },
}

/// The part of a constituent a gate needs: who they are and what to call them. (A gate never
/// loads contact details.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub lookup_id: String,
    pub name: PersonName,
}

impl From<&Constituent> for Person {
    fn from(c: &Constituent) -> Self {
        Self {
            lookup_id: c.lookup_id.clone(),
            name: c.name.clone(),
        }
    }
}

/// Where a ticket's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketOrigin {
    /// The replica's ticket table.
    Replica,
    /// An offline-signed ticket issued by another device: admitted on its signature and the
    /// local use count.
    Signed,
}

/// The id the credential carried and the survivor its merges lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeHop {
    pub requested: String,
    pub survivor: String,
}

/// One earlier admission of the same credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorAdmission {
    pub at: DateTime<Utc>,
    /// The venue's local time of the admission (as recorded at the time).
    pub local: NaiveDateTime,
    pub gate: String,
    /// How many people it admitted (uses burned).
    pub uses: u32,
}

/// The credential's use history, as recorded by the gates of this venue. Annulled uses (gate
/// opened, nobody passed) are not included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UseHistory {
    /// Uses burned over the credential's whole life (every admission that was not a re-entry).
    pub uses_total: u32,
    /// Recent admissions (at least those of the current and previous local day), any order.
    pub admissions: Vec<PriorAdmission>,
    /// The last exit scan, if any.
    pub last_exit: Option<DateTime<Utc>>,
}

impl UseHistory {
    /// The most recent admission.
    pub fn last_admission(&self) -> Option<&PriorAdmission> {
        self.admissions.iter().max_by_key(|a| (a.at, a.local))
    }

    /// Whether the holder scanned out after their last admission.
    pub fn exited_since_last_admission(&self) -> bool {
        match (self.last_admission(), self.last_exit) {
            (Some(a), Some(exit)) => exit > a.at,
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

/// Everything the shell looked up for one scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub found: Found,
    /// Set when the credential's id was merged away and resolved to a survivor.
    pub merge: Option<MergeHop>,
    pub history: UseHistory,
    /// The shell found the credential on a block list other than the gate's own (e.g. one
    /// synchronised from upstream).
    pub revocation_hit: bool,
}
