#![no_main]

use libfuzzer_sys::fuzz_target;
use portico::protocol::{ConstituentDto, MembershipDto, Resource, TicketDto};

// Any bytes as a hub reply: a page or a protocol error, never a panic.
fuzz_target!(|data: &[u8]| {
    let _ = portico::sync::client::decode_page::<ConstituentDto>(Resource::Constituents, data);
    let _ = portico::sync::client::decode_page::<MembershipDto>(Resource::Memberships, data);
    let _ = portico::sync::client::decode_page::<TicketDto>(Resource::Tickets, data);
});
