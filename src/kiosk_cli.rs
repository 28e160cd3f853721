//! `portico kiosk …`: what a technician does with a kiosk from its shell — list its orders,
//! print an order's tickets or a member's guest passes again, settle payments a crash left, and make a test sale through
//! the configured card terminal and printer when commissioning it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Subcommand;

use crate::clock::{Clock, SystemClock};
use crate::config::{self, DeviceConfig, KioskConfig};
use crate::gate::station::now_local;
use crate::kiosk::checkout::Session;
use crate::kiosk::pricing::{CartLine, quote};
use crate::kiosk::{order, runtime};
use crate::replica::Store;

#[derive(Subcommand)]
pub enum KioskCommand {
    /// List the orders this kiosk made: number, time, total, tickets, what printed.
    Orders {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Print an order's tickets that did not come out (the paper ran out), and its receipt.
    Reprint {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The order number, as on the screen or the receipt (e.g. K1-00042).
        order_no: String,
        /// Print every ticket again, not only those that did not come out.
        #[arg(long)]
        all: bool,
    },
    /// List today's member check-ins with guest passes, and how many of them printed.
    Passes {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Print a member's guest passes of today's check-in that did not come out (the paper
    /// ran out): what the kiosk tells the member to collect at the desk.
    ReprintPasses {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The membership ID, as on the member's card (e.g. M1000042).
        membership_id: String,
        /// Print every pass of that check-in again, not only those that did not come out.
        #[arg(long)]
        all: bool,
    },
    /// Settle payments a crash or a power cut left unsettled (the device does this when it
    /// starts): asks the card terminal and completes or forgets each. Lists the payments the
    /// terminal would not give back, for staff to refund by hand.
    Settle {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// Record that this payment (its reference, as listed) was refunded by hand.
        #[arg(long, value_name = "REFERENCE")]
        refunded: Option<String>,
    },
    /// Sell one product through the configured card terminal and printer, to check a kiosk
    /// when installing it.
    TestSale {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The product id, e.g. TIMED.
        product: String,
        /// The timed-entry slot, for a timed admission.
        #[arg(long)]
        slot: Option<String>,
        /// How many per visitor category, `adult=2` (or a bare number for a product priced
        /// once). Repeat for several categories.
        #[arg(long = "qty", required = true, value_parser = crate::kiosk::pricing::parse_quantity)]
        quantities: Vec<(Option<String>, u32)>,
    },
    /// Draw the kiosk's welcome screen as it would show now (catalog, venue, language) into a
    /// PNG, without a display: to see what a kiosk shows from afar.
    #[cfg(feature = "ui")]
    Screenshot {
        /// The device's config file.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The PNG to write.
        #[arg(long)]
        out: std::path::PathBuf,
        /// `en` or `es` (default: the kiosk's `language`).
        #[arg(long)]
        lang: Option<String>,
        /// Screen size in pixels, `1080x1920` (portrait, the default) or `1920x1080`.
        #[arg(long, default_value = "1080x1920", value_parser = parse_size)]
        size: (u32, u32),
    },
}

/// `1080x1920` → (1080, 1920).
#[cfg(feature = "ui")]
fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', '×'])
        .ok_or_else(|| format!("{s:?}: expected WIDTHxHEIGHT, like 1080x1920"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (100..=8192).contains(n))
            .ok_or_else(|| format!("{v:?}: a size is 100 to 8192 pixels"))
    };
    Ok((n(w)?, n(h)?))
}

struct Opened {
    cfg: DeviceConfig,
    kiosk: KioskConfig,
    store: Arc<Store>,
}

fn open(path: &Path) -> Result<Opened> {
    let cfg = config::load(path)?;
    let kiosk = cfg
        .kiosk
        .clone()
        .with_context(|| format!("{} has no [kiosk] section", path.display()))?;
    let store = Arc::new(Store::open(&cfg.database_path())?);
    Ok(Opened { cfg, kiosk, store })
}

fn catalog(o: &Opened) -> Result<crate::kiosk::catalog::Catalog> {
    Ok(crate::kiosk::session::load_catalog(
        &o.store,
        &SystemClock,
        o.cfg.timezone,
    )?)
}

pub async fn run(command: KioskCommand) -> Result<()> {
    match command {
        KioskCommand::Orders { config } => {
            let o = open(&config)?;
            let conn = o.store.reader()?;
            let rows: Vec<(String, String, String, i64, String, String, i64)> = conn
                .prepare(
                    "SELECT o.order_id, o.order_no, o.local_time, o.gross, o.currency,
                            o.print_state,
                            (SELECT count(*) FROM issued_tickets t WHERE t.order_id = o.order_id)
                     FROM orders o ORDER BY o.created_at_ms",
                )?
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            if rows.is_empty() {
                println!("no orders on this kiosk");
            }
            for (id, no, at, gross, currency, printed, tickets) in rows {
                let refunded = crate::kiosk::orders::refunded(&conn, &id)?;
                println!(
                    "{no:<10} {at}  {:>10}  {tickets} tickets  {printed}{}",
                    crate::kiosk::money::format(gross, &currency),
                    if refunded { "  REFUNDED" } else { "" }
                );
            }
        }
        KioskCommand::Reprint {
            config,
            order_no,
            all,
        } => {
            let o = open(&config)?;
            let catalog = catalog(&o)?;
            let (printed, pieces) = runtime::print_order(
                &o.store,
                &o.kiosk,
                &catalog,
                &order_no,
                all,
                Utc::now().timestamp_millis(),
            )
            .map_err(anyhow::Error::msg)?;
            println!("order {order_no}: {printed} of {pieces} pieces printed");
            if printed < pieces {
                bail!("the printer stopped (paper, cover): refill it and run this again");
            }
        }
        KioskCommand::Passes { config } => {
            let o = open(&config)?;
            let today = now_local(Utc::now(), o.cfg.timezone).local.date();
            let conn = o.store.reader()?;
            let check_ins = crate::kiosk::check_ins::passes_on(&conn, today)?;
            if check_ins.is_empty() {
                println!("no guest passes today ({today})");
            }
            for c in check_ins {
                let n = c.passes.len();
                println!(
                    "{:<12} check-in {:<6} {n} guest {}, {} printed",
                    c.membership_id,
                    c.scan_id,
                    if n == 1 { "pass" } else { "passes" },
                    c.printed()
                );
            }
        }
        KioskCommand::ReprintPasses {
            config,
            membership_id,
            all,
        } => {
            let o = open(&config)?;
            let printer = runtime::printer(&o.kiosk).context("no [kiosk.printer] is configured")?;
            let to = runtime::PassPrinting {
                printer,
                letterhead: &o.kiosk.letterhead,
                paper: o
                    .kiosk
                    .printer
                    .as_ref()
                    .map(|p| p.paper)
                    .unwrap_or_default(),
                lang: o.kiosk.language,
            };
            let now = Utc::now();
            let today = now_local(now, o.cfg.timezone).local.date();
            let (printed, passes) = runtime::print_passes(
                &o.store,
                &to,
                &membership_id,
                today,
                all,
                now.timestamp_millis(),
            )
            .map_err(anyhow::Error::msg)?;
            if passes == 0 {
                println!(
                    "{membership_id}: every guest pass of today's check-in has printed (--all prints them again)"
                );
            } else {
                println!(
                    "{membership_id}: {printed} of {passes} guest {} printed",
                    if passes == 1 { "pass" } else { "passes" }
                );
            }
            if printed < passes {
                bail!("the printer stopped (paper, cover): refill it and run this again");
            }
        }
        KioskCommand::Settle { config, refunded } => {
            let o = open(&config)?;
            if let Some(reference) = refunded {
                let r = reference.clone();
                let done = o
                    .store
                    .write(move |tx| crate::kiosk::orders::refunded_by_hand(tx, &r))?;
                if !done {
                    bail!("{reference} is not a payment waiting to be refunded by hand");
                }
                println!("{reference}: recorded as refunded by hand");
                return Ok(());
            }
            let signer = runtime::signer(&o.cfg, &o.kiosk, &o.store)
                .await
                .context("this kiosk's signing key was never registered with the hub")?;
            let sales = runtime::sales(
                &o.cfg,
                &o.kiosk,
                o.store.clone(),
                Arc::new(SystemClock),
                signer,
            )?;
            let store = sales.store.clone();
            let r = tokio::task::spawn_blocking(move || sales.recover(false)).await??;
            println!(
                "payments settled: {} completed (orders made), {} voided, {} the terminal would not give back, {} not charged, {} the terminal did not answer for",
                r.completed.len(),
                r.voided,
                r.refund_by_hand,
                r.forgotten,
                r.unanswered
            );
            for order in &r.completed {
                println!(
                    "  order {} ({} tickets)",
                    order.order_no,
                    order.tickets.len()
                );
            }
            let to_refund = crate::kiosk::orders::to_refund_by_hand(&store.reader()?)?;
            if !to_refund.is_empty() {
                println!(
                    "the card terminal would not give these back, and no order was made of them: \
                     refund each by hand, then record it with --refunded REFERENCE"
                );
            }
            for p in &to_refund {
                let when = chrono::DateTime::from_timestamp_millis(p.resolved_at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                println!(
                    "  {}  {}  {when}",
                    p.reference,
                    crate::kiosk::money::format(p.amount, &p.currency)
                );
            }
        }
        KioskCommand::TestSale {
            config,
            product,
            slot,
            quantities,
        } => {
            let o = open(&config)?;
            let catalog = catalog(&o)?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let now = now_local(clock.now(), o.cfg.timezone).local;
            let cart: Vec<CartLine> = quantities
                .iter()
                .map(|(category, n)| CartLine {
                    product: product.clone(),
                    category: category.clone(),
                    slot: slot.clone(),
                    quantity: *n,
                })
                .collect();
            let q = quote(&cart, &catalog, None, clock.now(), now)?;
            let session = Session {
                quote: Some(q),
                ..Session::default()
            };
            let draft = order::draft(&session, &catalog, now.date())?;
            let signer = runtime::signer(&o.cfg, &o.kiosk, &o.store)
                .await
                .context("this kiosk's signing key was never registered with the hub")?;
            let sales = runtime::sales(&o.cfg, &o.kiosk, o.store.clone(), clock.clone(), signer)?;
            println!(
                "test sale: {} for {}",
                product,
                crate::kiosk::money::format(draft.quote.gross, &draft.quote.currency)
            );
            let paid = tokio::task::spawn_blocking(move || sales.pay(&draft, false)).await??;
            let order = match paid {
                Ok(order) => order,
                Err(why) => bail!("not paid: {why:?}"),
            };
            println!(
                "order {}: {} tickets signed",
                order.order_no,
                order.tickets.len()
            );
            match runtime::print_order(
                &o.store,
                &o.kiosk,
                &catalog,
                &order.order_no,
                false,
                clock.now().timestamp_millis(),
            ) {
                Ok((printed, pieces)) => println!("printed {printed} of {pieces} pieces"),
                Err(e) => println!("not printed: {e} (`portico kiosk reprint` prints it later)"),
            }
        }
        #[cfg(feature = "ui")]
        KioskCommand::Screenshot {
            config,
            out,
            lang,
            size,
        } => screenshot(&config, &out, lang.as_deref(), size)?,
    }
    Ok(())
}

/// `portico kiosk screenshot`: the welcome screen as this kiosk would draw it now.
#[cfg(feature = "ui")]
fn screenshot(config: &Path, out: &Path, lang: Option<&str>, (w, h): (u32, u32)) -> Result<()> {
    let started = std::time::Instant::now();
    let o = open(config)?;
    let clock = SystemClock;
    let catalog = crate::kiosk::session::load_catalog(&o.store, &clock, o.cfg.timezone)?;
    let mut flow_cfg = o.kiosk.flow(o.cfg.offer());
    flow_cfg.default_lang = match lang {
        None => flow_cfg.default_lang,
        Some("en") => crate::kiosk::catalog::Lang::En,
        Some("es") => crate::kiosk::catalog::Lang::Es,
        Some(other) => bail!("--lang {other:?}: expected en or es"),
    };
    let flow = crate::kiosk::checkout::Flow::new(flow_cfg, std::time::Instant::now());
    let model = crate::screens::kiosk_view::model(
        &flow,
        &catalog,
        clock.now(),
        now_local(clock.now(), o.cfg.timezone).local,
        &|_: &str| 0,
        std::time::Instant::now(),
    );
    let venue = o.kiosk.letterhead.venue.clone();
    // The screen draws on a thread of its own (Slint's platform is per thread).
    let picture = std::thread::Builder::new()
        .name("kiosk-screenshot".into())
        .spawn(move || -> Result<crate::ui::RgbImage> {
            let mut screen = crate::ui::offscreen::OffscreenKiosk::new(&venue, w, h)?;
            screen.show(&model);
            screen.draw();
            Ok(screen.picture())
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the screen could not be drawn"))??;
    println!(
        "first frame drawn: {w}x{h} in {} ms",
        started.elapsed().as_millis()
    );
    picture.write_png(out)?;
    println!("written to {}", out.display());
    Ok(())
}
