//! The `portico` command: device daemon, reference hub, technician tools, demo, benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use portico::config;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "portico",
    version,
    about = "Firmware for the gates and kiosks of a membership venue"
)]
struct Cli {
    /// Where the log goes: `auto` is the systemd journal (with structured fields) when the
    /// process runs under systemd, otherwise text on stderr, coloured only on a terminal and
    /// never with NO_COLOR set.
    #[arg(long, global = true, default_value = "auto", value_parser = portico::logging::LogFormat::NAMES)]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum PinCommand {
    /// Set the PIN: typed twice (not shown on a terminal; one line each on a pipe), kept as an
    /// Argon2id hash in the PIN file, readable by its owner only.
    Set {
        /// The PIN file (e.g. /etc/portico/technician.pin, or the device config's
        /// `kiosk.technician_pin_file`).
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the device daemon.
    Run {
        /// The device's config file (e.g. /etc/portico/device.toml).
        #[arg(long)]
        config: PathBuf,
        /// Never open the gate or kiosk window, even when a display is available.
        #[arg(long)]
        headless: bool,
    },
    /// Pull every feed once (a first sync shows progress on a terminal) and exit.
    Sync {
        /// The device's config file.
        #[arg(long)]
        config: PathBuf,
        /// Print a JSON summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running device for its status.
    Status {
        /// The device's config file (it names the status socket).
        #[arg(long)]
        config: PathBuf,
        /// Print the raw JSON report.
        #[arg(long)]
        json: bool,
        /// Ask the device to start a sync now.
        #[arg(long)]
        sync_now: bool,
    },
    /// Live view of every configured scanner and reader: device state, each frame as text and
    /// hex with timing, and the credential it parsed to (or why not). Ctrl-C ends it.
    ScanTest {
        /// The device's config file (its [[inputs]] are opened).
        #[arg(long)]
        config: PathBuf,
    },
    /// Find constituents in the device's replica, as staff search: by Lookup ID (merged-away
    /// ids lead to the survivor), or by first and/or last name prefix (case and accents
    /// ignored), a page at a time.
    #[command(group(clap::ArgGroup::new("criteria").required(true).multiple(true)))]
    Search {
        /// The device's config file (it names the replica).
        #[arg(long)]
        config: PathBuf,
        /// A Lookup ID; a merged-away id finds the record it was merged into.
        #[arg(long, group = "criteria", value_parser = non_empty)]
        lookup_id: Option<String>,
        /// The start of the first name.
        #[arg(long, group = "criteria", value_parser = non_empty)]
        first: Option<String>,
        /// The start of the last name.
        #[arg(long, group = "criteria", value_parser = non_empty)]
        last: Option<String>,
        /// Hits per page (1 to 200).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=200))]
        page_size: u16,
        /// Where the page starts: the cursor printed at the end of the previous page.
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// Print the page as JSON (with the cursor of the next page).
        #[arg(long)]
        json: bool,
    },
    /// What the kiosk would decide for a visitor's details, against this device's replica and
    /// in its configured matching mode: matched, ambiguous, review or new, with every record
    /// weighed and (scored mode) each field's part in its score. Nothing is written.
    Match {
        /// The device's config file (it names the replica and the matching mode).
        #[arg(long)]
        config: PathBuf,
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
        /// The visitor's postcode (scored mode weighs it).
        #[arg(long)]
        postcode: Option<String>,
        /// The visitor's details as a JSON file (`{"name": {"first": …, "last": …}, "email":
        /// …, "phone": …}`) instead of the flags.
        #[arg(long, conflicts_with_all = ["first", "last", "email", "phone", "postcode"])]
        file: Option<PathBuf>,
        /// Weigh in this mode instead of the configured one: `strict` or `scored` (the CRM's
        /// 95/70 bands).
        #[arg(long, value_parser = ["strict", "scored"])]
        mode: Option<String>,
        /// Print the report as JSON, for tools.
        #[arg(long)]
        json: bool,
    },
    /// The outbox: what waits to go to the hub, and dead letters a technician can re-queue.
    /// Asks the running device through its socket, or works on the database when none runs.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Device configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The technician screen's PIN.
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// The kiosk's orders: list them, print again, settle payments, a test sale.
    Kiosk {
        #[command(subcommand)]
        command: portico::kiosk_cli::KioskCommand,
    },
    /// The reference upstream hub (also its own binary, `portico-hub`).
    #[cfg(feature = "hub")]
    Hub {
        #[command(subcommand)]
        command: portico::hub::cli::HubCommand,
    },
    /// A seeded hub and a device on embedded defaults; no hardware needed.
    #[cfg(feature = "hub")]
    Demo {
        /// Working directory (hub files, device database).
        #[arg(long, default_value = "portico-demo")]
        dir: PathBuf,
        /// How many constituents the demo hub is seeded with.
        #[arg(long, default_value_t = 2000)]
        constituents: usize,
        /// The random seed of the demo venue.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Keep hub and device running after the walkthrough, until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Never open the gate or kiosk window, even when a display is available.
        #[arg(long)]
        headless: bool,
        /// Go on from the previous run's hub and device databases instead of starting over.
        #[arg(long)]
        resume: bool,
    },
    /// Run a benchmark and print one JSON object.
    #[cfg(feature = "hub")]
    Bench(BenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file: every problem with file:line:column and key, and warnings for
    /// sections the device's roles do not use. Exit code 2 when `portico run` would refuse it.
    #[command(group(clap::ArgGroup::new("file_or_config").required(true)))]
    Check {
        /// The config file to check.
        #[arg(group = "file_or_config")]
        file: Option<PathBuf>,
        /// The config file to check (the same as the positional argument).
        #[arg(long, group = "file_or_config")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List outbox rows, oldest first (their payloads, which hold visitors' details, are
    /// never shown).
    List {
        /// The device's config file.
        #[arg(long)]
        config: PathBuf,
        /// Which rows: undelivered (pending and dead), pending, dead, delivered or all.
        #[arg(long, default_value = "undelivered", value_parser = portico::outbox::Listing::NAMES)]
        state: String,
        /// At most this many rows.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead-lettered rows back in the queue (after fixing what made the hub refuse
    /// them). Each row re-queued is logged.
    #[command(group(clap::ArgGroup::new("which").required(true)))]
    Requeue {
        /// The device's config file.
        #[arg(long)]
        config: PathBuf,
        /// Ids of dead-lettered rows (from `portico outbox list --state dead`).
        #[arg(group = "which")]
        ids: Vec<i64>,
        /// Every dead-lettered row.
        #[arg(long, group = "which")]
        all_dead: bool,
    },
}

#[cfg(feature = "hub")]
#[derive(clap::Args)]
struct BenchArgs {
    /// Benchmark name: sync, scan, input, match, crash, kiosk, import, match-quality.
    name: String,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Constituents in the replica, or exported and imported (default 1,000,000; 2,000 for
    /// crash).
    #[arg(long)]
    constituents: Option<usize>,
    /// Changes in the delta sync.
    #[arg(long, default_value_t = 10_000)]
    changes: usize,
    /// Working directory (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Tickets in the replica (bench scan).
    #[arg(long, default_value_t = 5_000_000)]
    tickets: usize,
    /// Scans timed (bench scan).
    #[arg(long, default_value_t = 5_000)]
    scans: usize,
    /// Frames pushed through the input pipeline (bench input).
    #[arg(long, default_value_t = 1_000_000)]
    frames: usize,
    /// Visitor and search queries timed (bench match).
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    /// Measure this existing device database instead of building one (bench match, bench scan).
    #[arg(long)]
    replica: Option<PathBuf>,
    /// Times the device is killed (bench crash).
    #[arg(long, default_value_t = 100)]
    kills: u32,
    /// Orders committed (bench kiosk).
    #[arg(long, default_value_t = 1_000)]
    orders: usize,
    /// Only the first N linked pairs of FEBRL 4 (bench match-quality; 0: all 5,000).
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// The random seed: the same seed makes the same venue and the same kill moments (bench
    /// crash).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A search criterion: blank text is no criterion.
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

fn init_logging(format: &str) {
    portico::logging::init(
        portico::logging::LogFormat::parse(format).unwrap_or(portico::logging::LogFormat::Auto),
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Slint owns the main thread: the command runs on tokio's threads while this one opens
    // any window the command asks for.
    #[cfg(feature = "ui")]
    let outcome = {
        let requests = portico::ui::host::install();
        let task = runtime.spawn(async move {
            let outcome = dispatch(cli.command).await;
            // A window the command opened must not outlive it (Ctrl-C in the demo).
            portico::ui::host::close_windows();
            outcome
        });
        if let Some(requests) = requests {
            portico::ui::host::serve(&requests, || task.is_finished());
        }
        runtime
            .block_on(task)
            .unwrap_or_else(|e| Err(anyhow::anyhow!("command stopped: {e}")))
    };
    #[cfg(not(feature = "ui"))]
    let outcome = runtime.block_on(dispatch(cli.command));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", portico::error_text::chain(e.chain()));
            ExitCode::FAILURE
        }
    }
}

/// Shows the device's screen (kiosk or gate) when there is a display; closing it stops the
/// device. Without a display (or a window backend in this build) it runs headless.
#[cfg(feature = "ui")]
fn open_window(device: &portico::device::Device, stop: Arc<watch::Sender<bool>>) {
    match portico::ui::host::attach_window(device) {
        Ok(closed) => {
            tracing::info!("screen opened");
            tokio::spawn(async move {
                if let Ok(Err(e)) = closed.await {
                    tracing::error!(error = %e, "screen failed");
                }
                tracing::info!("screen closed; stopping");
                let _ = stop.send(true);
            });
        }
        Err(e) => tracing::info!(reason = %e, "running headless"),
    }
}

#[cfg(not(feature = "ui"))]
fn open_window(_: &portico::device::Device, _: Arc<watch::Sender<bool>>) {
    tracing::info!("running headless (this build has no screens)");
}

async fn shutdown_signal() -> (Arc<watch::Sender<bool>>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    let signal_tx = tx.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
        let _ = signal_tx.send(true);
    });
    (tx, rx)
}

async fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run { config, headless } => {
            let cfg = config::load(&config)?;
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            let device = portico::device::Device::open_system(cfg)?;
            let (stop_tx, stop) = shutdown_signal().await;
            if !headless {
                open_window(&device, stop_tx);
            }
            // The replica is open: systemd hears READY=1 once the screen (if any) has drawn,
            // then watchdog pings while the station and the screen keep beating.
            tokio::spawn(portico::liveness::watch(stop.clone()));
            device.run(stop).await?;
        }
        Command::Sync { config, json } => {
            let cfg = config::load(&config)?;
            let device = portico::device::Device::open_system(cfg)?;
            let t = std::time::Instant::now();
            let report = device
                .engine
                .pull_all(portico::device::progress_observer())
                .await?;
            device.engine.maybe_purge().await?;
            let secs = t.elapsed().as_secs_f64();
            // The changes are committed (durable, visible to the gate). Copying the WAL back
            // into the database file is the checkpointer's background work; timed apart.
            let t = std::time::Instant::now();
            {
                let db = device.engine.database();
                let conn = db.lock().unwrap_or_else(|p| p.into_inner());
                portico::replica::checkpoint(&conn, "TRUNCATE")?;
            }
            let checkpoint_secs = t.elapsed().as_secs_f64();
            let changes = report.upserts + report.deletes;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "pages": report.pages,
                        "changes": changes,
                        "seconds": secs,
                        "checkpoint_seconds": checkpoint_secs,
                        "peak_rss_kib": peak_rss_kib(),
                    })
                );
            } else {
                eprintln!(
                    "synced {changes} changes in {} pages in {secs:.2}s",
                    report.pages
                );
            }
        }
        Command::Pin {
            command: PinCommand::Set { file },
        } => {
            let first = read_secret("New technician PIN: ")?;
            let again = read_secret("The PIN again: ")?;
            if first != again {
                anyhow::bail!("the two PINs differ; nothing was written");
            }
            portico::technician::set(&file, &first)?;
            println!(
                "technician PIN set: {} (an Argon2id hash, mode 0600)",
                file.display()
            );
        }
        Command::Status {
            config,
            json,
            sync_now,
        } => {
            let cfg = tools_config(&config)?;
            let socket = &cfg.status_socket;
            let no_device = || {
                format!(
                    "no device answers on {} (is `portico run` running?)",
                    socket.display()
                )
            };
            if sync_now {
                portico::status::ask(socket, &portico::status::Request::Sync)
                    .await
                    .with_context(no_device)?;
            }
            let reply = portico::status::ask(socket, &portico::status::Request::Status)
                .await
                .with_context(no_device)?;
            if json {
                println!("{reply}");
            } else {
                let report: portico::status::StatusReport = serde_json::from_str(&reply)
                    .with_context(|| format!("device replied {reply}"))?;
                print!("{}", portico::status::render(&report));
            }
        }
        Command::Match {
            config,
            first,
            last,
            email,
            phone,
            postcode,
            file,
            mode,
            json,
        } => {
            let visitor = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<portico::matching::VisitorDetails>(&text)
                        .with_context(|| format!("{}: not a visitor's details", path.display()))?
                }
                None => portico::matching::VisitorDetails::from_parts(
                    first, last, email, phone, postcode,
                ),
            };
            let cfg = tools_config(&config)?;
            let conn = open_existing_database(&cfg)?;
            let mut matching = cfg.matching;
            match mode.as_deref() {
                Some("strict") => matching.mode = portico::matching::MatchMode::Strict,
                Some("scored")
                    if !matches!(matching.mode, portico::matching::MatchMode::Scored(_)) =>
                {
                    matching.mode = portico::matching::MatchMode::Scored(Default::default())
                }
                _ => {}
            }
            let intake = portico::intake::IntakeConfig {
                matching,
                ..Default::default()
            };
            let report = portico::intake::explain(
                &conn,
                &cfg.normalizer,
                &intake,
                &visitor,
                chrono::Utc::now(),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", portico::matching::report::render(&report));
            }
        }
        Command::Search {
            config,
            lookup_id,
            first,
            last,
            page_size,
            after,
            json,
        } => {
            let after = match after
                .as_deref()
                .map(portico::replica::search::SearchCursor::decode)
            {
                None => None,
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    eprintln!("error: --after: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let cfg = tools_config(&config)?;
            let conn = open_existing_database(&cfg)?;
            let query = portico::replica::search::SearchQuery {
                lookup_id,
                first,
                last,
            };
            let page = portico::replica::search::search(
                &conn,
                &cfg.normalizer,
                &query,
                page_size.into(),
                after.as_ref(),
            )?;
            if json {
                let out = serde_json::json!({
                    "hits": page.hits,
                    "next": page.next.as_ref().map(|c| c.encode()),
                });
                println!("{out}");
            } else if page.hits.is_empty() {
                println!("no constituent found");
            } else {
                for hit in &page.hits {
                    let merged = hit
                        .merged_from
                        .as_deref()
                        .map(|m| format!("  (merged from {m})"))
                        .unwrap_or_default();
                    println!(
                        "{:<12} {}, {}  {}{merged}",
                        hit.lookup_id,
                        hit.name.last,
                        hit.name.first,
                        hit.city.as_deref().unwrap_or("")
                    );
                }
                if let Some(next) = &page.next {
                    println!("… more: add --after {} for the next page", next.encode());
                }
            }
        }
        Command::ScanTest { config } => {
            let cfg = tools_config(&config)?;
            if cfg.inputs.inputs.is_empty() {
                bail!("{} configures no [[inputs]]", config.display());
            }
            let stop = portico::input::StopSignal::new();
            let on_signal = stop.clone();
            let (_, mut signal) = shutdown_signal().await;
            tokio::spawn(async move {
                let _ = signal.changed().await;
                on_signal.stop();
            });
            let inputs = cfg.inputs.clone();
            tokio::task::spawn_blocking(move || {
                portico::input::run_scan_test(&inputs, std::io::stdout().lock(), &stop)
            })
            .await??;
        }
        Command::Outbox { command } => return outbox(command).await,
        Command::Config {
            command: ConfigCommand::Check { file, config },
        } => match config::load(&file.or(config).unwrap_or_default()) {
            Ok(cfg) => {
                for w in &cfg.warnings {
                    eprintln!("{w}");
                }
                let file = &cfg.source;
                println!(
                    "{}: ok{}",
                    file.display(),
                    match cfg.warnings.len() {
                        0 => String::new(),
                        n => format!(" ({n} warning(s))"),
                    }
                );
                println!(
                    "  device   {} ({})",
                    cfg.device_id,
                    cfg.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                println!(
                    "  hub      {}{}",
                    portico::sync::client::redacted(&cfg.upstream.url),
                    if cfg.upstream.spki_pin.is_some() {
                        " (pinned)"
                    } else {
                        ""
                    }
                );
                println!("  data     {}", cfg.data_dir.display());
                println!(
                    "  sync     pull every {}, purge every {}",
                    humantime::format_duration(cfg.sync.pull_interval),
                    humantime::format_duration(cfg.sync.purge_interval)
                );
            }
            Err(config::ConfigError::Invalid(diags)) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                eprintln!("{} problem(s)", diags.len());
                return Ok(ExitCode::from(2));
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        },
        #[cfg(feature = "hub")]
        Command::Hub { command } => portico::hub::cli::run(command).await?,
        #[cfg(feature = "hub")]
        Command::Demo {
            dir,
            constituents,
            seed,
            serve,
            headless,
            resume,
        } => {
            portico::demo::run(portico::demo::DemoOptions {
                dir,
                constituents,
                seed,
                serve,
                window: !headless,
                resume,
            })
            .await?;
        }
        Command::Kiosk { command } => portico::kiosk_cli::run(command).await?,
        #[cfg(feature = "hub")]
        Command::Bench(args) => {
            let result = match args.name.as_str() {
                "sync" => {
                    portico::bench::sync::run(portico::bench::sync::SyncBenchOptions {
                        constituents: args.constituents.unwrap_or(1_000_000),
                        changes: args.changes,
                        dir: args.dir,
                    })
                    .await?
                }
                "scan" => {
                    let opts = portico::bench::scan::ScanBenchOptions {
                        constituents: args.constituents.unwrap_or(1_000_000),
                        tickets: args.tickets,
                        scans: args.scans,
                        dir: args.dir,
                        replica: args.replica,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::scan::run(opts)).await??
                }
                "input" => {
                    tokio::task::spawn_blocking(move || portico::bench::input::run(args.frames))
                        .await?
                }
                "match" => {
                    let opts = portico::bench::matching::MatchBenchOptions {
                        constituents: args.constituents.unwrap_or(1_000_000),
                        queries: args.queries,
                        replica: args.replica,
                        dir: args.dir,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::matching::run(opts))
                        .await??
                }
                "crash" => {
                    let opts = portico::bench::crash::CrashBenchOptions {
                        kills: args.kills,
                        constituents: args.constituents.unwrap_or(2_000),
                        seed: args.seed,
                        dir: args.dir,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::crash::run(opts)).await??
                }
                "kiosk" => {
                    let opts = portico::bench::kiosk::KioskBenchOptions {
                        dir: args.dir,
                        products: 500,
                        days: 90,
                        orders: args.orders,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::kiosk::run(opts)).await??
                }
                "import" => {
                    let opts = portico::bench::import::ImportBenchOptions {
                        constituents: args.constituents.unwrap_or(1_000_000),
                        dir: args.dir,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::import::run(opts)).await??
                }
                "match-quality" => {
                    let opts = portico::bench::match_quality::MatchQualityOptions {
                        sample: args.sample,
                        dir: args.dir,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::match_quality::run(opts))
                        .await??
                }
                other => {
                    bail!(
                        "unknown benchmark {other:?}; available: sync, scan, input, match, crash, kiosk, import, match-quality"
                    )
                }
            };
            if args.json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&result)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The config as the technician's tools read it: what this machine's state says against it
/// (a missing file, a mode, unplugged hardware) is printed as a warning, not refused, so the
/// tools still reach the device and its database.
fn tools_config(path: &std::path::Path) -> Result<config::DeviceConfig> {
    let cfg = config::load_for_tools(path)?;
    for w in &cfg.warnings {
        eprintln!("{w}");
    }
    Ok(cfg)
}

/// Opens the device's database for a technician's command; a device that never ran has none
/// (and none is made here).
fn open_existing_database(cfg: &config::DeviceConfig) -> Result<rusqlite::Connection> {
    let path = cfg.database_path();
    if !path.exists() {
        bail!(
            "no database at {} (has `portico run` or `portico sync` ever run with this config?)",
            path.display()
        );
    }
    portico::replica::open(&path).with_context(|| format!("database {}", path.display()))
}

/// `portico outbox …`: through the running device's socket, or on the database when no device
/// answers there.
async fn outbox(command: OutboxCommand) -> Result<ExitCode> {
    use portico::outbox::{ListedRow, Listing, Requeue, Requeued};
    use portico::status::Request;
    let (config, request, json) = match command {
        OutboxCommand::List {
            config,
            state,
            limit,
            json,
        } => {
            let listing = Listing::parse(&state).context("unknown --state")?;
            let request = Request::OutboxList {
                listing,
                limit: limit as usize,
            };
            (config, request, json)
        }
        OutboxCommand::Requeue {
            config,
            ids,
            all_dead,
        } => {
            let which = if all_dead {
                Requeue::AllDead
            } else {
                Requeue::Ids(ids)
            };
            (config, Request::OutboxRequeue(which), false)
        }
    };
    let cfg = tools_config(&config)?;
    let reply = match portico::status::ask(&cfg.status_socket, &request).await {
        Ok(reply) => {
            eprintln!(
                "(through the running device at {})",
                cfg.status_socket.display()
            );
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&reply)
                && let Some(e) = o.get("error")
            {
                bail!(
                    "the device at {} answered: {e}",
                    cfg.status_socket.display()
                );
            }
            reply
        }
        // No device runs: work on the database itself (SQLite keeps it consistent should
        // one start meanwhile).
        Err(_) => {
            let conn = open_existing_database(&cfg)?;
            eprintln!(
                "(no device answers on {}: on the database {})",
                cfg.status_socket.display(),
                cfg.database_path().display()
            );
            let now = chrono::Utc::now().timestamp_millis();
            match &request {
                Request::OutboxList { listing, limit } => {
                    serde_json::to_string(&portico::outbox::list(&conn, *listing, *limit)?)?
                }
                Request::OutboxRequeue(which) => {
                    drop(conn);
                    // As the device writes: one transaction through the database's writer.
                    let store = portico::replica::Store::open(&cfg.database_path())?;
                    let which = which.clone();
                    let done = store.write(move |tx| portico::outbox::requeue(tx, &which, now))?;
                    serde_json::to_string(&done)?
                }
                other => bail!("{other:?} is not an outbox request"),
            }
        }
    };
    match request {
        Request::OutboxList { .. } => {
            let rows: Vec<ListedRow> = serde_json::from_str(&reply)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no rows");
            } else {
                for r in &rows {
                    let when = |ms: i64| {
                        chrono::DateTime::from_timestamp_millis(ms)
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default()
                    };
                    let detail = match r.state.as_str() {
                        "dead" => format!("dead: {}", r.dead_reason.as_deref().unwrap_or("")),
                        "pending" if r.attempts > 0 => format!(
                            "next try {}; last error: {}",
                            when(r.next_attempt_at_ms),
                            r.last_error.as_deref().unwrap_or("")
                        ),
                        other => other.to_owned(),
                    };
                    println!(
                        "#{:<6} {:<16} queued {}  {} attempt(s)  {detail}",
                        r.id,
                        r.kind,
                        when(r.created_at_ms),
                        r.attempts
                    );
                }
            }
        }
        _ => {
            let done: Requeued = serde_json::from_str(&reply)?;
            for r in &done.requeued {
                println!("re-queued #{} {}", r.id, r.kind);
            }
            for id in &done.not_dead {
                eprintln!("#{id} is not a dead letter; left as it is");
            }
            for id in &done.missing {
                eprintln!("#{id}: no such row in the outbox");
            }
            println!("{} row(s) re-queued", done.requeued.len());
            if !done.not_dead.is_empty() || !done.missing.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A secret typed on the terminal without echo, or a line of standard input when it is no
/// terminal (a provisioning script).
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, flag and positional argument explains itself in `--help`.
    #[test]
    fn every_command_flag_and_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{here}: {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{here} {}: (no about)", sub.get_name()));
                }
                walk(sub, &here, missing);
            }
        }
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cli, "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
