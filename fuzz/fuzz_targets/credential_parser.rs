#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portico::input::fuzz_entry::credential_parser(data);
});
