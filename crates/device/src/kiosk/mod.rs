//! The visitor kiosk: its pure parts (core), its sales in the database (store), and here its
//! runtime: seat leases with the hub, the
//! ticket-signing key, the card terminal, the receipt printer and the till that makes orders exactly once.

pub use portico_store::kiosk::*;

pub mod lease_client;
pub mod printer;
pub mod runtime;
pub mod sale;
pub mod shell;
pub mod signer;
pub mod terminal;
