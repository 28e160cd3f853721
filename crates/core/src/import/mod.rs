//! A venue's CRM exports read into the hub's records: a file's header resolved against the
//! column [`Mapping`], then each row's cells turned into a constituent or a membership, or into
//! the problems of its cells (column and reason; the shell adds the file and the row number).
//! Pure: the hub reads the CSV, compares with what it holds and writes.

pub mod catalog;
pub mod mapping;

use chrono::NaiveDate;

pub use mapping::{DEFAULT_MAPPING, Mapping, MappingProblem, RawMapping};

use crate::domain::{ConstituentStatus, MembershipStatus};
use crate::intake::MAX_FIELD_CHARS;
use crate::protocol::{
    AddressDto, ConstituentDto, ContactMetaDto, EmailDto, MembershipDto, NameDto, PhoneDto,
};
use mapping::ContactColumns;

/// Why a cell (or a missing column) is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    /// The column's header as the mapping names it.
    pub column: String,
    pub reason: String,
}

fn cell_problem(column: &str, reason: impl Into<String>) -> CellProblem {
    CellProblem {
        column: column.to_owned(),
        reason: reason.into(),
    }
}

/// Where a header's columns are.
struct Header<'a> {
    names: Vec<&'a str>,
}

impl<'a> Header<'a> {
    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|h| h.trim() == name.trim())
    }

    fn required(&self, name: &str, missing: &mut Vec<CellProblem>) -> usize {
        self.find(name).unwrap_or_else(|| {
            missing.push(cell_problem(name, "the file has no such column"));
            usize::MAX
        })
    }
}

/// A repeated group's columns for one `{n}`.
#[derive(Debug, Clone)]
struct GroupColumns {
    value: (String, usize),
    extra: Vec<(&'static str, String, usize)>,
    kind: Option<(String, usize)>,
    primary: Option<(String, usize)>,
    active: Option<(String, usize)>,
    start: Option<(String, usize)>,
    end: Option<(String, usize)>,
}

/// Every `{n}` of a group the header has, from 1 up to the first missing.
fn groups(header: &Header<'_>, c: &ContactColumns) -> Vec<GroupColumns> {
    let mut out = Vec::new();
    for n in 1..=99 {
        let name = |pattern: &str| pattern.replace("{n}", &n.to_string());
        let at = |pattern: &Option<String>| {
            pattern.as_ref().and_then(|p| {
                let name = name(p);
                header.find(&name).map(|i| (name, i))
            })
        };
        let value = name(&c.value);
        let Some(i) = header.find(&value) else {
            break;
        };
        out.push(GroupColumns {
            value: (value, i),
            extra: c
                .extra
                .iter()
                .filter_map(|(k, p)| {
                    let name = name(p);
                    header.find(&name).map(|i| (*k, name, i))
                })
                .collect(),
            kind: at(&c.kind),
            primary: at(&c.primary),
            active: at(&c.active),
            start: at(&c.start),
            end: at(&c.end),
        });
    }
    out
}

/// The cells of one row, read with the problems they give.
struct Cells<'r, 'f> {
    row: &'r [&'r str],
    date_format: Option<&'f str>,
    problems: Vec<CellProblem>,
}

impl Cells<'_, '_> {
    fn text(&mut self, (column, i): (&str, usize)) -> String {
        let v = self.row.get(i).map_or("", |s| s.trim());
        if v.chars().count() > MAX_FIELD_CHARS {
            self.problems.push(cell_problem(
                column,
                format!("longer than {MAX_FIELD_CHARS} characters"),
            ));
        }
        v.to_owned()
    }

    fn opt(&mut self, col: Option<(&str, usize)>) -> Option<String> {
        col.map(|c| self.text(c)).filter(|v| !v.is_empty())
    }

    fn required(&mut self, col: (&str, usize)) -> String {
        let v = self.text(col);
        if v.is_empty() {
            self.problems.push(cell_problem(col.0, "empty"));
        }
        v
    }

    fn date(&mut self, col: Option<(&str, usize)>) -> Option<NaiveDate> {
        let (column, _) = col?;
        let v = self.opt(col)?;
        let parsed = NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok().or_else(|| {
            self.date_format
                .and_then(|f| NaiveDate::parse_from_str(&v, f).ok())
        });
        if parsed.is_none() {
            let formats = match self.date_format {
                Some(f) => format!("YYYY-MM-DD or {f}"),
                None => "YYYY-MM-DD".to_owned(),
            };
            self.problems.push(cell_problem(
                column,
                format!("{v:?} is not a date ({formats})"),
            ));
        }
        parsed
    }

    fn flag(&mut self, col: Option<(&str, usize)>, default: bool) -> bool {
        let Some((column, _)) = col else {
            return default;
        };
        match self.opt(col).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("yes" | "y" | "true" | "t" | "1") => true,
            Some("no" | "n" | "false" | "f" | "0") => false,
            Some(other) => {
                self.problems
                    .push(cell_problem(column, format!("{other:?} is not yes or no")));
                default
            }
        }
    }
}

fn col(c: &Option<(String, usize)>) -> Option<(&str, usize)> {
    c.as_ref().map(|(n, i)| (n.as_str(), *i))
}

fn opt_col(name: &Option<String>, i: Option<usize>) -> Option<(&str, usize)> {
    name.as_deref().zip(i)
}

/// A constituents file's header resolved against the mapping.
pub struct ConstituentLayout {
    m: mapping::ConstituentColumns,
    lookup_id: usize,
    title: Option<usize>,
    first: usize,
    middle: Option<usize>,
    last: usize,
    suffix: Option<usize>,
    birth_date: Option<usize>,
    status: Option<usize>,
    emails: Vec<GroupColumns>,
    phones: Vec<GroupColumns>,
    addresses: Vec<GroupColumns>,
    date_format: Option<String>,
}

impl ConstituentLayout {
    /// The header's columns, or the required ones it lacks.
    pub fn new(headers: &[&str], m: &Mapping) -> Result<Self, Vec<CellProblem>> {
        let h = Header {
            names: headers.to_vec(),
        };
        let c = &m.constituents;
        let mut missing = Vec::new();
        let layout = Self {
            lookup_id: h.required(&c.lookup_id, &mut missing),
            first: h.required(&c.first, &mut missing),
            last: h.required(&c.last, &mut missing),
            title: c.title.as_deref().and_then(|n| h.find(n)),
            middle: c.middle.as_deref().and_then(|n| h.find(n)),
            suffix: c.suffix.as_deref().and_then(|n| h.find(n)),
            birth_date: c.birth_date.as_deref().and_then(|n| h.find(n)),
            status: c.status.as_deref().and_then(|n| h.find(n)),
            emails: c.emails.as_ref().map(|g| groups(&h, g)).unwrap_or_default(),
            phones: c.phones.as_ref().map(|g| groups(&h, g)).unwrap_or_default(),
            addresses: c
                .addresses
                .as_ref()
                .map(|g| groups(&h, g))
                .unwrap_or_default(),
            date_format: m.date_format.clone(),
            m: c.clone(),
        };
        if missing.is_empty() {
            Ok(layout)
        } else {
            Err(missing)
        }
    }

    /// One row as a constituent, or every problem of its cells.
    pub fn read(&self, row: &[&str]) -> Result<ConstituentDto, Vec<CellProblem>> {
        let m = &self.m;
        let mut c = Cells {
            row,
            date_format: self.date_format.as_deref(),
            problems: Vec::new(),
        };
        let lookup_id = c.required((&m.lookup_id, self.lookup_id));
        let first = c.text((&m.first, self.first));
        let last = c.required((&m.last, self.last));
        let title = c.opt(opt_col(&m.title, self.title));
        let middle = c.opt(opt_col(&m.middle, self.middle));
        let suffix = c.opt(opt_col(&m.suffix, self.suffix));
        let birth_date = c.date(opt_col(&m.birth_date, self.birth_date));
        let status_col = opt_col(&m.status, self.status);
        let status = match c.opt(status_col).map(|s| s.to_ascii_lowercase()) {
            None => ConstituentStatus::Active,
            Some(s) => {
                match ConstituentStatus::parse(&s).filter(|s| *s != ConstituentStatus::Merged) {
                    Some(s) => s,
                    None => {
                        c.problems.push(cell_problem(
                            status_col.map_or("status", |c| c.0),
                            format!("{s:?} is not Active, Inactive or Deceased"),
                        ));
                        ConstituentStatus::Active
                    }
                }
            }
        };
        let emails: Vec<EmailDto> = self
            .emails
            .iter()
            .filter_map(|g| read_email(&mut c, g))
            .collect();
        let phones: Vec<PhoneDto> = self
            .phones
            .iter()
            .filter_map(|g| read_phone(&mut c, g))
            .collect();
        let addresses: Vec<AddressDto> = self
            .addresses
            .iter()
            .filter_map(|g| read_address(&mut c, g))
            .collect();
        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        Ok(ConstituentDto {
            lookup_id,
            name: NameDto {
                title,
                first,
                middle,
                last,
                suffix,
            },
            birth_date,
            status,
            historical_names: Vec::new(),
            emails,
            phones,
            addresses,
        })
    }
}

fn read_meta(c: &mut Cells<'_, '_>, g: &GroupColumns) -> ContactMetaDto {
    let start = c.date(col(&g.start));
    let end = c.date(col(&g.end));
    if let (Some(s), Some(e), Some((column, _))) = (start, end, col(&g.end))
        && e < s
    {
        c.problems
            .push(cell_problem(column, "ends before it starts"));
    }
    ContactMetaDto {
        kind: c.opt(col(&g.kind)).unwrap_or_else(|| "Home".to_owned()),
        primary: c.flag(col(&g.primary), false),
        active: c.flag(col(&g.active), true),
        start,
        end,
    }
}

/// An email of a row (`None`: its address cell is empty, so there is none).
fn read_email(c: &mut Cells<'_, '_>, g: &GroupColumns) -> Option<EmailDto> {
    let address = c.opt(Some((g.value.0.as_str(), g.value.1)))?;
    if !address.contains('@') || address.contains(char::is_whitespace) {
        c.problems.push(cell_problem(
            &g.value.0,
            format!("{address:?} is not an email address"),
        ));
    }
    Some(EmailDto {
        address,
        meta: read_meta(c, g),
    })
}

fn read_phone(c: &mut Cells<'_, '_>, g: &GroupColumns) -> Option<PhoneDto> {
    let number = c.opt(Some((g.value.0.as_str(), g.value.1)))?;
    if number.chars().filter(char::is_ascii_digit).count() < 4 {
        c.problems.push(cell_problem(
            &g.value.0,
            format!("{number:?} is not a phone number"),
        ));
    }
    Some(PhoneDto {
        number,
        meta: read_meta(c, g),
    })
}

fn read_address(c: &mut Cells<'_, '_>, g: &GroupColumns) -> Option<AddressDto> {
    let line1 = c.opt(Some((g.value.0.as_str(), g.value.1)))?;
    let part = |c: &mut Cells<'_, '_>, k: &str| {
        g.extra
            .iter()
            .find(|(name, _, _)| *name == k)
            .and_then(|(_, n, i)| c.opt(Some((n.as_str(), *i))))
    };
    let line2 = part(c, "line2");
    let city = part(c, "city").unwrap_or_default();
    let region = part(c, "region");
    let postcode = part(c, "postcode");
    let country = part(c, "country")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "US".to_owned());
    if country.len() != 2 || !country.chars().all(|ch| ch.is_ascii_alphabetic()) {
        let column = g
            .extra
            .iter()
            .find(|(k, _, _)| *k == "country")
            .map_or("country", |(_, n, _)| n.as_str())
            .to_owned();
        c.problems.push(cell_problem(
            &column,
            format!("{country:?} is not a two-letter country code"),
        ));
    }
    Some(AddressDto {
        line1,
        line2,
        city,
        region,
        postcode,
        country,
        meta: read_meta(c, g),
    })
}

/// Which contact list a file of its own holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Emails,
    Phones,
    Addresses,
}

/// One entry of a contact file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Email(EmailDto),
    Phone(PhoneDto),
    Address(AddressDto),
}

/// A file of emails, phones or addresses, one entry a row keyed by the constituent's Lookup ID:
/// its columns are the mapping's repeated ones without their `{n}` (`Email address {n}` is
/// `Email address`).
pub struct ContactFileLayout {
    kind: ContactKind,
    lookup_id: (String, usize),
    group: GroupColumns,
    date_format: Option<String>,
}

impl ContactFileLayout {
    pub fn new(headers: &[&str], m: &Mapping, kind: ContactKind) -> Result<Self, Vec<CellProblem>> {
        let h = Header {
            names: headers.to_vec(),
        };
        let c = &m.constituents;
        let columns = match kind {
            ContactKind::Emails => c.emails.as_ref(),
            ContactKind::Phones => c.phones.as_ref(),
            ContactKind::Addresses => c.addresses.as_ref(),
        };
        let mut missing = Vec::new();
        let lookup_id = h.required(&c.lookup_id, &mut missing);
        let Some(columns) = columns else {
            missing.push(cell_problem(
                "(mapping)",
                "the mapping names no columns for this list",
            ));
            return Err(missing);
        };
        let plain = |p: &str| p.replace(" {n}", "").replace("{n}", "");
        let at = |p: &Option<String>| {
            p.as_ref().and_then(|p| {
                let name = plain(p);
                h.find(&name).map(|i| (name, i))
            })
        };
        let value = plain(&columns.value);
        let value_at = h.required(&value, &mut missing);
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Self {
            kind,
            lookup_id: (c.lookup_id.clone(), lookup_id),
            group: GroupColumns {
                value: (value, value_at),
                extra: columns
                    .extra
                    .iter()
                    .filter_map(|(k, p)| {
                        let name = plain(p);
                        h.find(&name).map(|i| (*k, name, i))
                    })
                    .collect(),
                kind: at(&columns.kind),
                primary: at(&columns.primary),
                active: at(&columns.active),
                start: at(&columns.start),
                end: at(&columns.end),
            },
            date_format: m.date_format.clone(),
        })
    }

    /// One row: the constituent's Lookup ID and the entry.
    pub fn read(&self, row: &[&str]) -> Result<(String, Contact), Vec<CellProblem>> {
        let mut c = Cells {
            row,
            date_format: self.date_format.as_deref(),
            problems: Vec::new(),
        };
        let lookup_id = c.required((&self.lookup_id.0, self.lookup_id.1));
        let g = &self.group;
        let entry = match self.kind {
            ContactKind::Emails => read_email(&mut c, g).map(Contact::Email),
            ContactKind::Phones => read_phone(&mut c, g).map(Contact::Phone),
            ContactKind::Addresses => read_address(&mut c, g).map(Contact::Address),
        };
        match entry {
            Some(e) if c.problems.is_empty() => Ok((lookup_id, e)),
            Some(_) => Err(c.problems),
            None => {
                c.problems.push(cell_problem(&g.value.0, "empty"));
                Err(c.problems)
            }
        }
    }
}

/// A memberships file's header resolved against the mapping.
pub struct MembershipLayout {
    m: mapping::MembershipColumns,
    at: [usize; 6],
    guest_allowance: Option<usize>,
    date_format: Option<String>,
}

impl MembershipLayout {
    pub fn new(headers: &[&str], m: &Mapping) -> Result<Self, Vec<CellProblem>> {
        let h = Header {
            names: headers.to_vec(),
        };
        let c = &m.memberships;
        let mut missing = Vec::new();
        let at = [
            &c.membership_id,
            &c.level,
            &c.status,
            &c.start,
            &c.expiry,
            &c.members,
        ]
        .map(|name| h.required(name, &mut missing));
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Self {
            guest_allowance: c.guest_allowance.as_deref().and_then(|n| h.find(n)),
            m: c.clone(),
            at,
            date_format: m.date_format.clone(),
        })
    }

    pub fn read(&self, row: &[&str]) -> Result<MembershipDto, Vec<CellProblem>> {
        let m = &self.m;
        let [id, level, status, start, expiry, members] = self.at;
        let mut c = Cells {
            row,
            date_format: self.date_format.as_deref(),
            problems: Vec::new(),
        };
        let membership_id = c.required((&m.membership_id, id));
        let level = c.required((&m.level, level));
        let status_text = c.required((&m.status, status)).to_ascii_lowercase();
        let status = MembershipStatus::parse(&status_text);
        if status.is_none() && !status_text.is_empty() {
            c.problems.push(cell_problem(
                &m.status,
                format!("{status_text:?} is not Active, Pending, Lapsed or Cancelled"),
            ));
        }
        let start_date = c.date(Some((&m.start, start)));
        let expiry_date = c.date(Some((&m.expiry, expiry)));
        for (column, d) in [(&m.start, start_date), (&m.expiry, expiry_date)] {
            if d.is_none() && c.problems.iter().all(|p| p.column != *column) {
                c.problems.push(cell_problem(column, "empty"));
            }
        }
        if let (Some(s), Some(e)) = (start_date, expiry_date)
            && e < s
        {
            c.problems
                .push(cell_problem(&m.expiry, "expires before it starts"));
        }
        let listed = c.required((&m.members, members));
        let members: Vec<String> = listed
            .split(m.members_separator.as_str())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if members.is_empty() && !listed.is_empty() {
            c.problems.push(cell_problem(&m.members, "no Lookup ID"));
        }
        let guests_col = m.guest_allowance.as_deref().zip(self.guest_allowance);
        let guest_allowance = match c.opt(guests_col) {
            None => 0,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n <= 99 => n,
                _ => {
                    c.problems.push(cell_problem(
                        guests_col.map_or("guest allowance", |g| g.0),
                        format!("{v:?} is not a number of guests (0 to 99)"),
                    ));
                    0
                }
            },
        };
        match (status, start_date, expiry_date) {
            (Some(status), Some(start), Some(expiry)) if c.problems.is_empty() => {
                Ok(MembershipDto {
                    membership_id,
                    level,
                    status,
                    start,
                    expiry,
                    members,
                    guest_allowance,
                })
            }
            _ => Err(c.problems),
        }
    }
}

#[cfg(test)]
mod tests;
