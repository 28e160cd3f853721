//! The visitor kiosk: its pure parts (core), its sales in the database (store), and here its
//! runtime: seat leases with the hub, the ticket-signing key, the card terminal, the receipt
//! printer, the till that makes orders exactly once, and the session thread behind the screen.

pub use portico_store::kiosk::*;

pub mod lease_client;
pub mod nexo_terminal;
pub mod printer;
pub mod runtime;
pub mod sale;
pub mod session;
pub mod shell;
pub mod signer;
pub mod terminal;
