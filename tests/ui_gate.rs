//! The gate screen end to end: the real Slint component driven through its accessible labels
//! (Slint testing backend), and headless renders checked pixel by pixel.
//!
//! Set `PORTICO_SCREENSHOTS_DIR` to also write the renders there (the documentation's
//! screenshots are made this way: `PORTICO_SCREENSHOTS_DIR=docs/screenshots`).

#![cfg(feature = "ui")]

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use i_slint_backend_testing::ElementHandle;
use portico::gate::{AdmitKind, Note, Reason, Validity};
use portico::kiosk::catalog::Lang;
use portico::ui::{
    GateScreen, GateScreenModel, GateTimeouts, GateView, PartyConfirmed, ResultView,
    render_gate_png, render_gate_rgb,
};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;

thread_local! {
    static BACKEND: Cell<bool> = const { Cell::new(false) };
}

/// A gate screen on the testing backend (set once per test thread).
fn screen() -> GateScreen {
    screen_in(Lang::En)
}

/// A gate screen speaking `lang`, on the testing backend.
fn screen_in(lang: Lang) -> GateScreen {
    BACKEND.with(|done| {
        if !done.replace(true) {
            i_slint_backend_testing::init_no_event_loop();
        }
    });
    let screen =
        GateScreen::new(GateView::new("North entrance", GateTimeouts::default()).in_language(lang))
            .expect("gate screen");
    screen
        .window()
        .window()
        .set_size(slint::LogicalSize::new(800., 480.));
    screen.window().show().expect("show");
    screen
}

fn one(screen: &GateScreen, label: &str) -> ElementHandle {
    let mut found: Vec<_> =
        ElementHandle::find_by_accessible_label(screen.window(), label).collect();
    assert_eq!(found.len(), 1, "elements labelled {label:?}");
    found.remove(0)
}

fn value(screen: &GateScreen, label: &str) -> String {
    one(screen, label)
        .accessible_value()
        .unwrap_or_else(|| panic!("{label:?} has no value"))
        .to_string()
}

fn count(screen: &GateScreen, label: &str) -> usize {
    ElementHandle::find_by_accessible_label(screen.window(), label).count()
}

fn member(guests: u32) -> ResultView {
    ResultView {
        admit: true,
        name: Some("Alex Morgan".into()),
        level: Some("Family membership".into()),
        guests_allowed: guests,
        reason: "Membership valid until 3 Oct 2027".into(),
        note: Some("Card replaced by merged record".into()),
    }
}

fn expired() -> ResultView {
    ResultView {
        admit: false,
        name: Some("Sam Rivera".into()),
        level: Some("Individual".into()),
        guests_allowed: 0,
        reason: "Membership expired on 3 Oct 2026".into(),
        note: Some("Offer a renewal or a day ticket at the membership desk.".into()),
    }
}

#[test]
fn ready_shows_gate_and_prompt() {
    let s = screen();
    s.set_clock("Sun 22 Nov 2026 · 10:42");
    assert_eq!(value(&s, "result"), "Ready");
    assert_eq!(value(&s, "gate name"), "North entrance");
    assert_eq!(value(&s, "prompt"), "Scan your ticket or membership card");
    assert_eq!(value(&s, "clock"), "Sun 22 Nov 2026 · 10:42");
    assert_eq!(count(&s, "visitor name"), 0);
    assert_eq!(count(&s, "reason"), 0);
}

#[test]
fn admit_shows_result_and_visitor() {
    let s = screen();
    s.show_result(member(0), Instant::now());
    let result = one(&s, "result");
    assert_eq!(result.accessible_value().as_deref(), Some("Admitted"));
    let sentence = result.accessible_description().expect("announcement");
    assert!(sentence.contains("Alex Morgan"), "{sentence}");
    assert_eq!(value(&s, "visitor name"), "Alex Morgan");
    assert_eq!(value(&s, "membership level"), "Family membership");
    assert_eq!(value(&s, "guest allowance"), "Member");
    assert_eq!(value(&s, "party admitted"), "1 person admitted");
    assert_eq!(value(&s, "note"), "Card replaced by merged record");
    assert_eq!(value(&s, "result icon"), "check mark");
    assert_eq!(count(&s, "party plus"), 0, "no guests, no party controls");
}

#[test]
fn deny_shows_the_reason_and_a_staff_hint() {
    let s = screen();
    s.show_result(expired(), Instant::now());
    assert_eq!(value(&s, "result"), "Not admitted");
    assert_eq!(value(&s, "reason"), "Membership expired on 3 Oct 2026");
    assert_eq!(
        value(&s, "staff hint"),
        "Offer a renewal or a day ticket at the membership desk."
    );
    assert_eq!(value(&s, "result icon"), "cross");
    assert_eq!(count(&s, "party size"), 0);
}

#[test]
fn party_plus_is_bounded_by_the_allowance() {
    let s = screen();
    let confirmed = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&confirmed);
    s.on_confirm(move |c| sink.borrow_mut().push(c));
    s.show_result(member(2), Instant::now());
    assert_eq!(value(&s, "guest allowance"), "Member + 2 guests");
    assert_eq!(value(&s, "party size"), "1");

    let plus = one(&s, "party plus");
    plus.mock_single_click(PointerEventButton::Left);
    assert_eq!(value(&s, "party size"), "2");
    plus.mock_single_click(PointerEventButton::Left);
    assert_eq!(value(&s, "party size"), "3");
    assert_eq!(one(&s, "party plus").accessible_enabled(), Some(false));
    plus.mock_single_click(PointerEventButton::Left);
    assert_eq!(value(&s, "party size"), "3");

    one(&s, "party minus").mock_single_click(PointerEventButton::Left);
    assert_eq!(value(&s, "party size"), "2");
    one(&s, "party plus").mock_single_click(PointerEventButton::Left);

    one(&s, "confirm").mock_single_click(PointerEventButton::Left);
    assert_eq!(
        *confirmed.borrow(),
        [PartyConfirmed {
            party_size: 3,
            scan: None
        }]
    );
    assert_eq!(value(&s, "party admitted"), "Party of 3 admitted");
    assert_eq!(
        count(&s, "party plus"),
        0,
        "controls close after confirming"
    );
}

#[test]
fn offline_indicator_follows_connectivity() {
    let s = screen();
    assert_eq!(count(&s, "offline indicator"), 0);
    s.set_offline(true, 7);
    assert_eq!(
        value(&s, "offline indicator"),
        "Offline — decisions are local, uploads queued: 7"
    );
    s.show_result(member(0), Instant::now());
    assert_eq!(count(&s, "offline indicator"), 1, "shown on results too");
    s.set_offline(false, 0);
    assert_eq!(count(&s, "offline indicator"), 0);
}

#[test]
fn timeout_returns_the_component_to_ready() {
    let s = screen();
    let start = Instant::now();
    s.show_result(expired(), start);
    assert!(!s.tick(start + GateTimeouts::default().result / 2));
    assert_eq!(value(&s, "result"), "Not admitted");
    assert!(s.tick(start + GateTimeouts::default().result));
    assert_eq!(value(&s, "result"), "Ready");
    assert_eq!(count(&s, "reason"), 0);
}

// ---- headless rendering ----

fn model(setup: impl FnOnce(&mut GateView, Instant)) -> GateScreenModel {
    model_in(Lang::En, setup)
}

fn model_in(lang: Lang, setup: impl FnOnce(&mut GateView, Instant)) -> GateScreenModel {
    let mut view = GateView::new("North entrance", GateTimeouts::default()).in_language(lang);
    let sunday = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
        .and_then(|d| d.and_hms_opt(10, 42, 0))
        .expect("a date");
    view.set_clock(portico::ui::gate_view::clock_text(sunday, lang));
    setup(&mut view, Instant::now());
    view.model()
}

/// A refusal as a gate speaking `lang` shows it: the decision's words and what staff should
/// do, from the core.
fn expired_in(lang: Lang) -> ResultView {
    let reason = Reason::Expired {
        what: Validity::Membership,
        on: chrono::NaiveDate::from_ymd_opt(2026, 10, 3).expect("a date"),
    };
    ResultView {
        reason: reason.words(lang),
        note: reason.staff_action_in(lang).map(str::to_owned),
        ..expired()
    }
}

fn admit_model() -> GateScreenModel {
    model(|v, now| {
        v.show_result(member(2), now);
        v.party_plus(now);
        v.party_plus(now);
        v.confirm(now);
    })
}

fn deny_model() -> GateScreenModel {
    model(|v, now| {
        v.show_result(
            ResultView {
                note: Some("Offer a renewal at the membership desk.".into()),
                ..expired()
            },
            now,
        )
    })
}

/// Share of the result panel's pixels (between the top bar and the bottom edge) that are
/// clearly green and clearly red.
fn panel_colours(image: &portico::ui::RgbImage) -> (f64, f64) {
    let (mut green, mut red, mut all) = (0u64, 0u64, 0u64);
    for y in image.height * 15 / 100..image.height * 95 / 100 {
        for x in 0..image.width {
            let [r, g, b] = image.pixel(x, y).map(i32::from);
            all += 1;
            if g > r + 60 && g > b + 40 && r < 100 {
                green += 1;
            } else if r > g + 60 && r > b + 60 && g < 100 {
                red += 1;
            }
        }
    }
    (green as f64 / all as f64, red as f64 / all as f64)
}

fn out_dir() -> (tempfile::TempDir, Option<PathBuf>) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let keep = std::env::var_os("PORTICO_SCREENSHOTS_DIR").map(PathBuf::from);
    (tmp, keep)
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png file"),
    ));
    let reader = decoder.read_info().expect("png header");
    let info = reader.info();
    (info.width, info.height)
}

fn save(name: &str, model: &GateScreenModel, w: u32, h: u32, dir: &Path, keep: &Option<PathBuf>) {
    let path = dir.join(name);
    render_gate_png(model, w, h, &path).expect("render");
    assert_eq!(png_size(&path), (w, h), "{name}");
    if let Some(keep) = keep {
        std::fs::copy(&path, keep.join(name)).expect("copy screenshot");
    }
}

#[test]
fn admit_renders_green_and_deny_renders_red() {
    let (tmp, keep) = out_dir();
    for (w, h) in [(800, 480), (1024, 600)] {
        let admit = render_gate_rgb(&admit_model(), w, h).expect("render admit");
        assert_eq!((admit.width, admit.height), (w, h));
        assert_eq!(admit.pixels.len(), (w * h * 3) as usize);
        let (green, red) = panel_colours(&admit);
        assert!(
            green > 0.5 && red < 0.01,
            "admit {w}×{h}: green {green}, red {red}"
        );

        let deny = render_gate_rgb(&deny_model(), w, h).expect("render deny");
        let (green, red) = panel_colours(&deny);
        assert!(
            red > 0.5 && green < 0.01,
            "deny {w}×{h}: green {green}, red {red}"
        );
    }

    save(
        "gate-admit.png",
        &admit_model(),
        800,
        480,
        tmp.path(),
        &keep,
    );
    save("gate-deny.png", &deny_model(), 800, 480, tmp.path(), &keep);
    save(
        "gate-admit-1024x600.png",
        &admit_model(),
        1024,
        600,
        tmp.path(),
        &keep,
    );
}

#[test]
fn ready_and_party_renders() {
    let (tmp, keep) = out_dir();
    let ready = model(|v, _| v.set_offline(true, 14));
    let image = render_gate_rgb(&ready, 800, 480).expect("render ready");
    let (green, red) = panel_colours(&image);
    assert!(
        green < 0.01 && red < 0.01,
        "ready: green {green}, red {red}"
    );
    // The offline footer (amber) runs along the bottom edge.
    let [r, g, b] = image.pixel(400, 478);
    assert!(r > 200 && g > 140 && b < 80, "footer colour {r},{g},{b}");
    save("gate-ready.png", &ready, 800, 480, tmp.path(), &keep);

    let party = model(|v, now| {
        v.show_result(member(2), now);
        v.party_plus(now);
    });
    save("gate-party.png", &party, 800, 480, tmp.path(), &keep);
}

#[test]
fn invalid_render_sizes_are_errors() {
    let m = model(|_, _| {});
    for (w, h) in [(0, 480), (800, 0), (9000, 480)] {
        let err = render_gate_rgb(&m, w, h).unwrap_err();
        assert!(
            matches!(err, portico::ui::UiError::InvalidSize { .. }),
            "{err}"
        );
    }
}

#[test]
fn a_confirmed_party_names_the_admission_it_belongs_to() {
    let s = screen();
    let confirmed = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&confirmed);
    s.on_confirm(move |c| sink.borrow_mut().push(c));
    let now = Instant::now();
    s.handle(
        portico::ui::GateInput::ShowScan {
            result: member(2),
            scan: 41,
        },
        now,
    );
    one(&s, "party plus").mock_single_click(PointerEventButton::Left);
    one(&s, "confirm").mock_single_click(PointerEventButton::Left);
    // The next visitor's result replaces it; their confirmation names their own scan.
    s.handle(
        portico::ui::GateInput::ShowScan {
            result: member(1),
            scan: 42,
        },
        now,
    );
    one(&s, "confirm").mock_single_click(PointerEventButton::Left);
    assert_eq!(
        *confirmed.borrow(),
        [
            PartyConfirmed {
                party_size: 2,
                scan: Some(41)
            },
            PartyConfirmed {
                party_size: 1,
                scan: Some(42)
            }
        ]
    );
}

#[test]
fn a_ticket_holders_welcome_is_shown_whole() {
    // "Welcome — please enter" is wider than the text column: it wraps onto a second line
    // rather than ending in "…".
    let s = screen();
    let ticket = ResultView {
        admit: true,
        name: None,
        level: None,
        guests_allowed: 0,
        reason: "Welcome! Ticket valid".into(),
        note: None,
    };
    s.handle(
        portico::ui::GateInput::ShowScan {
            result: ticket,
            scan: 7,
        },
        Instant::now(),
    );
    assert_eq!(value(&s, "headline"), "Welcome — please enter");
    let line = 56.0; // the headline's font size at 800×480
    let height = one(&s, "headline").size().height;
    assert!(
        height > 1.5 * line,
        "headline height {height}: cut to one line"
    );
}

/// The technician pages a gate shows, as the device's technician screen would model them.
fn gate_panels() -> Vec<(&'static str, portico::screens::technician_view::TechPanel)> {
    use portico::screens::technician_view::{RelayFacts, TechAction, TechFacts, TechPanel, page};
    use portico::technician::Page;
    let now = chrono::Utc::now();
    let facts = TechFacts {
        device_id: "gate-north-1".into(),
        version: "0.1.0".into(),
        online: true,
        last_pull: Some(now - chrono::TimeDelta::minutes(3)),
        last_push: Some(now - chrono::TimeDelta::seconds(40)),
        constituents: 48_210,
        memberships: 12_977,
        tickets: 3_402,
        disk: Some((9 << 30, 14 << 30)),
        readers: vec![(
            "north-2d-scanner".into(),
            Some(portico::kiosk::checkout::InputSeen {
                reader: "north-2d-scanner".into(),
                hex: "4d 31 30 30 30 30 34 32".into(),
                parsed: "membership M1000042".into(),
            }),
        )],
        relay: Some(RelayFacts {
            relay: "gpio /dev/gpiochip0 line 17".into(),
            sensor: Some((212, Some(now - chrono::TimeDelta::seconds(8)))),
            last_test: Some((now - chrono::TimeDelta::seconds(3), Ok(()))),
        }),
        ..TechFacts::default()
    };
    let shown = |p: Page, notice: &str| {
        let (rows, actions) = page(p, &facts, now);
        TechPanel::Page {
            page: p,
            rows,
            actions,
            notice: notice.into(),
        }
    };
    vec![
        (
            "gate-technician-pin",
            TechPanel::Pin {
                typed: 3,
                wrong: true,
            },
        ),
        ("gate-technician-locked", TechPanel::Locked { secs: 28 }),
        ("gate-technician-status", shown(Page::Status, "")),
        ("gate-technician-inputs", shown(Page::Inputs, "")),
        (
            "gate-technician-relay",
            shown(
                Page::Relay,
                "Pulsing the relay: the turnstile should open once.",
            ),
        ),
    ]
    .into_iter()
    .inspect(|(_, p)| {
        if let TechPanel::Page {
            page: Page::Relay,
            actions,
            ..
        } = p
        {
            assert_eq!(actions, &[TechAction::PulseRelay]);
        }
    })
    .collect()
}

#[test]
fn the_gates_technician_pages_render_with_large_enough_targets() {
    let (tmp, keep) = out_dir();
    let ready = model(|_, _| {});
    for (name, panel) in gate_panels() {
        let image =
            portico::ui::render_gate_technician_rgb(&ready, &panel, 800, 480).expect("render");
        // The panel covers the gate screen: its light page, not the dark ready screen.
        let [r, g, b] = image.pixel(8, 300);
        assert!(r > 200 && g > 200 && b > 190, "{name}: {r},{g},{b}");
        let path = tmp.path().join(format!("{name}.png"));
        image.write_png(&path).unwrap();
        assert_eq!(png_size(&path), (800, 480));
        if let Some(dir) = &keep {
            std::fs::copy(&path, dir.join(format!("{name}.png"))).unwrap();
        }
    }
    // Every button of every page stays at least 44 px at the gate's 800×480.
    let s = screen();
    for (name, panel) in gate_panels() {
        s.show_technician(Some(panel));
        slint::platform::update_timers_and_animations();
        let buttons: Vec<_> = i_slint_backend_testing::ElementQuery::from_root(s.window())
            .match_descendants()
            .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
            .find_all()
            .into_iter()
            .collect();
        assert!(!buttons.is_empty(), "{name}");
        for b in buttons {
            let size = b.size();
            let label = b.accessible_label().unwrap_or_default();
            // The gate's own party buttons lie under the panel; only the panel's count.
            if ["party minus", "party plus", "confirm"].contains(&label.as_str()) {
                continue;
            }
            assert!(
                size.width >= 44. && size.height >= 44.,
                "{name}: {label:?} is {}×{}",
                size.width,
                size.height
            );
        }
    }
}

#[test]
fn the_gate_screens_corner_opens_the_technician_pad_and_its_taps_reach_the_device() {
    use portico::screens::technician_view::{TechAction, TechPanel};
    use portico::technician::{CORNER_HOLD, Page, TechEvent};
    use portico::ui::technician_panel::PanelTap;
    use slint::platform::WindowEvent;
    let s = screen();
    let taps = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = taps.clone();
    s.on_technician(move |t| seen.borrow_mut().push(t));
    let corner = slint::LogicalPosition::new(10., 10.);
    let window = s.window().window();
    let hold = |ms: u64| {
        window.dispatch_event(WindowEvent::PointerPressed {
            position: corner,
            button: PointerEventButton::Left,
        });
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(ms));
        window.dispatch_event(WindowEvent::PointerReleased {
            position: corner,
            button: PointerEventButton::Left,
        });
    };
    hold(1000);
    assert!(taps.borrow().is_empty(), "a tap does not open it");
    hold(3100);
    assert_eq!(
        taps.borrow().as_slice(),
        [PanelTap::Event(TechEvent::CornerHeld(CORNER_HOLD))]
    );
    taps.borrow_mut().clear();

    s.show_technician(Some(TechPanel::Pin {
        typed: 2,
        wrong: false,
    }));
    assert_eq!(value(&s, "PIN"), "● ●");
    for label in ["4", "⌫", "OK"] {
        one(&s, label).mock_single_click(PointerEventButton::Left);
    }
    assert_eq!(
        taps.borrow().as_slice(),
        [
            PanelTap::Event(TechEvent::Digit(4)),
            PanelTap::Event(TechEvent::Backspace),
            PanelTap::Event(TechEvent::Submit)
        ]
    );
    taps.borrow_mut().clear();

    let (_, relay) = gate_panels().pop().unwrap();
    s.show_technician(Some(relay));
    // A gate's tabs: status, inputs and relay only (the relay's tab and its first row).
    for (tab, shown) in [
        ("Status", 1),
        ("Inputs", 1),
        ("Relay", 2),
        ("Printer", 0),
        ("Card terminal", 0),
        ("Service", 0),
        ("Volunteer events", 0),
    ] {
        assert_eq!(count(&s, tab), shown, "{tab}");
    }
    one(&s, "Pulse the relay").mock_single_click(PointerEventButton::Left);
    one(&s, "Inputs").mock_single_click(PointerEventButton::Left);
    one(&s, "Close").mock_single_click(PointerEventButton::Left);
    assert_eq!(
        taps.borrow().as_slice(),
        [
            PanelTap::Action(TechAction::PulseRelay),
            PanelTap::Event(TechEvent::Page(Page::Inputs)),
            PanelTap::Event(TechEvent::Close)
        ]
    );
    s.show_technician(None);
    assert_eq!(count(&s, "technician"), 0, "hidden");
    assert_eq!(value(&s, "gate name"), "North entrance");
}

#[test]
fn a_spanish_gate_reads_and_renders_in_spanish() {
    let s = screen_in(Lang::Es);
    assert_eq!(value(&s, "result"), "Lista");
    let start = Instant::now();
    s.show_result(expired_in(Lang::Es), start);
    assert_eq!(value(&s, "result"), "No puede pasar");
    assert_eq!(value(&s, "reason"), "La membresía venció el 3 oct 2026");
    assert_eq!(
        value(&s, "staff hint"),
        "Ofrezca la renovación en el mostrador de socios."
    );
    assert!(s.tick(start + GateTimeouts::default().result));
    assert_eq!(value(&s, "result"), "Lista");

    // Every screen of a Spanish gate, drawn: the same colours as in English.
    let (tmp, keep) = out_dir();
    let ready = model_in(Lang::Es, |v, _| v.set_offline(true, 14));
    let admit = model_in(Lang::Es, |v, now| {
        let welcome = Reason::Admitted {
            kind: AdmitKind::Member,
        };
        let merged = Note::AdmittedViaMerge {
            requested: "C-1042".into(),
            survivor: "C-2210".into(),
        };
        v.show_result(
            ResultView {
                reason: welcome.words(Lang::Es),
                note: Some(merged.words(Lang::Es)),
                ..member(2)
            },
            now,
        );
        v.party_plus(now);
    });
    let deny = model_in(Lang::Es, |v, now| v.show_result(expired_in(Lang::Es), now));
    assert_eq!(ready.clock, "dom 22 nov 2026 · 10:42");
    assert_eq!(admit.confirm_label, "Confirmar");
    let (green, _) = panel_colours(&render_gate_rgb(&admit, 800, 480).expect("render"));
    let (_, red) = panel_colours(&render_gate_rgb(&deny, 800, 480).expect("render"));
    assert!(green > 0.5 && red > 0.5, "green {green}, red {red}");
    save("gate-ready-es.png", &ready, 800, 480, tmp.path(), &keep);
    save("gate-party-es.png", &admit, 800, 480, tmp.path(), &keep);
    save("gate-deny-es.png", &deny, 800, 480, tmp.path(), &keep);
}
