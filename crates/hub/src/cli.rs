//! The hub's command line, shared by the `portico-hub` binary and `portico hub`: make a hub
//! directory, seed it, serve it, register devices, and the CRM's own moves (merges, changes)
//! for demos and tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::{HubDir, HubServer, HubStore, seed};

/// A device id as a device's `device.id` accepts it.
fn device_id(s: &str) -> Result<String, String> {
    if portico_core::domain::valid_device_id(s) {
        Ok(s.to_owned())
    } else {
        Err("use 1-64 letters, digits, '-', '_' or '.', at least one a letter or digit".into())
    }
}

#[derive(Args)]
pub struct HubDirArg {
    /// The hub's directory (database, CA, certificate, key).
    #[arg(long, default_value = "hub")]
    pub dir: PathBuf,
}

#[derive(Subcommand)]
pub enum VolunteersCommand {
    /// Apply an export (JSON: `exported_at`, `since`, `users` with their biographical fields,
    /// `groups` and `registrations`): users matched or created through intake, groups linked
    /// to an organisation as relationships, hours as timesheets the CRM takes.
    Import {
        #[command(flatten)]
        dir: HubDirArg,
        /// The export, as the volunteer system wrote it.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The records imports created, to de-duplicate against the CRM's.
    New {
        #[command(flatten)]
        dir: HubDirArg,
    },
}

#[derive(Subcommand)]
pub enum HubCommand {
    /// Create the hub directory with a private CA and a server certificate.
    Init {
        #[command(flatten)]
        dir: HubDirArg,
        /// DNS names and IPs the certificate is valid for.
        #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        hosts: Vec<String>,
    },
    /// Fill the hub with deterministic synthetic venue data.
    Seed {
        #[command(flatten)]
        dir: HubDirArg,
        /// How many constituents to make.
        #[arg(long, default_value_t = 10_000)]
        constituents: usize,
        /// The random seed: the same seed makes the same venue.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many tickets to make (default: a number in proportion to the constituents).
        #[arg(long)]
        tickets: Option<usize>,
        /// The day validity dates are generated around (default: today).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        /// Days of timed-entry slots the kiosks can sell, from today.
        #[arg(long, default_value_t = 30)]
        catalog_days: u32,
    },
    /// Serve protocol v1 over HTTPS.
    Serve {
        #[command(flatten)]
        dir: HubDirArg,
        /// The address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// Register a device and write its token to a file (mode 0600). The token file is written
    /// first: a failure leaves no device registered.
    AddDevice {
        #[command(flatten)]
        dir: HubDirArg,
        /// The device's id, as in its config's `device.id` (1-64 letters, digits, `-`, `_`,
        /// `.`).
        #[arg(value_parser = device_id)]
        device_id: String,
        /// Where to write the device's token (copy it to the device's `upstream.token_file`).
        #[arg(long)]
        token_out: PathBuf,
        /// Issue a new token to a device already registered (its current token stops
        /// working).
        #[arg(long)]
        replace: bool,
    },
    /// Merge one constituent into another, as the CRM does.
    Merge {
        #[command(flatten)]
        dir: HubDirArg,
        /// The Lookup ID of the record merged away.
        merged_id: String,
        /// The Lookup ID of the record that survives.
        survivor_id: String,
    },
    /// Change N constituents (new phones, names, emails).
    Mutate {
        #[command(flatten)]
        dir: HubDirArg,
        /// How many constituents to change.
        #[arg(long, default_value_t = 100)]
        changes: usize,
        /// The random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print the SPKI pin of the hub's certificate, for a device's `upstream.spki_pin`.
    Pin {
        #[command(flatten)]
        dir: HubDirArg,
    },
    /// Print the review queue: visitor details that matched a constituent only in the middle
    /// range of confidence, held for staff instead of being applied.
    Review {
        #[command(flatten)]
        dir: HubDirArg,
        /// Include items already approved or rejected.
        #[arg(long)]
        all: bool,
        /// Print the items as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Import a venue's CRM exports (CSV): constituents, memberships and the catalog, column
    /// names from a mapping file. Every row is checked first: rejected rows are listed with file, row,
    /// column and reason, and nothing is applied unless --skip-bad-rows. Only records that
    /// differ from the hub's are written, so devices receive just those. Records the hub holds
    /// that a full export lacks are listed (deleted only with --delete-missing).
    #[command(group(clap::ArgGroup::new("files").required(true).multiple(true)))]
    Import {
        #[command(flatten)]
        dir: HubDirArg,
        /// The constituents export.
        #[arg(long, group = "files")]
        constituents: Option<PathBuf>,
        /// Emails in a file of their own, one a row with the constituent's Lookup ID (the
        /// mapping's email columns without their {n}).
        #[arg(long, requires = "constituents")]
        emails: Option<PathBuf>,
        /// Phones in a file of their own, like --emails.
        #[arg(long, requires = "constituents")]
        phones: Option<PathBuf>,
        /// Addresses in a file of their own, like --emails.
        #[arg(long, requires = "constituents")]
        addresses: Option<PathBuf>,
        /// The memberships export.
        #[arg(long, group = "files")]
        memberships: Option<PathBuf>,
        /// The catalog's visitor categories (adult, child…).
        #[arg(long, group = "files")]
        categories: Option<PathBuf>,
        /// The catalog's tax rules.
        #[arg(long, group = "files")]
        tax_rules: Option<PathBuf>,
        /// The catalog's products (with --prices).
        #[arg(long, group = "files", requires = "prices")]
        products: Option<PathBuf>,
        /// The products' prices, per visitor category or one per product (with --products).
        #[arg(long, requires = "products")]
        prices: Option<PathBuf>,
        /// The timed-entry slots, one a row.
        #[arg(long, group = "files")]
        slots: Option<PathBuf>,
        /// The column mapping (TOML); without it, the default for a typical CRM export
        /// (print it with --print-mapping).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Print the default mapping, commented, and do nothing else.
        #[arg(long, group = "files")]
        print_mapping: bool,
        /// Apply the good rows even when some are rejected.
        #[arg(long)]
        skip_bad_rows: bool,
        /// The files hold only the records changed since the last export: none is missing.
        #[arg(long, conflicts_with = "delete_missing")]
        partial: bool,
        /// Delete the records the hub holds that this full export lacks.
        #[arg(long)]
        delete_missing: bool,
    },
    /// Export the hub's constituents, memberships and catalog as CSV, in the columns of a
    /// mapping (the default: a typical CRM export), as `portico hub import` reads them back.
    #[command(group(clap::ArgGroup::new("files").required(true).multiple(true)))]
    Export {
        #[command(flatten)]
        dir: HubDirArg,
        /// Where the constituents go.
        #[arg(long, group = "files")]
        constituents: Option<PathBuf>,
        /// Where the memberships go.
        #[arg(long, group = "files")]
        memberships: Option<PathBuf>,
        /// Where the catalog's visitor categories go.
        #[arg(long, group = "files")]
        categories: Option<PathBuf>,
        /// Where the catalog's tax rules go.
        #[arg(long, group = "files")]
        tax_rules: Option<PathBuf>,
        /// Where the kiosks' products go.
        #[arg(long, group = "files")]
        products: Option<PathBuf>,
        /// Where the products' prices go.
        #[arg(long, group = "files")]
        prices: Option<PathBuf>,
        /// Where the timed-entry slots go.
        #[arg(long, group = "files")]
        slots: Option<PathBuf>,
        /// The column mapping (TOML); the default without it.
        #[arg(long)]
        mapping: Option<PathBuf>,
    },
    /// What intake would decide for a visitor's details against the hub's records: matched,
    /// ambiguous, review or new, with every record sharing their email or phone weighed (in
    /// scored mode also those found by name that could reach review) and, in scored mode, each
    /// field's part in its score. Nothing is written.
    Match {
        #[command(flatten)]
        dir: HubDirArg,
        /// The visitor's first name.
        #[arg(long)]
        first: Option<String>,
        /// The visitor's last name.
        #[arg(long)]
        last: Option<String>,
        /// The visitor's email address.
        #[arg(long)]
        email: Option<String>,
        /// The visitor's phone number.
        #[arg(long)]
        phone: Option<String>,
        /// The visitor's details as a JSON file instead of the flags.
        #[arg(long, conflicts_with_all = ["first", "last", "email", "phone"])]
        file: Option<std::path::PathBuf>,
        /// `strict` (the integration's rule, the default) or `scored` (the CRM's 95/70 bands).
        #[arg(long, default_value = "strict", value_parser = ["strict", "scored"])]
        mode: String,
        /// Print the report as JSON, for tools.
        #[arg(long)]
        json: bool,
    },
    /// Sell tickets as the venue's web shop does, from the same timed-entry capacity as the
    /// kiosks; prints the order number and the tickets' secrets.
    Sell {
        #[command(flatten)]
        dir: HubDirArg,
        /// The product id (`portico hub leases` and the catalog feed list them), e.g. TIMED.
        product: String,
        /// The timed-entry slot, for a timed admission (e.g. `zoo@2026-12-06T10:00`).
        #[arg(long)]
        slot: Option<String>,
        /// The visit day of a dated admission (default: today).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// How many per visitor category, `adult=2`; or a bare number for a product priced
        /// once. Repeat for several categories.
        #[arg(long = "qty", required = true, value_parser = portico_core::kiosk::pricing::parse_quantity)]
        quantities: Vec<(Option<String>, u32)>,
        /// The buyer's Lookup ID, made the tickets' holder.
        #[arg(long)]
        constituent: Option<String>,
        /// Print the sale as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show timed-entry capacity: per slot its capacity, seats sold, seats leased to each
    /// kiosk and not yet sold, and seats left.
    Leases {
        #[command(flatten)]
        dir: HubDirArg,
        /// Only this slot.
        #[arg(long)]
        slot: Option<String>,
        /// Only slots where a kiosk's orders used more seats than it was leased.
        #[arg(long)]
        oversold: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List orders: the kiosks' (as they arrive) and the hub's own sales.
    Orders {
        #[command(flatten)]
        dir: HubDirArg,
        /// Only this kiosk's orders.
        #[arg(long, value_parser = device_id)]
        device: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refund an order (a kiosk's or the hub's own): its tickets are revoked (every gate
    /// refuses them from its next pull) and its entry times' seats go back on sale. The money
    /// goes back on the card terminal or through the payment provider: this prints how much
    /// and the payment's authorisation. An order with a membership is refunded in the CRM.
    Refund {
        #[command(flatten)]
        dir: HubDirArg,
        /// The order number, as on the receipt (e.g. K1-00042, H-00007).
        order_no: String,
        /// The kiosk that sold it (`hub` for the hub's own sale), when two have an order of
        /// that number.
        #[arg(long, value_parser = device_id)]
        device: Option<String>,
        /// Why, in a few words (kept with the refund).
        #[arg(long)]
        reason: String,
        /// Print the refund as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the venue's devices with what each last reported: last contact, firmware,
    /// uploads waiting and refused, time without the hub, an out-of-order kiosk.
    Devices {
        #[command(flatten)]
        dir: HubDirArg,
        /// Mark a device silent when its last report is older than this (devices report every
        /// 5 minutes while they reach the hub).
        #[arg(long, default_value = "30m")]
        silent_after: humantime::Duration,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the volunteers' timesheets the time clocks uploaded (event, CRM job, date, hours),
    /// or only those waiting for staff to approve (a check-out that never came).
    Timesheets {
        #[command(flatten)]
        dir: HubDirArg,
        /// Only the timesheets waiting for approval.
        #[arg(long)]
        to_approve: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The volunteer system's hourly sync: import an export of the users changed since its last
    /// run, or list the records imports created (to de-duplicate in the CRM).
    Volunteers {
        #[command(subcommand)]
        command: VolunteersCommand,
    },
    /// List the kiosks' ticket-signing keys, or revoke one (a stolen kiosk): gates refuse
    /// its tickets from their next pull.
    Keys {
        #[command(flatten)]
        dir: HubDirArg,
        /// Revoke the key with this id.
        #[arg(long)]
        revoke: Option<u16>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a kiosk to give back unsold seats of a slot (it returns what it has not sold at
    /// its next lease check).
    Recall {
        #[command(flatten)]
        dir: HubDirArg,
        /// The kiosk's device id.
        #[arg(long, value_parser = device_id)]
        device: String,
        /// The slot, e.g. `zoo@2026-12-06T10:00`.
        #[arg(long)]
        slot: String,
        /// How many of its unsold seats to give back.
        #[arg(long)]
        seats: u32,
    },
}

/// Carries out one hub command.
pub async fn run(command: HubCommand) -> Result<()> {
    match command {
        HubCommand::Init { dir, hosts } => {
            let hub = HubDir::new(dir.dir);
            hub.init(&hosts)?;
            HubStore::open(&hub.database())?;
            println!("hub directory ready: {}", hub.root.display());
            println!("devices trust this CA: {}", hub.ca_cert().display());
        }
        HubCommand::Seed {
            dir,
            constituents,
            seed: s,
            tickets,
            today,
            catalog_days,
        } => {
            let hub = HubDir::new(dir.dir);
            std::fs::create_dir_all(&hub.root)?;
            let store = HubStore::open(&hub.database())?;
            let mut spec = seed::SeedSpec::new(
                constituents,
                s,
                today.unwrap_or_else(|| chrono::Utc::now().date_naive()),
            );
            spec.tickets = tickets;
            spec.catalog_days = catalog_days;
            let report = tokio::task::spawn_blocking(move || seed::seed(&store, &spec)).await??;
            println!("{}", serde_json::to_string(&report)?);
        }
        HubCommand::Serve { dir, listen } => {
            let hub = HubDir::new(dir.dir);
            let store = Arc::new(HubStore::open(&hub.database())?);
            let tls = portico_tls::server_config(&hub.server_cert(), &hub.server_key())?;
            let server = HubServer::start(listen, store, tls).await?;
            println!("hub listening on https://{}", server.addr);
            shutdown().await;
            server.shutdown().await;
        }
        HubCommand::AddDevice {
            dir,
            device_id,
            token_out,
            replace,
        } => {
            let hub = HubDir::new(dir.dir);
            let store = HubStore::open(&hub.database())
                .with_context(|| format!("hub database in {}", hub.root.display()))?;
            crate::add_device(&store, &device_id, &token_out, replace)?;
            println!(
                "device {device_id} registered; token written to {}",
                token_out.display()
            );
        }
        HubCommand::Merge {
            dir,
            merged_id,
            survivor_id,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            store.merge(&merged_id, &survivor_id, chrono::Utc::now())?;
            println!("merged {merged_id} into {survivor_id}");
        }
        HubCommand::Mutate {
            dir,
            changes,
            seed: s,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let population = store.count(portico_core::protocol::Resource::Constituents)? as usize;
            let changed = seed::mutate(&store, changes, population, s)?;
            println!("changed {} constituents", changed.len());
        }
        HubCommand::Pin { dir } => {
            let hub = HubDir::new(dir.dir);
            let certs = portico_tls::load_certs(&hub.server_cert())?;
            let pin = portico_tls::spki_pin_of(&certs[0]).map_err(anyhow::Error::msg)?;
            println!("{}", portico_tls::format_pin(&pin));
        }
        HubCommand::Import {
            dir,
            constituents,
            emails,
            phones,
            addresses,
            memberships,
            categories,
            tax_rules,
            products,
            prices,
            slots,
            mapping,
            print_mapping,
            skip_bad_rows,
            partial,
            delete_missing,
        } => {
            if print_mapping {
                print!("{}", portico_core::import::DEFAULT_MAPPING);
                return Ok(());
            }
            let columns = crate::import::mapping(mapping.as_deref())?;
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let opts = crate::import::ImportOptions {
                constituents,
                emails,
                phones,
                addresses,
                memberships,
                categories,
                tax_rules,
                products,
                prices,
                slots,
                skip_bad_rows,
                partial,
                delete_missing,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = crate::import::import(&store, &columns, &opts)?;
            print!("{}", crate::import::render(&report, &opts));
            if !report.applied {
                anyhow::bail!(
                    "{} row problem(s): nothing imported (fix them, or apply the good rows with \
                     --skip-bad-rows)",
                    report.rejected.len()
                );
            }
        }
        HubCommand::Export {
            dir,
            constituents,
            memberships,
            categories,
            tax_rules,
            products,
            prices,
            slots,
            mapping,
        } => {
            let columns = crate::import::mapping(mapping.as_deref())?;
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let create = |p: &PathBuf| {
                std::fs::File::create(p)
                    .map(std::io::BufWriter::new)
                    .with_context(|| format!("creating {}", p.display()))
            };
            if let Some(p) = &constituents {
                let n = crate::export::constituents(&store, &columns, create(p)?)?;
                println!("{n} constituents written to {}", p.display());
            }
            if let Some(p) = &memberships {
                let n = crate::export::memberships(&store, &columns, create(p)?)?;
                println!("{n} memberships written to {}", p.display());
            }
            type Writer = fn(
                &HubStore,
                &portico_core::import::Mapping,
                std::io::BufWriter<std::fs::File>,
            ) -> Result<u64, crate::export::ExportError>;
            let catalog: [(&Option<PathBuf>, Writer, &str); 5] = [
                (
                    &categories,
                    crate::export_catalog::categories,
                    "visitor categories",
                ),
                (&tax_rules, crate::export_catalog::tax_rules, "tax rules"),
                (&products, crate::export_catalog::products, "products"),
                (&prices, crate::export_catalog::prices, "prices"),
                (&slots, crate::export_catalog::slots, "slots"),
            ];
            for (path, write, what) in catalog {
                if let Some(p) = path {
                    let n = write(&store, &columns, create(p)?)?;
                    println!("{n} {what} written to {}", p.display());
                }
            }
        }
        HubCommand::Match {
            dir,
            first,
            last,
            email,
            phone,
            file,
            mode,
            json,
        } => {
            use portico_core::matching::{MatchConfig, MatchMode, VisitorDetails};
            let visitor = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<VisitorDetails>(&text)
                        .with_context(|| format!("{}: not a visitor's details", path.display()))?
                }
                None => VisitorDetails::from_parts(first, last, email, phone, None),
            };
            let config = portico_core::intake::IntakeConfig {
                matching: MatchConfig {
                    mode: match mode.as_str() {
                        "scored" => MatchMode::Scored(Default::default()),
                        _ => MatchMode::Strict,
                    },
                    ..MatchConfig::default()
                },
                ..Default::default()
            };
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let report = crate::intake::explain(&store, &visitor, &config, chrono::Utc::now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", portico_core::matching::report::render(&report));
            }
        }
        HubCommand::Review { dir, all, json } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let items = store.review_queue(!all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!("review queue is empty");
            } else {
                for item in &items {
                    let name = item
                        .visitor
                        .get("name")
                        .map(|n| {
                            let part = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("");
                            format!("{} {}", part("first"), part("last"))
                        })
                        .unwrap_or_default();
                    println!(
                        "#{} [{}] {} -> {} score {} ({}) from {} at {}",
                        item.id,
                        item.status,
                        name.trim(),
                        item.lookup_id,
                        item.score,
                        item.reason,
                        item.device_id,
                        item.created_at.to_rfc3339()
                    );
                    for line in &item.explanation {
                        println!("    {line}");
                    }
                }
            }
        }
        HubCommand::Sell {
            dir,
            product,
            slot,
            date,
            quantities,
            constituent,
            json,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let now_local = chrono::Local::now().naive_local();
            let req = crate::orders::SaleRequest {
                product,
                slot,
                day: date.unwrap_or(now_local.date()),
                quantities,
                constituent,
            };
            let sale = store.write(|tx, seq| {
                crate::orders::sell(
                    tx,
                    seq,
                    &req,
                    chrono::Utc::now(),
                    now_local,
                    &mut rand::rng(),
                )
            })?;
            let sale = sale.map_err(|e| anyhow::anyhow!("not sold: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sale)?);
            } else {
                println!(
                    "order {}: {} ({} seats)",
                    sale.order_no,
                    portico_core::kiosk::money::format(sale.gross, &sale.currency),
                    sale.seats
                );
                for t in &sale.tickets {
                    println!("  ticket {t}");
                }
            }
        }
        HubCommand::Leases {
            dir,
            slot,
            oversold,
            json,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let mut slots = store.read(|c| crate::leases::report(c, slot.as_deref()))?;
            if oversold {
                slots.retain(|s| s.oversold);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&slots)?);
            } else if slots.is_empty() {
                println!("no slot has sales or leases yet");
            } else {
                println!(
                    "{:<24} {:>8} {:>6} {:>7} {:>6}",
                    "slot", "capacity", "sold", "leased", "left"
                );
                for s in &slots {
                    println!(
                        "{:<24} {:>8} {:>6} {:>7} {:>6}{}",
                        s.slot_id,
                        s.capacity,
                        s.sold,
                        s.leased_unsold,
                        s.available,
                        if s.oversold { "  OVERSOLD" } else { "" }
                    );
                    for (device, seats, used, recall) in &s.leases {
                        let recall = if *recall > 0 {
                            format!(", {recall} recalled")
                        } else {
                            String::new()
                        };
                        println!("    {device}: {seats} leased, {used} sold{recall}");
                    }
                }
            }
        }
        HubCommand::Orders { dir, device, json } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let orders = store.read(|c| crate::orders::list(c, device.as_deref()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orders)?);
            } else if orders.is_empty() {
                println!("no orders yet");
            } else {
                for o in &orders {
                    println!(
                        "{:<10} {:<5} {:<16} {:<26} {:<12} {:>10} {:>2} tickets{}{}",
                        o.order_no,
                        o.source,
                        o.device_id.as_deref().unwrap_or("-"),
                        o.created_at,
                        o.constituent.as_deref().unwrap_or("-"),
                        portico_core::kiosk::money::format(o.gross, &o.currency),
                        o.tickets,
                        if o.offline { "  (sold offline)" } else { "" },
                        match &o.refunded_at {
                            Some(at) => format!("  REFUNDED {at}"),
                            None => String::new(),
                        }
                    );
                }
            }
        }
        HubCommand::Refund {
            dir,
            order_no,
            device,
            reason,
            json,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let refund = store.write(|tx, seq| {
                crate::refunds::refund(
                    tx,
                    seq,
                    &order_no,
                    device.as_deref(),
                    &reason,
                    chrono::Utc::now(),
                )
            })?;
            let r = refund.map_err(|e| anyhow::anyhow!("not refunded: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", crate::refunds::render(&r));
            }
        }
        HubCommand::Devices {
            dir,
            silent_after,
            json,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let fleet = store.read(crate::fleet::devices)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&fleet)?);
            } else {
                let silent = chrono::TimeDelta::from_std(*silent_after)
                    .unwrap_or(chrono::TimeDelta::minutes(30));
                print!(
                    "{}",
                    crate::fleet::render(&fleet, chrono::Utc::now(), silent)
                );
            }
        }
        HubCommand::Timesheets {
            dir,
            to_approve,
            json,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let rows = store.read(|c| crate::volunteers::timesheets(c, to_approve))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!(
                    "{}",
                    if to_approve {
                        "no timesheets waiting for approval"
                    } else {
                        "no timesheets yet"
                    }
                );
            } else {
                for t in &rows {
                    println!(
                        "{} {:<12} {:<30} {:<18} {:>5.2} h  {:<16}{}",
                        t.date,
                        t.constituent,
                        t.event_name,
                        t.job,
                        t.hours,
                        t.device_id,
                        match t.needs_approval.as_deref() {
                            Some("missed_check_out") => {
                                "  to approve: nobody checked out, closed at the shift's end"
                            }
                            Some(_) => "  to approve",
                            None => "",
                        }
                    );
                }
            }
        }
        HubCommand::Volunteers {
            command: VolunteersCommand::Import { dir, file, json },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let export: crate::volunteers::VolunteerExport = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a volunteer export: {e}", file.display()))?;
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let now = chrono::Utc::now();
            let r = store.write(|tx, seq| crate::volunteers::import(tx, seq, &export, now))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} users: {} matched to existing records, {} new, {} refused; {} relationships \
                     added; {} timesheets taken, {} refused",
                    r.users,
                    r.matched,
                    r.created.len(),
                    r.refused_users.len(),
                    r.relationships,
                    r.hours_accepted,
                    r.hours_refused.len()
                );
                for n in &r.created {
                    println!(
                        "  new, to de-duplicate: {} {} ({})",
                        n.lookup_id, n.name, n.user_id
                    );
                }
                for (user, reason) in &r.refused_users {
                    println!("  user {user} not imported: {reason}");
                }
                for (user, event, reason) in &r.hours_refused {
                    println!("  hours of {user} at {event:?} not taken: {reason}");
                }
            }
        }
        HubCommand::Volunteers {
            command: VolunteersCommand::New { dir },
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let new = store.read(crate::volunteers::new_volunteers)?;
            if new.is_empty() {
                println!("no records created by volunteer imports");
            }
            for (user, lookup, at) in new {
                println!("{lookup}  volunteer {user}  first imported {at}");
            }
        }
        HubCommand::Keys { dir, revoke, json } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            if let Some(id) = revoke {
                let k = store.write(|tx, seq| crate::keys::revoke(tx, seq, id))?;
                println!(
                    "key {id} of {} revoked; gates refuse its tickets from their next pull",
                    k.device_id
                );
            } else {
                let keys = store.read(crate::keys::list)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&keys)?);
                } else if keys.is_empty() {
                    println!("no kiosk has registered a signing key");
                } else {
                    for k in &keys {
                        println!(
                            "{:>5}  {:<24} registered {}{}",
                            k.key_id,
                            k.device_id,
                            k.registered_at,
                            k.revoked_at
                                .as_deref()
                                .map(|at| format!(", REVOKED {at}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
        }
        HubCommand::Recall {
            dir,
            device,
            slot,
            seats,
        } => {
            let store = HubStore::open(&HubDir::new(dir.dir).database())?;
            let lease = store.write(|tx, _| crate::leases::recall(tx, &device, &slot, seats))?;
            println!(
                "{device} is asked to give back {seats} of its {} unsold seats of {slot}",
                lease.seats.saturating_sub(lease.used)
            );
        }
    }
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    tracing::info!("shutting down");
}
