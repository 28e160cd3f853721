//! Portico: firmware for the gates and kiosks of a membership venue.
//!
//! This package is the `portico` command. Its library gathers the workspace's crates under one
//! roof for the command, the demo, the benchmarks and the integration tests; the code lives in
//! `crates/` (see `docs/ARCHITECTURE.md`).

pub use portico_device::{
    backoff, clock, config, device, domain, error_text, find_membership, gate, input, intake,
    kiosk, liveness, logging, matching, normalize, outbox, protocol, replica, screens, status,
    sync, technician, tls, update_rules, upstream, volunteer,
};

#[cfg(feature = "hub")]
pub mod bench;
#[cfg(feature = "hub")]
pub mod demo;
#[cfg(feature = "hub")]
pub mod demo_kiosk;
pub mod kiosk_cli;
#[cfg(feature = "hub")]
pub mod loopback_printer;
#[cfg(feature = "hub")]
pub use portico_hub as hub;
#[cfg(feature = "ui")]
pub use portico_ui as ui;
