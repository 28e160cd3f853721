//! The kiosk screen's model: what each screen of the checkout shows, from the flow, the catalog
//! and the visitor's language, as plain values the Slint adapter copies into the screen.
//!
//! No labels here ("Buy tickets", "Total"): those are the screen's own strings, translated
//! there. This gives the data only — product and category names in the visitor's language,
//! times, prices formatted as money, the visitor's typed details back — so a wiped session
//! leaves a model with nothing personal in it.

use std::time::Instant;

use chrono::NaiveDateTime;

use crate::domain::ProductKind;
use crate::kiosk::catalog::{Admission, Catalog, CatalogProduct, Lang};
use crate::kiosk::checkin::Standing;
use crate::kiosk::checkout::{DAYS_AHEAD, Flow, Purpose, Screen, add_ons};
use crate::kiosk::keyboard::{self, Field, KeyCap, Layout};
use crate::kiosk::money;
use crate::kiosk::pricing::PriceKind;
use crate::kiosk::receipt::{date_text, day_text};
use crate::volunteer::{self, ShiftState};

/// A membership level's name in the visitor's language, from the membership the kiosk sells
/// for it (`memberships`: those on sale); the level as the CRM names it when it sells none.
fn level_name(memberships: &[&CatalogProduct], level: &str, lang: Lang) -> String {
    memberships
        .iter()
        .find(|p| p.membership.as_ref().is_some_and(|o| o.level == level))
        .map_or_else(|| level.to_owned(), |p| p.names.get(lang).to_owned())
}

/// A membership level or a product the welcome and level screens offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferView {
    pub product: String,
    pub name: String,
    pub price: String,
    pub guests: u32,
}

/// A day the visitor can pick entry times on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayView {
    pub date: chrono::NaiveDate,
    /// `Sun 6 Dec`.
    pub label: String,
    pub chosen: bool,
}

/// A timed admission the visitor can pick entry times of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChip {
    pub product: String,
    pub name: String,
    pub chosen: bool,
}

/// An entry time the visitor can pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub product: String,
    /// The product's name, in the visitor's language.
    pub name: String,
    /// The entry time; `None` for a day pass's one row ("Any time").
    pub slot: Option<String>,
    /// The day shown.
    pub day: chrono::NaiveDate,
    /// `10:00–10:30`.
    pub time: String,
    /// Seats this kiosk can still sell in it.
    pub free: u32,
    pub chosen: bool,
}

/// A row with a count: a visitor category on the quantities screen, or an add-on on the
/// add-ons screen (`category` is then the product's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityView {
    pub category: String,
    pub name: String,
    /// The non-member price of one, before any member benefit.
    pub price: String,
    pub count: u32,
}

/// A line of the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub quantity: u32,
    pub name: String,
    pub kind: PriceKind,
    pub amount: String,
}

/// The membership a check-in found, as its screen shows it (nothing personal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    /// The level's name in the visitor's language where the kiosk sells it, else as the CRM
    /// names it.
    pub level: String,
    pub standing: Standing,
    /// `31 Mar 2027`.
    pub expiry: String,
    pub guest_allowance: u32,
    /// Guests chosen for today.
    pub guests: u32,
    /// An expired membership the kiosk can renew.
    pub renewable: bool,
}

/// A shift of the volunteer's day as the clock shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftView {
    pub shift_id: String,
    pub event_id: String,
    pub event: String,
    /// `10:00–14:00` (an overnight shift's end is on the next day).
    pub time: String,
    pub state: ShiftState,
}

/// An event the volunteer may walk in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkInView {
    pub event_id: String,
    pub name: String,
    /// The event cannot be clocked into (see staff).
    pub problem: bool,
}

/// The volunteer's day on the time clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerView {
    pub first_name: String,
    pub shifts: Vec<ShiftView>,
    pub walk_ins: Vec<WalkInView>,
    /// Checked in: the event's name and since when (`09:55`).
    pub open: Option<(String, String)>,
}

/// Everything the kiosk screen shows, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KioskScreenModel {
    pub screen: Screen,
    /// The kiosk is a volunteer time clock and nothing else: its welcome screen says so.
    pub volunteers_only: bool,
    /// Why the kiosk cannot serve now (shown on the welcome screen), if it cannot.
    pub out_of_order: Option<crate::kiosk::out_of_order::OutOfOrder>,
    /// The technician screen over the visitor's, while it shows.
    pub technician: Option<crate::screens::technician_view::TechPanel>,
    pub lang: Lang,
    /// The "Still there?" countdown, in whole seconds, while it shows.
    pub still_there_secs: Option<u64>,
    pub levels: Vec<OfferView>,
    /// The day the entry times are for (`Sun 6 Dec`), and the days on offer.
    pub day: String,
    pub days: Vec<DayView>,
    /// The timed admissions with entry times on the day (chips, when more than one).
    pub products: Vec<ProductChip>,
    pub slots: Vec<SlotView>,
    pub quantities: Vec<QuantityView>,
    pub tickets: u32,
    /// What the visit is: `Timed entry · Sun 6 Dec 10:00–10:30`, or the membership level.
    pub summary: String,
    /// The member's level (its name in the visitor's language) and guest allowance, when a
    /// membership applies.
    pub member: Option<(String, u32)>,
    /// The details as typed (shown back in their fields).
    pub first: String,
    pub last: String,
    pub email: String,
    pub phone: String,
    pub receipt_by_email: bool,
    /// A membership ID and the one more detail, as typed.
    pub typed_id: String,
    pub typed_extra: String,
    /// A verification code, as typed.
    pub typed_code: String,
    /// The on-screen keyboard: the field it types into and its keys (empty when hidden).
    pub focus: Field,
    pub layout: Option<Layout>,
    pub keys: Vec<Vec<KeyCap>>,
    pub lines: Vec<LineView>,
    pub tax: String,
    /// The tax is in the lines' prices (shown as "of which tax"), not added to them.
    pub tax_included: bool,
    pub total: String,
    pub savings: Option<String>,
    pub order_no: Option<String>,
    /// The membership a check-in found.
    pub card: Option<CardView>,
    /// The volunteer on the time clock, with their day.
    pub volunteer: Option<VolunteerView>,
    /// The last four digits of a volunteer's phone, as typed.
    pub typed_last4: String,
}

/// The model of `flow`'s screen at `now` (the kiosk's clock: `now_utc`, `now_local`), for a
/// kiosk with `free_seats` per slot.
pub fn model(
    flow: &Flow,
    catalog: &Catalog,
    now_utc: chrono::DateTime<chrono::Utc>,
    now_local: NaiveDateTime,
    free_seats: &dyn Fn(&str) -> u32,
    now: Instant,
) -> KioskScreenModel {
    let s = flow.session();
    let lang = s.lang;
    let name_of = |id: &str| {
        catalog
            .products
            .get(id)
            .map_or_else(|| id.to_owned(), |p| p.names.get(lang).to_owned())
    };
    let currency = catalog
        .products
        .values()
        .next()
        .map_or("USD", |p| p.currency.as_str())
        .to_owned();
    let m = |v: i64| money::format(v, &currency);
    let mut out = KioskScreenModel {
        screen: flow.screen().clone(),
        out_of_order: flow.out_of_order(),
        volunteers_only: flow.volunteers_only(),
        lang,
        still_there_secs: flow.still_there(now).map(|d| d.as_secs()),
        ..KioskScreenModel::default()
    };
    let screen = flow.screen();
    if matches!(screen, Screen::Levels) {
        out.levels = catalog
            .for_sale(ProductKind::Membership, now_utc)
            .into_iter()
            .map(|p| OfferView {
                product: p.id.clone(),
                name: p.names.get(lang).to_owned(),
                price: m(p.flat.map_or(0, |f| f.0)),
                guests: p.membership.as_ref().map_or(0, |o| o.guest_allowance),
            })
            .collect();
    }
    // The timed admissions' entry times on the day chosen (today at first), and the days with
    // entry times still on sale.
    if matches!(screen, Screen::Slots) {
        let today = now_local.date();
        // Timed admissions (with their slot group) and day passes (without), in the
        // catalog's order.
        let tickets: Vec<_> = catalog
            .for_sale(ProductKind::Ticket, now_utc)
            .into_iter()
            .filter_map(|p| match &p.admission {
                Admission::Timed { slot_group } => Some((p, Some(slot_group))),
                Admission::Dated => Some((p, None)),
                Admission::None => None,
            })
            .collect();
        // A day pass on the days ahead (today until the last admission); a timed admission
        // while entry times are left.
        let offered_on = |p: &(&CatalogProduct, Option<&String>), d: chrono::NaiveDate| match p.1 {
            Some(g) => !catalog.open_slots(g, d, now_local).is_empty(),
            None => flow.day_pass_sold_for(d, now_local),
        };
        let open = |d: chrono::NaiveDate| tickets.iter().any(|p| offered_on(p, d));
        let times_left =
            |d: chrono::NaiveDate| tickets.iter().any(|p| p.1.is_some() && offered_on(p, d));
        let ahead: Vec<_> = (0..DAYS_AHEAD)
            .filter_map(|i| today.checked_add_days(chrono::Days::new(i)))
            .collect();
        // Until the visitor picks a day: the first with entry times left (today, unless
        // they have all started), or today when only day passes are sold.
        let day = s
            .day
            .or_else(|| ahead.iter().copied().find(|d| times_left(*d)))
            .unwrap_or(today);
        out.day = day_text(day, lang);
        out.days = ahead
            .into_iter()
            .filter(|d| *d == day || open(*d))
            .map(|d| DayView {
                date: d,
                label: day_text(d, lang),
                chosen: d == day,
            })
            .collect();
        // One admission's entry times at a time: the visitor's pick, or the first.
        let offered: Vec<_> = tickets.iter().filter(|p| offered_on(p, day)).collect();
        let chosen = offered
            .iter()
            .find(|(p, _)| s.product.as_deref() == Some(p.id.as_str()))
            .or(offered.first())
            .map(|(p, _)| p.id.clone());
        out.products = offered
            .iter()
            .map(|(p, _)| ProductChip {
                product: p.id.clone(),
                name: p.names.get(lang).to_owned(),
                chosen: chosen.as_deref() == Some(p.id.as_str()),
            })
            .collect();
        for (p, slot_group) in offered {
            if chosen.as_deref() != Some(p.id.as_str()) {
                continue;
            }
            let Some(slot_group) = slot_group else {
                out.slots.push(SlotView {
                    product: p.id.clone(),
                    name: p.names.get(lang).to_owned(),
                    slot: None,
                    day,
                    time: String::new(),
                    free: 0,
                    chosen: s.product.as_deref() == Some(p.id.as_str()) && s.day == Some(day),
                });
                continue;
            };
            for slot in catalog.open_slots(slot_group, day, now_local) {
                out.slots.push(SlotView {
                    product: p.id.clone(),
                    name: p.names.get(lang).to_owned(),
                    slot: Some(slot.id.clone()),
                    day,
                    time: format!(
                        "{}–{}",
                        slot.start.format("%H:%M"),
                        slot.end.format("%H:%M")
                    ),
                    free: free_seats(&slot.id),
                    chosen: s.slot.as_deref() == Some(slot.id.as_str()),
                });
            }
        }
    }
    if let (Some(product), Screen::Quantities { .. }) = (s.product.as_deref(), screen)
        && let Some(p) = catalog.products.get(product)
    {
        let mut prices: Vec<_> = p.prices.iter().collect();
        prices.sort_by_key(|c| {
            catalog
                .categories
                .get(&c.category)
                .map_or(i32::MAX, |c| c.sort)
        });
        out.quantities = prices
            .into_iter()
            .map(|c| QuantityView {
                category: c.category.clone(),
                name: catalog
                    .categories
                    .get(&c.category)
                    .map_or_else(|| c.category.clone(), |k| k.names.get(lang).to_owned()),
                price: m(c.non_member),
                count: s.quantities.get(&c.category).copied().unwrap_or(0),
            })
            .collect();
    }
    // The add-ons, on the same rows as the quantities: the product's id where a category's
    // would be.
    if matches!(screen, Screen::AddOns { .. }) {
        out.quantities = add_ons(catalog, now_utc)
            .into_iter()
            .map(|p| QuantityView {
                category: p.id.clone(),
                name: p.names.get(lang).to_owned(),
                price: m(p.flat.map_or(0, |f| f.0)),
                count: s.add_ons.get(&p.id).copied().unwrap_or(0),
            })
            .collect();
    }
    out.tickets = s.quantities.values().sum();
    out.summary = match (s.purpose, &s.product, &s.slot, &s.level) {
        (Some(Purpose::Tickets), Some(p), Some(slot), _) => {
            let when = catalog.slots.get(slot).map_or_else(String::new, |sl| {
                format!(
                    "{} {}–{}",
                    day_text(sl.day(), lang),
                    sl.start.format("%H:%M"),
                    sl.end.format("%H:%M")
                )
            });
            format!("{} · {when}", name_of(p))
        }
        (Some(Purpose::Tickets), Some(p), None, _) => match s.day {
            Some(day) => format!("{} · {}", name_of(p), day_text(day, lang)),
            None => name_of(p),
        },
        (Some(Purpose::Membership), _, _, Some(level)) => name_of(level),
        _ => String::new(),
    };
    let memberships = catalog.for_sale(ProductKind::Membership, now_utc);
    out.member = s
        .member
        .as_ref()
        .map(|mc| (level_name(&memberships, &mc.level, lang), mc.benefit.guests));
    out.first = s.form.first.clone();
    out.last = s.form.last.clone();
    out.email = s.form.email.clone();
    out.phone = s.form.phone.clone();
    out.receipt_by_email = s.form.receipt_by_email;
    out.typed_id = s.typed_id.clone();
    out.typed_extra = s.typed_extra.clone();
    out.typed_code = s.typed_code.clone();
    out.typed_last4 = s.typed_last4.clone();
    out.volunteer = s.volunteer.as_ref().map(|d| {
        let rules = &flow.config().clock;
        let hm = |t: NaiveDateTime| t.format("%H:%M").to_string();
        let mine: Vec<&str> = d.shifts.iter().map(|s| s.event.event_id.as_str()).collect();
        VolunteerView {
            first_name: d.first_name.clone(),
            shifts: d
                .shifts
                .iter()
                .map(|s| ShiftView {
                    shift_id: s.shift.shift_id.clone(),
                    event_id: s.event.event_id.clone(),
                    event: s.event.name.clone(),
                    time: format!("{}–{}", hm(s.shift.start), hm(s.shift.end)),
                    state: volunteer::shift_state(
                        &s.shift,
                        s.problem.as_ref(),
                        d.open.as_ref(),
                        now_local,
                        rules,
                    ),
                })
                .collect(),
            // The day's other events, to walk in to.
            walk_ins: d
                .events
                .iter()
                .filter(|(e, _)| !mine.contains(&e.event_id.as_str()))
                .map(|(e, p)| WalkInView {
                    event_id: e.event_id.clone(),
                    name: e.name.clone(),
                    problem: p.is_some(),
                })
                .collect(),
            open: d.open.as_ref().map(|o| {
                (
                    d.open_event
                        .as_ref()
                        .map_or_else(|| o.event_id.clone(), |e| e.name.clone()),
                    hm(o.checked_in),
                )
            }),
        }
    });
    out.focus = s.focus;
    if flow.typing() {
        let layout = flow.layout();
        out.layout = Some(layout);
        out.keys = keyboard::rows(layout, s.shift);
    }
    if let Some(q) = &s.quote {
        let m = |v: i64| money::format(v, &q.currency);
        out.lines = q
            .lines
            .iter()
            .map(|l| LineView {
                quantity: l.quantity,
                name: match &l.category {
                    Some(c) => format!(
                        "{} · {}",
                        name_of(&l.product),
                        catalog
                            .categories
                            .get(c)
                            .map_or_else(|| c.clone(), |k| k.names.get(lang).to_owned())
                    ),
                    None => name_of(&l.product),
                },
                kind: l.kind,
                // As the catalog states the price (before tax where tax is added), as the
                // receipt prints it.
                amount: m(if l.inclusive { l.gross } else { l.net }),
            })
            .collect();
        out.tax = m(q.tax);
        out.tax_included = !q.lines.is_empty() && q.lines.iter().all(|l| l.inclusive);
        out.total = m(q.gross);
        out.savings = (q.member_savings > 0).then(|| m(q.member_savings));
    }
    out.order_no = s.order_no.clone();
    out.card = s.card.as_ref().map(|c| CardView {
        level: level_name(&memberships, &c.level, lang),
        standing: c.standing,
        expiry: date_text(c.expiry, lang),
        guest_allowance: c.guest_allowance,
        guests: s.guests,
        renewable: c.standing == Standing::Expired && !memberships.is_empty(),
    });
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::MinorUnits;
    use crate::kiosk::catalog::{CatalogProduct, Category, CategoryPrice, Slot, TaxRule, Text};
    use crate::kiosk::checkout::{Ctx, Event, FlowConfig, Tap, VisitorForm};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn catalog() -> Catalog {
        let price = |category: &str, non_member: MinorUnits| CategoryPrice {
            category: category.into(),
            non_member,
            member: 0,
            guest: None,
        };
        let timed = CatalogProduct {
            id: "TIMED".into(),
            kind: ProductKind::Ticket,
            names: Text::new("Timed entry", "Entrada con horario"),
            admission: Admission::Timed {
                slot_group: "zoo".into(),
            },
            prices: vec![price("child", 1400), price("adult", 2400)],
            flat: None,
            tax_rule: "sales".into(),
            currency: "USD".into(),
            sale_from: None,
            sale_until: None,
            member_benefit: true,
            ticket_uses: 1,
            membership: None,
            sort: 0,
        };
        let slot = |id: &str, start: &str| Slot {
            id: id.into(),
            group: "zoo".into(),
            start: t(start),
            end: t(start) + chrono::Duration::minutes(30),
            capacity: 150,
            sales_close: t(start),
        };
        Catalog {
            products: [("TIMED".to_owned(), timed)].into(),
            categories: [
                ("adult", "Adult", "Adulto", 0),
                ("child", "Child", "Niño", 1),
            ]
            .into_iter()
            .map(|(id, en, es, sort)| {
                (
                    id.to_owned(),
                    Category {
                        id: id.into(),
                        names: Text::new(en, es),
                        sort,
                    },
                )
            })
            .collect(),
            tax_rules: [(
                "sales".to_owned(),
                TaxRule {
                    id: "sales".into(),
                    names: Text::new("Sales tax", "Impuesto"),
                    rate_bp: 825,
                    inclusive: false,
                },
            )]
            .into(),
            slots: [
                ("zoo@09".to_owned(), slot("zoo@09", "2026-12-06 09:00")),
                ("zoo@10".to_owned(), slot("zoo@10", "2026-12-06 10:00")),
            ]
            .into(),
        }
    }

    #[test]
    fn the_screens_show_the_catalog_in_the_visitors_language_and_forget_the_visitor() {
        let mut c = catalog();
        let parking = CatalogProduct {
            id: "PARKING".into(),
            kind: ProductKind::Addon,
            names: Text::new("Parking", "Estacionamiento"),
            admission: Admission::Dated,
            prices: vec![],
            flat: Some((1000, 0)),
            ticket_uses: 1,
            member_benefit: false,
            ..c.products["TIMED"].clone()
        };
        c.products.insert(parking.id.clone(), parking);
        let now_local = t("2026-12-06 09:30");
        let start = Instant::now();
        let mut flow = Flow::new(FlowConfig::default(), start);
        let free = |_: &str| 40;
        let ctx = Ctx {
            catalog: &c,
            now: chrono::Utc::now(),
            now_local,
            free_seats: &free,
        };
        let send = |flow: &mut Flow, e: Event| {
            flow.handle(e, start, &ctx);
        };
        send(&mut flow, Event::Tap(Tap::Lang(Lang::Es)));
        send(&mut flow, Event::Tap(Tap::Start(Purpose::Tickets)));
        let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
        assert_eq!(v.day, "dom 6 dic");
        assert_eq!(
            v.slots
                .iter()
                .map(|s| (s.time.as_str(), s.free))
                .collect::<Vec<_>>(),
            [("10:00–10:30", 40)],
            "09:00 has started: not offered"
        );
        send(
            &mut flow,
            Event::Tap(Tap::Slot {
                product: "TIMED".into(),
                slot: "zoo@10".into(),
            }),
        );
        send(
            &mut flow,
            Event::Tap(Tap::Quantity {
                category: "child".into(),
                delta: 2,
            }),
        );
        send(&mut flow, Event::Held { seats: 2, free: 38 });
        let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
        assert_eq!(
            v.quantities
                .iter()
                .map(|q| (q.name.as_str(), q.price.as_str(), q.count))
                .collect::<Vec<_>>(),
            [("Adulto", "$24.00", 0), ("Niño", "$14.00", 2)],
            "in the categories' order"
        );
        assert_eq!(v.summary, "Entrada con horario · dom 6 dic 10:00–10:30");
        assert_eq!(v.tickets, 2);
        send(&mut flow, Event::Tap(Tap::Next));
        // The add-ons on the same rows, the product where the category was.
        send(
            &mut flow,
            Event::Tap(Tap::AddOn {
                product: "PARKING".into(),
                delta: 1,
            }),
        );
        let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
        assert_eq!(
            v.quantities
                .iter()
                .map(|q| (
                    q.category.as_str(),
                    q.name.as_str(),
                    q.price.as_str(),
                    q.count
                ))
                .collect::<Vec<_>>(),
            [("PARKING", "Estacionamiento", "$10.00", 1)]
        );
        send(
            &mut flow,
            Event::Tap(Tap::AddOn {
                product: "PARKING".into(),
                delta: -1,
            }),
        );
        send(&mut flow, Event::Tap(Tap::Next));
        send(&mut flow, Event::Tap(Tap::IsMember(false)));
        send(
            &mut flow,
            Event::Tap(Tap::Details(VisitorForm {
                first: "Zebediah".into(),
                last: "Quillfeather".into(),
                email: "zq@example.org".into(),
                phone: String::new(),
                receipt_by_email: true,
            })),
        );
        send(
            &mut flow,
            Event::Matched(crate::kiosk::checkout::MatchPreview::None),
        );
        let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
        assert_eq!(flow.screen(), &Screen::Review { problem: None });
        assert_eq!(
            (
                v.lines[0].name.as_str(),
                v.lines[0].amount.as_str(),
                v.total.as_str()
            ),
            ("Entrada con horario · Niño", "$28.00", "$30.31"),
            "the line before tax, as the receipt prints it"
        );
        assert_eq!(v.first, "Zebediah");
        // The visitor walks away: nothing of them is left in the model.
        let later = start + Duration::from_secs(200);
        flow.handle(Event::Tick, start + Duration::from_secs(95), &ctx);
        assert!(
            model(
                &flow,
                &c,
                chrono::Utc::now(),
                now_local,
                &free,
                start + Duration::from_secs(95)
            )
            .still_there_secs
            .is_some()
        );
        flow.handle(Event::Tick, later, &ctx);
        let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, later);
        let shown = format!("{v:?}");
        for typed in ["Zebediah", "Quillfeather", "zq@example.org", "30.31"] {
            assert!(!shown.contains(typed), "{typed} in {shown}");
        }
        assert_eq!(v.lang, Lang::En, "back to the kiosk's language");
    }

    #[test]
    fn a_members_level_reads_as_the_membership_the_kiosk_sells_for_it() {
        let mut c = catalog();
        let family = CatalogProduct {
            id: "MEM-FAM".into(),
            kind: ProductKind::Membership,
            names: Text::new("Family membership", "Membresía familiar"),
            admission: Admission::None,
            prices: vec![],
            flat: Some((12500, 11500)),
            ticket_uses: 0,
            member_benefit: false,
            membership: Some(crate::kiosk::catalog::MembershipOffer {
                level: "Family".into(),
                guest_allowance: 2,
                months: 12,
            }),
            ..c.products["TIMED"].clone()
        };
        c.products.insert(family.id.clone(), family);
        let now_local = t("2026-12-06 09:30");
        let start = Instant::now();
        let free = |_: &str| 40;
        let ctx = Ctx {
            catalog: &c,
            now: chrono::Utc::now(),
            now_local,
            free_seats: &free,
        };
        // (the member's level in the CRM, the language, what the screen says)
        let cases = [
            ("Family", Lang::Es, "Membresía familiar"),
            ("Family", Lang::En, "Family membership"),
            ("Patron", Lang::Es, "Patron"),
        ];
        for (level, lang, shown) in cases {
            let mut flow = Flow::new(FlowConfig::default(), start);
            let taps = [
                Tap::Lang(lang),
                Tap::Start(Purpose::Tickets),
                Tap::Slot {
                    product: "TIMED".into(),
                    slot: "zoo@10".into(),
                },
                Tap::Quantity {
                    category: "adult".into(),
                    delta: 1,
                },
            ];
            for tap in taps {
                flow.handle(Event::Tap(tap), start, &ctx);
            }
            flow.handle(Event::Held { seats: 1, free: 39 }, start, &ctx);
            flow.handle(Event::Tap(Tap::Next), start, &ctx);
            flow.handle(Event::Tap(Tap::IsMember(true)), start, &ctx);
            flow.handle(
                Event::Member(crate::kiosk::checkout::MemberLookup::Found(
                    crate::kiosk::checkout::MemberContext {
                        membership_id: "M-1".into(),
                        level: level.into(),
                        benefit: crate::kiosk::pricing::MemberBenefit {
                            covered: 2,
                            guests: 2,
                        },
                    },
                )),
                start,
                &ctx,
            );
            let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
            assert_eq!(v.member, Some((shown.to_owned(), 2)), "{level} in {lang:?}");
        }
    }

    /// The test catalog and a second ticket, priced as its timed entry, shown after it.
    fn with_ticket(id: &str, names: Text, admission: Admission) -> Catalog {
        let mut c = catalog();
        let mut other = c.products["TIMED"].clone();
        other.id = id.into();
        other.names = names;
        other.admission = admission;
        other.sort = 1;
        c.products.insert(id.into(), other);
        c
    }

    #[test]
    fn one_timed_admission_at_a_time_on_the_entry_times_screen() {
        let timed = catalog().products["TIMED"].admission.clone();
        let c = with_ticket("FEED", Text::new("Giraffe feeding", "Jirafas"), timed);
        let now_local = t("2026-12-06 09:30");
        let start = Instant::now();
        let free = |_: &str| 40;
        let ctx = Ctx {
            catalog: &c,
            now: chrono::Utc::now(),
            now_local,
            free_seats: &free,
        };
        let mut flow = Flow::new(FlowConfig::default(), start);
        flow.handle(Event::Tap(Tap::Start(Purpose::Tickets)), start, &ctx);
        let shown = |flow: &Flow| {
            let v = model(flow, &c, chrono::Utc::now(), now_local, &free, start);
            let chips: Vec<_> = v
                .products
                .iter()
                .map(|p| (p.name.clone(), p.chosen))
                .collect();
            let slots: Vec<_> = v.slots.iter().map(|s| s.product.clone()).collect();
            (chips, slots)
        };
        assert_eq!(
            shown(&flow),
            (
                vec![
                    ("Timed entry".into(), true),
                    ("Giraffe feeding".into(), false)
                ],
                vec!["TIMED".to_owned()]
            ),
            "the first admission's times until the visitor picks another"
        );
        flow.handle(Event::Tap(Tap::Product("FEED".into())), start, &ctx);
        assert_eq!(
            shown(&flow),
            (
                vec![
                    ("Timed entry".into(), false),
                    ("Giraffe feeding".into(), true)
                ],
                vec!["FEED".to_owned()]
            )
        );
        // Not a timed admission on sale: nothing changes.
        flow.handle(Event::Tap(Tap::Product("NOPE".into())), start, &ctx);
        assert_eq!(flow.session().product.as_deref(), Some("FEED"));
    }

    #[test]
    fn a_day_pass_is_one_row_for_any_time_of_the_day_shown() {
        let c = with_ticket(
            "DAY",
            Text::new("Day pass", "Pase de día"),
            Admission::Dated,
        );
        let now_local = t("2026-12-06 09:30");
        let today = now_local.date();
        let start = Instant::now();
        let free = |_: &str| 40;
        let ctx = Ctx {
            catalog: &c,
            now: chrono::Utc::now(),
            now_local,
            free_seats: &free,
        };
        let mut flow = Flow::new(FlowConfig::default(), start);
        flow.handle(Event::Tap(Tap::Start(Purpose::Tickets)), start, &ctx);
        let view = |flow: &Flow| model(flow, &c, chrono::Utc::now(), now_local, &free, start);
        let v = view(&flow);
        assert_eq!(
            v.products
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["Timed entry", "Day pass"]
        );
        // Entry times today only, but a day pass any day of the week ahead.
        assert_eq!(v.days.len() as u64, DAYS_AHEAD);
        flow.handle(Event::Tap(Tap::Product("DAY".into())), start, &ctx);
        let rows = |v: &KioskScreenModel| {
            v.slots
                .iter()
                .map(|s| (s.product.clone(), s.slot.clone(), s.day))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&view(&flow)), [("DAY".into(), None, today)]);
        // Another day: no entry times left to show, the day pass alone.
        let later = today + chrono::Days::new(2);
        flow.handle(Event::Tap(Tap::Day(later)), start, &ctx);
        let v = view(&flow);
        assert_eq!(
            v.products
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["Day pass"]
        );
        assert_eq!(rows(&v), [("DAY".into(), None, later)]);
        flow.handle(
            Event::Tap(Tap::AllDay {
                product: "DAY".into(),
                day: later,
            }),
            start,
            &ctx,
        );
        let v = view(&flow);
        assert_eq!(v.screen, Screen::Quantities { problem: None });
        assert_eq!(
            v.summary,
            format!("Day pass · {}", day_text(later, Lang::En))
        );

        // Past the venue's last admission, today's entry times stay but its day pass goes.
        let mut late = Flow::new(
            FlowConfig {
                last_admission: chrono::NaiveTime::from_hms_opt(9, 0, 0),
                ..FlowConfig::default()
            },
            start,
        );
        late.handle(Event::Tap(Tap::Start(Purpose::Tickets)), start, &ctx);
        let v = view(&late);
        assert_eq!(
            v.products
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["Timed entry"]
        );
    }

    #[test]
    fn review_lines_read_as_the_catalog_states_prices_and_say_whether_tax_is_included() {
        for (inclusive, line, tax_included) in [(false, "$28.00", false), (true, "$28.00", true)] {
            let mut c = catalog();
            c.tax_rules.get_mut("sales").unwrap().inclusive = inclusive;
            let now_local = t("2026-12-06 09:30");
            let start = Instant::now();
            let free = |_: &str| 40;
            let ctx = Ctx {
                catalog: &c,
                now: chrono::Utc::now(),
                now_local,
                free_seats: &free,
            };
            let mut flow = Flow::new(FlowConfig::default(), start);
            for e in [
                Event::Tap(Tap::Start(Purpose::Tickets)),
                Event::Tap(Tap::Slot {
                    product: "TIMED".into(),
                    slot: "zoo@10".into(),
                }),
                Event::Tap(Tap::Quantity {
                    category: "child".into(),
                    delta: 2,
                }),
                Event::Held { seats: 2, free: 38 },
                Event::Tap(Tap::Next),
                Event::Tap(Tap::IsMember(false)),
                Event::Tap(Tap::Details(VisitorForm {
                    first: "Ana".into(),
                    last: "Ruiz".into(),
                    email: "ana@example.org".into(),
                    phone: String::new(),
                    receipt_by_email: false,
                })),
                Event::Matched(crate::kiosk::checkout::MatchPreview::None),
            ] {
                flow.handle(e, start, &ctx);
            }
            let v = model(&flow, &c, chrono::Utc::now(), now_local, &free, start);
            assert_eq!(
                (v.lines[0].amount.as_str(), v.tax_included),
                (line, tax_included),
                "inclusive {inclusive}: {v:?}"
            );
        }
    }
}
