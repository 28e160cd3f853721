//! Scanner and card-reader input, decoded: serial bytes and keyboard events to frames, frames to
//! typed [`credential::Credential`]s, double scans suppressed. Pure: time is an input, and
//! idle-gap ends are driven by `poll(now)`. The device crate reads the ports and devices.

pub mod credential;
pub mod dedupe;
pub mod framer;
pub mod fuzz_entry;
pub mod keydecoder;
pub mod keymap;
