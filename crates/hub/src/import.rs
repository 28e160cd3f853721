//! `portico hub import`: a venue's CRM exports (CSV) into the hub's records. Every row is read
//! and checked first; a rejected row is reported with its file, row number, column and reason,
//! and nothing is applied unless `--skip-bad-rows` says to apply the good rows anyway. Then, in
//! one transaction, only the records that differ from what the hub holds are written, so the
//! devices' next delta carries those and nothing else. Records the hub holds that a full export
//! lacks are reported, and deleted only with `--delete-missing`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use portico_core::import::{
    CellProblem, ConstituentLayout, Contact, ContactFileLayout, ContactKind, Mapping,
    MappingProblem, MembershipLayout, RawMapping,
};
use portico_core::protocol::{ConstituentDto, MembershipDto, Resource};

use crate::store::{HubStore, StoreError, get_doc, get_membership, put, put_membership};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("mapping {path}: {message}")]
    MappingFile { path: String, message: String },
    #[error("mapping: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Mapping(Vec<MappingProblem>),
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: csv::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and checks a mapping file (the default when `None`).
pub fn mapping(path: Option<&Path>) -> Result<Mapping, ImportError> {
    let (text, shown) = match path {
        None => (
            portico_core::import::DEFAULT_MAPPING.to_owned(),
            "(default)".to_owned(),
        ),
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| ImportError::MappingFile {
                path: p.display().to_string(),
                message: e.to_string(),
            })?,
            p.display().to_string(),
        ),
    };
    let raw: RawMapping = toml::from_str(&text).map_err(|e| ImportError::MappingFile {
        path: shown,
        message: e.to_string(),
    })?;
    Mapping::validate(raw).map_err(ImportError::Mapping)
}

/// What to import, and how.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub constituents: Option<PathBuf>,
    /// Emails, phones and addresses in files of their own, keyed by Lookup ID (with the
    /// constituents file).
    pub emails: Option<PathBuf>,
    pub phones: Option<PathBuf>,
    pub addresses: Option<PathBuf>,
    pub memberships: Option<PathBuf>,
    /// The catalog's files: visitor categories, tax rules, products with their prices, and
    /// timed-entry slots.
    pub categories: Option<PathBuf>,
    pub tax_rules: Option<PathBuf>,
    pub products: Option<PathBuf>,
    pub prices: Option<PathBuf>,
    pub slots: Option<PathBuf>,
    /// Apply the good rows even when some are rejected.
    pub skip_bad_rows: bool,
    /// The files hold only what changed: nothing is missing from them.
    pub partial: bool,
    /// Delete the records a full export lacks.
    pub delete_missing: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// A rejected row: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: String,
    /// The line in the file (the header is line 1).
    pub row: u64,
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.row, self.column, self.reason
        )
    }
}

/// One resource's tally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub read: u64,
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Held by the hub, absent from the full export.
    pub missing: Vec<String>,
    pub deleted: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rejected: Vec<Rejected>,
    /// Whether anything was written (false when rows were rejected without
    /// `--skip-bad-rows`).
    pub applied: bool,
    pub constituents: Tally,
    pub memberships: Tally,
    pub catalog: crate::import_catalog::CatalogReport,
}

pub(crate) struct Read<T> {
    /// Each row with its line in the file.
    pub(crate) rows: Vec<(u64, T)>,
}

/// Reads every row of `path` through `layout`, collecting the rejected ones.
pub(crate) fn read_file<T, L>(
    path: &Path,
    new_layout: impl Fn(&[&str]) -> Result<L, Vec<CellProblem>>,
    read_row: impl Fn(&L, &[&str]) -> Result<T, Vec<CellProblem>>,
    key: Option<&dyn Fn(&T) -> String>,
    rejected: &mut Vec<Rejected>,
    bar: &indicatif::ProgressBar,
) -> Result<Read<T>, ImportError> {
    let file = path.display().to_string();
    let read_error = |source| ImportError::Read {
        path: file.clone(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(read_error)?;
    let headers = reader.headers().map_err(read_error)?.clone();
    let names: Vec<&str> = headers.iter().collect();
    let layout = match new_layout(&names) {
        Ok(l) => l,
        Err(missing) => {
            rejected.extend(missing.into_iter().map(|p| Rejected {
                file: file.clone(),
                row: 1,
                column: p.column,
                reason: p.reason,
            }));
            return Ok(Read { rows: Vec::new() });
        }
    };
    let mut rows = Vec::new();
    let mut first_row: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // A row that is not UTF-8 or not CSV: reported, and the file read on.
            Err(e) => {
                let row = e.position().map_or(0, |p| p.line());
                rejected.push(Rejected {
                    file: file.clone(),
                    row,
                    column: "(row)".into(),
                    reason: e.to_string(),
                });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(read_error(e));
                }
                continue;
            }
        }
        bar.inc(1);
        let row = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            rejected.push(Rejected {
                file: file.clone(),
                row,
                column: "(row)".into(),
                reason: format!(
                    "{} cells where the header has {}",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let cells: Vec<&str> = record.iter().collect();
        match read_row(&layout, &cells) {
            Ok(t) => {
                let Some(key) = key else {
                    rows.push((row, t));
                    continue;
                };
                let k = key(&t);
                if let Some(before) = first_row.get(&k) {
                    rejected.push(Rejected {
                        file: file.clone(),
                        row,
                        column: "(row)".into(),
                        reason: format!("{k} is on row {before} already"),
                    });
                    continue;
                }
                first_row.insert(k, row);
                rows.push((row, t));
            }
            Err(problems) => rejected.extend(problems.into_iter().map(|p| Rejected {
                file: file.clone(),
                row,
                column: p.column,
                reason: p.reason,
            })),
        }
    }
    Ok(Read { rows })
}

/// The header of a CSV file.
pub fn headers(path: &Path) -> Result<Vec<String>, ImportError> {
    let read_error = |source| ImportError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(read_error)?;
    Ok(reader
        .headers()
        .map_err(read_error)?
        .iter()
        .map(str::to_owned)
        .collect())
}

/// The keys of the hub's live records of `resource` (merged-away constituents left out: no
/// export lists them, and they are no one's membership).
fn live_keys(store: &HubStore, resource: Resource) -> Result<HashSet<String>, StoreError> {
    store.read(|c| {
        let keys = c
            .prepare(
                "SELECT key FROM records WHERE resource = ?1 AND deleted = 0
                 AND coalesce(json_extract(doc, '$.status'), '') != 'merged'",
            )?
            .query_map([resource.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    })
}

/// Imports the files `opts` names under `mapping`.
pub fn import(
    store: &HubStore,
    mapping: &Mapping,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rejected = Vec::new();
    let constituents = match &opts.constituents {
        None => None,
        Some(path) => {
            bar.set_message(format!("reading {}", path.display()));
            Some(read_file(
                path,
                |h| ConstituentLayout::new(h, mapping),
                ConstituentLayout::read,
                Some(&|c: &ConstituentDto| c.lookup_id.clone()),
                &mut rejected,
                &bar,
            )?)
        }
    };
    // Contact lists in files of their own join their constituents' rows.
    let mut constituents = constituents;
    for (kind, path) in [
        (ContactKind::Emails, &opts.emails),
        (ContactKind::Phones, &opts.phones),
        (ContactKind::Addresses, &opts.addresses),
    ] {
        let Some(path) = path else { continue };
        bar.set_message(format!("reading {}", path.display()));
        let read = read_file(
            path,
            |h| ContactFileLayout::new(h, mapping, kind),
            ContactFileLayout::read,
            None,
            &mut rejected,
            &bar,
        )?;
        let Some(people) = constituents.as_mut() else {
            rejected.push(Rejected {
                file: path.display().to_string(),
                row: 1,
                column: "(file)".into(),
                reason: "contact files are imported with their constituents file".into(),
            });
            continue;
        };
        let at: HashMap<String, usize> = people
            .rows
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (c.lookup_id.clone(), i))
            .collect();
        for (row, (lookup_id, entry)) in read.rows {
            let Some(&i) = at.get(&lookup_id) else {
                rejected.push(Rejected {
                    file: path.display().to_string(),
                    row,
                    column: mapping.constituents.lookup_id.clone(),
                    reason: format!("{lookup_id} is not in the constituents file"),
                });
                continue;
            };
            let person = &mut people.rows[i].1;
            match entry {
                Contact::Email(e) => person.emails.push(e),
                Contact::Phone(p) => person.phones.push(p),
                Contact::Address(a) => person.addresses.push(a),
            }
        }
    }
    let memberships = match &opts.memberships {
        None => None,
        Some(path) => {
            bar.set_message(format!("reading {}", path.display()));
            let read = read_file(
                path,
                |h| MembershipLayout::new(h, mapping),
                MembershipLayout::read,
                Some(&|m: &MembershipDto| m.membership_id.clone()),
                &mut rejected,
                &bar,
            )?;
            Some((path.display().to_string(), read))
        }
    };
    // Every member must be a constituent: of this import, or one the hub keeps.
    let held = live_keys(store, Resource::Constituents)?;
    let imported: HashSet<&str> = constituents
        .iter()
        .flat_map(|c| c.rows.iter().map(|(_, c)| c.lookup_id.as_str()))
        .collect();
    let deleting = |id: &str| {
        opts.delete_missing && !opts.partial && constituents.is_some() && !imported.contains(id)
    };
    let mut unknown_members = Vec::new();
    // Memberships refused for a member who is no constituent (left out with --skip-bad-rows).
    let mut refused_memberships: HashSet<String> = HashSet::new();
    if let Some((file, read)) = &memberships {
        for (row, m) in &read.rows {
            for member in &m.members {
                let known = imported.contains(member.as_str())
                    || (held.contains(member) && !deleting(member));
                if !known {
                    refused_memberships.insert(m.membership_id.clone());
                    unknown_members.push(Rejected {
                        file: file.clone(),
                        row: *row,
                        column: mapping.memberships.members.clone(),
                        reason: format!(
                            "membership {}: member {member} is not a constituent",
                            m.membership_id
                        ),
                    });
                }
            }
        }
    }
    rejected.extend(unknown_members);
    let catalog = crate::import_catalog::read(store, mapping, opts, &mut rejected, &bar)?;
    rejected.sort_by(|a, b| (a.file.as_str(), a.row).cmp(&(b.file.as_str(), b.row)));
    report.rejected = rejected;
    if !report.rejected.is_empty() && !opts.skip_bad_rows {
        bar.finish_and_clear();
        return Ok(report);
    }
    bar.set_message("applying");
    let held_memberships = live_keys(store, Resource::Memberships)?;
    let (c_tally, m_tally, catalog_report) = store.write(|tx, seq| {
        let mut ct = Tally::default();
        if let Some(read) = &constituents {
            for (_, c) in &read.rows {
                ct.read += 1;
                let before: Option<ConstituentDto> =
                    match get_doc(tx, Resource::Constituents, &c.lookup_id)? {
                        Some(doc) => Some(serde_json::from_str(&doc)?),
                        None => None,
                    };
                let mut c = c.clone();
                match before {
                    Some(b) => {
                        // The export carries no former names: the hub keeps those it has.
                        if c.historical_names.is_empty() {
                            c.historical_names = b.historical_names.clone();
                        }
                        if b == c {
                            ct.unchanged += 1;
                            continue;
                        }
                        ct.changed += 1;
                    }
                    None => ct.new += 1,
                }
                put(
                    tx,
                    seq,
                    Resource::Constituents,
                    &c.lookup_id,
                    Some(&serde_json::to_string(&c)?),
                )?;
            }
            if !opts.partial {
                let seen: HashSet<&str> = read
                    .rows
                    .iter()
                    .map(|(_, c)| c.lookup_id.as_str())
                    .collect();
                ct.missing = held
                    .iter()
                    .filter(|k| !seen.contains(k.as_str()))
                    .cloned()
                    .collect();
                ct.missing.sort();
            }
        }
        let mut mt = Tally::default();
        if let Some((_, read)) = &memberships {
            for (_, m) in read
                .rows
                .iter()
                .filter(|(_, m)| !refused_memberships.contains(&m.membership_id))
            {
                mt.read += 1;
                match get_membership(tx, &m.membership_id)? {
                    Some(b) if b == *m => {
                        mt.unchanged += 1;
                        continue;
                    }
                    Some(_) => mt.changed += 1,
                    None => mt.new += 1,
                }
                put_membership(tx, seq, m)?;
            }
            if !opts.partial {
                let seen: HashSet<&str> = read
                    .rows
                    .iter()
                    .map(|(_, m)| m.membership_id.as_str())
                    .collect();
                mt.missing = held_memberships
                    .iter()
                    .filter(|k| !seen.contains(k.as_str()))
                    .cloned()
                    .collect();
                mt.missing.sort();
            }
        }
        if opts.delete_missing && !opts.partial {
            for id in &mt.missing {
                tx.execute(
                    "DELETE FROM membership_members WHERE membership_id = ?1",
                    [id],
                )?;
                put(tx, seq, Resource::Memberships, id, None)?;
                mt.deleted += 1;
            }
            for id in &ct.missing {
                put(tx, seq, Resource::Constituents, id, None)?;
                ct.deleted += 1;
            }
        }
        let catalog = crate::import_catalog::apply(tx, seq, &catalog, opts)?;
        Ok((ct, mt, catalog))
    })?;
    bar.finish_and_clear();
    report.applied = true;
    report.constituents = c_tally;
    report.memberships = m_tally;
    report.catalog = catalog_report;
    Ok(report)
}

/// The report as the venue's IT reads it.
pub fn render(r: &ImportReport, opts: &ImportOptions) -> String {
    use std::fmt::Write as _;
    const SHOWN: usize = 50;
    let mut out = String::new();
    for rej in r.rejected.iter().take(SHOWN) {
        let _ = writeln!(out, "rejected {rej}");
    }
    if r.rejected.len() > SHOWN {
        let _ = writeln!(out, "… and {} more rejected", r.rejected.len() - SHOWN);
    }
    if !r.applied {
        return out;
    }
    for (what, t, given) in [
        ("constituents", &r.constituents, opts.constituents.is_some()),
        ("memberships", &r.memberships, opts.memberships.is_some()),
        (
            "categories",
            &r.catalog.categories,
            opts.categories.is_some(),
        ),
        ("tax rules", &r.catalog.tax_rules, opts.tax_rules.is_some()),
        ("products", &r.catalog.products, opts.products.is_some()),
        ("slots", &r.catalog.slots, opts.slots.is_some()),
    ] {
        if !given {
            continue;
        }
        let _ = writeln!(
            out,
            "{what}: {} read, {} new, {} changed, {} unchanged",
            t.read, t.new, t.changed, t.unchanged
        );
        if !t.missing.is_empty() {
            let listed: Vec<&str> = t.missing.iter().take(20).map(String::as_str).collect();
            let more = t.missing.len().saturating_sub(listed.len());
            let _ = writeln!(
                out,
                "{what}: {} held by the hub but not in the export{}: {}{}",
                t.missing.len(),
                match (what, t.deleted > 0) {
                    ("products", true) => ", withdrawn from sale (kept for the tickets sold)",
                    ("products", false) => " (kept; --delete-missing withdraws them from sale)",
                    ("categories" | "tax rules", _) => " (kept: products may still use them)",
                    (_, true) => ", deleted",
                    (_, false) => " (kept; --delete-missing deletes them)",
                },
                listed.join(", "),
                if more > 0 {
                    format!(" … and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
    out
}
