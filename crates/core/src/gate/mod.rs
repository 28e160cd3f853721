//! The gate: admission decisions, the turnstile relay, passage tracking and the `[gate]`
//! configuration section.
//!
//! The shell's loop for one scan:
//! 1. [`LookupPlan::for_credential`] says which replica lookups to make; the shell fills a
//!    [`Facts`] (resolving merges, loading the use history under
//!    [`LookupPlan::history_key`]);
//! 2. [`decide`] with the [`GatePolicy`], the scan direction, the party size and [`Now`];
//! 3. the decision's [`Effect`]s in order: persist the scan, pulse the relay, show, sound;
//! 4. on an admission, [`PassageTracker`] follows the opening and says whether to confirm or
//!    annul the use.

pub mod decision;
pub mod facts;
pub mod passage;
pub mod plan;
pub mod policy;
pub mod reason;

pub use decision::{
    Colour, Decision, Effect, Now, Outcome, Party, PartySettlement, Scan, ScanRecord, Screen,
    Sound, decide, settle_party,
};
pub use facts::{Facts, Found, MergeHop, Person, PriorAdmission, TicketOrigin, UseHistory};
pub use passage::{PassageConfig, PassageEffect, PassageEvent, PassageTracker};
pub use plan::{CredentialKey, LookupPlan, credential_keys};
pub use policy::{GateDirection, GatePolicy, PartyOverflow, Reentry, ScanDirection};
pub use reason::{AdmitKind, Note, Reason, RevokedBy, Validity, WrongGate};
