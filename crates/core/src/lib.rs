//! Portico's core: everything that decides, and nothing that does I/O.
//!
//! Domain types, the wire protocol and its versioned upstream payloads, normalisation,
//! constituent matching and the CRM's update rules, intake's decision, Find My Membership's
//! rules and kiosk flow, the kiosk's catalog, pricing, capacity and checkout flow, the gate's
//! admission decision and passage tracking, scanner input decoding, and the screens'
//! controllers. Every function here takes the time and the facts it needs as inputs. This
//! crate depends on no I/O crate (no SQLite, no network, no async runtime, no devices, no UI):
//! CI checks it (`.ci/run`).

pub mod backoff;
pub mod clock;
pub mod domain;
pub mod error_text;
pub mod find_membership;
pub mod gate;
pub mod import;
pub mod input;
pub mod intake;
pub mod kiosk;
pub mod lang;
pub mod matching;
pub mod normalize;
pub mod protocol;
pub mod screens;
pub mod technician;
pub mod update_rules;
pub mod upstream;
pub mod volunteer;
