//! The device and its hub: sync, uploads, hostile hubs, status, technician commands, config check, migrations and the crash campaign.
//!
//! One test binary for the area (each binary links the whole firmware).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/gate.rs"]
mod gate_common;

mod config_check;
mod crash;
mod daemon_notify;
mod fleet;
mod hostile_hub;
mod kiosk_check_in;
mod kiosk_crash;
mod kiosk_nexo;
mod kiosk_orders;
mod kiosk_printing;
mod kiosk_shell;
mod kiosk_technician;
mod kiosk_volunteer;
mod migrations;
mod outbox_upload;
mod seat_leases;
mod status_socket;
mod sync;
mod technician_cli;
