//! The gate: decisions, passage, relays, config, the scan log, end to end from a pty scanner.
//!
//! One test binary for the area (each binary links the whole firmware).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/gate.rs"]
mod gate_common;

mod gate_config;
mod gate_decision;
mod gate_e2e;
mod gate_passage;
mod gate_properties;
mod gate_relay;
mod gate_technician;
mod kiosk_tickets;
mod scan_log_retention;
