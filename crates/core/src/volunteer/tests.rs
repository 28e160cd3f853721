use super::*;

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn event(name: &str, job: &str) -> VolunteerEvent {
    VolunteerEvent {
        event_id: "E1".into(),
        name: name.into(),
        job: job.into(),
    }
}

fn shift(start: &str, end: &str) -> Shift {
    Shift {
        shift_id: "S1".into(),
        event_id: "E1".into(),
        start: t(start),
        end: t(end),
        volunteers: vec!["8-1".into()],
    }
}

fn open(shift_id: Option<&str>, at: &str) -> OpenClock {
    OpenClock {
        clock_id: "C1".into(),
        volunteer: "8-1".into(),
        event_id: "E1".into(),
        shift_id: shift_id.map(str::to_owned),
        checked_in: t(at),
    }
}

fn crm_jobs(job: &str) -> bool {
    ["Usher", "Event Support"].contains(&job)
}

#[test]
fn rule_event_names_over_30_characters_cannot_be_clocked_into() {
    let cases = [
        ("Winter Lights Ushers", None),
        // Exactly 30 characters (accents count as one).
        ("Festival de Invierno: Acomodad", None),
        (
            "Summer Family Festival Weekend Volunteers",
            Some(EventProblem::NameTooLong { chars: 41 }),
        ),
    ];
    for (name, want) in cases {
        assert_eq!(
            event_problem(&event(name, "Usher"), &crm_jobs),
            want,
            "{name}"
        );
    }
    let long = event("Summer Family Festival Weekend Volunteers", "Usher");
    let problem = event_problem(&long, &crm_jobs);
    let s = shift("2026-12-06 10:00", "2026-12-06 14:00");
    assert_eq!(
        check_in(
            Some(&s),
            problem.as_ref(),
            None,
            t("2026-12-06 10:00"),
            &ClockRules::default()
        ),
        Err(CheckInRefused::Event(EventProblem::NameTooLong {
            chars: 41
        }))
    );
    assert!(matches!(
        shift_state(
            &s,
            problem.as_ref(),
            None,
            t("2026-12-06 10:00"),
            &ClockRules::default()
        ),
        ShiftState::Problem(_)
    ));
}

#[test]
fn rule_every_event_needs_a_crm_job_that_exists() {
    let cases = [
        ("Usher", None),
        ("  ", Some(EventProblem::NoJob)),
        (
            "Dolphin Trainer",
            Some(EventProblem::UnknownJob {
                job: "Dolphin Trainer".into(),
            }),
        ),
    ];
    for (job, want) in cases {
        assert_eq!(
            event_problem(&event("Gala", job), &crm_jobs),
            want,
            "{job:?}"
        );
    }
    // A walk-in to such an event is refused too.
    let p = event_problem(&event("Gala", "Dolphin Trainer"), &crm_jobs);
    assert!(matches!(
        check_in(
            None,
            p.as_ref(),
            None,
            t("2026-12-06 10:00"),
            &ClockRules::default()
        ),
        Err(CheckInRefused::Event(EventProblem::UnknownJob { .. }))
    ));
}

#[test]
fn a_shift_opens_for_check_in_a_configured_time_before_it_starts() {
    let s = shift("2026-12-06 10:00", "2026-12-06 14:00");
    let rules = ClockRules::default();
    let cases = [
        (
            "2026-12-06 08:59",
            Err(CheckInRefused::TooEarly {
                opens_at: t("2026-12-06 09:00"),
            }),
        ),
        ("2026-12-06 09:00", Ok(())),
        ("2026-12-06 13:59", Ok(())),
        ("2026-12-06 14:00", Err(CheckInRefused::Over)),
    ];
    for (now, want) in cases {
        assert_eq!(
            check_in(Some(&s), None, None, t(now), &rules),
            want,
            "{now}"
        );
    }
    // Configured to 30 minutes.
    let rules = ClockRules {
        opens_before: TimeDelta::minutes(30),
        ..ClockRules::default()
    };
    assert!(check_in(Some(&s), None, None, t("2026-12-06 09:15"), &rules).is_err());
    assert!(check_in(Some(&s), None, None, t("2026-12-06 09:30"), &rules).is_ok());
    // Checked in already: check out first.
    assert_eq!(
        check_in(
            Some(&s),
            None,
            Some(&open(Some("S0"), "2026-12-06 08:00")),
            t("2026-12-06 10:00"),
            &rules
        ),
        Err(CheckInRefused::AlreadyIn)
    );
}

#[test]
fn a_walk_in_needs_no_shift() {
    assert_eq!(
        check_in(
            None,
            None,
            None,
            t("2026-12-06 23:30"),
            &ClockRules::default()
        ),
        Ok(())
    );
    let closed = check_out(
        &open(None, "2026-12-06 13:05"),
        t("2026-12-06 15:10"),
        &ClockRules::default(),
    )
    .unwrap();
    assert_eq!((closed.hours(), closed.needs_approval), (2.0, None));
}

#[test]
fn hours_are_rounded_as_configured() {
    let from = t("2026-12-06 09:00");
    let r = |minutes, mode| Rounding { minutes, mode };
    let cases = [
        ("2026-12-06 11:07", r(15, RoundMode::Nearest), 2.0),
        ("2026-12-06 11:08", r(15, RoundMode::Nearest), 2.25),
        ("2026-12-06 11:14", r(15, RoundMode::Down), 2.0),
        ("2026-12-06 11:01", r(15, RoundMode::Up), 2.25),
        (
            "2026-12-06 11:20",
            r(1, RoundMode::Nearest),
            2.0 + 20.0 / 60.0,
        ),
        ("2026-12-06 11:29", r(60, RoundMode::Nearest), 2.0),
        ("2026-12-06 11:30", r(60, RoundMode::Nearest), 3.0),
        // A clock set back never gives negative hours.
        ("2026-12-06 08:00", r(15, RoundMode::Nearest), 0.0),
    ];
    for (to, rounding, want) in cases {
        let got = hours(from, t(to), rounding);
        assert!(
            (got - want).abs() < 1e-9,
            "{to} {rounding:?}: {got} ≠ {want}"
        );
    }
}

#[test]
fn a_missed_check_out_is_closed_at_the_shift_end_and_flagged() {
    let rules = ClockRules::default();
    let o = open(Some("S1"), "2026-12-06 09:50");
    let end = Some(t("2026-12-06 14:00"));
    // Within the grace after the end, the volunteer may still check out themselves.
    assert_eq!(sweep(&o, end, t("2026-12-06 14:59"), &rules), None);
    let closed = sweep(&o, end, t("2026-12-06 15:01"), &rules).unwrap();
    assert_eq!(closed.checked_out, t("2026-12-06 14:00"));
    assert_eq!(
        closed.hours(),
        4.25,
        "09:50 to 14:00, to the nearest quarter"
    );
    assert_eq!(closed.needs_approval, Some(ApprovalReason::MissedCheckOut));
}

#[test]
fn a_walk_in_left_open_is_closed_at_midnight_and_flagged() {
    let rules = ClockRules::default();
    let o = open(None, "2026-12-06 18:00");
    assert_eq!(sweep(&o, None, t("2026-12-06 23:59"), &rules), None);
    let closed = sweep(&o, None, t("2026-12-07 07:00"), &rules).unwrap();
    assert_eq!(closed.checked_out, t("2026-12-07 00:00"));
    assert_eq!(closed.hours(), 6.0);
    assert_eq!(closed.date, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
    assert_eq!(closed.needs_approval, Some(ApprovalReason::MissedCheckOut));
}

#[test]
fn an_overnight_shift_counts_on_the_day_it_began() {
    let rules = ClockRules::default();
    let s = shift("2026-12-06 20:00", "2026-12-07 08:00");
    assert_eq!(
        check_in(Some(&s), None, None, t("2026-12-06 19:30"), &rules),
        Ok(())
    );
    assert_eq!(
        check_in(Some(&s), None, None, t("2026-12-07 03:00"), &rules),
        Ok(())
    );
    let o = open(Some("S1"), "2026-12-06 19:30");
    // Not swept at midnight: the shift runs on.
    assert_eq!(sweep(&o, Some(s.end), t("2026-12-07 01:00"), &rules), None);
    let closed = check_out(&o, t("2026-12-07 08:05"), &rules).unwrap();
    assert_eq!(closed.hours(), 12.5);
    assert_eq!(closed.date, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
}

#[test]
fn a_check_in_older_than_18_hours_needs_staff_to_check_out() {
    let rules = ClockRules::default();
    let o = open(Some("S1"), "2026-12-06 08:00");
    assert!(check_out(&o, t("2026-12-07 02:00"), &rules).is_ok());
    assert_eq!(
        check_out(&o, t("2026-12-07 02:01"), &rules),
        Err(CheckOutRefused::StaffNeeded)
    );
}

#[test]
fn a_shift_shows_where_it_stands() {
    let rules = ClockRules::default();
    let s = shift("2026-12-06 10:00", "2026-12-06 14:00");
    let mine = open(Some("S1"), "2026-12-06 09:55");
    let cases = [
        (
            "2026-12-06 08:00",
            None,
            ShiftState::Later {
                opens_at: t("2026-12-06 09:00"),
            },
        ),
        ("2026-12-06 09:30", None, ShiftState::Open),
        (
            "2026-12-06 11:00",
            Some(&mine),
            ShiftState::CheckedIn {
                since: t("2026-12-06 09:55"),
            },
        ),
        ("2026-12-06 14:30", None, ShiftState::Over),
    ];
    for (now, o, want) in cases {
        assert_eq!(shift_state(&s, None, o, t(now), &rules), want, "{now}");
    }
}
