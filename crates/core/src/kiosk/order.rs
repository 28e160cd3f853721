//! An order from the moment the visitor pays: the draft written with the payment intent before
//! the card is charged, the tickets it will issue, and the upload payload once it is paid.
//!
//! Pure: the draft is made from the session and the catalog; the shell writes it, asks the
//! terminal, and commits the order from it (also after a restart, from the stored draft).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalog::{Admission, Catalog, Lang};
use super::checkout::{Purpose, Session};
use super::pricing::Quote;
use crate::domain::TicketValidity;
use crate::matching::VisitorDetails;
use crate::upstream::{IssuedTicketV2, OrderLineV2, OrderV2, PaymentV2};

/// A ticket the order will issue: one per admission unit sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPlan {
    pub line_no: u32,
    pub product_id: String,
    pub validity: TicketValidity,
    pub uses: u16,
}

/// Everything an order is made from, stored with the payment intent before the terminal is
/// asked. The only personal data written before payment; a failed payment wipes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDraft {
    /// Draft format; a draft of another version is kept aside, never guessed at.
    pub version: u32,
    pub language: Lang,
    pub quote: Quote,
    pub tickets: Vec<TicketPlan>,
    /// Seats per timed-entry slot.
    pub seats: BTreeMap<String, u32>,
    /// The buyer's details, matched (intake) inside the order's transaction.
    pub visitor: Option<VisitorDetails>,
    pub membership_id: Option<String>,
    /// Only when the visitor agreed to receive the receipt by email.
    pub receipt_email: Option<String>,
}

/// The draft format this build writes and reads.
pub const DRAFT_VERSION: u32 = 1;

/// Why a draft cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("the session has no priced basket")]
    NotPriced,
    #[error("product {0} is no longer in the catalog")]
    UnknownProduct(String),
    #[error("slot {0} is no longer in the catalog")]
    UnknownSlot(String),
    #[error("product {0} issues more uses per ticket than a ticket holds")]
    TooManyUses(String),
}

/// The draft of the session's order. A dated line (an add-on, a day pass) is for the day of
/// the order's entry time; without one, for the day the visitor chose, or `today`.
pub fn draft(
    session: &Session,
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<OrderDraft, DraftError> {
    let quote = session.quote.clone().ok_or(DraftError::NotPriced)?;
    let visit = quote
        .lines
        .iter()
        .find_map(|l| l.slot.as_ref().and_then(|id| catalog.slots.get(id)))
        .map_or(session.day.unwrap_or(today), |s| s.day());
    let mut tickets = Vec::new();
    let mut seats: BTreeMap<String, u32> = BTreeMap::new();
    for (i, line) in quote.lines.iter().enumerate() {
        let line_no = i as u32 + 1;
        let product = catalog
            .products
            .get(&line.product)
            .ok_or_else(|| DraftError::UnknownProduct(line.product.clone()))?;
        let slot = match &line.slot {
            Some(id) => Some(
                catalog
                    .slots
                    .get(id)
                    .ok_or_else(|| DraftError::UnknownSlot(id.clone()))?,
            ),
            None => None,
        };
        let validity = match (&product.admission, slot) {
            (Admission::None, _) => None,
            (Admission::Timed { .. }, Some(slot)) => {
                *seats.entry(slot.id.clone()).or_default() += line.quantity;
                Some(TicketValidity::Slot {
                    start: slot.start,
                    end: slot.end,
                })
            }
            (_, slot) => Some(TicketValidity::Date {
                date: slot.map_or(visit, |s| s.day()),
            }),
        };
        if let (Some(validity), true) = (validity, product.ticket_uses > 0) {
            let uses = u16::try_from(product.ticket_uses)
                .map_err(|_| DraftError::TooManyUses(product.id.clone()))?;
            for _ in 0..line.quantity {
                tickets.push(TicketPlan {
                    line_no,
                    product_id: product.id.clone(),
                    validity: validity.clone(),
                    uses,
                });
            }
        }
    }
    let visitor = session.visitor();
    let has_visitor = !visitor.name.first.is_empty() && !visitor.name.last.is_empty();
    Ok(OrderDraft {
        version: DRAFT_VERSION,
        language: session.lang,
        quote,
        tickets,
        seats,
        receipt_email: visitor
            .email
            .clone()
            .filter(|_| session.form.receipt_by_email),
        visitor: has_visitor.then_some(visitor),
        membership_id: match session.purpose {
            Some(Purpose::Tickets | Purpose::Membership) => {
                session.member.as_ref().map(|m| m.membership_id.clone())
            }
            Some(Purpose::CheckIn | Purpose::Volunteer) | None => None,
        },
    })
}

/// What the terminal said when it approved a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub auth_code: String,
    pub card_brand: Option<String>,
    pub last4: Option<String>,
    pub terminal_txn: Option<String>,
    pub approved_at: DateTime<Utc>,
}

/// Who and when an order is, as the shell numbered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIdent {
    pub order_id: String,
    pub order_no: String,
    pub created_at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub offline: bool,
}

/// The order's upload: the draft's lines as sold, the payment, and the tickets issued.
pub fn payload(
    draft: &OrderDraft,
    ident: &OrderIdent,
    reference: &str,
    approval: &Approval,
    constituent: Option<String>,
    tickets: Vec<IssuedTicketV2>,
) -> OrderV2 {
    let q = &draft.quote;
    OrderV2 {
        order_id: ident.order_id.clone(),
        order_no: ident.order_no.clone(),
        created_at: ident.created_at,
        local: ident.local,
        offline: ident.offline,
        currency: q.currency.clone(),
        constituent,
        membership_id: draft.membership_id.clone(),
        language: draft.language.tag().into(),
        lines: lines(draft),
        net: q.net,
        tax: q.tax,
        gross: q.gross,
        payment: PaymentV2 {
            reference: reference.to_owned(),
            method: "card".into(),
            amount: q.gross,
            auth_code: approval.auth_code.clone(),
            card_brand: approval.card_brand.clone(),
            last4: approval.last4.clone(),
            terminal_txn: approval.terminal_txn.clone(),
            approved_at: approval.approved_at,
        },
        tickets,
        receipt_email: draft.receipt_email.clone(),
    }
}

/// The draft's lines as the order stores and uploads them.
pub fn lines(draft: &OrderDraft) -> Vec<OrderLineV2> {
    draft
        .quote
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| OrderLineV2 {
            line_no: i as u32 + 1,
            product_id: l.product.clone(),
            category_id: l.category.clone(),
            slot_id: l.slot.clone(),
            quantity: l.quantity,
            seats: l
                .slot
                .as_ref()
                .and_then(|s| draft.seats.get(s))
                .map_or(0, |_| l.quantity),
            price_kind: l.kind,
            unit_price: l.unit,
            tax_rule: l.tax_rule.clone(),
            rate_bp: l.rate_bp,
            inclusive: l.inclusive,
            net: l.net,
            tax: l.tax,
            gross: l.gross,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MinorUnits, ProductKind};
    use crate::kiosk::catalog::{CatalogProduct, CategoryPrice, Slot, TaxRule, Text};
    use crate::kiosk::checkout::VisitorForm;
    use crate::kiosk::pricing::{CartLine, quote};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn catalog() -> Catalog {
        let product = |id: &str, kind, admission, uses, flat: Option<(MinorUnits, MinorUnits)>| {
            CatalogProduct {
                id: id.into(),
                kind,
                names: Text::new(id, ""),
                admission,
                prices: if flat.is_none() {
                    vec![CategoryPrice {
                        category: "adult".into(),
                        non_member: 2400,
                        member: 0,
                        guest: None,
                    }]
                } else {
                    Vec::new()
                },
                flat,
                tax_rule: "sales".into(),
                currency: "USD".into(),
                sale_from: None,
                sale_until: None,
                member_benefit: false,
                ticket_uses: uses,
                membership: None,
                sort: 0,
            }
        };
        let timed = Admission::Timed {
            slot_group: "zoo".into(),
        };
        Catalog {
            products: [
                product("TIMED", ProductKind::Ticket, timed, 1, None),
                product("DAY", ProductKind::Ticket, Admission::Dated, 1, None),
                product(
                    "PARKING",
                    ProductKind::Addon,
                    Admission::Dated,
                    1,
                    Some((1000, 0)),
                ),
                product(
                    "MEM-FAM",
                    ProductKind::Membership,
                    Admission::None,
                    0,
                    Some((12500, 11500)),
                ),
            ]
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect(),
            categories: Default::default(),
            tax_rules: [(
                "sales".to_owned(),
                TaxRule {
                    id: "sales".into(),
                    names: Text::new("Sales tax", ""),
                    rate_bp: 825,
                    inclusive: false,
                },
            )]
            .into(),
            slots: [(
                "zoo@10".to_owned(),
                Slot {
                    id: "zoo@10".into(),
                    group: "zoo".into(),
                    start: t("2026-12-06 10:00"),
                    end: t("2026-12-06 10:30"),
                    capacity: 150,
                    sales_close: t("2026-12-06 10:00"),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn a_draft_issues_a_ticket_per_admission_and_counts_the_slots_seats() {
        let c = catalog();
        let cart = vec![
            CartLine {
                product: "TIMED".into(),
                category: Some("adult".into()),
                slot: Some("zoo@10".into()),
                quantity: 3,
            },
            CartLine {
                product: "PARKING".into(),
                category: None,
                slot: None,
                quantity: 1,
            },
            CartLine {
                product: "MEM-FAM".into(),
                category: None,
                slot: None,
                quantity: 1,
            },
        ];
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 14, 0, 0).unwrap();
        let session = Session {
            quote: Some(quote(&cart, &c, None, now, t("2026-12-06 09:00")).unwrap()),
            form: VisitorForm {
                first: "Ana".into(),
                last: "Ruiz".into(),
                email: "ana@example.org".into(),
                phone: String::new(),
                receipt_by_email: false,
            },
            ..Session::default()
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let d = draft(&session, &c, today).unwrap();
        let kinds: Vec<(&str, &TicketValidity)> = d
            .tickets
            .iter()
            .map(|t| (t.product_id.as_str(), &t.validity))
            .collect();
        let slot = TicketValidity::Slot {
            start: t("2026-12-06 10:00"),
            end: t("2026-12-06 10:30"),
        };
        let day = TicketValidity::Date { date: today };
        assert_eq!(
            kinds,
            [
                ("TIMED", &slot),
                ("TIMED", &slot),
                ("TIMED", &slot),
                ("PARKING", &day)
            ],
            "no ticket for the membership"
        );
        assert_eq!(d.seats, [("zoo@10".to_owned(), 3)].into());
        // Bought two days ahead, the parking is for the day of the visit, not of the sale.
        let earlier = today - chrono::Days::new(2);
        let ahead = draft(&session, &c, earlier).unwrap();
        assert_eq!(ahead.tickets[3].validity, day, "{:?}", ahead.tickets[3]);
        assert_eq!(d.receipt_email, None, "no consent, no receipt by email");
        assert_eq!(
            d.visitor.as_ref().unwrap().email.as_deref(),
            Some("ana@example.org")
        );
        let lines = lines(&d);
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.line_no, l.seats))
                .collect::<Vec<_>>(),
            [(1, 3), (2, 0), (3, 0)]
        );

        let mut consenting = session.clone();
        consenting.form.receipt_by_email = true;
        assert_eq!(
            draft(&consenting, &c, today)
                .unwrap()
                .receipt_email
                .as_deref(),
            Some("ana@example.org")
        );
        assert_eq!(
            draft(&Session::default(), &c, today),
            Err(DraftError::NotPriced)
        );
        let mut gone = c.clone();
        gone.slots.clear();
        assert_eq!(
            draft(&session, &gone, today),
            Err(DraftError::UnknownSlot("zoo@10".into()))
        );
    }

    #[test]
    fn a_day_pass_is_for_the_day_the_visitor_chose_and_takes_no_seats() {
        let c = catalog();
        let cart = |product: &str, quantity| CartLine {
            product: product.into(),
            category: (product == "DAY").then(|| "adult".into()),
            slot: None,
            quantity,
        };
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 14, 0, 0).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let chosen = NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
        let quoted = quote(
            &[cart("DAY", 2), cart("PARKING", 1)],
            &c,
            None,
            now,
            t("2026-12-06 09:00"),
        )
        .unwrap();
        // (the day chosen on screen, the tickets' day)
        for (day, want) in [(Some(chosen), chosen), (None, today)] {
            let session = Session {
                quote: Some(quoted.clone()),
                day,
                ..Session::default()
            };
            let d = draft(&session, &c, today).unwrap();
            assert_eq!(
                d.tickets
                    .iter()
                    .map(|t| (t.product_id.as_str(), &t.validity))
                    .collect::<Vec<_>>(),
                [
                    ("DAY", &TicketValidity::Date { date: want }),
                    ("DAY", &TicketValidity::Date { date: want }),
                    ("PARKING", &TicketValidity::Date { date: want }),
                ],
                "{day:?}"
            );
            assert!(d.seats.is_empty(), "a day pass holds no entry time's seats");
        }
    }
}
