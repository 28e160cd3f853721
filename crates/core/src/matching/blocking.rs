//! Blocking keys: which normalised keys the shell probes to fetch candidates quickly.
//!
//! The replica (or any index) stores [`constituent_keys`] for every constituent; for a visitor
//! it probes [`visitor_keys`] and hands the union of the hits to
//! [`strict_match`](super::strict_match) or [`scored_match`](super::scored_match). The strict
//! rule needs only the email and phone keys ([`BlockingKey::is_strict`]): a strict match always
//! shares one of them. Scored matching also probes last name + first initial and postcode +
//! last name, so a record found by neither contact key can still be found (a nickname with a
//! different initial, such as Bill for William, is found through email, phone or postcode),
//! and, for a misspelt last name, first name + last initial, and the two names swapped.

use serde::{Deserialize, Serialize};

use super::VisitorDetails;
use crate::domain::Constituent;
use crate::normalize::Normalizer;

/// One normalised key to probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "key", rename_all = "snake_case")]
pub enum BlockingKey {
    /// Normalised email ([`Normalizer::email`]).
    Email { email: String },
    /// E.164 phone ([`Normalizer::phone`]).
    Phone { phone: String },
    /// Last-name key and the first letter of the first-name key.
    LastNameInitial { last: String, initial: char },
    /// Normalised postcode and last-name key.
    PostcodeLastName { postcode: String, last: String },
    /// The visitor's names swapped: their first-name key as a last name, and their last
    /// name's initial. Indexed like [`BlockingKey::LastNameInitial`], whose records it finds.
    SwappedNames { last: String, initial: char },
    /// First-name key and the first letter of the last-name key: finds a record whose last
    /// name is misspelt after its first letter.
    FirstNameInitial { first: String, initial: char },
}

/// What a key can find, and so when it is worth probing (see
/// [`probe_keys`](super::scored::probe_keys)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A shared email or phone.
    Contact,
    /// A record with the visitor's exact names.
    ExactName,
    /// A record whose names only resemble the visitor's (misspelt, swapped).
    ResemblingName,
}

impl BlockingKey {
    /// Whether strict matching needs this key.
    pub fn is_strict(&self) -> bool {
        matches!(self, Self::Email { .. } | Self::Phone { .. })
    }

    /// What the key can find.
    pub fn reach(&self) -> Reach {
        match self {
            Self::Email { .. } | Self::Phone { .. } => Reach::Contact,
            Self::LastNameInitial { .. } | Self::PostcodeLastName { .. } => Reach::ExactName,
            Self::FirstNameInitial { .. } | Self::SwappedNames { .. } => Reach::ResemblingName,
        }
    }

    /// A single string for an index column: `e:`, `p:`, `n:`, `z:` or `f:` then the key.
    pub fn index_key(&self) -> String {
        match self {
            Self::Email { email } => format!("e:{email}"),
            Self::Phone { phone } => format!("p:{phone}"),
            Self::LastNameInitial { last, initial } | Self::SwappedNames { last, initial } => {
                format!("n:{last}:{initial}")
            }
            Self::PostcodeLastName { postcode, last } => format!("z:{postcode}:{last}"),
            Self::FirstNameInitial { first, initial } => format!("f:{first}:{initial}"),
        }
    }
}

fn name_key(last: &str, first: &str, n: &Normalizer) -> Option<BlockingKey> {
    let last = n.name_key(last);
    let initial = n.name_key(first).chars().next()?;
    (!last.is_empty()).then_some(BlockingKey::LastNameInitial { last, initial })
}

/// First-name key and last name's initial.
fn first_name_key(first: &str, last: &str, n: &Normalizer) -> Option<BlockingKey> {
    let first = n.name_key(first);
    let initial = n.name_key(last).chars().next()?;
    (!first.is_empty()).then_some(BlockingKey::FirstNameInitial { first, initial })
}

fn postcode_key(postcode: Option<&str>, last: &str, n: &Normalizer) -> Option<BlockingKey> {
    let postcode = n.postcode(postcode?)?;
    let last = n.name_key(last);
    (!last.is_empty()).then_some(BlockingKey::PostcodeLastName { postcode, last })
}

fn finish(mut keys: Vec<BlockingKey>) -> Vec<BlockingKey> {
    keys.sort();
    keys.dedup();
    keys
}

/// Keys to probe for a visitor, sorted and without duplicates.
pub fn visitor_keys(v: &VisitorDetails, n: &Normalizer) -> Vec<BlockingKey> {
    let mut keys = Vec::with_capacity(4);
    if let Some(email) = v.email.as_deref().and_then(|e| n.email(e)) {
        keys.push(BlockingKey::Email { email });
    }
    if let Some(phone) = v.phone.as_deref().and_then(|p| n.phone(p)) {
        keys.push(BlockingKey::Phone { phone });
    }
    keys.extend(name_key(&v.name.last, &v.name.first, n));
    keys.extend(first_name_key(&v.name.first, &v.name.last, n));
    // The names swapped: the record's last name is the visitor's first, and its first name
    // starts with the visitor's last name's initial.
    if let Some(BlockingKey::LastNameInitial { last, initial }) =
        name_key(&v.name.first, &v.name.last, n)
    {
        keys.push(BlockingKey::SwappedNames { last, initial });
    }
    if let Some(a) = &v.address {
        keys.extend(postcode_key(a.postcode.as_deref(), &v.name.last, n));
    }
    finish(keys)
}

/// Keys under which a constituent is indexed, sorted and without duplicates: every email and
/// phone (active or not: scored matching credits inactive ones), the current and former names
/// (last name + first initial, first name + last initial), and every address's postcode with
/// each of those last names.
pub fn constituent_keys(c: &Constituent, n: &Normalizer) -> Vec<BlockingKey> {
    let mut keys = Vec::new();
    for e in &c.emails {
        if let Some(email) = n.email(&e.address) {
            keys.push(BlockingKey::Email { email });
        }
    }
    for p in &c.phones {
        if let Some(phone) = n.phone(&p.number) {
            keys.push(BlockingKey::Phone { phone });
        }
    }
    let names = std::iter::once(&c.name).chain(c.historical_names.iter().map(|h| &h.name));
    for name in names {
        keys.extend(name_key(&name.last, &name.first, n));
        keys.extend(first_name_key(&name.first, &name.last, n));
        for a in &c.addresses {
            keys.extend(postcode_key(a.postcode.as_deref(), &name.last, n));
        }
    }
    finish(keys)
}
