//! Shared pieces of the gate tests: a gate config tail, picking seeded records, a station
//! with a simulated relay, and credentials.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use portico::gate::Now;
use portico::gate::relay::simulated::SimulatedOutput;
use portico::gate::station::Station;
use portico::input::credential::{Credential, CredentialKind};
use portico::protocol::{MembershipDto, Resource, TicketDto, ValidityDto};

use super::common::{self, TestHub};

pub const TAIL: &str = r#"
[credentials]
membership_regex = "^M[0-9]{7}$"
"#;

pub fn at(h: u32, m: u32) -> Now {
    let local = common::anchor().and_hms_opt(h, m, 0).unwrap();
    Now {
        utc: Utc.from_utc_datetime(&local),
        local,
    }
}

/// A single-use ticket valid on the anchor day, an active and a lapsed membership.
pub fn pick(hub: &TestHub) -> (String, String, String) {
    let day = common::anchor();
    let ticket = hub
        .store
        .all::<TicketDto>(Resource::Tickets)
        .unwrap()
        .into_iter()
        .find(|t| {
            t.uses_allowed == 1
                && t.status == portico::domain::TicketStatus::Valid
                && t.validity == ValidityDto::Date { date: day }
        })
        .expect("a single-use ticket for the day");
    let memberships: Vec<MembershipDto> = hub.store.all(Resource::Memberships).unwrap();
    let active = memberships
        .iter()
        .find(|m| {
            m.status == portico::domain::MembershipStatus::Active
                && m.start <= day
                && m.expiry > day + chrono::Duration::days(30)
        })
        .expect("an active membership");
    let lapsed = memberships
        .iter()
        .find(|m| {
            m.status == portico::domain::MembershipStatus::Lapsed
                && m.expiry < day - chrono::Duration::days(60)
        })
        .expect("a long-lapsed membership");
    (
        ticket.secret,
        active.membership_id.clone(),
        lapsed.membership_id.clone(),
    )
}

/// A station on the device's database, writing through the device's own writer.
pub fn station(
    device: &portico::device::Device,
    clock: Arc<portico::clock::ManualClock>,
) -> (Station, SimulatedOutput) {
    station_on(device.store.clone(), &device.config, clock)
}

/// A station writing through `store`.
pub fn station_on(
    store: Arc<portico::replica::Store>,
    cfg: &portico::config::DeviceConfig,
    clock: Arc<portico::clock::ManualClock>,
) -> (Station, SimulatedOutput) {
    let relay = SimulatedOutput::new(clock);
    let station = Station::open(
        store,
        &cfg.device_id,
        cfg.gate.clone().unwrap(),
        Box::new(relay.clone()),
        Arc::new(|| false),
    )
    .unwrap();
    (station, relay)
}

pub fn credential(kind: CredentialKind) -> Credential {
    Credential {
        reader: "test".into(),
        raw: vec![],
        kind,
    }
}

pub fn wait_pulses(relay: &SimulatedOutput, n: usize) {
    for _ in 0..200 {
        if relay.pulses().len() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("expected {n} relay pulses, saw {}", relay.pulses().len());
}

/// A code as `device`'s configured scanner reads it (a kiosk-signed ticket's QR code, say).
pub fn scanned(device: &portico::device::Device, code: &str) -> Credential {
    portico::input::credential::CredentialParser::new(device.config.inputs.credentials.clone())
        .parse(
            "scanner",
            code.as_bytes(),
            portico::input::credential::FormatSet::barcode_default(),
        )
}

pub fn ticket(secret: &str) -> Credential {
    credential(CredentialKind::TicketSecret {
        secret: secret.to_owned(),
    })
}

/// An active membership whose level admits at least two guests with the member.
pub fn membership_with_guests(hub: &TestHub) -> portico::protocol::MembershipDto {
    let day = common::anchor();
    hub.store
        .all::<portico::protocol::MembershipDto>(portico::protocol::Resource::Memberships)
        .unwrap()
        .into_iter()
        .find(|m| {
            m.status == portico::domain::MembershipStatus::Active
                && m.start <= day
                && m.expiry > day + chrono::Duration::days(30)
                && m.guest_allowance >= 2
        })
        .expect("an active membership with guests")
}

pub fn card(membership_id: &str) -> portico::input::credential::Credential {
    credential(portico::input::credential::CredentialKind::Membership {
        membership_id: membership_id.to_owned(),
    })
}
