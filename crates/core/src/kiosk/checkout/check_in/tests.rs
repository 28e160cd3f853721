use chrono::NaiveDate;

use super::super::Session;
use super::super::tests::Kiosk;
use super::*;
use crate::kiosk::catalog::MembershipOffer;
use crate::kiosk::checkin::MemberCard;
use crate::kiosk::keyboard::Key;

fn card(standing: Standing, guests: u32) -> MemberCard {
    MemberCard {
        membership_id: "M-100".into(),
        level: "Family".into(),
        standing,
        expiry: NaiveDate::from_ymd_opt(2027, 3, 31).unwrap(),
        guest_allowance: guests,
    }
}

fn typed(k: &mut Kiosk, text: &str) {
    for c in text.chars() {
        k.tap(Tap::Key(Key::Text(c.to_string())));
    }
}

fn tap(t: Tap) -> Event {
    Event::Tap(t)
}

/// Each step: what happens, the screen after it, the commands it gives the shell.
type Step = (Event, Screen, Vec<Command>);

fn walk(k: &mut Kiosk, what: &str, steps: Vec<Step>) {
    for (i, (event, screen, commands)) in steps.into_iter().enumerate() {
        let got = k.send(event.clone());
        assert_eq!(got, commands, "{what}, step {i} ({event:?}): commands");
        assert_eq!(k.screen(), &screen, "{what}, step {i} ({event:?}): screen");
    }
}

fn looking(by: LookedUpBy) -> Screen {
    Screen::CheckInLooking { by }
}

fn by_id(id: &str) -> Command {
    Command::FindMember(MemberQuery::Id(id.into()))
}

fn card_screen() -> Screen {
    Screen::CheckInCard { problem: None }
}

/// Welcome → check-in → "M-100" typed → Next: the lookup asked for.
fn to_lookup(k: &mut Kiosk) {
    k.tap(Tap::Start(Purpose::CheckIn));
    assert_eq!(k.screen(), &Screen::CheckInFind { problem: None });
    assert_eq!(k.flow.layout(), crate::kiosk::keyboard::Layout::Id);
    typed(k, "M-100");
    assert_eq!(k.tap(Tap::Next), vec![by_id("M-100")]);
}

#[test]
fn a_check_in_with_guests_and_without() {
    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    walk(
        &mut k,
        "two guests, passes printed",
        vec![
            (
                Event::MemberCard(CardLookup::Found(card(Standing::Active, 2))),
                card_screen(),
                vec![],
            ),
            (tap(Tap::Guests(1)), card_screen(), vec![]),
            (tap(Tap::Guests(1)), card_screen(), vec![]),
            // No more than the level's allowance.
            (tap(Tap::Guests(1)), card_screen(), vec![]),
            (
                tap(Tap::CheckIn),
                Screen::CheckInSaving,
                vec![Command::RecordCheckIn {
                    membership_id: "M-100".into(),
                    guests: 2,
                }],
            ),
            // Nothing but the answers moves a check-in being saved.
            (tap(Tap::Back), Screen::CheckInSaving, vec![]),
            (tap(Tap::Cancel), Screen::CheckInSaving, vec![]),
            (
                Event::CheckInRecorded { passes: 2 },
                Screen::CheckInSaving,
                vec![Command::PrintPasses],
            ),
            (
                Event::Printed(Printed::All),
                Screen::CheckedIn {
                    printed: Printed::All,
                },
                vec![],
            ),
        ],
    );
    assert_eq!(k.flow.session().guests, 2);
    // The "checked in" screen returns to the welcome screen by itself, forgetting the member.
    k.wait(20);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session(), &Session::default());

    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    walk(
        &mut k,
        "no guests: nothing to print",
        vec![
            (
                Event::MemberCard(CardLookup::Found(card(Standing::Active, 2))),
                card_screen(),
                vec![],
            ),
            (tap(Tap::Guests(1)), card_screen(), vec![]),
            (tap(Tap::Guests(-1)), card_screen(), vec![]),
            (tap(Tap::Guests(-1)), card_screen(), vec![]),
            (
                tap(Tap::CheckIn),
                Screen::CheckInSaving,
                vec![Command::RecordCheckIn {
                    membership_id: "M-100".into(),
                    guests: 0,
                }],
            ),
            (
                Event::CheckInRecorded { passes: 0 },
                Screen::CheckedIn {
                    printed: Printed::All,
                },
                vec![],
            ),
            (tap(Tap::Finish), Screen::Welcome, vec![]),
        ],
    );
}

#[test]
fn a_check_in_that_cannot_be_saved_or_printed() {
    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    walk(
        &mut k,
        "not saved, then saved with the printer out of paper",
        vec![
            (
                Event::MemberCard(CardLookup::Found(card(Standing::Active, 1))),
                card_screen(),
                vec![],
            ),
            (tap(Tap::Guests(1)), card_screen(), vec![]),
            (
                tap(Tap::CheckIn),
                Screen::CheckInSaving,
                vec![Command::RecordCheckIn {
                    membership_id: "M-100".into(),
                    guests: 1,
                }],
            ),
            (
                Event::CheckInNotRecorded,
                Screen::CheckInCard {
                    problem: Some(CheckInProblem::NotSaved),
                },
                vec![],
            ),
            (
                tap(Tap::CheckIn),
                Screen::CheckInSaving,
                vec![Command::RecordCheckIn {
                    membership_id: "M-100".into(),
                    guests: 1,
                }],
            ),
            (
                Event::CheckInRecorded { passes: 1 },
                Screen::CheckInSaving,
                vec![Command::PrintPasses],
            ),
            (
                Event::Printed(Printed::NotAll),
                Screen::CheckedIn {
                    printed: Printed::NotAll,
                },
                vec![],
            ),
        ],
    );
}

#[test]
fn a_card_scanned_on_the_welcome_screen_checks_the_member_in() {
    let mut k = Kiosk::new(10);
    let scanned = |id: &str| Event::Scanned {
        membership_id: id.into(),
    };
    walk(
        &mut k,
        "scan on welcome",
        vec![
            (
                scanned("M-100"),
                looking(LookedUpBy::Id),
                vec![by_id("M-100")],
            ),
            (
                Event::MemberCard(CardLookup::NotFound),
                Screen::CheckInFind {
                    problem: Some(CheckInProblem::NotFound),
                },
                vec![],
            ),
            // Another card, on the finding screen.
            (
                scanned("M-200"),
                looking(LookedUpBy::Id),
                vec![by_id("M-200")],
            ),
            (
                Event::MemberCard(CardLookup::Found(card(Standing::Active, 0))),
                card_screen(),
                vec![],
            ),
            // A card scanned on the membership's screen starts nothing.
            (scanned("M-300"), card_screen(), vec![]),
        ],
    );
    // Scanner noise that is no ID does not leave the welcome screen.
    let mut k = Kiosk::new(10);
    assert!(k.send(scanned("  ")).is_empty());
    assert_eq!(k.screen(), &Screen::Welcome);
}

#[test]
fn an_expired_membership_is_offered_its_renewal() {
    let mut k = Kiosk::new(10);
    // The kiosk sells the Family level.
    if let Some(p) = k.catalog.products.get_mut("MEM-FAM") {
        p.membership = Some(MembershipOffer {
            level: "Family".into(),
            guest_allowance: 2,
            months: 12,
        });
    }
    to_lookup(&mut k);
    k.send(Event::MemberCard(CardLookup::Found(card(
        Standing::Expired,
        2,
    ))));
    assert_eq!(k.screen(), &card_screen());
    // Neither guests nor a check-in on an expired membership.
    assert!(k.tap(Tap::Guests(1)).is_empty());
    assert!(k.tap(Tap::CheckIn).is_empty());
    assert_eq!(k.flow.session().guests, 0);
    assert_eq!(k.screen(), &card_screen());
    k.tap(Tap::Renew);
    assert_eq!(k.screen(), &Screen::Details { problem: None });
    let s = k.flow.session();
    assert_eq!(s.purpose, Some(Purpose::Membership));
    assert_eq!(s.level.as_deref(), Some("MEM-FAM"));
    assert_eq!(s.card, None, "the check-in's membership is forgotten");

    // A level the kiosk does not sell: the levels it does.
    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    k.send(Event::MemberCard(CardLookup::Found(card(
        Standing::Expired,
        2,
    ))));
    k.tap(Tap::Renew);
    assert_eq!(k.screen(), &Screen::Levels);

    // Only an expired membership is renewed here: a cancelled one goes to the desk.
    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    k.send(Event::MemberCard(CardLookup::Found(card(
        Standing::Inactive,
        2,
    ))));
    k.tap(Tap::Renew);
    assert_eq!(k.screen(), &card_screen());
}

fn name(first: Option<&str>) -> Command {
    Command::FindMember(MemberQuery::Name {
        last: "García".into(),
        email: String::new(),
        phone: "512 555 0101".into(),
        first: first.map(str::to_owned),
    })
}

#[test]
fn a_member_found_by_name_with_several_matches() {
    let mut k = Kiosk::new(10);
    k.tap(Tap::Start(Purpose::CheckIn));
    k.tap(Tap::ByName);
    assert_eq!(k.screen(), &Screen::CheckInName { problem: None });
    let name_problem = |p| Screen::CheckInName { problem: Some(p) };
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(k.screen(), &name_problem(CheckInProblem::LastNameMissing));
    assert_eq!(k.flow.session().focus, Field::Last);
    typed(&mut k, "García");
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(
        k.screen(),
        &name_problem(CheckInProblem::EmailOrPhoneMissing)
    );
    k.tap(Tap::Focus(Field::Phone));
    typed(&mut k, "512 555 0101");
    walk(
        &mut k,
        "several, then the first name",
        vec![
            (tap(Tap::Next), looking(LookedUpBy::Name), vec![name(None)]),
            (
                Event::MemberCard(CardLookup::Several),
                Screen::CheckInFirst,
                vec![],
            ),
        ],
    );
    assert_eq!(k.flow.session().focus, Field::First);
    // No first name typed: nothing to look up.
    assert!(k.tap(Tap::Next).is_empty());
    typed(&mut k, "Eva");
    walk(
        &mut k,
        "still several",
        vec![
            (
                tap(Tap::Next),
                looking(LookedUpBy::FirstName),
                vec![name(Some("Eva"))],
            ),
            (
                Event::MemberCard(CardLookup::Several),
                name_problem(CheckInProblem::Several),
                vec![],
            ),
            (tap(Tap::Next), looking(LookedUpBy::Name), vec![name(None)]),
            (
                Event::MemberCard(CardLookup::NotFound),
                name_problem(CheckInProblem::NotFound),
                vec![],
            ),
            (
                tap(Tap::Back),
                Screen::CheckInFind { problem: None },
                vec![],
            ),
        ],
    );
    assert_eq!(
        k.flow.session().form,
        Default::default(),
        "Back forgets the name"
    );
}

#[test]
fn a_typed_id_is_checked_before_the_lookup() {
    let mut k = Kiosk::new(10);
    k.tap(Tap::Start(Purpose::CheckIn));
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::CheckInFind {
            problem: Some(CheckInProblem::Id(IdError::Empty))
        }
    );
    typed(&mut k, "M 1");
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(
        k.screen(),
        &Screen::CheckInFind {
            problem: Some(CheckInProblem::Id(IdError::BadCharacter))
        }
    );
    // Back on the first screen ends the session.
    k.tap(Tap::Back);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session(), &Session::default());
}

#[test]
fn a_member_who_walks_away_is_forgotten() {
    let mut k = Kiosk::new(10);
    to_lookup(&mut k);
    k.send(Event::MemberCard(CardLookup::Found(card(
        Standing::Active,
        2,
    ))));
    k.tap(Tap::Guests(1));
    k.wait(90);
    assert!(k.flow.still_there(k.now()).is_some());
    k.wait(30);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session().card, None);
    assert_eq!(k.flow.session().guests, 0);
}

#[test]
fn check_in_is_open_while_the_printer_is_out() {
    // A member without guests needs no printer; one with guests is told at the end.
    let mut k = Kiosk::new(10);
    k.send(Event::PrinterChecked(Some(
        super::super::PrinterProblem::PaperOut,
    )));
    k.tap(Tap::Start(Purpose::Tickets));
    assert_eq!(k.screen(), &Screen::Welcome);
    k.tap(Tap::Start(Purpose::CheckIn));
    assert_eq!(k.screen(), &Screen::CheckInFind { problem: None });
}
