//! The visitor kiosk: its pure parts (core), its sales in the database (store), and here its
//! runtime: seat leases with the hub and the
//! ticket-signing key.

pub use portico_store::kiosk::*;

pub mod lease_client;
pub mod signer;
