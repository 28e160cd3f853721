//! The device runtime: the config, sync with the hub, the gate station and its relays, the
//! scanners' I/O, the status socket, and the assembly of a running device.
//!
//! The core's and the store's modules are re-exported under their own names (`crate::domain`,
//! `crate::replica`, …); [`gate`], [`input`] and [`find_membership`] join the core's part of
//! each with this crate's.

pub use portico_core::{
    backoff, clock, domain, error_text, matching, normalize, protocol, screens, update_rules,
    upstream,
};
pub use portico_store::{intake, outbox, replica, volunteer};
pub use portico_tls as tls;

pub mod config;
pub mod device;
pub mod kiosk;
pub mod liveness;
pub mod logging;
pub mod metrics;
pub mod status;
pub mod sync;
pub mod technician;

/// The gate: decisions (core), scan log (store), and here the station, the relays and the
/// `[gate]` section.
pub mod gate {
    pub use portico_store::gate::*;
    pub mod config;
    pub mod relay;
    pub mod station;
    pub mod technician;
    pub use config::{GatePolicyConfig, RawGateSection, validate};
    pub use relay::{GateOutput, OutputState, PassageSensor, RelayError, SensorError};
}

pub mod input;

/// Find My Membership: the rules and the kiosk flow (core), and here the shell that drives the
/// flow with the hub client.
pub mod find_membership {
    pub use portico_core::find_membership::*;
    pub mod shell;
    pub use shell::{FindMembershipError, KioskSession, Reassociation, ReassociationV1};
}
