//! A member's check-in at the kiosk, without an order: the pure parts.
//!
//! The member is found by a scanned card, a typed membership ID, or their last name with an
//! email or phone. The name search keeps the intake rules' normalisation (names compared by
//! their keys, emails and phones normalised, only active contacts count) and never picks
//! silently: several members found means one more detail (the first name), then the desk.
//!
//! The screen shows the membership only — level, standing, expiry, guest allowance — never a
//! name or a contact: someone who typed another member's number learns nothing personal.
//! The check-in is recorded as an admitted scan of the membership from the kiosk (uploaded like
//! a gate's), and each guest gets a pass: a kiosk-signed ticket valid today, which any gate
//! admits once.

use chrono::NaiveDate;

use crate::domain::{Constituent, Membership, MembershipStatus, TicketValidity};
use crate::gate::decision::choose_membership;
use crate::normalize::Normalizer;

/// The product id a guest pass carries (a gate that lists the products it admits must list it).
pub const GUEST_PASS_PRODUCT: &str = "GUEST-PASS";

/// The reason code of a check-in's scan row.
pub const CHECK_IN_REASON: &str = "member_check_in";

/// Where a membership stands on the day of the visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    /// Its term ended before today.
    Expired,
    /// Its term starts after today.
    NotYetStarted,
    /// Pending, lapsed or cancelled.
    Inactive,
}

impl Standing {
    /// The standing of `m` on `today`.
    pub fn of(m: &Membership, today: NaiveDate) -> Self {
        match m.status {
            MembershipStatus::Active if today > m.expiry => Self::Expired,
            MembershipStatus::Active if today < m.start => Self::NotYetStarted,
            MembershipStatus::Active => Self::Active,
            // A lapsed membership is one the member did not renew: renewal is what they need.
            MembershipStatus::Lapsed => Self::Expired,
            MembershipStatus::Pending | MembershipStatus::Cancelled => Self::Inactive,
        }
    }
}

/// A membership as the check-in screen shows it: nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCard {
    pub membership_id: String,
    pub level: String,
    pub standing: Standing,
    pub expiry: NaiveDate,
    pub guest_allowance: u32,
}

impl MemberCard {
    pub fn of(m: &Membership, today: NaiveDate) -> Self {
        Self {
            membership_id: m.membership_id.clone(),
            level: m.level.clone(),
            standing: Standing::of(m, today),
            expiry: m.expiry,
            guest_allowance: m.guest_allowance,
        }
    }
}

/// How the member asked to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberQuery {
    /// A membership ID scanned or typed (or a member's Lookup ID on a card).
    Id(String),
    /// Last name with an email or a phone, and the first name once asked for it.
    Name {
        last: String,
        email: String,
        phone: String,
        first: Option<String>,
    },
}

/// What looking the member up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLookup {
    Found(MemberCard),
    NotFound,
    /// Several members fit the details given.
    Several,
}

/// The members whose record fits a name search: the last name's key equal, an active email or
/// phone equal after normalisation, the first name's key equal when given. `holders` are the
/// candidates the replica's email and phone indexes found, each with its memberships; only
/// those holding a membership count. Several records of one membership are one member found.
pub fn find_by_name<'a>(
    n: &Normalizer,
    last: &str,
    email: &str,
    phone: &str,
    first: Option<&str>,
    holders: &'a [(Constituent, Vec<Membership>)],
    today: NaiveDate,
) -> NameSearch<'a> {
    let last = n.name_key(last);
    let first = first.map(|f| n.name_key(f)).filter(|f| !f.is_empty());
    let email = n.email(email);
    let phone = n.phone(phone);
    if last.is_empty() || (email.is_none() && phone.is_none()) {
        return NameSearch::None;
    }
    let mut found: Vec<&'a Membership> = Vec::new();
    for (c, memberships) in holders {
        let contact = email.as_deref().is_some_and(|want| {
            c.emails
                .iter()
                .filter(|e| e.meta.active)
                .any(|e| n.email(&e.address).as_deref() == Some(want))
        }) || phone.as_deref().is_some_and(|want| {
            c.phones
                .iter()
                .filter(|p| p.meta.active)
                .any(|p| n.phone(&p.number).as_deref() == Some(want))
        });
        let fits = crate::matching::is_candidate(c)
            && n.name_key(&c.name.last) == last
            && first
                .as_deref()
                .is_none_or(|f| n.name_key(&c.name.first) == f)
            && contact;
        if !fits {
            continue;
        }
        if let Some((m, _)) = choose_membership(memberships, today, 0)
            && !found.iter().any(|f| f.membership_id == m.membership_id)
        {
            found.push(m);
        }
    }
    match found.as_slice() {
        [] => NameSearch::None,
        [one] => NameSearch::One(one),
        _ => NameSearch::Several,
    }
}

/// What [`find_by_name`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSearch<'a> {
    One(&'a Membership),
    None,
    Several,
}

/// The validity of a guest pass printed on `today`.
pub fn guest_pass_validity(today: NaiveDate) -> TicketValidity {
    TicketValidity::Date { date: today }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn membership(id: &str, status: MembershipStatus, start: &str, expiry: &str) -> Membership {
        Membership {
            membership_id: id.into(),
            level: "Family".into(),
            status,
            start: day(start),
            expiry: day(expiry),
            members: vec![],
            guest_allowance: 2,
        }
    }

    #[test]
    fn standing_on_the_day_of_the_visit() {
        use MembershipStatus as M;
        let today = day("2026-12-06");
        let cases = [
            (M::Active, "2026-01-01", "2026-12-31", Standing::Active),
            (M::Active, "2026-01-01", "2026-12-06", Standing::Active),
            (M::Active, "2025-01-01", "2026-12-05", Standing::Expired),
            (
                M::Active,
                "2026-12-07",
                "2027-12-06",
                Standing::NotYetStarted,
            ),
            (M::Lapsed, "2025-01-01", "2026-12-31", Standing::Expired),
            (M::Pending, "2026-01-01", "2026-12-31", Standing::Inactive),
            (M::Cancelled, "2026-01-01", "2026-12-31", Standing::Inactive),
        ];
        for (status, start, expiry, want) in cases {
            let m = membership("M1", status, start, expiry);
            assert_eq!(
                Standing::of(&m, today),
                want,
                "{status:?} {start}..{expiry}"
            );
        }
    }

    use crate::domain::testing::person;

    #[test]
    fn a_member_found_by_last_name_and_email_or_phone() {
        let n = Normalizer::default();
        let today = day("2026-12-06");
        let m = |id: &str| {
            vec![membership(
                id,
                MembershipStatus::Active,
                "2026-01-01",
                "2026-12-31",
            )]
        };
        let holders = vec![
            (
                person("8-1", "Ana", "García", "ana@garcia.test", "+1 512 555 0101"),
                m("M-1"),
            ),
            // Ana's husband, on the same family email and the same membership.
            (
                person("8-2", "Luis", "Garcia", "ANA@Garcia.test", ""),
                m("M-1"),
            ),
            // Another Garcia family on a shared phone, with a membership of its own.
            (person("8-3", "Eva", "Garcia", "", "512-555-0101"), m("M-3")),
            // No membership: not a member to check in.
            (
                person("8-4", "Sam", "Garcia", "sam@garcia.test", ""),
                vec![],
            ),
        ];
        let found = |last: &str, email: &str, phone: &str, first: Option<&str>| match find_by_name(
            &n, last, email, phone, first, &holders, today,
        ) {
            NameSearch::One(m) => Some(m.membership_id.clone()),
            NameSearch::None => None,
            NameSearch::Several => Some("several".into()),
        };
        // (last name, email, phone, first name, the membership found)
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: [Case; 8] = [
            // Accents and case do not matter; two records of one membership are one member.
            ("garcia", "ana@garcia.test", "", None, Some("M-1")),
            // The phone, written another way, fits Ana and Eva: two memberships.
            ("García", "", "(512) 555-0101", None, Some("several")),
            // The first name, asked for then, settles it.
            ("García", "", "(512) 555-0101", Some("eva"), Some("M-3")),
            ("García", "", "(512) 555-0101", Some("Ana"), Some("M-1")),
            // Another last name, or no contact that agrees: nobody.
            ("Garcés", "ana@garcia.test", "", None, None),
            ("García", "other@garcia.test", "", None, None),
            // A record without a membership is nobody to check in.
            ("Garcia", "sam@garcia.test", "", None, None),
            // No email and no phone: the search does not run.
            ("Garcia", "", "", None, None),
        ];
        for (last, email, phone, first, want) in cases {
            assert_eq!(
                found(last, email, phone, first).as_deref(),
                want,
                "{last} {email} {phone} {first:?}"
            );
        }
    }

    #[test]
    fn an_inactive_contact_does_not_find_the_member() {
        let n = Normalizer::default();
        let mut ana = person("8-1", "Ana", "García", "ana@garcia.test", "");
        ana.emails[0].meta.active = false;
        let holders = vec![(
            ana,
            vec![membership(
                "M-1",
                MembershipStatus::Active,
                "2026-01-01",
                "2026-12-31",
            )],
        )];
        assert_eq!(
            find_by_name(
                &n,
                "García",
                "ana@garcia.test",
                "",
                None,
                &holders,
                day("2026-12-06")
            ),
            NameSearch::None
        );
    }
}
