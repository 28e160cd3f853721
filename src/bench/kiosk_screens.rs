//! The kiosk's screen figures of `portico bench kiosk`:
//!
//! - **Tap to next frame**, per screen: the kiosk's shell (real replica with the zoo's catalog
//!   and seat leases, real checkout flow) behind the real Slint screen, drawn by the software
//!   renderer at 1080×1920 into a kept buffer as a display does (only what changed is redrawn).
//!   A tap is the tapped button's callback (what the touch runs once Slint has found the
//!   button); timed from it to the new frame drawn: the flow's step, the seats held or the
//!   match previewed in the replica, the new model, its copy into the screen, the drawing.
//!   200 taps per screen; target p99 ≤ 16 ms.
//! - **Start to welcome screen**: `portico kiosk screenshot` spawned on a kiosk config, timed
//!   from the spawn to its "first frame drawn" line: process start, config, database, catalog,
//!   flow, screen and first frame. Target ≤ 1 s.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, TimeZone, Utc};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use super::scan::summary;
use crate::clock::{Clock, ManualClock};
use crate::kiosk::checkout::{Event, FlowConfig, Tap, VisitorForm};
use crate::kiosk::keyboard::Key;
use crate::kiosk::sale::Sales;
use crate::kiosk::shell::{KioskShell, ShellParts};
use crate::kiosk::signer::Signer;
use crate::kiosk::terminal::SimulatedTerminal;
use crate::protocol::{LeaseDto, LeasesDto};
use crate::replica::Store;
use crate::ui::offscreen::OffscreenKiosk;

pub const TAPS_PER_SCREEN: usize = 200;
const WIDTH: u32 = 1080;
const HEIGHT: u32 = 1920;

/// Tap-to-frame figures per screen, on `store` (which holds the zoo's catalog) on `day`.
pub fn tap_to_frame(store: Arc<Store>, day: NaiveDate) -> Result<Value> {
    std::thread::Builder::new()
        .name("bench-kiosk-screen".into())
        .spawn(move || measure(store, day))?
        .join()
        .map_err(|_| anyhow::anyhow!("the screen benchmark stopped"))?
}

/// The kiosk at 08:00 on `day`, with 40 seats leased in each of the day's entry times.
fn shell(store: Arc<Store>, day: NaiveDate) -> Result<KioskShell> {
    let eight = day.and_hms_opt(8, 0, 0).context("08:00")?;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Utc.from_utc_datetime(&eight)));
    let reader = store.reader()?;
    let catalog = crate::replica::catalog::load_catalog(&reader, day, day)?.catalog;
    let leases = LeasesDto {
        leases: catalog
            .open_slots("zoo", day, eight)
            .into_iter()
            .map(|s| LeaseDto {
                slot_id: s.id.clone(),
                seats: 40,
                used: 0,
                recall: 0,
                sales_close: s.sales_close,
            })
            .collect(),
    };
    store.write(move |tx| {
        crate::kiosk::leases::reconcile(tx, &leases, 0).map_err(|e| {
            crate::replica::ReplicaError::Corrupt {
                table: "leases",
                detail: e.to_string(),
            }
        })
    })?;
    let normalizer = crate::normalize::Normalizer::default();
    let intake = crate::intake::IntakeConfig::default();
    let sales = Arc::new(Sales {
        store: store.clone(),
        terminal: Arc::new(SimulatedTerminal::in_memory()),
        signer: Arc::new(Signer::new(32768, SigningKey::from_bytes(&[7; 32]))),
        clock: clock.clone(),
        zone: None,
        device_id: "bench-kiosk".into(),
        order_prefix: "B".into(),
        normalizer: normalizer.clone(),
        intake: intake.clone(),
        on_approved_after_crash: Default::default(),
    });
    Ok(KioskShell::new(ShellParts {
        flow: FlowConfig::default(),
        catalog,
        store: sales.store.clone(),
        device_id: sales.device_id.clone(),
        sales: Some(sales),
        printer: None,
        paper: Default::default(),
        letterhead: Default::default(),
        reader,
        normalizer,
        intake,
        clock,
        zone: None,
        online: Arc::new(|| true),
        lease_poke: None,
        tech: Default::default(),
        hub: None,
    }))
}

struct Rig {
    shell: KioskShell,
    screen: OffscreenKiosk,
    /// Timed taps after which nothing needed drawing (a bench that measures nothing).
    undrawn: usize,
}

impl Rig {
    /// A tap: the callback runs, the shell takes what the screen sent, the new model is
    /// shown and drawn. Returns how long it took.
    fn tap(&mut self, touch: &dyn Fn(&crate::ui::KioskWindow)) -> Duration {
        let t = Instant::now();
        touch(self.screen.window());
        for e in self.screen.take_events() {
            self.shell.handle(e, Instant::now());
        }
        self.screen.show(&self.shell.model(Instant::now()));
        let drawn = self.screen.draw();
        let took = t.elapsed();
        if !drawn {
            self.undrawn += 1;
        }
        took
    }

    /// Moves the session on without timing it.
    fn step(&mut self, tap: Tap) {
        self.shell.handle(Event::Tap(tap), Instant::now());
        self.screen.show(&self.shell.model(Instant::now()));
        self.screen.draw();
    }

    fn key_index(&self, want: &Key) -> Option<(i32, i32)> {
        let shown = self.screen.shown();
        shown.keys.iter().enumerate().find_map(|(r, row)| {
            let c = row.iter().position(|k| &k.key == want)?;
            Some((i32::try_from(r).ok()?, i32::try_from(c).ok()?))
        })
    }
}

fn measure(store: Arc<Store>, day: NaiveDate) -> Result<Value> {
    let shell = shell(store, day)?;
    let screen = OffscreenKiosk::new("Riverside Zoo", WIDTH, HEIGHT)?;
    let mut rig = Rig {
        shell,
        screen,
        undrawn: 0,
    };
    rig.step(Tap::Lang(crate::kiosk::catalog::Lang::En));
    let mut per_screen = serde_json::Map::new();
    let mut worst = 0.0f64;
    let mut record = |name: &str, samples: Vec<Duration>| {
        let s = summary(samples);
        let p99 = s["p99_us"].as_f64().unwrap_or(f64::MAX) / 1000.0;
        worst = worst.max(p99);
        per_screen.insert(
            name.to_owned(),
            json!({ "what": s, "p99_ms": p99, "taps": TAPS_PER_SCREEN }),
        );
    };
    let times = |rig: &mut Rig, touch: &dyn Fn(&crate::ui::KioskWindow, usize)| {
        (0..TAPS_PER_SCREEN)
            .map(|i| rig.tap(&|w| touch(w, i)))
            .collect::<Vec<_>>()
    };

    // Welcome: the language buttons (every word on the screen changes).
    let s = times(&mut rig, &|w, i| {
        w.invoke_lang_chosen(if i % 2 == 0 { "es".into() } else { "en".into() })
    });
    record("welcome", s);
    if rig.shell.flow().session().lang != crate::kiosk::catalog::Lang::En {
        rig.step(Tap::Lang(crate::kiosk::catalog::Lang::En));
    }

    // Membership levels: the language buttons.
    rig.step(Tap::Start(crate::kiosk::checkout::Purpose::Membership));
    let s = times(&mut rig, &|w, i| {
        w.invoke_lang_chosen(if i % 2 == 0 { "es".into() } else { "en".into() })
    });
    record("levels", s);
    rig.step(Tap::Lang(crate::kiosk::catalog::Lang::En));
    rig.step(Tap::Cancel);

    // Entry times: one timed admission's, then another's (the grid made again).
    rig.step(Tap::Start(crate::kiosk::checkout::Purpose::Tickets));
    // Another timed admission, not the day pass (one row, no grid).
    let Some(other) = rig
        .screen
        .shown()
        .products
        .iter()
        .position(|p| p.product.starts_with("EXTRA-"))
    else {
        bail!("the benchmark catalog has one timed admission");
    };
    let s = times(&mut rig, &|w, i| {
        w.invoke_product_chosen(if i % 2 == 0 { other as i32 } else { 0 })
    });
    record("slots", s);

    // Quantities: one more adult, one fewer (each holds or lets go a seat in the replica).
    rig.step(Tap::Product("TIMED".into()));
    rig.tap(&|w| w.invoke_slot(2));
    let s = times(&mut rig, &|w, i| {
        w.invoke_quantity(0, if i % 2 == 0 { 1 } else { -1 })
    });
    record("quantities", s);
    rig.tap(&|w| w.invoke_quantity(0, 1));
    if rig.shell.flow().session().held == 0 {
        bail!("the benchmark kiosk could not hold a seat");
    }

    // "Are you a member?": the language buttons (past the add-ons, when the catalog has any).
    rig.step(Tap::Next);
    if matches!(
        rig.shell.flow().screen(),
        crate::kiosk::checkout::Screen::AddOns { .. }
    ) {
        rig.step(Tap::Next);
    }
    let s = times(&mut rig, &|w, i| {
        w.invoke_lang_chosen(if i % 2 == 0 { "es".into() } else { "en".into() })
    });
    record("ask_member", s);
    rig.step(Tap::Lang(crate::kiosk::catalog::Lang::En));

    // Details: typing on the keyboard, a letter then backspace.
    rig.step(Tap::IsMember(false));
    let letter = rig.key_index(&Key::Text("A".into())).context("no A key")?;
    rig.tap(&|w| w.invoke_key(letter.0, letter.1));
    let letter = rig.key_index(&Key::Text("n".into())).context("no n key")?;
    let back = rig.key_index(&Key::Backspace).context("no backspace")?;
    let s = times(&mut rig, &|w, i| {
        let (r, c) = if i % 2 == 0 { letter } else { back };
        w.invoke_key(r, c)
    });
    record("details", s);

    // Review: back to the details, and on again (matching previewed in the replica).
    rig.step(Tap::Details(VisitorForm {
        first: "Ana".into(),
        last: "Ruiz".into(),
        email: "ana.ruiz@example.org".into(),
        phone: String::new(),
        receipt_by_email: false,
    }));
    let s = times(&mut rig, &|w, i| {
        if i % 2 == 0 {
            w.invoke_back()
        } else {
            w.invoke_next()
        }
    });
    record("review", s);
    if rig.screen.shown().total.is_empty() {
        bail!("the benchmark session did not reach the review");
    }
    if rig.undrawn > 0 {
        bail!("{} timed taps drew no new frame", rig.undrawn);
    }
    Ok(json!({
        "screen": format!("{WIDTH}x{HEIGHT}, software renderer, partial redraw"),
        "per_screen": per_screen,
        "worst_p99_ms": worst,
    }))
}

/// Spawns `portico kiosk screenshot` on a kiosk config for `store`'s database, `runs` times;
/// each run timed from the spawn to its "first frame drawn" line.
pub fn start_to_welcome(dir: &Path, db_dir: &Path, runs: usize) -> Result<Value> {
    let config = dir.join("kiosk-screen.toml");
    let ca = dir.join("hub-ca.pem");
    let token = dir.join("device.token");
    // The config names a hub (the screenshot never calls it).
    let pki = crate::tls::generate_pki("bench hub", &["localhost".into()])?;
    std::fs::write(&ca, pki.ca_cert_pem)?;
    crate::hub::write_private(&token, b"unused")?;
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"bench-kiosk\"\nroles = [\"kiosk\"]\ndata_dir = {:?}\n\n\
             [upstream]\nurl = \"https://localhost:8443\"\nca_cert = {:?}\ntoken_file = {:?}\n\n\
             [kiosk]\ncurrency = \"USD\"\n\n[kiosk.receipt]\nvenue = \"Riverside Zoo\"\n",
            db_dir.display().to_string(),
            ca.display().to_string(),
            token.display().to_string()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let mut samples = Vec::new();
    for i in 0..runs {
        let out = dir.join(format!("welcome-{i}.png"));
        let t = Instant::now();
        let mut child = std::process::Command::new(&exe)
            .args(["kiosk", "screenshot", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting portico kiosk screenshot")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut drawn = None;
        // Read to the end: a pipe closed early would fail the child's later output.
        for line in std::io::BufReader::new(stdout).lines() {
            if drawn.is_none() && line?.starts_with("first frame drawn") {
                drawn = Some(t.elapsed());
            }
        }
        let output = child.wait_with_output()?;
        let took = drawn.with_context(|| {
            format!(
                "no first frame drawn ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?;
        // The first run warms the page cache with the binary and the database.
        if i > 0 {
            samples.push(took);
        }
    }
    let s = summary(samples);
    let max_ms = s["max_us"].as_f64().unwrap_or(f64::MAX) / 1000.0;
    Ok(json!({ "what": s, "max_ms": max_ms, "runs": runs.saturating_sub(1) }))
}
