//! A kiosk with every real part for tests: a hub with tomorrow's catalog, the device's replica
//! filled from it, its signing key registered, seats leased for the morning, the simulated card
//! terminal and the loopback ESC/POS printer; the shell set at 08:00 tomorrow.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Local, NaiveDate, TimeZone, Utc};

use super::{TestDevice, TestHub, manual_clock};
use portico::clock::ManualClock;
use portico::device::Device;
use portico::domain::MembershipStatus;
use portico::intake::IntakeConfig;
use portico::kiosk::checkout::FlowConfig;
use portico::kiosk::lease_client::{LeaseClient, LeaseSettings};
use portico::kiosk::printer::{EscPosPrinter, PrinterAddress, TicketPrinter};
use portico::kiosk::receipt::{Letterhead, Paper};
use portico::kiosk::sale::Sales;
use portico::kiosk::shell::{HubLink, KioskShell, ShellParts, TechParts};
use portico::kiosk::signer;
use portico::kiosk::terminal::SimulatedTerminal;
use portico::loopback_printer::LoopbackPrinter;
use portico::matching::{MatchConfig, OnAmbiguous};
use portico::protocol::{ConstituentDto, MembershipDto, Resource};
use portico::sync::HubClient;

pub fn tomorrow() -> NaiveDate {
    Local::now().date_naive() + chrono::Duration::days(1)
}

pub fn slot() -> String {
    portico::hub::catalog::slot_id("zoo", tomorrow().and_hms_opt(10, 0, 0).unwrap())
}

pub struct Kiosk {
    pub hub: TestHub,
    pub dev: TestDevice,
    pub device: Device,
    pub shell: KioskShell,
    pub printer: LoopbackPrinter,
    /// The kiosk's clock (08:00 tomorrow until a test moves it).
    pub clock: Arc<ManualClock>,
    pub sales: Arc<Sales>,
    pub terminal: Arc<SimulatedTerminal>,
    pub pin_file: std::path::PathBuf,
}

/// A kiosk at 08:00 tomorrow with seats leased for the morning's slots.
pub async fn kiosk() -> Kiosk {
    let hub = TestHub::start(100).await;
    hub.store
        .write(|tx, seq| portico::hub::catalog::publish(tx, seq, tomorrow(), 1, 0))
        .unwrap();
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let clock: Arc<ManualClock> = manual_clock();
    let eight = tomorrow().and_hms_opt(8, 0, 0).unwrap();
    clock.set(
        Local
            .from_local_datetime(&eight)
            .earliest()
            .unwrap()
            .with_timezone(&Utc),
    );
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let client = HubClient::new(&device.config.upstream).unwrap();
    let key = signer::load_or_create(&device.config.data_dir.join("kiosk-signing.key")).unwrap();
    let signer = Arc::new(
        signer::register(&client, &device.store, &key)
            .await
            .unwrap(),
    );
    let leases = LeaseClient::new(
        client,
        device.store.clone(),
        device.engine.database(),
        clock.clone(),
        None,
        LeaseSettings::default(),
        vec!["zoo".into()],
    );
    leases.check(&|_: &str| 0).await.unwrap();

    let (catalog, intake) = (catalog(&device), intake());
    let terminal = Arc::new(SimulatedTerminal::in_memory());
    let sales = Arc::new(Sales {
        store: device.store.clone(),
        terminal: terminal.clone(),
        signer,
        clock: clock.clone(),
        zone: None,
        device_id: "kiosk-1".into(),
        order_prefix: "K1".into(),
        normalizer: device.config.normalizer.clone(),
        intake: intake.clone(),
        on_approved_after_crash: Default::default(),
    });
    let printer = LoopbackPrinter::start().unwrap();
    let pin_file = device.config.data_dir.join("technician.pin");
    portico::technician::set(&pin_file, TECHNICIAN_PIN).unwrap();
    let mut k = Kiosk {
        shell: new_shell(
            &device,
            sales.clone(),
            &printer,
            &clock,
            &pin_file,
            catalog,
            intake,
        ),
        hub,
        dev,
        device,
        printer,
        clock,
        sales,
        terminal,
        pin_file,
    };
    k.shell.handle(
        portico::kiosk::checkout::Event::Tick,
        std::time::Instant::now(),
    );
    k
}

/// Tomorrow's catalog as the device's replica holds it.
fn catalog(device: &Device) -> portico::kiosk::catalog::Catalog {
    let conn = device.engine.database();
    let conn = conn.lock().unwrap();
    portico::replica::catalog::load_catalog(&conn, tomorrow(), tomorrow())
        .unwrap()
        .catalog
}

/// Intake as the till runs it: several matches make a new record for staff to review.
fn intake() -> IntakeConfig {
    IntakeConfig {
        matching: MatchConfig {
            on_ambiguous: OnAmbiguous::Create,
            ..MatchConfig::default()
        },
        ..IntakeConfig::default()
    }
}

/// The PIN of the test kiosk's technician screen.
pub const TECHNICIAN_PIN: &str = "480913";

fn new_shell(
    device: &Device,
    sales: Arc<Sales>,
    printer: &LoopbackPrinter,
    clock: &Arc<ManualClock>,
    pin_file: &std::path::Path,
    catalog: portico::kiosk::catalog::Catalog,
    intake: IntakeConfig,
) -> KioskShell {
    let escpos: Box<dyn TicketPrinter> = Box::new(EscPosPrinter::new(
        PrinterAddress::Tcp(printer.addr.to_string()),
        Duration::from_secs(5),
    ));
    let (status, sync) = (device.engine.clone(), device.engine.clone());
    KioskShell::new(ShellParts {
        flow: FlowConfig::default(),
        catalog,
        store: sales.store.clone(),
        device_id: sales.device_id.clone(),
        sales: Some(sales),
        printer: Some(Arc::new(Mutex::new(escpos))),
        paper: Paper::Mm80,
        letterhead: Letterhead {
            venue: "Riverside Zoo".into(),
            ..Letterhead::default()
        },
        reader: device.store.reader().unwrap(),
        normalizer: device.config.normalizer.clone(),
        intake,
        clock: clock.clone(),
        zone: None,
        online: Arc::new(|| true),
        lease_poke: None,
        hub: Some(HubLink {
            client: HubClient::new(&device.config.upstream).unwrap(),
            runtime: tokio::runtime::Handle::current(),
        }),
        tech: TechParts {
            pin_file: Some(pin_file.to_owned()),
            cards: vec!["TECH-CARD-0001".into()],
            offline_limit: Some(Duration::from_secs(6 * 3600)),
            device_id: "kiosk-1".into(),
            roles: vec!["kiosk".into()],
            readers: vec!["lobby-scanner".into()],
            terminal_kind: "simulated".into(),
            link: Some(Arc::new(move || status.link_status())),
            sync_now: Some(Arc::new(move || {
                sync.pull_now.notify_one();
                sync.push_now.notify_one();
            })),
        },
    })
}

impl Kiosk {
    /// The hub's TLS settings, to start a hub on its certificate.
    pub fn hub_tls(&self) -> rustls::ServerConfig {
        let pki = self.hub.dir.path().join("pki");
        portico::tls::server_config(&pki.join("server.pem"), &pki.join("server.key")).unwrap()
    }

    /// The hub the kiosk knows goes away (another takes its place in the test's hands);
    /// returns the address it was on, to come back on.
    pub async fn hub_goes_away(&mut self) -> std::net::SocketAddr {
        let addr = self.hub.server.addr;
        let elsewhere = portico::hub::HubServer::start(
            "127.0.0.1:0".parse().unwrap(),
            self.hub.store.clone(),
            self.hub_tls(),
        )
        .await
        .unwrap();
        std::mem::replace(&mut self.hub.server, elsewhere)
            .shutdown()
            .await;
        addr
    }

    /// The kiosk started again on the same database (a restart), its catalog read again.
    pub fn restart(&mut self) {
        self.shell = new_shell(
            &self.device,
            self.sales.clone(),
            &self.printer,
            &self.clock,
            &self.pin_file,
            catalog(&self.device),
            intake(),
        );
        self.shell.handle(
            portico::kiosk::checkout::Event::Tick,
            std::time::Instant::now(),
        );
    }

    /// Gives a seeded constituent with an active primary email a membership of `level`
    /// (`guests` guests) whose term ends on `expiry`, at the hub, and pulls it.
    pub async fn member(
        &mut self,
        id: &str,
        level: &str,
        guests: u32,
        expiry: chrono::NaiveDate,
    ) -> (MembershipDto, ConstituentDto) {
        let taken: Vec<String> = self
            .hub
            .store
            .all::<MembershipDto>(Resource::Memberships)
            .unwrap()
            .into_iter()
            .flat_map(|m| m.members)
            .collect();
        let who = self
            .hub
            .store
            .all::<ConstituentDto>(Resource::Constituents)
            .unwrap()
            .into_iter()
            .filter(|c| c.status == portico::domain::ConstituentStatus::Active)
            .filter(|c| !taken.contains(&c.lookup_id))
            .find(|c| c.emails.iter().any(|e| e.meta.active && e.meta.primary))
            .expect("a constituent with an email and no membership");
        let m = MembershipDto {
            membership_id: id.into(),
            level: level.into(),
            status: MembershipStatus::Active,
            start: expiry - chrono::Duration::days(365),
            expiry,
            members: vec![who.lookup_id.clone()],
            guest_allowance: guests,
        };
        self.hub
            .store
            .upsert(Resource::Memberships, id, &m)
            .unwrap();
        self.device.engine.pull_all(None).await.unwrap();
        (m, who)
    }

    /// A Family member `id` checks in with two guests while the printer has paper for one
    /// piece: the visit is recorded, one guest pass prints and the other is owed.
    pub async fn checked_in_with_a_pass_owed(&mut self, id: &str) -> MembershipDto {
        use portico::kiosk::checkout::{Event, Printed, Screen, Tap};
        let (m, _) = self
            .member(id, "Family", 2, tomorrow() + chrono::Duration::days(90))
            .await;
        self.printer.paper_for(1);
        let mut send = |e: Event| self.shell.handle(e, std::time::Instant::now());
        send(Event::Scanned {
            membership_id: m.membership_id.clone(),
        });
        send(Event::Tap(Tap::Guests(1)));
        send(Event::Tap(Tap::Guests(1)));
        send(Event::Tap(Tap::CheckIn));
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < until
            && self.shell.flow().screen() == &Screen::CheckInSaving
        {
            self.shell.pump(Duration::from_millis(100));
        }
        assert_eq!(
            self.shell.flow().screen(),
            &Screen::CheckedIn {
                printed: Printed::NotAll
            }
        );
        assert_eq!(self.printer.printed().len(), 1);
        m
    }
}

/// The code the hub sent for Find My Membership request `request_id` (read from its
/// notification spool, as the member reads their text message).
pub fn sent_code(hub: &TestHub, request_id: &str) -> String {
    let messages = portico::hub::find_membership::spool(&hub.store, 1000).unwrap();
    let body = &messages
        .iter()
        .rev()
        .find(|m| m.request_id == request_id)
        .unwrap_or_else(|| panic!("no message for {request_id}"))
        .body;
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .to_owned()
}

/// What `portico status` reports of `kiosk` now.
pub fn kiosk_status(kiosk: &Device) -> portico::status::StatusReport {
    let conn = kiosk.engine.database();
    portico::status::report(
        &conn.lock().unwrap(),
        &kiosk.config.device_id,
        vec!["kiosk".into()],
        Default::default(),
        Utc::now(),
    )
    .unwrap()
}
