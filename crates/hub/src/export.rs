//! `portico hub export`: the hub's constituents and memberships as CSV in the columns a mapping
//! names (the default: a typical CRM export), so what `portico hub import` reads back is the
//! same records. Dates are written as ISO 8601, which every import reads. Merged-away records
//! are not exported (a CRM's export lists the survivors only).

use std::io::Write;

use portico_core::domain::ConstituentStatus;
use portico_core::import::Mapping;
use portico_core::import::mapping::ContactColumns;
use portico_core::protocol::{ConstituentDto, ContactMetaDto, MembershipDto, Resource};

use crate::store::{HubStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the CSV")]
    Csv(#[from] csv::Error),
}

pub(crate) fn yes(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// One entry of a repeated group: its value (address, number, first line), the address's other
/// parts by name, and its type, flags and dates.
type Entry<'a> = (&'a str, Vec<(&'a str, String)>, &'a ContactMetaDto);

/// The columns of a repeated group for entry `n`, and the cells of one entry.
fn group_header(g: &ContactColumns, n: usize, out: &mut Vec<String>) {
    let name = |p: &str| p.replace("{n}", &n.to_string());
    out.push(name(&g.value));
    for (_, p) in &g.extra {
        out.push(name(p));
    }
    for p in [&g.kind, &g.primary, &g.active, &g.start, &g.end]
        .into_iter()
        .flatten()
    {
        out.push(name(p));
    }
}

fn group_cells(g: &ContactColumns, value: Option<Entry<'_>>, out: &mut Vec<String>) {
    let Some((v, extra, meta)) = value else {
        let width = 1
            + g.extra.len()
            + [&g.kind, &g.primary, &g.active, &g.start, &g.end]
                .into_iter()
                .flatten()
                .count();
        out.extend(std::iter::repeat_n(String::new(), width));
        return;
    };
    out.push(v.to_owned());
    for (k, _) in &g.extra {
        out.push(
            extra
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        );
    }
    let cells = [
        g.kind.as_ref().map(|_| meta.kind.clone()),
        g.primary.as_ref().map(|_| yes(meta.primary).to_owned()),
        g.active.as_ref().map(|_| yes(meta.active).to_owned()),
        g.start.as_ref().map(|_| date(meta.start)),
        g.end.as_ref().map(|_| date(meta.end)),
    ];
    out.extend(cells.into_iter().flatten());
}

/// Writes every live, unmerged constituent as a row; returns how many.
pub fn constituents(
    store: &HubStore,
    mapping: &Mapping,
    to: impl Write,
) -> Result<u64, ExportError> {
    let all: Vec<ConstituentDto> = store
        .all::<ConstituentDto>(Resource::Constituents)?
        .into_iter()
        .filter(|c| c.status != ConstituentStatus::Merged)
        .collect();
    let c = &mapping.constituents;
    let most = |f: fn(&ConstituentDto) -> usize| all.iter().map(f).max().unwrap_or(0).max(1);
    let (emails, phones, addresses) = (
        most(|c| c.emails.len()),
        most(|c| c.phones.len()),
        most(|c| c.addresses.len()),
    );
    let mut header: Vec<String> = vec![c.lookup_id.clone()];
    header.extend(c.title.clone());
    header.push(c.first.clone());
    header.extend(c.middle.clone());
    header.push(c.last.clone());
    header.extend(c.suffix.clone());
    header.extend(c.birth_date.clone());
    header.extend(c.status.clone());
    let groups = [
        (&c.emails, emails),
        (&c.phones, phones),
        (&c.addresses, addresses),
    ];
    for (g, n) in groups {
        if let Some(g) = g {
            for i in 1..=n {
                group_header(g, i, &mut header);
            }
        }
    }
    let mut w = csv::Writer::from_writer(to);
    w.write_record(&header)?;
    let mut rows = 0;
    for p in &all {
        let mut row: Vec<String> = vec![p.lookup_id.clone()];
        if c.title.is_some() {
            row.push(p.name.title.clone().unwrap_or_default());
        }
        row.push(p.name.first.clone());
        if c.middle.is_some() {
            row.push(p.name.middle.clone().unwrap_or_default());
        }
        row.push(p.name.last.clone());
        if c.suffix.is_some() {
            row.push(p.name.suffix.clone().unwrap_or_default());
        }
        if c.birth_date.is_some() {
            row.push(date(p.birth_date));
        }
        if c.status.is_some() {
            row.push(p.status.as_str().to_owned());
        }
        if let Some(g) = &c.emails {
            for i in 0..emails {
                let e = p.emails.get(i);
                group_cells(
                    g,
                    e.map(|e| (e.address.as_str(), vec![], &e.meta)),
                    &mut row,
                );
            }
        }
        if let Some(g) = &c.phones {
            for i in 0..phones {
                let e = p.phones.get(i);
                group_cells(g, e.map(|e| (e.number.as_str(), vec![], &e.meta)), &mut row);
            }
        }
        if let Some(g) = &c.addresses {
            for i in 0..addresses {
                let a = p.addresses.get(i).map(|a| {
                    (
                        a.line1.as_str(),
                        vec![
                            ("line2", a.line2.clone().unwrap_or_default()),
                            ("city", a.city.clone()),
                            ("region", a.region.clone().unwrap_or_default()),
                            ("postcode", a.postcode.clone().unwrap_or_default()),
                            ("country", a.country.clone()),
                        ],
                        &a.meta,
                    )
                });
                group_cells(g, a, &mut row);
            }
        }
        w.write_record(&row)?;
        rows += 1;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(rows)
}

/// Writes every live membership as a row; returns how many.
pub fn memberships(
    store: &HubStore,
    mapping: &Mapping,
    to: impl Write,
) -> Result<u64, ExportError> {
    let m = &mapping.memberships;
    let mut header = vec![
        m.membership_id.clone(),
        m.level.clone(),
        m.status.clone(),
        m.start.clone(),
        m.expiry.clone(),
        m.members.clone(),
    ];
    header.extend(m.guest_allowance.clone());
    let mut w = csv::Writer::from_writer(to);
    w.write_record(&header)?;
    let mut rows = 0;
    for x in store.all::<MembershipDto>(Resource::Memberships)? {
        let mut row = vec![
            x.membership_id.clone(),
            x.level.clone(),
            x.status.as_str().to_owned(),
            date(Some(x.start)),
            date(Some(x.expiry)),
            x.members.join(&format!("{} ", m.members_separator)),
        ];
        if m.guest_allowance.is_some() {
            row.push(x.guest_allowance.to_string());
        }
        w.write_record(&row)?;
        rows += 1;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(rows)
}
