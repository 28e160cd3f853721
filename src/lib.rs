//! Portico: firmware for the gates and kiosks of a membership venue.
//!
//! See `docs/ARCHITECTURE.md` for the bird's-eye view and the code map.

pub mod domain;
pub mod input;
pub mod normalize;
