//! The import's column mapping: which header of a CRM export holds which field. Read from a
//! TOML file in two steps, like the device's config: the raw document (unknown keys refused),
//! then [`Mapping::validate`] into what the importer uses.

use serde::Deserialize;

/// The default mapping, for a typical CRM export (commented: `portico hub import
/// --print-mapping`).
pub const DEFAULT_MAPPING: &str = include_str!("default-mapping.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub date_format: Option<String>,
    pub constituents: RawConstituents,
    pub memberships: RawMemberships,
    pub catalog: CatalogColumns,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConstituents {
    pub lookup_id: String,
    pub title: Option<String>,
    pub first: String,
    pub middle: Option<String>,
    pub last: String,
    pub suffix: Option<String>,
    pub birth_date: Option<String>,
    pub status: Option<String>,
    pub emails: Option<RawContact>,
    pub phones: Option<RawContact>,
    pub addresses: Option<RawAddresses>,
}

/// An email's or a phone's columns (`address` for emails, `number` for phones).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContact {
    pub address: Option<String>,
    pub number: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub primary: Option<String>,
    pub active: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddresses {
    pub line1: String,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub primary: Option<String>,
    pub active: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemberships {
    pub membership_id: String,
    pub level: String,
    pub status: String,
    pub start: String,
    pub expiry: String,
    pub members: String,
    pub members_separator: Option<String>,
    pub guest_allowance: Option<String>,
}

/// The catalog files' columns. Every name is a header; the optional ones may be absent from a
/// file (their defaults apply).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogColumns {
    pub categories: CategoryColumns,
    pub tax_rules: TaxRuleColumns,
    pub products: ProductColumns,
    pub prices: PriceColumns,
    pub slots: SlotColumns,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryColumns {
    pub id: String,
    pub name: String,
    pub name_es: Option<String>,
    pub sort: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRuleColumns {
    pub id: String,
    pub name: String,
    pub name_es: Option<String>,
    pub rate: String,
    pub inclusive: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductColumns {
    pub id: String,
    pub name: String,
    pub name_es: Option<String>,
    pub kind: String,
    pub admission: Option<String>,
    pub slot_group: Option<String>,
    pub tax_rule: String,
    pub currency: Option<String>,
    pub sale_from: Option<String>,
    pub sale_until: Option<String>,
    pub channels: Option<String>,
    pub member_benefit: Option<String>,
    pub uses: Option<String>,
    pub membership_level: Option<String>,
    pub guest_allowance: Option<String>,
    pub term_months: Option<String>,
    pub sort: Option<String>,
    pub active: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceColumns {
    pub product: String,
    pub category: Option<String>,
    pub price: String,
    pub member_price: Option<String>,
    pub guest_price: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotColumns {
    pub group: String,
    pub date: String,
    pub start: String,
    pub end: String,
    pub capacity: String,
    pub sales_close: Option<String>,
}

/// A contact list's columns, each a pattern with `{n}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactColumns {
    /// The column whose emptiness means "no entry": the address, number or first line.
    pub value: String,
    /// Addresses: line 2, city, region, postcode, country.
    pub extra: Vec<(&'static str, String)>,
    pub kind: Option<String>,
    pub primary: Option<String>,
    pub active: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// The validated mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub date_format: Option<String>,
    pub constituents: ConstituentColumns,
    pub memberships: MembershipColumns,
    pub catalog: CatalogColumns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstituentColumns {
    pub lookup_id: String,
    pub title: Option<String>,
    pub first: String,
    pub middle: Option<String>,
    pub last: String,
    pub suffix: Option<String>,
    pub birth_date: Option<String>,
    pub status: Option<String>,
    pub emails: Option<ContactColumns>,
    pub phones: Option<ContactColumns>,
    pub addresses: Option<ContactColumns>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipColumns {
    pub membership_id: String,
    pub level: String,
    pub status: String,
    pub start: String,
    pub expiry: String,
    pub members: String,
    pub members_separator: String,
    pub guest_allowance: Option<String>,
}

/// A mapping that cannot be used: its key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct MappingProblem {
    pub key: String,
    pub message: String,
}

fn problem(key: &str, message: &str) -> MappingProblem {
    MappingProblem {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

impl Mapping {
    pub fn validate(raw: RawMapping) -> Result<Self, Vec<MappingProblem>> {
        let mut problems = Vec::new();
        let c = raw.constituents;
        let mut repeated = |key: &str, pattern: Option<String>| {
            pattern.filter(|p| {
                let ok = p.contains("{n}");
                if !ok {
                    problems.push(problem(
                        key,
                        &format!("{p:?} has no {{n}}: a repeated column needs one"),
                    ));
                }
                ok
            })
        };
        let contact =
            |name: &str,
             r: Option<RawContact>,
             repeated: &mut dyn FnMut(&str, Option<String>) -> Option<String>| {
                r.and_then(|r| {
                    let value_key = if name == "emails" {
                        "address"
                    } else {
                        "number"
                    };
                    let value = if name == "emails" {
                        r.address
                    } else {
                        r.number
                    };
                    let value = repeated(&format!("constituents.{name}.{value_key}"), value)?;
                    Some(ContactColumns {
                        value,
                        extra: Vec::new(),
                        kind: repeated(&format!("constituents.{name}.type"), r.kind),
                        primary: repeated(&format!("constituents.{name}.primary"), r.primary),
                        active: repeated(&format!("constituents.{name}.active"), r.active),
                        start: repeated(&format!("constituents.{name}.start"), r.start),
                        end: repeated(&format!("constituents.{name}.end"), r.end),
                    })
                })
            };
        let emails = contact("emails", c.emails, &mut repeated);
        let phones = contact("phones", c.phones, &mut repeated);
        let addresses = c.addresses.and_then(|a| {
            let value = repeated("constituents.addresses.line1", Some(a.line1))?;
            let mut extra = Vec::new();
            for (name, col) in [
                ("line2", a.line2),
                ("city", a.city),
                ("region", a.region),
                ("postcode", a.postcode),
                ("country", a.country),
            ] {
                if let Some(col) = repeated(&format!("constituents.addresses.{name}"), col) {
                    extra.push((name, col));
                }
            }
            Some(ContactColumns {
                value,
                extra,
                kind: repeated("constituents.addresses.type", a.kind),
                primary: repeated("constituents.addresses.primary", a.primary),
                active: repeated("constituents.addresses.active", a.active),
                start: repeated("constituents.addresses.start", a.start),
                end: repeated("constituents.addresses.end", a.end),
            })
        });
        let m = raw.memberships;
        let separator = m.members_separator.unwrap_or_else(|| ";".to_owned());
        if separator.is_empty() || separator == "," {
            problems.push(problem(
                "memberships.members_separator",
                "must be one or more characters other than the CSV's comma (\";\" is usual)",
            ));
        }
        if let Some(f) = &raw.date_format
            && chrono::NaiveDate::parse_from_str("2026-12-07", "%Y-%m-%d")
                .map(|d| d.format(f).to_string())
                .ok()
                .and_then(|s| chrono::NaiveDate::parse_from_str(&s, f).ok())
                .is_none()
        {
            problems.push(problem(
                "date_format",
                &format!("{f:?} cannot read back the dates it writes (e.g. \"%m/%d/%Y\")"),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            catalog: raw.catalog,
            date_format: raw.date_format,
            constituents: ConstituentColumns {
                lookup_id: c.lookup_id,
                title: c.title,
                first: c.first,
                middle: c.middle,
                last: c.last,
                suffix: c.suffix,
                birth_date: c.birth_date,
                status: c.status,
                emails,
                phones,
                addresses,
            },
            memberships: MembershipColumns {
                membership_id: m.membership_id,
                level: m.level,
                status: m.status,
                start: m.start,
                expiry: m.expiry,
                members: m.members,
                members_separator: separator,
                guest_allowance: m.guest_allowance,
            },
        })
    }
}
