//! The device database: the replica of the CRM, its versioned migrations, the outbox, the
//! gate's scan log, intake's writes, and the one write connection everything goes through
//! ([`replica::Store`]).
//!
//! The core's modules are re-exported under their own names, so this crate's code (and the
//! crates above it) read `crate::domain`, `crate::gate`, … whichever crate an item lives in.

pub use portico_core::{
    backoff, clock, domain, error_text, find_membership, input, matching, normalize, protocol,
    screens, update_rules, upstream,
};

pub mod outbox;
pub mod replica;

/// The gate's decisions (core) and its scan log in the database (here).
pub mod gate {
    pub use portico_core::gate::*;
    pub mod retention;
    pub mod scan_log;
}

/// The kiosk's pure parts (core) and its sales in the database (here).
pub mod kiosk {
    pub use portico_core::kiosk::*;
    pub mod check_ins;
    pub mod leases;
    pub mod orders;
    pub mod retention;
}

/// Intake's decision (core) and its writes to the database (here).
pub mod intake {
    pub use portico_core::intake::*;
    pub mod remap;
    pub mod shell;
    pub use shell::{IntakeError, IntakeOutcome, explain, intake};
}

/// The volunteer time clock's rules (core) and its check-ins and timesheets in the database
/// (here).
pub mod volunteer {
    pub use portico_core::volunteer::*;
    pub mod clock;
}
