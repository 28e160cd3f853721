//! The volunteer time clock at a kiosk, with every real part: the hub's jobs, events and
//! shifts pulled into the replica, the clock's rows in the device database, the timesheets
//! uploaded to the hub and listed there. A badge scan, a check-in and a check-out with rounded
//! hours; a check-out that never came, closed for approval; a volunteer found by last name and
//! phone; an event the CRM would refuse.

use std::time::Instant;

use chrono::{Local, TimeZone, Utc};

use crate::common::kiosk::{Kiosk, kiosk, tomorrow};
use portico::kiosk::checkout::{Clocked, Event, Purpose, Screen, Tap, VolunteerProblem};
use portico::kiosk::keyboard::{Field, Key};
use portico::protocol::{ConstituentDto, Resource};

impl Kiosk {
    fn at(&self, h: u32, m: u32) {
        let local = tomorrow().and_hms_opt(h, m, 0).unwrap();
        self.clock.set(
            Local
                .from_local_datetime(&local)
                .earliest()
                .unwrap()
                .with_timezone(&Utc),
        );
    }

    fn act(&mut self, e: Event) -> Screen {
        self.shell.handle(e, Instant::now());
        self.shell.flow().screen().clone()
    }

    fn tap_(&mut self, t: Tap) -> Screen {
        self.act(Event::Tap(t))
    }

    fn count(&self, sql: &str) -> i64 {
        let db = self.device.engine.database();
        let conn = db.lock().unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Tomorrow's shifts published at the hub for `volunteer` alone, and pulled.
    async fn schedule(&mut self, volunteer: &str) {
        let who = [volunteer.to_owned()];
        self.hub
            .store
            .write(|tx, seq| portico::hub::volunteers::publish(tx, seq, tomorrow(), 1, &who))
            .unwrap();
        self.device.engine.pull_all(None).await.unwrap();
    }

    fn scan_badge(&mut self, id: &str) -> Screen {
        self.tap_(Tap::Start(Purpose::Volunteer));
        self.act(Event::Scanned {
            membership_id: id.into(),
        })
    }
}

/// A seeded volunteer with an active phone.
fn volunteer(k: &Kiosk) -> ConstituentDto {
    k.hub
        .store
        .all::<ConstituentDto>(Resource::Constituents)
        .unwrap()
        .into_iter()
        .filter(|c| c.status == portico::domain::ConstituentStatus::Active)
        .find(|c| c.phones.iter().any(|p| p.meta.active))
        .expect("a constituent with a phone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_clocks_in_and_out_and_the_hub_lists_the_hours() {
    let mut k = kiosk().await;
    let v = volunteer(&k);
    k.schedule(&v.lookup_id).await;
    k.at(8, 0);
    assert_eq!(
        k.scan_badge(&v.lookup_id),
        Screen::VolunteerDay { problem: None }
    );
    let model = k.shell.model(Instant::now()).volunteer.unwrap();
    assert_eq!(model.first_name, v.name.first);
    assert_eq!(model.shifts.len(), 7, "every shift of the day is theirs");
    // The 07:00 garden shift.
    let garden = model
        .shifts
        .iter()
        .find(|s| s.event_id == "EV-GARDEN")
        .unwrap();
    assert_eq!(garden.state, portico::volunteer::ShiftState::Open);
    let done = k.tap_(Tap::ClockIn {
        event_id: "EV-GARDEN".into(),
        shift_id: Some(garden.shift_id.clone()),
    });
    assert!(
        matches!(done, Screen::VolunteerDone(Clocked::In { .. })),
        "{done:?}"
    );
    assert_eq!(k.count("SELECT count(*) FROM volunteer_clock"), 1);
    k.tap_(Tap::Finish);

    // 10:40: out, 2 h 40 worked, rounded to the nearest quarter.
    k.at(10, 40);
    k.scan_badge(&v.lookup_id);
    let done = k.tap_(Tap::ClockOut);
    assert_eq!(
        done,
        Screen::VolunteerDone(Clocked::Out {
            event: "Garden Crew Morning".into(),
            minutes: 165
        })
    );
    assert_eq!(k.count("SELECT count(*) FROM volunteer_clock"), 0);
    assert_eq!(
        k.count("SELECT count(*) FROM outbox WHERE kind = 'timesheet' AND version = 2"),
        1
    );
    let pushed = k.device.engine.push_once().await.unwrap();
    assert_eq!((pushed.delivered, pushed.dead), (1, 0), "{pushed:?}");
    let listed = k
        .hub
        .store
        .read(|c| portico::hub::volunteers::timesheets(c, false))
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let t = &listed[0];
    assert_eq!(
        (
            t.constituent.as_str(),
            t.event_name.as_str(),
            t.job.as_str(),
            t.hours,
            t.date
        ),
        (
            v.lookup_id.as_str(),
            "Garden Crew Morning",
            "Garden Crew",
            2.75,
            tomorrow()
        )
    );
    assert_eq!(t.needs_approval, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_check_out_is_closed_at_the_shift_end_for_approval() {
    let mut k = kiosk().await;
    let v = volunteer(&k);
    k.schedule(&v.lookup_id).await;
    k.at(8, 30);
    k.scan_badge(&v.lookup_id);
    let ushers = k
        .shell
        .model(Instant::now())
        .volunteer
        .unwrap()
        .shifts
        .into_iter()
        .find(|s| s.event_id == "EV-USHERS")
        .unwrap();
    k.tap_(Tap::ClockIn {
        event_id: "EV-USHERS".into(),
        shift_id: Some(ushers.shift_id),
    });
    k.tap_(Tap::Finish);
    // The 09:00–13:00 shift ended; within the hour after it nothing is closed.
    k.at(13, 30);
    assert_eq!(k.shell.sweep_volunteer_clocks(), 0);
    k.at(14, 5);
    assert_eq!(k.shell.sweep_volunteer_clocks(), 1);
    assert_eq!(k.count("SELECT count(*) FROM volunteer_clock"), 0);
    assert_eq!(
        k.count("SELECT count(*) FROM timesheets WHERE needs_approval = 'missed_check_out'"),
        1
    );
    k.device.engine.push_once().await.unwrap();
    let waiting = k
        .hub
        .store
        .read(|c| portico::hub::volunteers::timesheets(c, true))
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].hours, 4.5, "08:30 to the shift's end at 13:00");
    assert_eq!(
        waiting[0].needs_approval.as_deref(),
        Some("missed_check_out")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_found_by_name_and_phone_is_kept_from_an_event_the_crm_would_refuse() {
    let mut k = kiosk().await;
    let v = volunteer(&k);
    k.schedule(&v.lookup_id).await;
    k.at(10, 30);
    k.tap_(Tap::Start(Purpose::Volunteer));
    for c in v.name.last.chars() {
        k.tap_(Tap::Key(Key::Text(c.to_string())));
    }
    k.tap_(Tap::Focus(Field::Last4));
    let phone = &v.phones.iter().find(|p| p.meta.active).unwrap().number;
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let last4 = &digits[digits.len() - 4..];
    for c in last4.chars() {
        k.tap_(Tap::Key(Key::Text(c.to_string())));
    }
    assert_eq!(k.tap_(Tap::Next), Screen::VolunteerDay { problem: None });
    let festival = k
        .shell
        .model(Instant::now())
        .volunteer
        .unwrap()
        .shifts
        .into_iter()
        .find(|s| s.event_id == "EV-FESTIVAL")
        .unwrap();
    let refused = k.tap_(Tap::ClockIn {
        event_id: "EV-FESTIVAL".into(),
        shift_id: Some(festival.shift_id),
    });
    assert!(
        matches!(
            refused,
            Screen::VolunteerDay {
                problem: Some(VolunteerProblem::SeeStaff(_))
            }
        ),
        "{refused:?}"
    );
    assert_eq!(k.count("SELECT count(*) FROM volunteer_clock"), 0);
    // Back forgets them; the right name with wrong digits finds nobody.
    k.tap_(Tap::Back);
    assert_eq!(k.shell.model(Instant::now()).last, "");
    for c in v.name.last.chars() {
        k.tap_(Tap::Key(Key::Text(c.to_string())));
    }
    k.tap_(Tap::Focus(Field::Last4));
    let other: String = last4
        .chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect();
    for c in other.chars() {
        k.tap_(Tap::Key(Key::Text(c.to_string())));
    }
    assert_eq!(
        k.tap_(Tap::Next),
        Screen::VolunteerFind {
            problem: Some(VolunteerProblem::NotFound)
        }
    );
}

/// A device with the `volunteer` role alone, run as `portico run` runs it: no signing key, no
/// card terminal, no printer and no seat leases, and still a working clock. Its welcome screen
/// takes a badge, finds the volunteer's day, and the check-in is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_clock_alone_needs_no_till_and_clocks_a_badge_in() {
    use crate::common::{TestDevice, TestHub, manual_clock};
    use std::sync::{Arc, Mutex};
    let hub = TestHub::start(50).await;
    let v = hub
        .store
        .all::<ConstituentDto>(Resource::Constituents)
        .unwrap()
        .into_iter()
        .find(|c| c.status == portico::domain::ConstituentStatus::Active)
        .unwrap();
    let who = [v.lookup_id.clone()];
    hub.store
        .write(|tx, seq| portico::hub::volunteers::publish(tx, seq, tomorrow(), 1, &who))
        .unwrap();
    let dev = TestDevice::new(&hub, "clock-1", &hub.ca, "", "");
    let text = std::fs::read_to_string(&dev.config_path)
        .unwrap()
        .replace("roles = [\"gate\"]", "roles = [\"volunteer\"]")
        .replace(
            "[gate]\nname = \"Test gate\"",
            "[kiosk]\nidle_timeout = \"60s\"\n[kiosk.volunteer_clock]\nopens_before = \"2h\"",
        );
    std::fs::write(&dev.config_path, &text).unwrap();
    let clock = manual_clock();
    let seven = tomorrow().and_hms_opt(7, 30, 0).unwrap();
    clock.set(
        Local
            .from_local_datetime(&seven)
            .earliest()
            .unwrap()
            .with_timezone(&Utc),
    );
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let shown: Arc<Mutex<Vec<portico::screens::kiosk_view::KioskScreenModel>>> = Arc::default();
    let seen = shown.clone();
    let display: portico::kiosk::session::KioskDisplay =
        Arc::new(move |m| seen.lock().unwrap().push(m));
    let (inbox_tx, inbox) = std::sync::mpsc::channel();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let runtime = portico::kiosk::runtime::start(
        &device.engine,
        clock.clone(),
        rx,
        Some(portico::kiosk::runtime::ScreenLink {
            inbox,
            display: Arc::new(Mutex::new(Some(display))),
        }),
    )
    .await
    .expect("the clock's screen runs");
    assert!(runtime.sales.is_none(), "a clock sells nothing");
    let data = device.config.data_dir.clone();
    assert!(
        !data.join("kiosk-signing.key").exists(),
        "no ticket-signing key is made"
    );
    let wait_for =
        |what: &str, ok: &dyn Fn(&portico::screens::kiosk_view::KioskScreenModel) -> bool| {
            for _ in 0..200 {
                if shown.lock().unwrap().last().is_some_and(ok) {
                    return shown.lock().unwrap().last().cloned().unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            panic!("{what}: last shown {:?}", shown.lock().unwrap().last());
        };
    let welcome = wait_for("the welcome screen", &|m| m.screen == Screen::Welcome);
    assert!(welcome.volunteers_only);
    assert_eq!(welcome.out_of_order, None, "no printer is no problem here");

    inbox_tx
        .send(Event::Scanned {
            membership_id: v.lookup_id.clone(),
        })
        .unwrap();
    let day = wait_for("the volunteer's day", &|m| {
        matches!(m.screen, Screen::VolunteerDay { .. })
    });
    let garden = day
        .volunteer
        .unwrap()
        .shifts
        .into_iter()
        .find(|s| s.event_id == "EV-GARDEN")
        .unwrap();
    inbox_tx
        .send(Event::Tap(Tap::ClockIn {
            event_id: "EV-GARDEN".into(),
            shift_id: Some(garden.shift_id),
        }))
        .unwrap();
    wait_for("clocked in", &|m| {
        matches!(m.screen, Screen::VolunteerDone(Clocked::In { .. }))
    });
    let open: i64 = device
        .engine
        .database()
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM volunteer_clock", [], |r| r.get(0))
        .unwrap();
    assert_eq!(open, 1, "the check-in is recorded");
    // Nothing to sell on this screen.
    inbox_tx.send(Event::Tap(Tap::Finish)).unwrap();
    wait_for("back to the welcome screen", &|m| {
        m.screen == Screen::Welcome
    });
    inbox_tx
        .send(Event::Tap(Tap::Start(Purpose::Tickets)))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        shown.lock().unwrap().last().map(|m| m.screen.clone()),
        Some(Screen::Welcome)
    );
    runtime.stop();
}
