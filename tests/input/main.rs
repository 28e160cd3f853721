//! Scanners and readers: framing, key decoding, credential parsing, dedupe, input config, serial ptys and the scan-test view.
//!
//! One test binary for the area (each binary links the whole firmware).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/input.rs"]
mod input_common;

mod input_config;
mod input_credentials;
mod input_dedupe;
mod input_keys;
mod input_properties;
mod input_scan_test;
mod input_serial;
mod scan_test_cli;
