//! Portico: firmware for the gates and kiosks of a membership venue.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view and the code map.

pub mod bench;
pub mod clock;
pub mod config;
pub mod demo;
pub mod device;
pub mod domain;
pub mod error_text;
pub mod find_membership;
pub mod gate;
pub mod hub;
pub mod input;
pub mod intake;
pub mod logging;
pub mod matching;
pub mod normalize;
pub mod outbox;
pub mod protocol;
pub mod replica;
pub mod status;
pub mod sync;
pub mod tls;
#[cfg(feature = "ui")]
pub mod ui;
pub mod update_rules;
