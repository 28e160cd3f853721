//! The CRM's constituent update rules: how an incoming record that matched an existing
//! constituent changes it.
//!
//! Pure: [`apply_update_rules`] takes the existing constituent, the incoming details, the
//! update mode and today's date, and returns the updated constituent and the list of
//! [`Change`]s (for the audit trail and the upstream payload). [`rules_apply`] says whether the
//! rules apply at all for a given [`UpdateSource`].
//!
//! # The rules, as the CRM states them
//!
//! * **Name**: "If names are different, Altru replaces the name on the existing constituent
//!   with the name from the incoming constituent and stores the existing name on the
//!   constituent record under Historical names." The old name is kept with `until = today`.
//! * **Addresses, phones, emails** (one rule, three kinds): an incoming entry "not identical to
//!   any existing" one is added; "If the new phone number has the same type as any existing
//!   phone number, Altru makes the existing phone number inactive and updates the End date
//!   field on all existing phone numbers on the constituent with that phone type."
//! * **Primary**: "Altru makes the new phone number primary only if it has the same phone type
//!   as the existing primary phone number", with the tie-breaks for several new ones, and
//!   "If the existing constituent has no phone numbers, the primary phone number in the batch
//!   is always primary."
//! * **Birth date**: replaced when different, but "Birth dates update only when constituents
//!   qualify for automatic updates".
//!
//! # Decisions where the CRM's text is silent
//!
//! * **Identical** means equal normalised forms: emails by [`Normalizer::email`] (case does not
//!   matter), phones by [`Normalizer::phone`] (format does not matter), addresses by
//!   [`Normalizer::address_line`] for the lines and city, [`Normalizer::postcode`] for the
//!   postcode, and case-insensitive region and country. Contact types are compared trimmed and
//!   case-insensitively. Names are different when any part's [`Normalizer::name_key`] differs
//!   (a missing part equals an empty one), so a change of case or accents only is not a new
//!   name.
//! * **An incoming entry identical to an inactive existing one** is left alone: the CRM adds an
//!   entry only when it is "not identical to any existing" one, and says nothing of
//!   re-activating. The result reports [`Change::AlreadyPresent`] with `existing_active: false`
//!   so a reviewer can re-activate it by hand.
//! * **Already-ended entries of the same type**: inactive, and an end date after today (or none)
//!   becomes today; an end date already in the past is kept, because it is true.
//! * **No marked primary** in a batch for a kind the constituent has no entries of: the first
//!   entry of the batch is primary. Several marked primary: the first marked one.
//! * **Entries but no active primary** on the existing constituent: treated like having no
//!   entries of that kind (the batch's primary becomes primary), so that after an update that
//!   adds an entry there is exactly one primary of that kind.
//! * **Unusable incoming entries** (a placeholder or malformed email, a phone that does not
//!   normalise, an address with neither first line nor postcode) are not added; they are
//!   reported as [`Change::Rejected`].
//! * **Duplicates inside one batch** are added once.
//! * **An incoming name without first and last name** does not replace the existing name.
//!
//! # Invariants
//!
//! If the existing constituent has at most one primary entry per kind, so has the result; a
//! kind to which an entry was added, or that had an active primary, has exactly one afterwards,
//! and it is active. Applying the same incoming details twice gives the same constituent as
//! applying them once (the second time reports no change).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Address, Constituent, ContactMeta, Email, HistoricalName, PersonName, Phone};
use crate::matching::{PostalAddress, VisitorDetails};
use crate::normalize::Normalizer;

/// How the match qualified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    /// Match confidence above the top threshold: the rules apply automatically, birth date
    /// included.
    Automatic,
    /// Middle range, resolved by a person with "Use my organization's rules": every rule but
    /// the birth date.
    Review,
}

/// Kind of batch in the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchEntry {
    /// Rows keyed in by hand.
    Manual,
    /// Rows from an imported file.
    Imported,
}

/// What a batch row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOperation {
    Add,
    Edit,
}

/// Where an update to an existing constituent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum UpdateSource {
    /// Details from a kiosk, the portal or access control that matched an existing
    /// constituent. Portico sends them like an imported batch row added without a constituent
    /// ID that matched.
    MatchedIncoming,
    /// Staff or the member edit an identified constituent's record directly, like the CRM's
    /// edit screen.
    ExplicitEdit,
    /// The CRM's "Add an individual" / "Add an organization" screen.
    AddScreen { matches_existing: bool },
    /// The CRM's "Edit an individual" / "Edit an organization" screen.
    EditScreen,
    /// A Constituent Update or Enhanced Revenue batch row.
    Batch {
        entry: BatchEntry,
        operation: BatchOperation,
        constituent_id_included: bool,
        matches_existing: bool,
    },
}

/// Whether the update rules apply to an update from `source`: exactly the CRM's
/// "When do rules apply?" list. Circumstances the list does not name do not apply.
pub fn rules_apply(source: UpdateSource) -> bool {
    use BatchEntry::{Imported, Manual};
    use BatchOperation::{Add, Edit};
    match source {
        // "When you add a new constituent using the Add an individual screen or the Add an
        // organization screen and it matches an existing constituent according to your defined
        // constituent matching settings."
        UpdateSource::AddScreen {
            matches_existing: true,
        } => true,
        // "When you add a constituent through manual Constituent Update and Enhanced Revenue
        // batches and it matches an existing constituent according to your defined constituent
        // matching settings."
        UpdateSource::Batch {
            entry: Manual,
            operation: Add,
            constituent_id_included: false,
            matches_existing: true,
        } => true,
        // "When you add a constituent through imported Constituent Update and Enhanced Revenue
        // batches and it matches an existing constituent according to your defined constituent
        // matching settings and you exclude the constituent ID."
        UpdateSource::Batch {
            entry: Imported,
            operation: Add,
            constituent_id_included: false,
            matches_existing: true,
        } => true,
        // "When you edit a constituent through imported Constituent Update and Enhanced Revenue
        // batches and you include the constituent ID."
        UpdateSource::Batch {
            entry: Imported,
            operation: Edit,
            constituent_id_included: true,
            ..
        } => true,
        // Kiosk, portal and access-control details that matched: the imported-add case above.
        UpdateSource::MatchedIncoming => true,
        // NOT: "When you edit a constituent using the Edit an individual screen or the Edit an
        // organization screen."
        UpdateSource::EditScreen => false,
        // NOT: "When you add a constituent through manual Constituent Update and Enhanced
        // Revenue batches and include the constituent ID."
        UpdateSource::Batch {
            entry: Manual,
            operation: Add,
            constituent_id_included: true,
            ..
        } => false,
        // A direct edit of an identified record: the edit-screen case above.
        UpdateSource::ExplicitEdit => false,
        // Not in the list: adds that match nothing (a new record, nothing to update), manual
        // batch edits, imported adds that include the ID, imported edits without it.
        UpdateSource::AddScreen {
            matches_existing: false,
        }
        | UpdateSource::Batch { .. } => false,
    }
}

/// An incoming email in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingEmail {
    pub address: String,
    /// The CRM's email type.
    pub kind: String,
    /// Marked primary in the batch.
    pub primary: bool,
}

/// An incoming phone number in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingPhone {
    pub number: String,
    pub kind: String,
    pub primary: bool,
}

/// An incoming address in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingAddress {
    pub address: PostalAddress,
    pub kind: String,
    pub primary: bool,
}

/// The incoming constituent's details, in batch order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IncomingDetails {
    pub name: Option<PersonName>,
    pub birth_date: Option<NaiveDate>,
    pub emails: Vec<IncomingEmail>,
    pub phones: Vec<IncomingPhone>,
    pub addresses: Vec<IncomingAddress>,
}

/// Contact types given to what a visitor types, which carries none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorContactTypes {
    pub email: String,
    pub phone: String,
    pub address: String,
}

impl Default for VisitorContactTypes {
    fn default() -> Self {
        Self {
            email: "Email".to_owned(),
            phone: "Home".to_owned(),
            address: "Home".to_owned(),
        }
    }
}

impl IncomingDetails {
    /// A visitor's details as an incoming record: each given contact becomes one entry of the
    /// configured type, marked primary (it is what the visitor uses now).
    pub fn from_visitor(v: &VisitorDetails, types: &VisitorContactTypes) -> Self {
        Self {
            name: Some(v.name.clone()),
            birth_date: v.birth_date,
            emails: v
                .email
                .iter()
                .map(|address| IncomingEmail {
                    address: address.clone(),
                    kind: types.email.clone(),
                    primary: true,
                })
                .collect(),
            phones: v
                .phone
                .iter()
                .map(|number| IncomingPhone {
                    number: number.clone(),
                    kind: types.phone.clone(),
                    primary: true,
                })
                .collect(),
            addresses: v
                .address
                .iter()
                .map(|address| IncomingAddress {
                    address: address.clone(),
                    kind: types.address.clone(),
                    primary: true,
                })
                .collect(),
        }
    }
}

/// The three kinds of contact entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Address,
    Phone,
    Email,
}

/// Why an incoming entry was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// A placeholder or malformed email.
    UnusableEmail,
    /// A phone number that does not normalise.
    UnusablePhone,
    /// An address with neither first line nor postcode.
    EmptyAddress,
}

/// One effect of the update rules, for the audit trail and the upstream payload. Indexes refer
/// to the entry lists of the updated constituent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The name was replaced; the previous one is now a historical name.
    NameReplaced {
        previous: PersonName,
        current: PersonName,
    },
    /// A new entry was added (at `index`), primary or not.
    Added {
        contact: ContactKind,
        index: usize,
        value: String,
        contact_type: String,
        primary: bool,
    },
    /// An existing entry of the same type as a new one was made inactive and/or given an end
    /// date.
    Ended {
        contact: ContactKind,
        index: usize,
        value: String,
        contact_type: String,
        was_active: bool,
        end: NaiveDate,
    },
    /// The primary entry of a kind moved (from `None` when there was no primary).
    PrimaryMoved {
        contact: ContactKind,
        from: Option<usize>,
        to: usize,
    },
    /// The incoming entry is identical to an existing one: nothing changed.
    AlreadyPresent {
        contact: ContactKind,
        value: String,
        existing_index: usize,
        existing_active: bool,
    },
    /// The incoming entry cannot be used and was not added.
    Rejected {
        contact: ContactKind,
        value: String,
        reason: Rejection,
    },
    BirthDateReplaced {
        previous: Option<NaiveDate>,
        current: NaiveDate,
    },
    /// The incoming birth date differs, but the match did not qualify for automatic updates.
    BirthDateKept {
        existing: Option<NaiveDate>,
        incoming: NaiveDate,
    },
}

impl Change {
    /// Whether this change alters the constituent (as opposed to reporting why nothing did).
    pub fn alters_record(&self) -> bool {
        !matches!(
            self,
            Self::AlreadyPresent { .. } | Self::Rejected { .. } | Self::BirthDateKept { .. }
        )
    }
}

/// A contact entry of one kind, as the generic rule sees it.
trait Entry {
    const KIND: ContactKind;
    fn meta(&self) -> &ContactMeta;
    fn meta_mut(&mut self) -> &mut ContactMeta;
    /// The value as shown in changes.
    fn value(&self) -> String;
    /// The identity key; `None` for an entry that cannot be compared (never for an existing
    /// one: see [`existing_key`]).
    fn key(&self, n: &Normalizer) -> Option<String>;
}

impl Entry for Email {
    const KIND: ContactKind = ContactKind::Email;
    fn meta(&self) -> &ContactMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ContactMeta {
        &mut self.meta
    }
    fn value(&self) -> String {
        self.address.clone()
    }
    fn key(&self, n: &Normalizer) -> Option<String> {
        n.email(&self.address)
    }
}

impl Entry for Phone {
    const KIND: ContactKind = ContactKind::Phone;
    fn meta(&self) -> &ContactMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ContactMeta {
        &mut self.meta
    }
    fn value(&self) -> String {
        self.number.clone()
    }
    fn key(&self, n: &Normalizer) -> Option<String> {
        n.phone(&self.number)
    }
}

impl Entry for Address {
    const KIND: ContactKind = ContactKind::Address;
    fn meta(&self) -> &ContactMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ContactMeta {
        &mut self.meta
    }
    fn value(&self) -> String {
        let mut parts = vec![self.line1.as_str()];
        parts.extend(self.line2.as_deref());
        parts.push(self.city.as_str());
        parts.extend(self.region.as_deref());
        parts.extend(self.postcode.as_deref());
        parts.push(self.country.as_str());
        parts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn key(&self, n: &Normalizer) -> Option<String> {
        let postcode = self.postcode.as_deref().and_then(|p| n.postcode(p));
        let line1 = n.address_line(&self.line1);
        if line1.is_empty() && postcode.is_none() {
            return None;
        }
        let opt_line = |s: &Option<String>| s.as_deref().map(|l| n.address_line(l));
        Some(
            [
                line1,
                opt_line(&self.line2).unwrap_or_default(),
                n.address_line(&self.city),
                opt_line(&self.region).unwrap_or_default(),
                postcode.unwrap_or_default(),
                self.country.trim().to_lowercase(),
            ]
            .join("\u{1f}"),
        )
    }
}

/// Key for an existing entry: normalised when possible, otherwise its trimmed, lowercased raw
/// value (so two unusable existing entries never collide with a usable incoming one).
fn existing_key<E: Entry>(e: &E, n: &Normalizer) -> String {
    e.key(n)
        .unwrap_or_else(|| format!("\u{0}raw:{}", e.value().trim().to_lowercase()))
}

fn same_type(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn new_meta(kind: &str, primary: bool, today: NaiveDate) -> ContactMeta {
    ContactMeta {
        kind: kind.to_owned(),
        primary,
        active: true,
        start: Some(today),
        end: None,
    }
}

/// Picks which of the added entries (indexes into `entries`) becomes primary: the seed's rule
/// and tie-breaks. `old_primary_type` is the type of the existing active primary, if any.
fn choose_primary<E: Entry>(
    entries: &[E],
    added: &[usize],
    old_primary_type: Option<&str>,
) -> Option<usize> {
    let first_marked_or_first = |pool: &[usize]| -> Option<usize> {
        pool.iter()
            .copied()
            .find(|&i| entries[i].meta().primary)
            .or_else(|| pool.first().copied())
    };
    match old_primary_type {
        // "Altru makes the new phone number primary only if it has the same phone type as the
        // existing primary phone number." One such → it; several, one marked → that one;
        // several, none marked → the first in the batch.
        Some(t) => {
            let same: Vec<usize> = added
                .iter()
                .copied()
                .filter(|&i| same_type(&entries[i].meta().kind, t))
                .collect();
            first_marked_or_first(&same)
        }
        // "If the existing constituent has no phone numbers, the primary phone number in the
        // batch is always primary." None marked: the first in the batch.
        None => first_marked_or_first(added),
    }
}

/// The address/phone/email rule for one kind.
fn apply_contacts<E: Entry + Clone>(
    entries: &mut Vec<E>,
    incoming: Vec<Result<E, (String, Rejection)>>,
    n: &Normalizer,
    today: NaiveDate,
    changes: &mut Vec<Change>,
) {
    let existing_len = entries.len();
    let old_primary = entries
        .iter()
        .position(|e| e.meta().primary && e.meta().active);
    let old_primary_type = old_primary.map(|i| entries[i].meta().kind.clone());
    let mut keys: Vec<String> = entries.iter().map(|e| existing_key(e, n)).collect();

    // "If incoming phone number is not identical to any existing phone number, Altru adds it as
    // a new number to the existing constituent."
    let mut added: Vec<usize> = Vec::new();
    for item in incoming {
        let entry = match item {
            Ok(entry) => entry,
            Err((value, reason)) => {
                changes.push(Change::Rejected {
                    contact: E::KIND,
                    value,
                    reason,
                });
                continue;
            }
        };
        let Some(key) = entry.key(n) else {
            continue;
        };
        if let Some(i) = keys.iter().position(|k| *k == key) {
            changes.push(Change::AlreadyPresent {
                contact: E::KIND,
                value: entry.value(),
                existing_index: i,
                existing_active: entries[i].meta().active,
            });
            continue;
        }
        keys.push(key);
        entries.push(entry);
        added.push(entries.len() - 1);
    }
    if added.is_empty() {
        return;
    }

    // "If the new phone number has the same type as any existing phone number, Altru makes the
    // existing phone number inactive and updates the End date field on all existing phone
    // numbers on the constituent with that phone type."
    let added_types: Vec<String> = added
        .iter()
        .map(|&i| entries[i].meta().kind.clone())
        .collect();
    for (index, e) in entries.iter_mut().enumerate().take(existing_len) {
        if !added_types.iter().any(|t| same_type(t, &e.meta().kind)) {
            continue;
        }
        let meta = e.meta_mut();
        let was_active = meta.active;
        let end = match meta.end {
            Some(end) if end <= today => end,
            _ => today,
        };
        if was_active || meta.end != Some(end) {
            meta.active = false;
            meta.end = Some(end);
            changes.push(Change::Ended {
                contact: E::KIND,
                index,
                value: e.value(),
                contact_type: e.meta().kind.clone(),
                was_active,
                end,
            });
        }
    }

    let chosen = choose_primary(entries, &added, old_primary_type.as_deref());
    if let Some(chosen) = chosen {
        for (i, e) in entries.iter_mut().enumerate() {
            e.meta_mut().primary = i == chosen;
        }
    } else {
        for &i in &added {
            entries[i].meta_mut().primary = false;
        }
    }
    for &i in &added {
        changes.push(Change::Added {
            contact: E::KIND,
            index: i,
            value: entries[i].value(),
            contact_type: entries[i].meta().kind.clone(),
            primary: entries[i].meta().primary,
        });
    }
    if let Some(to) = chosen {
        changes.push(Change::PrimaryMoved {
            contact: E::KIND,
            from: old_primary,
            to,
        });
    }
}

fn names_differ(a: &PersonName, b: &PersonName, n: &Normalizer) -> bool {
    let parts = |p: &PersonName| {
        [
            n.name_key(p.title.as_deref().unwrap_or_default()),
            n.name_key(&p.first),
            n.name_key(p.middle.as_deref().unwrap_or_default()),
            n.name_key(&p.last),
            n.name_key(p.suffix.as_deref().unwrap_or_default()),
        ]
    };
    parts(a) != parts(b)
}

/// Applies the update rules with the default [`Normalizer`] (United States). Use
/// [`apply_update_rules_with`] to compare phone numbers with the venue's own dialing plan.
pub fn apply_update_rules(
    existing: &Constituent,
    incoming: &IncomingDetails,
    mode: UpdateMode,
    today: NaiveDate,
) -> (Constituent, Vec<Change>) {
    apply_update_rules_with(existing, incoming, mode, today, &Normalizer::default())
}

/// Applies the CRM's update rules to `existing` for an `incoming` record that matched it.
/// Callers check [`rules_apply`] first.
pub fn apply_update_rules_with(
    existing: &Constituent,
    incoming: &IncomingDetails,
    mode: UpdateMode,
    today: NaiveDate,
    n: &Normalizer,
) -> (Constituent, Vec<Change>) {
    let mut c = existing.clone();
    let mut changes = Vec::new();

    // "If names are different, Altru replaces the name on the existing constituent with the
    // name from the incoming constituent and stores the existing name on the constituent record
    // under Historical names."
    if let Some(name) = &incoming.name {
        let has_name = !n.name_key(&name.first).is_empty() || !n.name_key(&name.last).is_empty();
        if has_name && names_differ(&c.name, name, n) {
            let previous = std::mem::replace(&mut c.name, name.clone());
            c.historical_names.push(HistoricalName {
                name: previous.clone(),
                until: Some(today),
            });
            changes.push(Change::NameReplaced {
                previous,
                current: name.clone(),
            });
        }
    }

    let addresses = incoming
        .addresses
        .iter()
        .map(|a| {
            let entry = Address {
                line1: a.address.line1.clone(),
                line2: a.address.line2.clone(),
                city: a.address.city.clone(),
                region: a.address.region.clone(),
                postcode: a.address.postcode.clone(),
                country: a.address.country.clone(),
                meta: new_meta(&a.kind, a.primary, today),
            };
            match entry.key(n) {
                Some(_) => Ok(entry),
                None => Err((entry.value(), Rejection::EmptyAddress)),
            }
        })
        .collect();
    apply_contacts(&mut c.addresses, addresses, n, today, &mut changes);

    let phones = incoming
        .phones
        .iter()
        .map(|p| match n.phone(&p.number) {
            Some(_) => Ok(Phone {
                number: p.number.trim().to_owned(),
                meta: new_meta(&p.kind, p.primary, today),
            }),
            None => Err((p.number.clone(), Rejection::UnusablePhone)),
        })
        .collect();
    apply_contacts(&mut c.phones, phones, n, today, &mut changes);

    let emails = incoming
        .emails
        .iter()
        .map(|e| match n.email(&e.address) {
            Some(_) => Ok(Email {
                address: e.address.trim().to_owned(),
                meta: new_meta(&e.kind, e.primary, today),
            }),
            None => Err((e.address.clone(), Rejection::UnusableEmail)),
        })
        .collect();
    apply_contacts(&mut c.emails, emails, n, today, &mut changes);

    // "If the incoming birth date is not identical to the existing birth date, Altru replaces
    // the date on the existing constituent with the birth date from the incoming constituent."
    // "Birth dates update only when constituents qualify for automatic updates."
    if let Some(incoming_birth) = incoming.birth_date
        && c.birth_date != Some(incoming_birth)
    {
        match mode {
            UpdateMode::Automatic => {
                changes.push(Change::BirthDateReplaced {
                    previous: c.birth_date,
                    current: incoming_birth,
                });
                c.birth_date = Some(incoming_birth);
            }
            UpdateMode::Review => changes.push(Change::BirthDateKept {
                existing: c.birth_date,
                incoming: incoming_birth,
            }),
        }
    }

    (c, changes)
}
