//! What a basket costs: member and non-member prices, a membership's members and guests, and
//! tax per line.
//!
//! The rules, in order:
//! - Every line's product must be on sale now, its visitor category one the product prices,
//!   and a timed admission needs a slot of its group whose sales have not closed.
//! - With no valid membership, every unit costs the non-member price.
//! - With a valid membership, the units of admissions that carry the member benefit are taken
//!   most expensive first (non-member price, then the category's screen order): the first
//!   `covered` (the people the membership covers) cost the member price, the next `guests`
//!   (the level's guest allowance) the guest price, and the rest the non-member price. Every
//!   other product (an add-on, a renewal) costs the member price.
//! - Tax is worked out once per line (unit price × quantity), never per unit, rounded half up
//!   to the minor unit: added to net prices (`tax = net × rate`), or taken out of gross prices
//!   (`tax = gross × rate / (1 + rate)`). The order's totals are the sums of its lines.
//!
//! Money is integer minor units throughout; intermediate products are `i128`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalog::{Admission, Catalog, CatalogProduct, TaxRule};
use crate::domain::{Membership, MembershipStatus, MinorUnits};

/// At most this many units in one basket: a kiosk sells to a family or a small group; a
/// school party goes to the desk.
pub const MAX_UNITS: u32 = 99;

/// One line of the visitor's basket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product: String,
    /// The visitor category, for a product priced by category.
    pub category: Option<String>,
    /// The timed-entry slot, for a timed admission.
    pub slot: Option<String>,
    pub quantity: u32,
}

/// A quantity as staff type it on a command line: `adult=2` (a visitor category and a count)
/// or a bare `2` (a product priced once).
pub fn parse_quantity(s: &str) -> Result<(Option<String>, u32), String> {
    let (category, n) = match s.split_once('=') {
        Some((c, n)) => (Some(c.trim().to_owned()), n),
        None => (None, s),
    };
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: give a count, `adult=2` or `2`"))?;
    Ok((category, n))
}

/// What a valid membership brings to a basket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberBenefit {
    /// People the membership covers at the member price.
    pub covered: u32,
    /// Guests at the guest price, beyond them.
    pub guests: u32,
}

impl MemberBenefit {
    /// The benefit of `membership` for a visit on `day`: none unless it is active and `day`
    /// falls within its term.
    pub fn for_visit(membership: &Membership, day: NaiveDate) -> Option<Self> {
        (membership.status == MembershipStatus::Active
            && membership.start <= day
            && day <= membership.expiry)
            .then(|| Self {
                covered: u32::try_from(membership.members.len().max(1)).unwrap_or(u32::MAX),
                guests: membership.guest_allowance,
            })
    }
}

/// Which price a quote line was charged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    Member,
    Guest,
    NonMember,
}

/// A priced line: one product, category, slot and kind of price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteLine {
    pub product: String,
    pub category: Option<String>,
    pub slot: Option<String>,
    pub quantity: u32,
    pub kind: PriceKind,
    /// The unit price as the catalog states it (net or gross, as the tax rule says).
    pub unit: MinorUnits,
    /// The non-member unit price, for the receipt's "you saved".
    pub non_member_unit: MinorUnits,
    pub tax_rule: String,
    pub rate_bp: u32,
    pub inclusive: bool,
    pub net: MinorUnits,
    pub tax: MinorUnits,
    pub gross: MinorUnits,
}

/// A priced basket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    pub net: MinorUnits,
    pub tax: MinorUnits,
    /// What the visitor pays.
    pub gross: MinorUnits,
    /// What the membership saved, at the catalog's prices.
    pub member_savings: MinorUnits,
    pub currency: String,
}

/// Why a basket cannot be priced. The kiosk's screens never let a visitor build one of these;
/// they come from a catalog changed under a session (a product withdrawn, a slot closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("the basket is empty")]
    Empty,
    #[error("more than {MAX_UNITS} items in one basket")]
    TooMany,
    #[error("product {0} is not in the catalog")]
    UnknownProduct(String),
    #[error("product {0} is not on sale now")]
    NotOnSale(String),
    #[error("product {product} has no price for visitor category {category:?}")]
    UnknownCategory {
        product: String,
        category: Option<String>,
    },
    #[error("product {0} has a negative price")]
    NegativePrice(String),
    #[error("tax rule {0} is not in the catalog")]
    UnknownTaxRule(String),
    #[error("product {product} needs a time slot of group {group}, not {slot:?}")]
    WrongSlot {
        product: String,
        group: String,
        slot: Option<String>,
    },
    #[error("slot {0} is no longer on sale")]
    SlotClosed(String),
    #[error("product {0} takes no time slot")]
    NoSlotTaken(String),
    #[error("the basket mixes currencies")]
    MixedCurrencies,
    #[error("the amounts are too large")]
    Overflow,
}

/// `n / d` rounded half up, for `n ≥ 0`, `d > 0`.
fn round_half_up(n: i128, d: i128) -> i128 {
    (2 * n + d) / (2 * d)
}

/// Net, tax and gross of `amount` (a line's unit price × quantity, as the catalog states it)
/// at `rate_bp` hundredths of a percent.
pub fn line_tax(
    amount: MinorUnits,
    rate_bp: u32,
    inclusive: bool,
) -> Result<(MinorUnits, MinorUnits, MinorUnits), PriceError> {
    let a = i128::from(amount);
    let r = i128::from(rate_bp);
    let (net, tax, gross) = if inclusive {
        let tax = round_half_up(a * r, 10_000 + r);
        (a - tax, tax, a)
    } else {
        let tax = round_half_up(a * r, 10_000);
        (a, tax, a + tax)
    };
    let fit = |v: i128| MinorUnits::try_from(v).map_err(|_| PriceError::Overflow);
    Ok((fit(net)?, fit(tax)?, fit(gross)?))
}

/// A cart line resolved against the catalog.
struct Resolved<'a> {
    line: &'a CartLine,
    product: &'a CatalogProduct,
    rule: &'a TaxRule,
    non_member: MinorUnits,
    member: MinorUnits,
    guest: MinorUnits,
    sort: i32,
}

fn resolve<'a>(
    line: &'a CartLine,
    catalog: &'a Catalog,
    now: DateTime<Utc>,
    now_local: NaiveDateTime,
) -> Result<Resolved<'a>, PriceError> {
    let product = catalog
        .products
        .get(&line.product)
        .ok_or_else(|| PriceError::UnknownProduct(line.product.clone()))?;
    if !product.on_sale(now) {
        return Err(PriceError::NotOnSale(product.id.clone()));
    }
    let unknown_category = || PriceError::UnknownCategory {
        product: product.id.clone(),
        category: line.category.clone(),
    };
    let (non_member, member, guest, sort) = match (&line.category, product.flat) {
        (None, Some((non_member, member))) if product.prices.is_empty() => {
            (non_member, member, member, 0)
        }
        (Some(category), None) => {
            let price = product
                .prices
                .iter()
                .find(|p| &p.category == category)
                .ok_or_else(unknown_category)?;
            let sort = catalog
                .categories
                .get(category)
                .map_or(i32::MAX, |c| c.sort);
            (
                price.non_member,
                price.member,
                price.guest.unwrap_or(price.member),
                sort,
            )
        }
        _ => return Err(unknown_category()),
    };
    if non_member < 0 || member < 0 || guest < 0 {
        return Err(PriceError::NegativePrice(product.id.clone()));
    }
    match (&product.admission, &line.slot) {
        (Admission::Timed { slot_group }, slot) => {
            let wrong = || PriceError::WrongSlot {
                product: product.id.clone(),
                group: slot_group.clone(),
                slot: slot.clone(),
            };
            let found = slot
                .as_ref()
                .and_then(|id| catalog.slots.get(id))
                .filter(|s| &s.group == slot_group)
                .ok_or_else(wrong)?;
            if !found.open(now_local) {
                return Err(PriceError::SlotClosed(found.id.clone()));
            }
        }
        (_, Some(_)) => return Err(PriceError::NoSlotTaken(product.id.clone())),
        (_, None) => {}
    }
    let rule = catalog
        .tax_rules
        .get(&product.tax_rule)
        .ok_or_else(|| PriceError::UnknownTaxRule(product.tax_rule.clone()))?;
    Ok(Resolved {
        line,
        product,
        rule,
        non_member,
        member,
        guest,
        sort,
    })
}

/// Prices `cart` for a visitor with `member`'s benefit (none for a non-member), at `now`
/// (sale windows) and the venue's local `now_local` (slots). See the module's rules.
pub fn quote(
    cart: &[CartLine],
    catalog: &Catalog,
    member: Option<MemberBenefit>,
    now: DateTime<Utc>,
    now_local: NaiveDateTime,
) -> Result<Quote, PriceError> {
    let lines: Vec<Resolved<'_>> = cart
        .iter()
        .filter(|l| l.quantity > 0)
        .map(|l| resolve(l, catalog, now, now_local))
        .collect::<Result<_, _>>()?;
    if lines.is_empty() {
        return Err(PriceError::Empty);
    }
    let units: u32 = lines
        .iter()
        .map(|r| r.line.quantity)
        .fold(0, u32::saturating_add);
    if units > MAX_UNITS {
        return Err(PriceError::TooMany);
    }
    let currency = lines[0].product.currency.clone();
    if lines.iter().any(|r| r.product.currency != currency) {
        return Err(PriceError::MixedCurrencies);
    }

    // How many units of each line go at each kind of price.
    let mut counts = vec![[0u32; 3]; lines.len()];
    let kind_index = |k: PriceKind| k as usize;
    match member {
        None => {
            for (i, r) in lines.iter().enumerate() {
                counts[i][kind_index(PriceKind::NonMember)] = r.line.quantity;
            }
        }
        Some(benefit) => {
            let mut benefit_units: Vec<(MinorUnits, i32, usize)> = Vec::new();
            for (i, r) in lines.iter().enumerate() {
                if r.product.member_benefit {
                    benefit_units.extend((0..r.line.quantity).map(|_| (r.non_member, r.sort, i)));
                } else {
                    counts[i][kind_index(PriceKind::Member)] = r.line.quantity;
                }
            }
            benefit_units.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            for (n, &(_, _, i)) in benefit_units.iter().enumerate() {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                let kind = if n < benefit.covered {
                    PriceKind::Member
                } else if n - benefit.covered < benefit.guests {
                    PriceKind::Guest
                } else {
                    PriceKind::NonMember
                };
                counts[i][kind_index(kind)] += 1;
            }
        }
    }

    let mut quote = Quote {
        lines: Vec::new(),
        net: 0,
        tax: 0,
        gross: 0,
        member_savings: 0,
        currency,
    };
    for (r, count) in lines.iter().zip(&counts) {
        for kind in [PriceKind::Member, PriceKind::Guest, PriceKind::NonMember] {
            let quantity = count[kind_index(kind)];
            if quantity == 0 {
                continue;
            }
            let unit = match kind {
                PriceKind::Member => r.member,
                PriceKind::Guest => r.guest,
                PriceKind::NonMember => r.non_member,
            };
            let amount = unit
                .checked_mul(i64::from(quantity))
                .ok_or(PriceError::Overflow)?;
            let (net, tax, gross) = line_tax(amount, r.rule.rate_bp, r.rule.inclusive)?;
            let saved = (r.non_member - unit)
                .checked_mul(i64::from(quantity))
                .ok_or(PriceError::Overflow)?;
            let add = |a: MinorUnits, b: MinorUnits| a.checked_add(b).ok_or(PriceError::Overflow);
            quote.net = add(quote.net, net)?;
            quote.tax = add(quote.tax, tax)?;
            quote.gross = add(quote.gross, gross)?;
            quote.member_savings = add(quote.member_savings, saved)?;
            quote.lines.push(QuoteLine {
                product: r.product.id.clone(),
                category: r.line.category.clone(),
                slot: r.line.slot.clone(),
                quantity,
                kind,
                unit,
                non_member_unit: r.non_member,
                tax_rule: r.rule.id.clone(),
                rate_bp: r.rule.rate_bp,
                inclusive: r.rule.inclusive,
                net,
                tax,
                gross,
            });
        }
    }
    Ok(quote)
}

#[cfg(test)]
mod tests;
