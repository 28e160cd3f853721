//! Printed tickets and receipts, in the visitor's language, laid out for 58 mm (32 columns)
//! or 80 mm (48 columns) paper.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::catalog::Lang;
use super::escpos::{Align, Block, PrintDoc};
use super::money;
use super::pricing::PriceKind;
use crate::domain::TicketValidity;
pub use crate::lang::{date_text, day_text};

/// The paper's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Paper {
    /// 58 mm: 32 characters, 384 dots.
    Mm58,
    /// 80 mm: 48 characters, 576 dots.
    #[default]
    Mm80,
}

impl Paper {
    pub fn columns(self) -> usize {
        match self {
            Paper::Mm58 => 32,
            Paper::Mm80 => 48,
        }
    }

    pub fn dots(self) -> u32 {
        match self {
            Paper::Mm58 => 384,
            Paper::Mm80 => 576,
        }
    }
}

/// The venue's lines at the top and bottom of a receipt (`[kiosk.receipt]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Letterhead {
    pub venue: String,
    pub address: String,
    pub tax_id: String,
    pub footer: String,
}

/// One ticket to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPrint {
    pub product: String,
    pub category: Option<String>,
    pub validity: TicketValidity,
    pub order_no: String,
    /// The signed text the QR code carries.
    pub code: String,
    /// `PT-…`, printed under the code for staff to type.
    pub secret: String,
}

/// One line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    pub quantity: u32,
    pub name: String,
    pub kind: PriceKind,
    /// The line's price as the catalog states it: before tax when tax is added to it, with
    /// the tax when prices include it.
    pub amount: i64,
}

/// The card a payment was made with, as the receipt prints it: `VISA ****4242`.
pub fn card_label(brand: Option<&str>, last4: Option<&str>) -> String {
    format!(
        "{} ****{}",
        brand.unwrap_or("CARD"),
        last4.unwrap_or("????")
    )
}

/// A receipt to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptPrint {
    pub order_no: String,
    pub when: NaiveDateTime,
    pub lines: Vec<ReceiptLine>,
    /// The sum of the lines' amounts.
    pub subtotal: i64,
    /// Taxes added to the subtotal: name, rate, amount.
    pub taxes: Vec<(String, u32, i64)>,
    /// Taxes the prices include: name, rate, amount.
    pub included: Vec<(String, u32, i64)>,
    pub gross: i64,
    pub currency: String,
    pub card: String,
    pub auth_code: String,
    pub member_savings: i64,
    /// Also sent to this address.
    pub email: Option<String>,
}

struct Words {
    admits_one: &'static str,
    order: &'static str,
    subtotal: &'static str,
    total: &'static str,
    paid_by: &'static str,
    auth: &'static str,
    saved: &'static str,
    member: &'static str,
    guest: &'static str,
    emailed: &'static str,
    tax_id: &'static str,
    any_time: &'static str,
    included: &'static str,
    guest_pass: &'static str,
}

const EN: Words = Words {
    admits_one: "Admits one",
    order: "Order",
    subtotal: "Subtotal",
    total: "Total",
    paid_by: "Paid by card",
    auth: "Authorisation",
    saved: "Your membership saved you",
    member: "member",
    guest: "member's guest",
    emailed: "A copy was emailed to",
    tax_id: "Tax ID",
    any_time: "any time",
    included: "Includes",
    guest_pass: "Guest pass",
};

const ES: Words = Words {
    admits_one: "Entrada para una persona",
    order: "Pedido",
    subtotal: "Subtotal",
    total: "Total",
    paid_by: "Pagado con tarjeta",
    auth: "Autorización",
    saved: "Su membresía le ahorró",
    member: "miembro",
    guest: "invitado de miembro",
    emailed: "Enviamos una copia a",
    tax_id: "NIF",
    any_time: "todo el día",
    included: "Incluye",
    guest_pass: "Pase de invitado",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Es => &ES,
    }
}

/// When a ticket admits: `Sat 22 Nov 10:00–10:30`, `Sat 22 Nov, any time`.
pub fn validity_text(v: &TicketValidity, lang: Lang) -> String {
    match v {
        TicketValidity::Slot { start, end } => format!(
            "{} {}–{}",
            day_text(start.date(), lang),
            start.format("%H:%M"),
            end.format("%H:%M")
        ),
        TicketValidity::Date { date } => {
            format!("{}, {}", day_text(*date, lang), words(lang).any_time)
        }
        TicketValidity::Open => String::new(),
    }
}

/// `left` and `right` on one line of `columns`, the left cut short if both do not fit.
fn spread(left: &str, right: &str, columns: usize) -> String {
    let right_len = right.chars().count();
    let room = columns.saturating_sub(right_len + 1);
    let left: String = left.chars().take(room).collect();
    let gap = columns.saturating_sub(left.chars().count() + right_len);
    format!("{left}{}{right}", " ".repeat(gap.max(1)))
}

/// `left` word-wrapped to `columns`, with `right` at the end of its last line (or on a line
/// of its own when that line is full).
fn wrapped(left: &str, right: &str, columns: usize) -> Vec<String> {
    let right_len = right.chars().count();
    if left.chars().count() + right_len < columns {
        return vec![spread(left, right, columns)];
    }
    let mut lines: Vec<String> = vec![String::new()];
    for word in left.split_whitespace() {
        let current = lines.last().map_or(0, |l| l.chars().count());
        if current > 0 && current + 1 + word.chars().count() > columns {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.extend(word.chars().take(columns));
        }
    }
    let last = lines.pop().unwrap_or_default();
    if last.chars().count() + right_len < columns {
        lines.push(spread(&last, right, columns));
    } else {
        lines.push(last);
        lines.push(spread("", right, columns));
    }
    lines
}

fn rule(columns: usize) -> Block {
    Block::text("-".repeat(columns))
}

/// The tickets of an order, one per cut.
pub fn tickets_doc(
    head: &Letterhead,
    tickets: &[TicketPrint],
    paper: Paper,
    lang: Lang,
) -> PrintDoc {
    let w = words(lang);
    let mut b = Vec::new();
    for t in tickets {
        b.push(Block::title(head.venue.clone()));
        b.push(Block::Feed(1));
        b.push(Block::Text {
            text: t.product.clone(),
            align: Align::Center,
            bold: true,
            size: 1,
        });
        if let Some(c) = &t.category {
            b.push(Block::centred(c.clone()));
        }
        b.push(Block::centred(validity_text(&t.validity, lang)));
        b.push(Block::centred(w.admits_one));
        b.push(Block::Qr {
            data: t.code.clone(),
            module: if paper == Paper::Mm58 { 4 } else { 6 },
        });
        b.push(Block::centred(t.secret.clone()));
        if !t.order_no.is_empty() {
            b.push(Block::centred(format!("{} {}", w.order, t.order_no)));
        }
        b.push(Block::Feed(2));
        b.push(Block::Cut);
    }
    PrintDoc(b)
}

/// A member's guest passes (`(code, secret)` each), valid on `day`, for a guest of a `level`
/// member: one ticket each, with no order.
pub fn guest_passes_doc(
    head: &Letterhead,
    passes: &[(String, String)],
    level: &str,
    day: chrono::NaiveDate,
    paper: Paper,
    lang: Lang,
) -> PrintDoc {
    let w = words(lang);
    let tickets: Vec<TicketPrint> = passes
        .iter()
        .map(|(code, secret)| TicketPrint {
            product: w.guest_pass.to_owned(),
            category: Some(format!("{level} · {}", w.guest)),
            validity: crate::domain::TicketValidity::Date { date: day },
            order_no: String::new(),
            code: code.clone(),
            secret: secret.clone(),
        })
        .collect();
    tickets_doc(head, &tickets, paper, lang)
}

/// An order's receipt.
pub fn receipt_doc(head: &Letterhead, r: &ReceiptPrint, paper: Paper, lang: Lang) -> PrintDoc {
    let w = words(lang);
    let cols = paper.columns();
    let m = |v: i64| money::format(v, &r.currency);
    let mut b = vec![Block::title(head.venue.clone())];
    for line in [&head.address, &head.tax_id] {
        if !line.is_empty() {
            let text = if std::ptr::eq(line, &head.tax_id) {
                format!("{} {line}", w.tax_id)
            } else {
                line.clone()
            };
            b.push(Block::centred(text));
        }
    }
    b.push(Block::Feed(1));
    b.push(Block::text(spread(
        &format!("{} {}", w.order, r.order_no),
        &format!(
            "{} {}",
            day_text(r.when.date(), lang),
            r.when.format("%H:%M")
        ),
        cols,
    )));
    b.push(rule(cols));
    for l in &r.lines {
        let kind = match l.kind {
            PriceKind::Member => format!(" ({})", w.member),
            PriceKind::Guest => format!(" ({})", w.guest),
            PriceKind::NonMember => String::new(),
        };
        for line in wrapped(
            &format!("{} x {}{kind}", l.quantity, l.name),
            &m(l.amount),
            cols,
        ) {
            b.push(Block::text(line));
        }
    }
    b.push(rule(cols));
    let rate = |bp: &u32| format!("{}.{:02} %", bp / 100, bp % 100);
    if !r.taxes.is_empty() {
        b.push(Block::text(spread(w.subtotal, &m(r.subtotal), cols)));
    }
    for (name, rate_bp, amount) in &r.taxes {
        b.push(Block::text(spread(
            &format!("{name} {}", rate(rate_bp)),
            &m(*amount),
            cols,
        )));
    }
    b.push(Block::Text {
        text: spread(w.total, &m(r.gross), cols / 2),
        align: Align::Left,
        bold: true,
        size: 2,
    });
    for (name, rate_bp, amount) in &r.included {
        b.push(Block::text(spread(
            &format!("{} {name} {}", w.included, rate(rate_bp)),
            &m(*amount),
            cols,
        )));
    }
    b.push(Block::Feed(1));
    b.push(Block::text(spread(w.paid_by, &r.card, cols)));
    b.push(Block::text(spread(w.auth, &r.auth_code, cols)));
    if r.member_savings > 0 {
        for line in wrapped(w.saved, &m(r.member_savings), cols) {
            b.push(Block::bold(line));
        }
    }
    if let Some(email) = &r.email {
        b.push(Block::Feed(1));
        b.push(Block::text(w.emailed));
        b.push(Block::text(email.clone()));
    }
    if !head.footer.is_empty() {
        b.push(Block::Feed(1));
        b.push(Block::centred(head.footer.clone()));
    }
    b.push(Block::Feed(3));
    b.push(Block::Cut);
    PrintDoc(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn head() -> Letterhead {
        Letterhead {
            venue: "Riverside Zoo".into(),
            address: "1 River Road, Springfield".into(),
            tax_id: "12-3456789".into(),
            footer: "Thank you for visiting!".into(),
        }
    }

    fn receipt() -> ReceiptPrint {
        ReceiptPrint {
            order_no: "K1-00042".into(),
            when: NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(9, 41, 0)
                .unwrap(),
            lines: vec![
                ReceiptLine {
                    quantity: 2,
                    name: "Timed entry · Adult, with a long name that does not fit".into(),
                    kind: PriceKind::NonMember,
                    amount: 4800,
                },
                ReceiptLine {
                    quantity: 1,
                    name: "Timed entry · Child".into(),
                    kind: PriceKind::Guest,
                    amount: 700,
                },
            ],
            subtotal: 5500,
            taxes: vec![("Sales tax".into(), 825, 454)],
            included: vec![("VAT".into(), 2000, 100)],
            gross: 5954,
            currency: "USD".into(),
            card: "VISA ****4242".into(),
            auth_code: "SIM001".into(),
            member_savings: 700,
            email: Some("ana@example.org".into()),
        }
    }

    #[test]
    fn every_receipt_line_fits_the_paper_in_both_languages() {
        for paper in [Paper::Mm58, Paper::Mm80] {
            for lang in [Lang::En, Lang::Es] {
                let doc = receipt_doc(&head(), &receipt(), paper, lang);
                for block in &doc.0 {
                    if let Block::Text { text, size, .. } = block {
                        let width = text.chars().count() * usize::from(*size);
                        assert!(
                            width <= paper.columns() || text == "Riverside Zoo",
                            "{paper:?} {lang:?}: {text:?} is {width} wide"
                        );
                    }
                }
                assert_eq!(doc.cuts(), 1);
            }
        }
        let es = receipt_doc(&head(), &receipt(), Paper::Mm80, Lang::Es);
        let text: Vec<String> =
            es.0.iter()
                .filter_map(|b| match b {
                    Block::Text { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect();
        let all = text.join("\n");
        for want in [
            "Pedido K1-00042",
            "dom 22 nov 09:41",
            "$59.54",
            "invitado de miembro",
            "Sales tax 8.25 %",
            "Su membresía le ahorró",
        ] {
            assert!(all.contains(want), "{want:?} in\n{all}");
        }
    }

    #[test]
    fn a_ticket_says_when_it_admits_and_carries_its_code() {
        let start = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        let slot = TicketValidity::Slot {
            start,
            end: start + chrono::Duration::minutes(30),
        };
        let cases = [
            (slot.clone(), Lang::En, "Sun 22 Nov 10:00–10:30"),
            (slot, Lang::Es, "dom 22 nov 10:00–10:30"),
            (
                TicketValidity::Date { date: start.date() },
                Lang::En,
                "Sun 22 Nov, any time",
            ),
        ];
        for (v, lang, want) in cases {
            assert_eq!(validity_text(&v, lang), want);
        }
        let t = TicketPrint {
            product: "Timed entry".into(),
            category: Some("Adult".into()),
            validity: TicketValidity::Date { date: start.date() },
            order_no: "K1-00042".into(),
            code: "PT:ABC".into(),
            secret: "PT-32768-1".into(),
        };
        let doc = tickets_doc(&head(), &[t.clone(), t], Paper::Mm58, Lang::En);
        assert_eq!(doc.cuts(), 2);
        assert_eq!(doc.pieces().len(), 2);
        assert!(doc.0.contains(&Block::Qr {
            data: "PT:ABC".into(),
            module: 4
        }));
    }
}
