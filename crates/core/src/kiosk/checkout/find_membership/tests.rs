use chrono::TimeZone;

use super::super::tests::Kiosk;
use super::*;
use crate::find_membership::kiosk::{Checked, CodeProblem, Input, Located, Sent};
use crate::find_membership::mask::{Channel, MaskedTarget};
use crate::find_membership::{Code, IdError};
use crate::kiosk::checkout::{CheckInProblem, Event, Purpose};
use crate::kiosk::keyboard::Key;

fn targets() -> Vec<MaskedTarget> {
    vec![
        MaskedTarget {
            index: 0,
            channel: Channel::Email,
            masked: "j***@e***.org".into(),
        },
        MaskedTarget {
            index: 1,
            channel: Channel::Sms,
            masked: "***-***-1234".into(),
        },
    ]
}

fn typed(k: &mut Kiosk, text: &str) {
    for c in text.chars() {
        k.tap(Tap::Key(Key::Text(c.to_string())));
    }
}

fn expires() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 6, 14, 40, 0)
        .unwrap()
}

fn answer(k: &mut Kiosk, input: Input) -> Vec<Command> {
    k.send(Event::FindMembership(input))
}

fn fmm_screen(k: &Kiosk) -> &fmm::Screen {
    match k.screen() {
        Screen::FindMembership(s) => s,
        other => panic!("not on Find My Membership: {other:?}"),
    }
}

/// Check-in → "verify with a code" → M-100 typed → the hub finds two targets → the text one
/// chosen → the code sent.
fn to_code(k: &mut Kiosk) {
    k.tap(Tap::Start(Purpose::CheckIn));
    k.tap(Tap::VerifyByCode);
    assert_eq!(fmm_screen(k), &fmm::Screen::EnterId { problem: None });
    assert_eq!(k.flow.layout(), crate::kiosk::keyboard::Layout::Id);
    typed(k, "M-100");
    assert_eq!(
        k.tap(Tap::Next),
        vec![Command::FindMembership(fmm::Command::Locate {
            membership_id: "M-100".into()
        })]
    );
    // Taps wait while the hub is asked.
    assert!(k.tap(Tap::Back).is_empty());
    assert!(
        answer(
            k,
            Input::Located(Located::Found {
                request_id: "r1".into(),
                targets: targets(),
            })
        )
        .is_empty()
    );
    assert!(matches!(fmm_screen(k), fmm::Screen::ChooseTarget { .. }));
    assert_eq!(
        k.tap(Tap::Target(1)),
        vec![Command::FindMembership(fmm::Command::Send {
            request_id: "r1".into(),
            target: 1
        })]
    );
    answer(
        k,
        Input::Sent(Sent::Sent {
            target: targets()[1].clone(),
            expires_at: expires(),
            attempts_left: 5,
        }),
    );
    assert!(matches!(
        fmm_screen(k),
        fmm::Screen::EnterCode { problem: None, .. }
    ));
    assert_eq!(k.flow.layout(), crate::kiosk::keyboard::Layout::Digits);
}

fn verify(code: &str) -> Vec<Command> {
    vec![Command::FindMembership(fmm::Command::Verify {
        request_id: "r1".into(),
        code: Code::parse(code).unwrap(),
    })]
}

#[test]
fn a_verified_member_goes_on_to_check_in() {
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    // A seventh digit is not typed.
    typed(&mut k, "1234567");
    assert_eq!(k.flow.session().typed_code, "123456");
    assert_eq!(k.tap(Tap::Next), verify("123456"));
    assert_eq!(k.flow.session().typed_code, "", "the code is not kept");
    let commands = answer(
        &mut k,
        Input::Checked(Checked::Verified {
            lookup_id: "8-100".into(),
            membership_id: "M-100".into(),
        }),
    );
    assert_eq!(
        commands,
        vec![Command::FindMember(MemberQuery::Id("M-100".into()))]
    );
    assert_eq!(k.screen(), &Screen::CheckInLooking { by: LookedUpBy::Id });
}

#[test]
fn every_other_outcome_says_what_to_do_next() {
    // A wrong code, with the tries left; then one too many: locked.
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    typed(&mut k, "000000");
    k.tap(Tap::Next);
    answer(
        &mut k,
        Input::Checked(Checked::WrongCode { attempts_left: 4 }),
    );
    assert!(matches!(
        fmm_screen(&k),
        fmm::Screen::EnterCode {
            problem: Some(CodeProblem::Wrong { attempts_left: 4 }),
            ..
        }
    ));
    assert_eq!(k.flow.session().focus, Field::Code);
    typed(&mut k, "111111");
    k.tap(Tap::Next);
    answer(&mut k, Input::Checked(Checked::Locked));
    assert_eq!(fmm_screen(&k), &fmm::Screen::Locked);
    // Only back from there.
    assert!(k.tap(Tap::Next).is_empty());
    k.tap(Tap::Back);
    assert_eq!(k.screen(), &Screen::CheckInFind { problem: None });

    // Too short a code is not sent.
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    typed(&mut k, "12");
    assert!(k.tap(Tap::Next).is_empty());
    assert!(matches!(
        fmm_screen(&k),
        fmm::Screen::EnterCode {
            problem: Some(CodeProblem::Invalid(_)),
            ..
        }
    ));

    // The code expired: a new one sent to the email instead.
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    typed(&mut k, "123456");
    k.tap(Tap::Next);
    answer(&mut k, Input::Checked(Checked::Expired));
    assert!(matches!(fmm_screen(&k), fmm::Screen::Expired { .. }));
    assert_eq!(
        k.tap(Tap::Target(0)),
        vec![Command::FindMembership(fmm::Command::Send {
            request_id: "r1".into(),
            target: 0
        })]
    );

    // The hub cannot be reached: try again repeats the same call.
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    typed(&mut k, "123456");
    k.tap(Tap::Next);
    answer(&mut k, Input::HubUnreachable);
    assert!(matches!(fmm_screen(&k), fmm::Screen::Offline { .. }));
    assert_eq!(k.tap(Tap::Retry), verify("123456"));

    // An unknown number, then a number that is no ID.
    let mut k = Kiosk::new(10);
    k.tap(Tap::Start(Purpose::CheckIn));
    k.tap(Tap::VerifyByCode);
    typed(&mut k, "M-404");
    k.tap(Tap::Next);
    answer(&mut k, Input::Located(Located::NotFound));
    assert_eq!(fmm_screen(&k), &fmm::Screen::NotFound);
    k.tap(Tap::Key(Key::Clear));
    assert!(k.tap(Tap::Next).is_empty());
    assert_eq!(
        fmm_screen(&k),
        &fmm::Screen::EnterId {
            problem: Some(IdError::Empty)
        }
    );

    // Sending is refused: the request is locked at the hub.
    let mut k = Kiosk::new(10);
    k.tap(Tap::Start(Purpose::CheckIn));
    k.tap(Tap::VerifyByCode);
    typed(&mut k, "M-100");
    k.tap(Tap::Next);
    answer(
        &mut k,
        Input::Located(Located::Found {
            request_id: "r1".into(),
            targets: targets(),
        }),
    );
    k.tap(Tap::Target(0));
    answer(&mut k, Input::Sent(Sent::Locked));
    assert_eq!(fmm_screen(&k), &fmm::Screen::Locked);
}

#[test]
fn a_visitor_who_walks_away_mid_verification_is_forgotten() {
    let mut k = Kiosk::new(10);
    to_code(&mut k);
    typed(&mut k, "123");
    k.wait(90);
    k.wait(30);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session().typed_code, "");
    assert_eq!(k.flow.session().typed_id, "");
    // An answer that comes after the session ended changes nothing.
    assert!(
        answer(
            &mut k,
            Input::Checked(Checked::WrongCode { attempts_left: 3 })
        )
        .is_empty()
    );
    assert_eq!(k.screen(), &Screen::Welcome);
    let _ = CheckInProblem::NotFound;
}
