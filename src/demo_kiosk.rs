//! The demo's kiosk walkthrough: a visitor buys two adult and one child timed-entry tickets at
//! the demo device's kiosk, their details match a constituent the CRM knows, the simulated
//! card terminal approves, the loopback printer prints the tickets and the receipt, the order
//! reaches the hub, and one of the new tickets is admitted at the demo gate. Then a member
//! checks in with a guest (card scanned, guest pass printed) and the guest is admitted too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;

use crate::gate::station::{Station, now_local};
use crate::hub::HubStore;
use crate::kiosk::checkout::{Event, Purpose, Screen, Tap, VisitorForm};
use crate::kiosk::escpos::Block;
use crate::kiosk::lease_client::{LeaseClient, LeaseSettings};
use crate::kiosk::shell::KioskShell;
use crate::kiosk::signer;
use crate::loopback_printer::LoopbackPrinter;
use crate::protocol::{ConstituentDto, Resource};
use crate::sync::{HubClient, SyncEngine};

/// Runs the walkthrough on the demo device (its kiosk role) against the demo hub.
pub async fn walkthrough(
    engine: &Arc<SyncEngine>,
    hub: &Arc<HubStore>,
    printer: &LoopbackPrinter,
) -> Result<()> {
    let cfg = engine.config().clone();
    let Some(kiosk) = cfg.kiosk.clone() else {
        return Ok(());
    };
    println!("\nkiosk: a visitor buys timed-entry tickets");
    let client = HubClient::new(&cfg.upstream)?;
    let key = signer::load_or_create(&kiosk.key_path(&cfg.data_dir))?;
    let signer = signer::register(&client, &engine.store(), &key).await?;
    println!(
        "  the kiosk's ticket-signing key is registered with the hub as key {}",
        signer.key_id()
    );
    // The gate learns the key (and the kiosk the catalog) at their next pull.
    engine.pull_all(None).await?;

    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let now = now_local(Utc::now(), cfg.timezone).local;
    let catalog = {
        let db = engine.database();
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        crate::replica::catalog::load_catalog(
            &conn,
            now.date(),
            now.date() + chrono::Duration::days(1),
        )?
        .catalog
    };
    // The next entry slot still on sale, today or tomorrow morning, and for long enough that
    // its sales do not close while the walkthrough runs.
    let margin = now + chrono::Duration::minutes(10);
    let slot = [now.date(), now.date() + chrono::Duration::days(1)]
        .iter()
        .flat_map(|d| catalog.open_slots("zoo", *d, now))
        .find(|s| s.open(margin))
        .cloned()
        .context("the demo catalog has no open entry slot")?;
    let leases = LeaseClient::new(
        client,
        engine.store(),
        engine.database(),
        clock.clone(),
        cfg.timezone,
        LeaseSettings {
            lead: Duration::from_secs(36 * 3600),
            ..LeaseSettings::default()
        },
        vec!["zoo".into()],
    );
    let got = leases.check(&|_: &str| 0).await?;
    println!(
        "  seats leased from the hub for the slots ahead: {} (the kiosk sells them even offline)",
        got.granted
    );

    let sales = Arc::new(crate::kiosk::runtime::sales(
        &cfg,
        &kiosk,
        engine.store(),
        clock.clone(),
        signer,
    )?);
    let recovered = tokio::task::block_in_place(|| sales.recover(false))?;
    if !recovered.completed.is_empty() {
        println!(
            "  payments left by the last run settled: {} order(s) completed",
            recovered.completed.len()
        );
    }
    let mut parts = crate::kiosk::session::shell_parts(
        &cfg,
        &kiosk,
        sales.store.clone(),
        Some(sales.clone()),
        clock,
        Arc::new(|| true),
        None,
    )?;
    parts.catalog = catalog;
    let mut shell = KioskShell::new(parts);

    let buyer = buyer(hub)?;
    let steps = vec![
        Tap::Start(Purpose::Tickets),
        Tap::Day(slot.day()),
        Tap::Slot {
            product: "TIMED".into(),
            slot: slot.id.clone(),
        },
        Tap::Quantity {
            category: "adult".into(),
            delta: 2,
        },
        Tap::Quantity {
            category: "child".into(),
            delta: 1,
        },
        Tap::Next,
        // No parking or ride today.
        Tap::Next,
        Tap::IsMember(false),
        Tap::Details(VisitorForm {
            first: buyer.name.first.clone(),
            last: buyer.name.last.clone(),
            email: buyer.emails[0].address.clone(),
            phone: String::new(),
            receipt_by_email: false,
        }),
        Tap::Pay,
    ];
    // The screens the visitor saw, rendered headless (no display needed).
    let screens_dir = cfg.data_dir.parent().unwrap_or(&cfg.data_dir).to_path_buf();
    let mut screens = Screens::new(screens_dir);
    screens.write(&shell);
    for tap in steps {
        let shown = tap_words(&tap);
        shell.handle(Event::Tap(tap), Instant::now());
        println!("  {shown:<44} → {}", screen_name(shell.flow().screen()));
        screens.write(&shell);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until
        && matches!(
            shell.flow().screen(),
            Screen::Paying { .. } | Screen::Committing | Screen::Printing
        )
    {
        shell.pump(Duration::from_millis(100));
    }
    println!(
        "  {:<44} → {}",
        "(card approved, order saved, printed)",
        screen_name(shell.flow().screen())
    );
    screens.write(&shell);
    let Some(order) = shell.order().cloned() else {
        bail!(
            "the demo purchase made no order: {:?}",
            shell.flow().screen()
        );
    };
    println!(
        "  order {} for {} {} ({}): {} tickets signed by the kiosk",
        order.order_no,
        buyer.name.first,
        buyer.name.last,
        order.constituent.as_deref().unwrap_or("a new record"),
        order.tickets.len()
    );
    let printed = printer.printed();
    println!(
        "  the printer printed {} pieces; the receipt reads:",
        printed.len()
    );
    #[cfg(feature = "ui")]
    screens.paper(
        &printed,
        kiosk.printer.as_ref().map(|p| p.paper).unwrap_or_default(),
    );
    if let Some(receipt) = printed.last() {
        for b in &receipt.0 {
            if let Block::Text { text, .. } = b {
                println!("    | {text}");
            }
        }
    }

    // A member walks up after the visitor: scans their card, brings a guest, checks in.
    let passes = member_check_in(&mut shell, hub, &mut screens, now.date())?;
    // A volunteer clocks in to their morning shift and out again.
    volunteer_clock(&cfg, &kiosk, &sales, &mut screens)?;
    #[cfg(feature = "ui")]
    if let Some(doc) = printer.printed().last().filter(|_| !passes.is_empty()) {
        let paper = kiosk.printer.as_ref().map(|p| p.paper).unwrap_or_default();
        match crate::ui::render_paper_png(doc, paper, &screens.dir.join("kiosk-guest-pass.png")) {
            Ok(()) => screens.written.push("kiosk-guest-pass.png".into()),
            Err(e) => println!("  kiosk-guest-pass.png not rendered: {e}"),
        }
    }

    screens.report();

    let pushed = engine.push_once().await?;
    let at_hub = hub.read(|c| crate::hub::orders::list(c, None))?;
    println!(
        "  uploaded ({} rows); the hub has {} kiosk order(s): `portico hub orders`",
        pushed.delivered,
        at_hub.iter().filter(|o| o.source == "kiosk").count()
    );

    // The visitor comes back for their slot: the demo gate admits a ticket the kiosk signed.
    if let Some(gate) = cfg.gate.clone() {
        let parser =
            crate::input::credential::CredentialParser::new(cfg.inputs.credentials.clone());
        let ticket = parser.parse(
            "demo-scanner",
            order.tickets[0].as_bytes(),
            crate::input::credential::FormatSet::barcode_default(),
        );
        let relay = crate::gate::relay::SimulatedOutput::new(Arc::new(crate::clock::SystemClock));
        let mut station = Station::open(
            engine.store(),
            &cfg.device_id,
            gate,
            Box::new(relay),
            Arc::new(|| true),
        )?;
        let arrive = slot.start + chrono::Duration::minutes(5);
        let at = crate::gate::Now {
            utc: Utc::now(),
            local: arrive,
        };
        let d = tokio::task::block_in_place(|| station.scan(&ticket, None, 1, at))?;
        println!(
            "  at {} the visitor scans a ticket at the gate: {} {}",
            arrive.format("%H:%M"),
            if d.is_admit() { "ADMIT" } else { "DENY" },
            d.reason.plain_words()
        );
        if let Some(pass) = passes.first() {
            let pass = parser.parse(
                "demo-scanner",
                pass.as_bytes(),
                crate::input::credential::FormatSet::barcode_default(),
            );
            let at = crate::gate::Now {
                utc: Utc::now(),
                local: now_local(Utc::now(), cfg.timezone).local,
            };
            let d = tokio::task::block_in_place(|| station.scan(&pass, None, 1, at))?;
            println!(
                "  the member's guest scans the guest pass at the gate: {} {}",
                if d.is_admit() { "ADMIT" } else { "DENY" },
                d.reason.plain_words()
            );
        }
    }
    Ok(())
}

/// The first seeded volunteer scans their badge at the kiosk at 09:30, checks in to their
/// 07:00–11:00 shift, and checks out at 11:05: the timesheet goes to the outbox. The walkthrough
/// runs on a clock of its own (the demo may run at any hour).
fn volunteer_clock(
    cfg: &crate::config::DeviceConfig,
    kiosk: &crate::config::KioskConfig,
    sales: &Arc<crate::kiosk::sale::Sales>,
    screens: &mut Screens,
) -> Result<()> {
    let today = now_local(Utc::now(), cfg.timezone).local.date();
    let at = |h, m| {
        let local = today.and_hms_opt(h, m, 0).unwrap_or_default();
        crate::gate::station::utc_of(local, cfg.timezone)
    };
    let clock = Arc::new(crate::clock::ManualClock::new(at(9, 30)));
    let parts = crate::kiosk::session::shell_parts(
        cfg,
        kiosk,
        sales.store.clone(),
        Some(sales.clone()),
        clock.clone(),
        Arc::new(|| true),
        None,
    )?;
    let mut shell = KioskShell::new(parts);
    let badge = crate::hub::seed::lookup_id(0);
    println!("\nkiosk: a volunteer clocks in and out (the kiosk's clock reads 09:30, then 11:05)");
    shell.handle(Event::Tap(Tap::Start(Purpose::Volunteer)), Instant::now());
    screens.write(&shell);
    shell.handle(
        Event::Scanned {
            membership_id: badge.clone(),
        },
        Instant::now(),
    );
    println!(
        "  {:<44} → {}",
        format!("scans volunteer badge {badge}"),
        screen_name(shell.flow().screen())
    );
    screens.write(&shell);
    let Some(day) = shell.model(Instant::now()).volunteer else {
        println!("  (no volunteer {badge} in the demo data)");
        return Ok(());
    };
    let Some(shift) = day
        .shifts
        .iter()
        .find(|s| s.state == crate::volunteer::ShiftState::Open)
    else {
        println!("  (no shift of {badge} open at 09:30)");
        return Ok(());
    };
    let words = format!("taps \"Check in\" ({} {})", shift.time, shift.event);
    shell.handle(
        Event::Tap(Tap::ClockIn {
            event_id: shift.event_id.clone(),
            shift_id: Some(shift.shift_id.clone()),
        }),
        Instant::now(),
    );
    println!("  {words:<44} → {}", screen_name(shell.flow().screen()));
    screens.write(&shell);
    shell.handle(Event::Tap(Tap::Finish), Instant::now());
    clock.set(at(11, 5));
    shell.handle(Event::Tap(Tap::Start(Purpose::Volunteer)), Instant::now());
    shell.handle(
        Event::Scanned {
            membership_id: badge.clone(),
        },
        Instant::now(),
    );
    screens.write(&shell);
    shell.handle(Event::Tap(Tap::ClockOut), Instant::now());
    println!(
        "  {:<44} → {}",
        "11:05: scans again, taps \"Check out\"",
        screen_name(shell.flow().screen())
    );
    screens.write(&shell);
    if let Screen::VolunteerDone(crate::kiosk::checkout::Clocked::Out { event, minutes }) =
        shell.flow().screen()
    {
        println!(
            "  timesheet queued: {event}, {} h {:02} min (rounded to the quarter hour); \
             `portico hub timesheets`",
            minutes / 60,
            minutes % 60
        );
    }
    shell.handle(Event::Tap(Tap::Finish), Instant::now());
    Ok(())
}

/// A member with guests scans their card at the kiosk, brings one guest, and checks in; the
/// kiosk records the visit and prints the guest pass. Returns the passes' codes.
fn member_check_in(
    shell: &mut KioskShell,
    hub: &HubStore,
    screens: &mut Screens,
    today: chrono::NaiveDate,
) -> Result<Vec<String>> {
    let Some(m) = hub
        .all::<crate::protocol::MembershipDto>(Resource::Memberships)?
        .into_iter()
        .find(|m| {
            m.status == crate::domain::MembershipStatus::Active
                && m.start <= today
                && today <= m.expiry
                && m.guest_allowance > 0
        })
    else {
        println!("\nkiosk: no active membership with guests in the demo data; no check-in");
        return Ok(Vec::new());
    };
    println!("\nkiosk: a member checks in with a guest");
    // The visitor before took their tickets and left.
    shell.handle(Event::Tap(Tap::Finish), Instant::now());
    let steps = [
        (
            format!("scans membership card {}", m.membership_id),
            Event::Scanned {
                membership_id: m.membership_id.clone(),
            },
        ),
        (
            "taps \"+\" for one guest".to_owned(),
            Event::Tap(Tap::Guests(1)),
        ),
        ("taps \"Check in\"".to_owned(), Event::Tap(Tap::CheckIn)),
    ];
    for (words, event) in steps {
        shell.handle(event, Instant::now());
        println!("  {words:<44} → {}", screen_name(shell.flow().screen()));
        screens.write(shell);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until && shell.flow().screen() == &Screen::CheckInSaving {
        shell.pump(Duration::from_millis(100));
    }
    println!(
        "  {:<44} → {}",
        "(visit recorded, guest pass printed)",
        screen_name(shell.flow().screen())
    );
    screens.write(shell);
    let Some(done) = shell.check_in() else {
        bail!(
            "the demo check-in was not recorded: {:?}",
            shell.flow().screen()
        );
    };
    println!(
        "  {} {} member: checked in as scan {} with {} guest pass(es), uploaded like a gate's scan",
        m.level,
        m.membership_id,
        done.scan_id,
        done.passes.len()
    );
    let passes = done.passes.iter().map(|p| p.code.clone()).collect();
    shell.handle(Event::Tap(Tap::Finish), Instant::now());
    Ok(passes)
}

/// The kiosk screens of the walkthrough, written as `kiosk-NN-<screen>.png` beside the demo's
/// databases.
struct Screens {
    #[cfg_attr(not(feature = "ui"), allow(dead_code))]
    dir: std::path::PathBuf,
    written: Vec<String>,
    /// Screens written so far (their pictures are numbered).
    #[cfg_attr(not(feature = "ui"), allow(dead_code))]
    screens: usize,
    #[cfg_attr(not(feature = "ui"), allow(dead_code))]
    last: Option<Screen>,
    failed: Option<String>,
}

impl Screens {
    fn new(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            written: Vec::new(),
            screens: 0,
            last: None,
            failed: None,
        }
    }

    /// Renders the shell's screen, once per screen the visitor passes through.
    #[cfg(feature = "ui")]
    fn write(&mut self, shell: &KioskShell) {
        let screen = shell.flow().screen().clone();
        if self.failed.is_some() {
            return;
        }
        // A screen that changed in place (another day picked) is written again, as last seen.
        if self.last.as_ref() == Some(&screen) {
            self.written.pop();
            self.screens -= 1;
        }
        let name = format!(
            "kiosk-{:02}-{}.png",
            self.screens + 1,
            screen_name(&screen)
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        );
        let model = shell.model(Instant::now());
        match crate::ui::render_kiosk_png(&model, shell.venue(), 1080, 1920, &self.dir.join(&name))
        {
            Ok(()) => {
                self.written.push(name);
                self.screens += 1;
            }
            Err(e) => self.failed = Some(e.to_string()),
        }
        self.last = Some(screen);
    }

    #[cfg(not(feature = "ui"))]
    fn write(&mut self, _: &KioskShell) {}

    /// The first ticket and the receipt as printed, drawn on their paper.
    #[cfg(feature = "ui")]
    fn paper(
        &mut self,
        printed: &[crate::kiosk::escpos::PrintDoc],
        paper: crate::kiosk::receipt::Paper,
    ) {
        for (doc, name) in [
            (printed.first(), "kiosk-ticket.png"),
            (printed.last(), "kiosk-receipt.png"),
        ] {
            let Some(doc) = doc else { continue };
            match crate::ui::render_paper_png(doc, paper, &self.dir.join(name)) {
                Ok(()) => self.written.push(name.to_owned()),
                Err(e) => println!("  {name} not rendered: {e}"),
            }
        }
    }

    fn report(&self) {
        match (&self.failed, self.written.first(), self.written.last()) {
            (Some(e), _, _) => println!("  kiosk screens not rendered: {e}"),
            (None, Some(first), Some(last)) => println!(
                "  {} kiosk screens and printouts written to {} ({first} … {last})",
                self.written.len(),
                self.dir.display()
            ),
            _ => {}
        }
    }
}

/// A constituent the CRM knows, with a primary email, as the demo's visitor.
fn buyer(hub: &HubStore) -> Result<ConstituentDto> {
    hub.all::<ConstituentDto>(Resource::Constituents)?
        .into_iter()
        .filter(|c| c.status == crate::domain::ConstituentStatus::Active)
        .find_map(|mut c| {
            c.emails.retain(|e| e.meta.active && e.meta.primary);
            (!c.emails.is_empty()).then_some(c)
        })
        .context("the demo hub has no constituent with an email")
}

/// What the visitor touched, in words.
fn tap_words(t: &Tap) -> String {
    match t {
        Tap::Start(Purpose::Tickets) => "taps \"Buy tickets\"".into(),
        Tap::Start(Purpose::Membership) => "taps \"Become a member\"".into(),
        Tap::Day(day) => format!("picks {}", day.format("%a %-d %b")),
        Tap::Slot { slot, .. } => format!(
            "picks the {} entry",
            slot.rsplit('T').next().unwrap_or(slot.as_str())
        ),
        Tap::Quantity { category, delta } => format!("adds {delta} × {category}"),
        Tap::AddOn { product, delta } => format!("adds {delta} × {product}"),
        Tap::Next => "taps \"Next\"".into(),
        Tap::IsMember(false) => "taps \"Not a member\"".into(),
        Tap::Details(f) => format!("types {} {} and an email", f.first, f.last),
        Tap::Pay => "taps \"Pay\" and presents a card".into(),
        other => format!("{other:?}"),
    }
}

fn screen_name(s: &Screen) -> String {
    match s {
        Screen::Welcome => "welcome".into(),
        Screen::Levels => "membership levels".into(),
        Screen::Slots => "choose a time".into(),
        Screen::Quantities { .. } => "how many tickets".into(),
        Screen::AddOns { .. } => "anything else for the visit?".into(),
        Screen::AskMember => "are you a member?".into(),
        Screen::MemberId { .. } => "membership ID".into(),
        Screen::Details { .. } => "your details".into(),
        Screen::OneMoreDetail { .. } => "one more detail".into(),
        Screen::Matching => "checking".into(),
        Screen::Review { .. } => "review and pay".into(),
        Screen::Paying { .. } => "pay on the card terminal".into(),
        Screen::CannotPrint(p) => format!("cannot print ({p:?})"),
        Screen::PaymentProblem(p) => format!("payment problem ({p:?})"),
        Screen::Committing => "saving the order".into(),
        Screen::Printing => "printing".into(),
        Screen::Done => "done: take your tickets".into(),
        Screen::CollectAtDesk => "collect tickets at the desk".into(),
        Screen::CheckInFind { .. } => "member check-in".into(),
        Screen::CheckInName { .. } => "find the membership by name".into(),
        Screen::CheckInFirst => "first name, please".into(),
        Screen::CheckInLooking { .. } => "looking for the membership".into(),
        Screen::CheckInCard { .. } => "the membership".into(),
        Screen::CheckInSaving => "checking in".into(),
        Screen::CheckedIn { .. } => "checked in: take the guest passes".into(),
        Screen::FindMembership(_) => "verify the membership with a code".into(),
        Screen::VolunteerFind { .. } => "volunteer time clock".into(),
        Screen::VolunteerFirst => "first name, please".into(),
        Screen::VolunteerLooking { .. } => "looking for the volunteer".into(),
        Screen::VolunteerDay { .. } => "the volunteer's shifts today".into(),
        Screen::VolunteerSaving => "saving".into(),
        Screen::VolunteerDone(c) => match c {
            crate::kiosk::checkout::Clocked::In { .. } => "checked in".into(),
            crate::kiosk::checkout::Clocked::Out { .. } => "checked out".into(),
        },
    }
}
