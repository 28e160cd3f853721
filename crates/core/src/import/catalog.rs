//! The catalog's files read into the hub's catalog records: visitor categories, tax rules,
//! products, their prices, and timed-entry slots. Like the constituent files, each row becomes a
//! record or the problems of its cells; [`assemble`] joins a product with its price rows into
//! the product and sale documents the kiosks read.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::mapping::{CategoryColumns, PriceColumns, ProductColumns, SlotColumns, TaxRuleColumns};
use super::{CellProblem, Cells, Header, cell_problem};
use crate::domain::{MinorUnits, ProductKind};
use crate::kiosk::catalog::{Admission, CategoryPrice, MembershipOffer, Text};
use crate::protocol::{
    CategoryDto, FlatPriceDto, KIOSK_CHANNEL, ProductDto, SALE_SCHEMA, SaleDto, SlotDto, TaxRuleDto,
};

/// Longest product id: a signed ticket carries it.
pub const MAX_PRODUCT_ID_BYTES: usize = 32;

/// A header resolved: each column's name and index, absent optional ones left out.
struct Resolved<'m> {
    at: Vec<Option<(&'m str, usize)>>,
}

/// Resolves `columns` (name, required) against a header, or lists the required ones missing.
fn resolve<'m>(
    headers: &[&str],
    columns: &[(&'m str, bool)],
) -> Result<Resolved<'m>, Vec<CellProblem>> {
    let h = Header {
        names: headers.to_vec(),
    };
    let mut missing = Vec::new();
    let at = columns
        .iter()
        .map(|(name, required)| {
            if *required {
                let i = h.required(name, &mut missing);
                Some((*name, i))
            } else {
                h.find(name).map(|i| (*name, i))
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(Resolved { at })
    } else {
        Err(missing)
    }
}

fn opt_name(n: &Option<String>) -> &str {
    // An unnamed optional column matches no header.
    n.as_deref().unwrap_or("\u{0}")
}

/// An amount as the CRM writes it (`24.95`, `$24.95`, `1,024.50`) in minor units (cents).
pub fn parse_money(text: &str) -> Result<MinorUnits, String> {
    let t: String = text
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let bad = || format!("{text:?} is not an amount (e.g. 24.95)");
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 9
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + cents)
}

/// A rate as the CRM writes it (`8.25`, `8.25%`) in hundredths of a percent.
pub fn parse_percent(text: &str) -> Result<u32, String> {
    let t = text.trim().trim_end_matches('%').trim();
    let bad = || format!("{text:?} is not a percentage from 0 to 100 (e.g. 8.25)");
    let bp = parse_money(t).map_err(|_| bad())?;
    u32::try_from(bp)
        .ok()
        .filter(|bp| *bp <= 10_000)
        .ok_or_else(bad)
}

/// A time of day: `14:30`, `14:30:00`, `2:30 PM`.
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    let t = text.trim();
    ["%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I:%M:%S %p"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&t.to_ascii_uppercase(), f).ok())
}

impl Cells<'_, '_> {
    fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
        &mut self,
        col: Option<(&str, usize)>,
        default: T,
        max: T,
        what: &str,
    ) -> T {
        let Some(v) = self.opt(col) else {
            return default;
        };
        match v.parse::<T>() {
            Ok(n) if n <= max => n,
            _ => {
                let column = col.map_or("", |c| c.0);
                self.problems.push(cell_problem(
                    column,
                    format!("{v:?} is not {what} (0 to {max})"),
                ));
                default
            }
        }
    }

    fn money(&mut self, col: Option<(&str, usize)>) -> Option<MinorUnits> {
        let (column, _) = col?;
        let v = self.opt(col)?;
        match parse_money(&v) {
            Ok(m) => Some(m),
            Err(e) => {
                self.problems.push(cell_problem(column, e));
                None
            }
        }
    }

    fn time(&mut self, col: Option<(&str, usize)>) -> Option<NaiveTime> {
        let (column, _) = col?;
        let v = self.opt(col)?;
        let t = parse_time(&v);
        if t.is_none() {
            self.problems.push(cell_problem(
                column,
                format!("{v:?} is not a time of day (14:30 or 2:30 PM)"),
            ));
        }
        t
    }

    /// A moment: RFC 3339, or a date (its start, UTC).
    fn instant(&mut self, col: Option<(&str, usize)>) -> Option<DateTime<Utc>> {
        let (column, _) = col?;
        let v = self.opt(col)?;
        if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
            return Some(t.with_timezone(&Utc));
        }
        match self.date(col) {
            Some(d) => Some(d.and_time(NaiveTime::MIN).and_utc()),
            None => {
                // `date` reported it; say a time with its offset is welcome too.
                if let Some(p) = self.problems.last_mut()
                    && p.column == column
                {
                    p.reason
                        .push_str(", or a time with its offset (2027-03-01T09:00:00-05:00)");
                }
                None
            }
        }
    }

    /// A required cell read by `read`: "empty" when it is (`read` reports a malformed one).
    fn must<T>(
        &mut self,
        col: (&str, usize),
        read: impl FnOnce(&mut Self, Option<(&str, usize)>) -> Option<T>,
    ) -> Option<T> {
        let v = read(self, Some(col));
        if v.is_none() && self.problems.iter().all(|p| p.column != col.0) {
            self.problems.push(cell_problem(col.0, "empty"));
        }
        v
    }

    fn text_pair(&mut self, en: (&str, usize), es: Option<(&str, usize)>) -> Text {
        let en = self.required(en);
        let es = self.opt(es).unwrap_or_default();
        Text { en, es }
    }
}

/// One file's layout: its mapping's columns found in the header.
pub struct CatalogLayout<'m, C> {
    columns: &'m C,
    at: Resolved<'m>,
    date_format: Option<String>,
}

impl<'m, C> CatalogLayout<'m, C> {
    /// The layout of a header for the mapping's columns `m`: `columns` lists each one's name
    /// and whether it is required, in the order the reader asks for them.
    fn with(
        headers: &[&str],
        m: &'m C,
        columns: &[(&'m str, bool)],
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Ok(Self {
            columns: m,
            at: resolve(headers, columns)?,
            date_format,
        })
    }

    fn cells<'r>(&self, row: &'r [&'r str]) -> Cells<'r, '_> {
        Cells {
            row,
            date_format: self.date_format.as_deref(),
            problems: Vec::new(),
        }
    }

    fn col(&self, i: usize) -> Option<(&'m str, usize)> {
        self.at.at.get(i).copied().flatten()
    }

    /// A required column (present: the layout checked it).
    fn req(&self, i: usize) -> (&'m str, usize) {
        self.col(i).unwrap_or(("", usize::MAX))
    }
}

fn finish<T>(c: Cells<'_, '_>, value: T) -> Result<T, Vec<CellProblem>> {
    if c.problems.is_empty() {
        Ok(value)
    } else {
        Err(c.problems)
    }
}

impl<'m> CatalogLayout<'m, CategoryColumns> {
    pub fn categories(
        headers: &[&str],
        m: &'m CategoryColumns,
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Self::with(
            headers,
            m,
            &[
                (&m.id, true),
                (&m.name, true),
                (opt_name(&m.name_es), false),
                (opt_name(&m.sort), false),
            ],
            date_format,
        )
    }

    pub fn read(&self, row: &[&str]) -> Result<CategoryDto, Vec<CellProblem>> {
        let mut c = self.cells(row);
        let category_id = c.required(self.req(0));
        let names = c.text_pair(self.req(1), self.col(2));
        let sort = c.number(self.col(3), 0i32, 9999, "a sort order");
        finish(
            c,
            CategoryDto {
                category_id,
                names,
                sort,
            },
        )
    }
}

impl<'m> CatalogLayout<'m, TaxRuleColumns> {
    pub fn tax_rules(
        headers: &[&str],
        m: &'m TaxRuleColumns,
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Self::with(
            headers,
            m,
            &[
                (&m.id, true),
                (&m.name, true),
                (opt_name(&m.name_es), false),
                (&m.rate, true),
                (opt_name(&m.inclusive), false),
            ],
            date_format,
        )
    }

    pub fn read(&self, row: &[&str]) -> Result<TaxRuleDto, Vec<CellProblem>> {
        let mut c = self.cells(row);
        let tax_rule_id = c.required(self.req(0));
        let names = c.text_pair(self.req(1), self.col(2));
        let rate = c.required(self.req(3));
        let rate_bp = match parse_percent(&rate) {
            Ok(bp) => bp,
            Err(e) => {
                if !rate.is_empty() {
                    c.problems.push(cell_problem(&self.columns.rate, e));
                }
                0
            }
        };
        let inclusive = c.flag(self.col(4), false);
        finish(
            c,
            TaxRuleDto {
                tax_rule_id,
                names,
                rate_bp,
                inclusive,
            },
        )
    }
}

/// A product row, before its prices join it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub product_id: String,
    pub kind: ProductKind,
    pub currency: String,
    pub active: bool,
    /// The sale document without prices.
    pub sale: SaleDto,
}

impl<'m> CatalogLayout<'m, ProductColumns> {
    pub fn products(
        headers: &[&str],
        m: &'m ProductColumns,
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Self::with(
            headers,
            m,
            &[
                (&m.id, true),
                (&m.name, true),
                (opt_name(&m.name_es), false),
                (&m.kind, true),
                (opt_name(&m.admission), false),
                (opt_name(&m.slot_group), false),
                (&m.tax_rule, true),
                (opt_name(&m.currency), false),
                (opt_name(&m.sale_from), false),
                (opt_name(&m.sale_until), false),
                (opt_name(&m.channels), false),
                (opt_name(&m.member_benefit), false),
                (opt_name(&m.uses), false),
                (opt_name(&m.membership_level), false),
                (opt_name(&m.guest_allowance), false),
                (opt_name(&m.term_months), false),
                (opt_name(&m.sort), false),
                (opt_name(&m.active), false),
            ],
            date_format,
        )
    }

    pub fn read(&self, row: &[&str]) -> Result<ProductRow, Vec<CellProblem>> {
        let m = self.columns;
        let mut c = self.cells(row);
        let product_id = c.required(self.req(0));
        if product_id.len() > MAX_PRODUCT_ID_BYTES {
            c.problems.push(cell_problem(
                &m.id,
                format!("longer than {MAX_PRODUCT_ID_BYTES} characters (a ticket carries it)"),
            ));
        }
        let names = c.text_pair(self.req(1), self.col(2));
        let kind_text = c.required(self.req(3)).to_ascii_lowercase();
        let kind = match kind_text.replace(['-', ' '], "").as_str() {
            "ticket" | "admission" => Some(ProductKind::Ticket),
            "addon" => Some(ProductKind::Addon),
            "membership" => Some(ProductKind::Membership),
            "" => None,
            _ => {
                c.problems.push(cell_problem(
                    &m.kind,
                    format!("{kind_text:?} is not Ticket, Add-on or Membership"),
                ));
                None
            }
        };
        let group = c.opt(self.col(5));
        let admission_text = c.opt(self.col(4)).map(|a| a.to_ascii_lowercase());
        let admission = match (admission_text.as_deref(), kind) {
            (Some("timed"), _) => match group {
                Some(slot_group) => Admission::Timed { slot_group },
                None => {
                    c.problems.push(cell_problem(
                        opt_name(&m.slot_group),
                        "a timed admission needs its slot group",
                    ));
                    Admission::Dated
                }
            },
            (Some("dated"), _) => Admission::Dated,
            (Some("none"), _) | (None, Some(ProductKind::Membership)) => Admission::None,
            (None, _) => Admission::Dated,
            (Some(other), _) => {
                c.problems.push(cell_problem(
                    opt_name(&m.admission),
                    format!("{other:?} is not Timed, Dated or None"),
                ));
                Admission::Dated
            }
        };
        let tax_rule = c.required(self.req(6));
        let currency = c
            .opt(self.col(7))
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_else(|| "USD".to_owned());
        if currency.len() != 3 || !currency.chars().all(|ch| ch.is_ascii_alphabetic()) {
            c.problems.push(cell_problem(
                opt_name(&m.currency),
                format!("{currency:?} is not a currency code (USD)"),
            ));
        }
        let sale_from = c.instant(self.col(8));
        let sale_until = c.instant(self.col(9));
        if let (Some(from), Some(until)) = (sale_from, sale_until)
            && until <= from
        {
            c.problems.push(cell_problem(
                opt_name(&m.sale_until),
                "sales end before they start",
            ));
        }
        let channels: Vec<String> = c
            .opt(self.col(10))
            .map(|s| {
                s.split(';')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec![KIOSK_CHANNEL.to_owned()]);
        let member_benefit = c.flag(self.col(11), false);
        let default_uses = u32::from(kind != Some(ProductKind::Membership));
        let ticket_uses = c.number(self.col(12), default_uses, 100, "a number of uses");
        let level = c.opt(self.col(13));
        let guest_allowance = c.number(self.col(14), 0u32, 99, "a number of guests");
        let months = c.number(self.col(15), 12u32, 120, "a number of months");
        let membership = match (kind, level) {
            (Some(ProductKind::Membership), Some(level)) => Some(MembershipOffer {
                level,
                guest_allowance,
                months: months.max(1),
            }),
            (Some(ProductKind::Membership), None) => {
                c.problems.push(cell_problem(
                    opt_name(&m.membership_level),
                    "a membership needs its level",
                ));
                None
            }
            _ => None,
        };
        let sort = c.number(self.col(16), 0i32, 9999, "a sort order");
        let active = c.flag(self.col(17), true);
        let Some(kind) = kind else {
            return Err(c.problems);
        };
        finish(
            c,
            ProductRow {
                product_id,
                kind,
                currency,
                active,
                sale: SaleDto {
                    schema: SALE_SCHEMA,
                    names,
                    admission,
                    prices: Vec::new(),
                    flat: None,
                    tax_rule,
                    sale_from,
                    sale_until,
                    channels,
                    member_benefit,
                    ticket_uses,
                    membership,
                    sort,
                },
            },
        )
    }
}

/// A price row: a product's price for one visitor category, or its one price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    pub product_id: String,
    pub category: Option<String>,
    pub non_member: MinorUnits,
    pub member: MinorUnits,
    pub guest: Option<MinorUnits>,
}

impl<'m> CatalogLayout<'m, PriceColumns> {
    pub fn prices(
        headers: &[&str],
        m: &'m PriceColumns,
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Self::with(
            headers,
            m,
            &[
                (&m.product, true),
                (opt_name(&m.category), false),
                (&m.price, true),
                (opt_name(&m.member_price), false),
                (opt_name(&m.guest_price), false),
            ],
            date_format,
        )
    }

    pub fn read(&self, row: &[&str]) -> Result<PriceRow, Vec<CellProblem>> {
        let mut c = self.cells(row);
        let product_id = c.required(self.req(0));
        let category = c.opt(self.col(1));
        let non_member = c.must(self.req(2), |c, col| c.money(col));
        let member = c.money(self.col(3));
        let guest = c.money(self.col(4));
        let non_member = non_member.unwrap_or(0);
        finish(
            c,
            PriceRow {
                product_id,
                category,
                non_member,
                member: member.unwrap_or(non_member),
                guest,
            },
        )
    }
}

impl<'m> CatalogLayout<'m, SlotColumns> {
    pub fn slots(
        headers: &[&str],
        m: &'m SlotColumns,
        date_format: Option<String>,
    ) -> Result<Self, Vec<CellProblem>> {
        Self::with(
            headers,
            m,
            &[
                (&m.group, true),
                (&m.date, true),
                (&m.start, true),
                (&m.end, true),
                (&m.capacity, true),
                (opt_name(&m.sales_close), false),
            ],
            date_format,
        )
    }

    pub fn read(&self, row: &[&str]) -> Result<SlotDto, Vec<CellProblem>> {
        let m = self.columns;
        let mut c = self.cells(row);
        let group = c.required(self.req(0));
        if group.contains('@') {
            c.problems.push(cell_problem(
                &m.group,
                "a slot group has no \"@\" in its name",
            ));
        }
        let day: Option<NaiveDate> = c.must(self.req(1), |c, col| c.date(col));
        let start = c.must(self.req(2), |c, col| c.time(col));
        let end = c.must(self.req(3), |c, col| c.time(col));
        let capacity_col = self.req(4);
        let capacity_text = c.required(capacity_col);
        let capacity = match capacity_text.parse::<u32>() {
            Ok(n) if n <= 100_000 => n,
            _ => {
                if !capacity_text.is_empty() {
                    c.problems.push(cell_problem(
                        &m.capacity,
                        format!("{capacity_text:?} is not a number of visitors (0 to 100000)"),
                    ));
                }
                0
            }
        };
        let close = c.time(self.col(5));
        let (Some(day), Some(start), Some(end)) = (day, start, end) else {
            return Err(c.problems);
        };
        if end <= start {
            c.problems
                .push(cell_problem(&m.end, "the slot ends before it starts"));
        }
        let start = day.and_time(start);
        finish(
            c,
            SlotDto {
                slot_id: slot_id(&group, start),
                group,
                start,
                end: day.and_time(end),
                capacity,
                sales_close: close.map_or(start, |t| day.and_time(t)),
            },
        )
    }
}

/// A slot's id: its group and local start, `zoo@2026-12-06T10:00`.
pub fn slot_id(group: &str, start: chrono::NaiveDateTime) -> String {
    format!("{group}@{}", start.format("%Y-%m-%dT%H:%M"))
}

/// A product with its price rows as the catalog feed carries it, or why it cannot be sold.
/// Prices per visitor category, or one row without a category for the product's one price.
pub fn assemble(p: &ProductRow, prices: &[&PriceRow]) -> Result<ProductDto, String> {
    let mut sale = p.sale.clone();
    let (flat, per_category): (Vec<&&PriceRow>, Vec<&&PriceRow>) =
        prices.iter().partition(|r| r.category.is_none());
    match (flat.as_slice(), per_category.is_empty()) {
        ([], true) => return Err("no price (add its rows to the prices file)".into()),
        ([one], true) => {
            sale.flat = Some(FlatPriceDto {
                non_member: one.non_member,
                member: one.member,
            });
        }
        ([], false) => {
            let mut seen = std::collections::HashSet::new();
            for r in per_category {
                let category = r.category.clone().unwrap_or_default();
                if !seen.insert(category.clone()) {
                    return Err(format!("two prices for visitor category {category:?}"));
                }
                sale.prices.push(CategoryPrice {
                    category,
                    non_member: r.non_member,
                    member: r.member,
                    guest: r.guest,
                });
            }
        }
        _ => {
            return Err(
                "both one price (no category) and prices per visitor category: give one or the \
                 other"
                    .into(),
            );
        }
    }
    let (non_member, member) = match (&sale.flat, sale.prices.first()) {
        (Some(f), _) => (f.non_member, f.member),
        (None, Some(c)) => (c.non_member, c.member),
        (None, None) => (0, 0),
    };
    Ok(ProductDto {
        product_id: p.product_id.clone(),
        name: sale.names.en.clone(),
        kind: p.kind,
        currency: p.currency.clone(),
        member_price: member,
        non_member_price: non_member,
        active: p.active,
        sale: Some(serde_json::to_value(&sale).map_err(|e| e.to_string())?),
    })
}
