use super::super::tests::{Kiosk, local};
use super::*;
use crate::kiosk::keyboard::Key;
use crate::volunteer::{ApprovalReason, Closed};

fn typed(k: &mut Kiosk, text: &str) {
    for c in text.chars() {
        k.tap(Tap::Key(Key::Text(c.to_string())));
    }
}

fn event(id: &str, name: &str) -> VolunteerEvent {
    VolunteerEvent {
        event_id: id.into(),
        name: name.into(),
        job: "Usher".into(),
    }
}

/// Ana's day (the kiosk's clock reads 09:30): the 10:00 ushers' shift, the 13:00 one, and an
/// event with a name the CRM would refuse.
fn day(open: Option<OpenClock>) -> VolunteerDay {
    let ushers = event("EV-USHERS", "Winter Lights Ushers");
    let festival = event("EV-FESTIVAL", "Summer Family Festival Weekend Volunteers");
    let long = Some(EventProblem::NameTooLong { chars: 41 });
    let shift = |id: &str, e: &VolunteerEvent, start: &str, end: &str| Shift {
        shift_id: id.into(),
        event_id: e.event_id.clone(),
        start: local(start),
        end: local(end),
        volunteers: vec!["8-1".into()],
    };
    VolunteerDay {
        volunteer: "8-1".into(),
        first_name: "Ana".into(),
        shifts: vec![
            DayShift {
                shift: shift("S10", &ushers, "2026-12-06 10:00", "2026-12-06 14:00"),
                event: ushers.clone(),
                problem: None,
            },
            DayShift {
                shift: shift("S13", &ushers, "2026-12-06 13:00", "2026-12-06 17:00"),
                event: ushers.clone(),
                problem: None,
            },
            DayShift {
                shift: shift("SF", &festival, "2026-12-06 10:00", "2026-12-06 16:00"),
                event: festival.clone(),
                problem: long.clone(),
            },
        ],
        events: vec![(ushers.clone(), None), (festival, long)],
        open_event: open.as_ref().map(|_| ushers),
        open,
    }
}

fn find(k: &mut Kiosk) {
    k.tap(Tap::Start(Purpose::Volunteer));
    assert_eq!(k.screen(), &Screen::VolunteerFind { problem: None });
    assert_eq!(k.flow.session().focus, Field::Last);
}

fn clock_in(event: &str, shift: Option<&str>) -> Tap {
    Tap::ClockIn {
        event_id: event.into(),
        shift_id: shift.map(str::to_owned),
    }
}

#[test]
fn a_volunteer_found_by_name_and_phone_checks_in_to_their_shift() {
    let mut k = Kiosk::new(10);
    find(&mut k);
    // Nothing typed; then a name without the phone's digits.
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::VolunteerFind {
            problem: Some(VolunteerProblem::LastNameMissing)
        }
    );
    typed(&mut k, "Ruiz");
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(k.flow.session().focus, Field::Last4);
    assert_eq!(k.flow.layout(), crate::kiosk::keyboard::Layout::Digits);
    // Only four digits are typed.
    typed(&mut k, "012345");
    assert_eq!(k.flow.session().typed_last4, "0123");
    assert_eq!(
        k.tap(Tap::Next),
        vec![Command::FindVolunteer(VolunteerQuery::Name {
            last: "Ruiz".into(),
            last4: "0123".into(),
            first: None
        })]
    );
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        None,
    )))));
    assert_eq!(k.screen(), &Screen::VolunteerDay { problem: None });
    // 09:30: the 10:00 shift is open (an hour before), the 13:00 one is not yet.
    assert!(k.tap(clock_in("EV-USHERS", Some("S13"))).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::VolunteerDay {
            problem: Some(VolunteerProblem::TooEarly {
                opens_at: local("2026-12-06 12:00")
            })
        }
    );
    assert_eq!(
        k.tap(clock_in("EV-USHERS", Some("S10"))),
        vec![Command::ClockIn {
            volunteer: "8-1".into(),
            event_id: "EV-USHERS".into(),
            shift_id: Some("S10".into()),
            at: local("2026-12-06 09:30"),
        }]
    );
    assert_eq!(k.screen(), &Screen::VolunteerSaving);
    k.send(Event::Clocked(Ok(Clocked::In {
        event: "Winter Lights Ushers".into(),
    })));
    assert!(matches!(
        k.screen(),
        Screen::VolunteerDone(Clocked::In { .. })
    ));
    k.tap(Tap::Finish);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session().volunteer, None);
    assert_eq!(k.flow.session().typed_last4, "");
}

#[test]
fn an_event_the_crm_would_refuse_sends_the_volunteer_to_staff() {
    let mut k = Kiosk::new(10);
    find(&mut k);
    k.send(Event::Scanned {
        membership_id: "8-1".into(),
    });
    assert_eq!(k.screen(), &Screen::VolunteerLooking { by: LookedUpBy::Id });
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        None,
    )))));
    for tap in [
        clock_in("EV-FESTIVAL", Some("SF")),
        clock_in("EV-FESTIVAL", None),
    ] {
        assert!(k.tap(tap).is_empty());
        assert_eq!(
            k.screen(),
            &Screen::VolunteerDay {
                problem: Some(VolunteerProblem::SeeStaff(EventProblem::NameTooLong {
                    chars: 41
                }))
            }
        );
    }
}

#[test]
fn a_walk_in_and_a_check_out_with_hours() {
    let mut k = Kiosk::new(10);
    find(&mut k);
    k.send(Event::Scanned {
        membership_id: "8-1".into(),
    });
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        None,
    )))));
    assert_eq!(
        k.tap(clock_in("EV-USHERS", None)),
        vec![Command::ClockIn {
            volunteer: "8-1".into(),
            event_id: "EV-USHERS".into(),
            shift_id: None,
            at: local("2026-12-06 09:30"),
        }]
    );

    // Checked in at 07:05: out at 09:30 is 2 h 30 to the nearest quarter.
    let mut k = Kiosk::new(10);
    find(&mut k);
    k.send(Event::Scanned {
        membership_id: "8-1".into(),
    });
    let open = OpenClock {
        clock_id: "C1".into(),
        volunteer: "8-1".into(),
        event_id: "EV-USHERS".into(),
        shift_id: None,
        checked_in: local("2026-12-06 07:05"),
    };
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        Some(open),
    )))));
    // Checked in already: not twice.
    assert!(k.tap(clock_in("EV-USHERS", Some("S10"))).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::VolunteerDay {
            problem: Some(VolunteerProblem::AlreadyIn)
        }
    );
    assert_eq!(
        k.tap(Tap::ClockOut),
        vec![Command::ClockOut {
            clock_id: "C1".into(),
            closed: Closed {
                checked_out: local("2026-12-06 09:30"),
                minutes: 150,
                date: local("2026-12-06 09:30").date(),
                needs_approval: None::<ApprovalReason>,
            }
        }]
    );
    k.send(Event::Clocked(Err(ClockFault::NotSaved)));
    assert_eq!(
        k.screen(),
        &Screen::VolunteerDay {
            problem: Some(VolunteerProblem::NotSaved)
        }
    );
}

#[test]
fn a_check_in_older_than_18_hours_is_for_staff() {
    let mut k = Kiosk::new(10);
    find(&mut k);
    k.send(Event::Scanned {
        membership_id: "8-1".into(),
    });
    let open = OpenClock {
        clock_id: "C1".into(),
        volunteer: "8-1".into(),
        event_id: "EV-USHERS".into(),
        shift_id: Some("S-LONG".into()),
        checked_in: local("2026-12-05 15:00"),
    };
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        Some(open),
    )))));
    assert!(k.tap(Tap::ClockOut).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::VolunteerDay {
            problem: Some(VolunteerProblem::StaffNeeded)
        }
    );
}

#[test]
fn several_volunteers_of_a_name_are_told_apart_by_the_first_name() {
    let mut k = Kiosk::new(10);
    find(&mut k);
    typed(&mut k, "Ruiz");
    k.tap(Tap::Focus(Field::Last4));
    typed(&mut k, "0123");
    k.tap(Tap::Next);
    k.send(Event::Volunteer(VolunteerLookup::Several));
    assert_eq!(k.screen(), &Screen::VolunteerFirst);
    typed(&mut k, "Ana");
    assert_eq!(
        k.tap(Tap::Next),
        vec![Command::FindVolunteer(VolunteerQuery::Name {
            last: "Ruiz".into(),
            last4: "0123".into(),
            first: Some("Ana".into())
        })]
    );
    k.send(Event::Volunteer(VolunteerLookup::Several));
    assert_eq!(
        k.screen(),
        &Screen::VolunteerFind {
            problem: Some(VolunteerProblem::Several)
        }
    );
    k.tap(Tap::Next);
    k.send(Event::Volunteer(VolunteerLookup::NotFound));
    assert_eq!(
        k.screen(),
        &Screen::VolunteerFind {
            problem: Some(VolunteerProblem::NotFound)
        }
    );
    // Walking away forgets them.
    k.wait(90);
    k.wait(30);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session().form, Default::default());
}

#[test]
fn a_volunteer_clock_alone_takes_a_badge_on_its_welcome_screen_and_sells_nothing() {
    let mut k = Kiosk::new(10);
    k.flow = Flow::new(
        super::super::FlowConfig {
            offer: super::super::Offer::VolunteerClock,
            ..super::super::FlowConfig::default()
        },
        k.now(),
    );
    // Nothing to sell, no member to check in: those taps change nothing.
    for purpose in [Purpose::Tickets, Purpose::Membership, Purpose::CheckIn] {
        assert!(k.tap(Tap::Start(purpose)).is_empty());
        assert_eq!(k.screen(), &Screen::Welcome, "{purpose:?}");
    }
    // No printer is no problem for a clock.
    k.send(Event::PrinterChecked(Some(
        super::super::PrinterProblem::NoPrinter,
    )));
    assert_eq!(k.flow.out_of_order(), None);
    // A badge on the welcome screen looks its volunteer up.
    assert_eq!(
        k.send(Event::Scanned {
            membership_id: "8-1".into(),
        }),
        vec![Command::FindVolunteer(VolunteerQuery::Badge("8-1".into()))]
    );
    k.send(Event::Volunteer(VolunteerLookup::Found(Box::new(day(
        None,
    )))));
    assert_eq!(k.screen(), &Screen::VolunteerDay { problem: None });
    // Done, or walked away: back to the welcome screen, the volunteer forgotten.
    k.tap(Tap::Cancel);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session().volunteer, None);
    // Found by name from the one button.
    k.tap(Tap::Start(Purpose::Volunteer));
    assert_eq!(k.screen(), &Screen::VolunteerFind { problem: None });

    // On a kiosk that sells, the same badge on the welcome screen is a member's card.
    let mut k = Kiosk::new(10);
    let commands = k.send(Event::Scanned {
        membership_id: "8-1".into(),
    });
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::FindVolunteer(_))),
        "{commands:?}"
    );
}
