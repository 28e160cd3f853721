#![no_main]

use libfuzzer_sys::fuzz_target;

// Any text as a device config: a config or a list of diagnostics, never a panic.
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = portico::config::parse(std::path::Path::new("/nonexistent/fuzz.toml"), text);
    }
});
