//! Which replica lookups a credential needs, so the shell's loop stays thin.

use crate::domain::Ticket;
use crate::input::credential::CredentialKind;

/// The key under which a credential's uses are recorded and looked up, and against which the
/// venue's block list is matched: `membership:<id>`, `lookup:<id>`, `ticket:<secret>`,
/// `rfid:<HEX>`, `wiegand:<facility>:<card>`.
pub type CredentialKey = String;

/// Key prefixes a block-list entry may use.
pub const KEY_PREFIXES: &[&str] = &["membership", "lookup", "ticket", "rfid", "wiegand"];

/// What the shell looks up in the replica for one credential, before calling
/// [`decide`](super::decide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupPlan {
    /// 1. `replica::resolve(membership_id)` → `Facts::merge` when the chain is longer than one;
    /// 2. `replica::membership(survivor)` → `Found::Membership`, with
    ///    `replica::constituent(members[0])` as the holder;
    /// 3. the use history under [`LookupPlan::history_key`].
    Membership { membership_id: String },
    /// 1. `replica::resolve(lookup_id)` → `Facts::merge`;
    /// 2. `replica::constituent(survivor)` and the memberships whose members include the
    ///    survivor → `Found::Constituent`;
    /// 3. the use history.
    Constituent { lookup_id: String },
    /// 1. `replica::ticket(secret)` → `Found::Ticket` (origin `Replica`); 2. the use history.
    Ticket { secret: String },
    /// No ticket lookup: the signature already vouches for the data. Only the use history is
    /// read; `Found::Ticket { ticket, origin: Signed }`.
    SignedTicket { ticket: Ticket },
    /// A kiosk-signed ticket: `replica::signing_key(key_id)` → verify `text` with it →
    /// `Found::Ticket { origin: Signed }` (revoked with its key); no key or a bad signature →
    /// `Found::Nothing`. Then the use history.
    KioskTicket {
        text: String,
        key_id: u16,
        ticket: Ticket,
    },
    /// Nothing to look up: decide with `Found::Nothing` (the core says why).
    Nothing,
}

impl LookupPlan {
    pub fn for_credential(kind: &CredentialKind) -> Self {
        match kind {
            CredentialKind::Membership { membership_id } => Self::Membership {
                membership_id: membership_id.clone(),
            },
            CredentialKind::LookupId { lookup_id } => Self::Constituent {
                lookup_id: lookup_id.clone(),
            },
            CredentialKind::TicketSecret { secret } => Self::Ticket {
                secret: secret.clone(),
            },
            CredentialKind::SignedTicket(t) => Self::SignedTicket {
                ticket: t.to_ticket(),
            },
            CredentialKind::KioskTicket { text, claimed } => Self::KioskTicket {
                text: text.clone(),
                key_id: claimed.key_id,
                ticket: claimed.to_ticket(),
            },
            // Venue membership cards with a stripe carry the membership id as the account
            // number.
            CredentialKind::Magstripe(card) => match card.pan() {
                Some(pan) if !pan.is_empty() => Self::Membership {
                    membership_id: pan.to_owned(),
                },
                _ => Self::Nothing,
            },
            // The replica holds no card enrolments: these are checked against the block list
            // and otherwise unknown.
            CredentialKind::RfidUid { .. }
            | CredentialKind::Wiegand26(_)
            | CredentialKind::Gs1 { .. }
            | CredentialKind::Unrecognized { .. } => Self::Nothing,
        }
    }

    /// The id to pass to `replica::resolve` first, if any.
    pub fn resolve_id(&self) -> Option<&str> {
        match self {
            Self::Membership { membership_id } => Some(membership_id),
            Self::Constituent { lookup_id } => Some(lookup_id),
            _ => None,
        }
    }

    /// The key of the use history to load, given the survivor `resolve` returned.
    pub fn history_key(&self, survivor: Option<&str>) -> Option<CredentialKey> {
        match self {
            Self::Membership { membership_id } => {
                Some(format!("membership:{}", survivor.unwrap_or(membership_id)))
            }
            Self::Constituent { lookup_id } => {
                Some(format!("lookup:{}", survivor.unwrap_or(lookup_id)))
            }
            Self::Ticket { secret } => Some(format!("ticket:{secret}")),
            Self::SignedTicket { ticket } | Self::KioskTicket { ticket, .. } => {
                Some(format!("ticket:{}", ticket.secret))
            }
            Self::Nothing => None,
        }
    }
}

/// Every key the credential is known by: as scanned, and (after a merge) as its survivor.
pub fn credential_keys(kind: &CredentialKind, survivor: Option<&str>) -> Vec<CredentialKey> {
    let plan = LookupPlan::for_credential(kind);
    let mut keys = Vec::new();
    if let Some(k) = plan.history_key(None) {
        keys.push(k);
    }
    if survivor.is_some()
        && let Some(k) = plan.history_key(survivor)
        && !keys.contains(&k)
    {
        keys.push(k);
    }
    match kind {
        CredentialKind::RfidUid { uid_hex, .. } => {
            keys.push(format!("rfid:{}", uid_hex.to_ascii_uppercase()));
        }
        CredentialKind::Wiegand26(w) => {
            keys.push(format!("wiegand:{}:{}", w.facility_code, w.card_number));
        }
        _ => {}
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::credential::Wiegand26;

    #[test]
    fn keys_include_the_survivor_and_card_forms() {
        let kind = CredentialKind::Membership {
            membership_id: "100".into(),
        };
        assert_eq!(
            credential_keys(&kind, Some("200")),
            vec!["membership:100".to_owned(), "membership:200".to_owned()]
        );
        assert_eq!(credential_keys(&kind, Some("100")), vec!["membership:100"]);
        let w = CredentialKind::Wiegand26(Wiegand26 {
            facility_code: 12,
            card_number: 3456,
        });
        assert_eq!(credential_keys(&w, None), vec!["wiegand:12:3456"]);
        assert_eq!(LookupPlan::for_credential(&w), LookupPlan::Nothing);
        let r = CredentialKind::RfidUid {
            uid: vec![0x04, 0xab],
            uid_hex: "04ab".into(),
        };
        assert_eq!(credential_keys(&r, None), vec!["rfid:04AB"]);
    }
}
