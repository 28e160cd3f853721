//! Find My Membership fixtures: members with primary and secondary contacts, a merged
//! duplicate holding a membership, and reading codes from the hub's notification spool.
//!
//! Included by path (`#[path = "common/find_membership.rs"]`) next to `mod common;`.

#![allow(dead_code)]

use std::sync::Arc;

use portico::clock::ManualClock;
use portico::domain::{Constituent, Membership, MembershipStatus};
use portico::find_membership::KioskSession;
use portico::find_membership::kiosk::{Input, Screen};
use portico::hub::HubStore;
use portico::protocol::{ConstituentDto, MembershipDto, Resource};
use portico::sync::HubClient;

use crate::common::{TestDevice, TestHub, date, email, manual_clock, person, phone, start_time};

/// Jane Doe: primary active email and phone, plus a work email, a mobile, and an old primary
/// email that is no longer active. Holds `JANE_MEMBERSHIP`.
pub const JANE: &str = "8-90000001";
pub const JANE_MEMBERSHIP: &str = "M9000001";
/// Sam Lee's duplicate (made at a kiosk, no contacts), merged into `SAM` after it got
/// `SAM_MEMBERSHIP`.
pub const SAM_DUPLICATE: &str = "8-90000101";
pub const SAM: &str = "8-90000102";
pub const SAM_MEMBERSHIP: &str = "M9000002";
/// A membership whose record still names the merged-away duplicate.
pub const STALE_MEMBERSHIP: &str = "M9000003";
/// A member with no primary email or phone.
pub const NOBODY: &str = "8-90000201";
pub const NOBODY_MEMBERSHIP: &str = "M9000004";

pub fn jane_record() -> Constituent {
    let mut c = person(JANE, "Jane", "Doe");
    c.emails = vec![
        email("jdoe@work.com", "Work", false, true),
        email("jane.old@oldmail.net", "Email", true, false),
        email("jane.doe@example.org", "Email", true, true),
    ];
    c.phones = vec![
        phone("555-987-6543", "Mobile", false, true),
        phone("555-444-5678", "Home", true, false),
        phone("(555) 123-1234", "Home", true, true),
    ];
    c
}

fn membership(id: &str, members: &[&str]) -> MembershipDto {
    MembershipDto::from(Membership {
        membership_id: id.to_owned(),
        level: "Family".to_owned(),
        status: MembershipStatus::Active,
        start: date(2026, 1, 1),
        expiry: date(2027, 1, 1),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        guest_allowance: 2,
    })
}

fn put_person(store: &HubStore, c: Constituent) {
    let id = c.lookup_id.clone();
    store
        .upsert(Resource::Constituents, &id, &ConstituentDto::from(c))
        .unwrap();
}

fn put_membership(store: &HubStore, m: MembershipDto) {
    let id = m.membership_id.clone();
    store.upsert(Resource::Memberships, &id, &m).unwrap();
}

/// Adds the fixtures above to a hub's store.
pub fn add_members(store: &HubStore) {
    put_person(store, jane_record());
    put_membership(store, membership(JANE_MEMBERSHIP, &[JANE]));

    put_person(store, person(SAM_DUPLICATE, "Sam", "Lee"));
    let mut sam = person(SAM, "Sam", "Lee");
    sam.emails = vec![email("sam.lee@zoomail.org", "Email", true, true)];
    sam.phones = vec![phone("+1 555 222 3333", "Mobile", true, true)];
    put_person(store, sam);
    put_membership(store, membership(SAM_MEMBERSHIP, &[SAM_DUPLICATE]));
    store.merge(SAM_DUPLICATE, SAM, start_time()).unwrap();
    put_membership(store, membership(STALE_MEMBERSHIP, &[SAM_DUPLICATE]));

    let mut nobody = person(NOBODY, "Ned", "Nobody");
    nobody.emails = vec![email("ned@somewhere.org", "Email", false, true)];
    nobody.phones = vec![phone("555-000-1111", "Home", true, false)];
    put_person(store, nobody);
    put_membership(store, membership(NOBODY_MEMBERSHIP, &[NOBODY]));
}

/// A hub with the fixtures and a manual clock for Find My Membership, a kiosk registered on it,
/// and that kiosk's hub client.
pub struct Fixture {
    pub hub: TestHub,
    pub device: TestDevice,
    pub client: HubClient,
    pub clock: Arc<ManualClock>,
}

pub async fn fixture() -> Fixture {
    let hub = TestHub::start(20).await;
    let store = hub.store.clone();
    tokio::task::spawn_blocking(move || add_members(&store))
        .await
        .unwrap();
    let clock = manual_clock();
    hub.server.state.find_membership.set_clock(clock.clone());
    let device = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let client = HubClient::new(&device.config().upstream).unwrap();
    Fixture {
        hub,
        device,
        client,
        clock,
    }
}

impl Fixture {
    /// The device opened on the fixture's clock and a kiosk session for `visitor`.
    pub fn kiosk(&self, visitor: &str) -> (portico::device::Device, KioskSession) {
        let device = self.device.open(self.clock.clone());
        let kiosk = KioskSession::new(
            self.client.clone(),
            device.store.clone(),
            self.clock.clone(),
            visitor,
        );
        (device, kiosk)
    }

    /// A kiosk that located Jane's membership and had a code sent to her first target:
    /// the session, the request id and the code from the spool.
    pub async fn kiosk_awaiting_code(
        &self,
    ) -> (portico::device::Device, KioskSession, String, String) {
        let (device, mut kiosk) = self.kiosk("v");
        kiosk
            .act(Input::IdEntered(JANE_MEMBERSHIP.into()))
            .await
            .unwrap();
        kiosk.act(Input::TargetChosen(0)).await.unwrap();
        let Screen::EnterCode { request_id, .. } = kiosk.screen().clone() else {
            panic!("{:?}", kiosk.screen());
        };
        let code = code_from_spool(&self.hub.store, &request_id);
        (device, kiosk, request_id, code)
    }
}

/// The code in the newest spooled message for `request_id`.
pub fn code_from_spool(store: &HubStore, request_id: &str) -> String {
    let messages = portico::hub::find_membership::spool(store, 1000).unwrap();
    let body = messages
        .iter()
        .rev()
        .find(|m| m.request_id == request_id)
        .unwrap_or_else(|| panic!("no message for {request_id}"))
        .body
        .clone();
    let digits: Vec<&str> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 6)
        .collect();
    assert_eq!(digits.len(), 1, "one 6-digit code in {body:?}");
    digits[0].to_owned()
}

/// A 6-digit code different from `code`.
pub fn other_code(code: &str, n: u32) -> String {
    let v: u32 = code.parse().unwrap();
    format!("{:06}", (v + 1 + n) % 1_000_000)
}
