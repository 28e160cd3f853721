#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as a scan journal file (torn, stale, corrupted, hostile): records or nothing, and
// each record's payload a write or a decoding error, never a panic.
fuzz_target!(|data: &[u8]| {
    for record in portico::gate::scan_journal::parse(data) {
        let _ = portico::gate::scan_writer::Write::from_journal(&record.payload);
    }
});
