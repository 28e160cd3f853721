//! The `portico` command: device daemon, reference hub, technician tools, demo, benchmarks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use portico::config;
use portico::hub::{HubDir, HubServer, HubStore, seed};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "portico",
    version,
    about = "Firmware for the gates and kiosks of a membership venue"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the device daemon.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Never open the gate window, even when a display is available.
        #[arg(long)]
        headless: bool,
    },
    /// Pull every feed once (a first sync shows progress on a terminal) and exit.
    Sync {
        #[arg(long)]
        config: PathBuf,
        /// Print a JSON summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running device for its status.
    Status {
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
        #[arg(long)]
        config: PathBuf,
    },
    /// Find constituents in the device's replica, as staff search: by Lookup ID (merged-away
    /// ids lead to the survivor), or by first and/or last name prefix (case and accents
    /// ignored), a page at a time.
    Search {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        lookup_id: Option<String>,
        #[arg(long)]
        first: Option<String>,
        #[arg(long)]
        last: Option<String>,
        /// Hits per page.
        #[arg(long, default_value_t = 20)]
        page_size: usize,
        /// Print the page as JSON (with the cursor of the next page).
        #[arg(long)]
        json: bool,
    },
    /// Device configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The reference upstream hub.
    Hub {
        #[command(subcommand)]
        command: HubCommand,
    },
    /// A seeded hub and a device on embedded defaults; no hardware needed.
    Demo {
        /// Working directory (hub files, device database).
        #[arg(long, default_value = "portico-demo")]
        dir: PathBuf,
        #[arg(long, default_value_t = 2000)]
        constituents: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Keep hub and device running after the walkthrough, until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Never open the gate window, even when a display is available.
        #[arg(long)]
        headless: bool,
        /// Go on from the previous run's hub and device databases instead of starting over.
        #[arg(long)]
        resume: bool,
    },
    /// Run a benchmark and print one JSON object.
    Bench(BenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file: every problem with file:line:column and key.
    Check { file: PathBuf },
}

#[derive(Args)]
struct HubDirArg {
    /// The hub's directory (database, CA, certificate, key).
    #[arg(long, default_value = "hub")]
    dir: PathBuf,
}

#[derive(Subcommand)]
enum HubCommand {
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
        #[arg(long, default_value_t = 10_000)]
        constituents: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        tickets: Option<usize>,
        /// The day validity dates are generated around (default: today).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
    },
    /// Serve protocol v1 over HTTPS.
    Serve {
        #[command(flatten)]
        dir: HubDirArg,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// Register a device and write its token to a file (mode 0600).
    AddDevice {
        #[command(flatten)]
        dir: HubDirArg,
        device_id: String,
        #[arg(long)]
        token_out: PathBuf,
    },
    /// Merge one constituent into another, as the CRM does.
    Merge {
        #[command(flatten)]
        dir: HubDirArg,
        merged_id: String,
        survivor_id: String,
    },
    /// Change N constituents (new phones, names, emails).
    Mutate {
        #[command(flatten)]
        dir: HubDirArg,
        #[arg(long, default_value_t = 100)]
        changes: usize,
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
}

#[derive(Args)]
struct BenchArgs {
    /// Benchmark name: sync, scan, input, match.
    name: String,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Constituents in the replica.
    #[arg(long, default_value_t = 1_000_000)]
    constituents: usize,
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
    #[arg(long, default_value_t = 20_000)]
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
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Shows the gate window when there is a display; closing it stops the device. Without a
/// display (or a window backend in this build) the gate runs headless.
#[cfg(feature = "ui")]
fn open_window(device: &portico::device::Device, stop: Arc<watch::Sender<bool>>) {
    match portico::ui::host::attach_window(device) {
        Ok(closed) => {
            tracing::info!("gate screen opened");
            tokio::spawn(async move {
                if let Ok(Err(e)) = closed.await {
                    tracing::error!(error = %e, "gate screen failed");
                }
                tracing::info!("gate screen closed; stopping");
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
            let device = portico::device::Device::open_system(cfg)?;
            let (stop_tx, stop) = shutdown_signal().await;
            if !headless {
                open_window(&device, stop_tx);
            }
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
                portico::replica::checkpoint::checkpoint(&conn, "TRUNCATE")?;
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
        Command::Status {
            config,
            json,
            sync_now,
        } => {
            let cfg = config::load(&config)?;
            let socket = &cfg.status_socket;
            let no_device = || {
                format!(
                    "no device answers on {} (is `portico run` running?)",
                    socket.display()
                )
            };
            if sync_now {
                portico::status::ask(socket, "sync")
                    .await
                    .with_context(no_device)?;
            }
            let reply = portico::status::ask(socket, "status")
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
        Command::Search {
            config,
            lookup_id,
            first,
            last,
            page_size,
            json,
        } => {
            let cfg = config::load(&config)?;
            let conn = portico::replica::open(&cfg.database_path())?;
            let query = portico::replica::search::SearchQuery {
                lookup_id,
                first,
                last,
            };
            let page =
                portico::replica::search::search(&conn, &cfg.normalizer, &query, page_size, None)?;
            if json {
                println!("{}", serde_json::to_string(&page)?);
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
                if page.next.is_some() {
                    println!("… more; narrow the search or use --json for the next page's cursor");
                }
            }
        }
        Command::ScanTest { config } => {
            let cfg = config::load(&config)?;
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
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match config::load(&file) {
            Ok(cfg) => {
                println!("{}: ok", file.display());
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
                    cfg.upstream.url,
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
                eprintln!("{}: {} problem(s)", file.display(), diags.len());
                return Ok(ExitCode::from(2));
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        },
        Command::Hub { command } => hub(command).await?,
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
        Command::Bench(args) => {
            let result = match args.name.as_str() {
                "sync" => {
                    portico::bench::sync::run(portico::bench::sync::SyncBenchOptions {
                        constituents: args.constituents,
                        changes: args.changes,
                        dir: args.dir,
                    })
                    .await?
                }
                "scan" => {
                    let opts = portico::bench::scan::ScanBenchOptions {
                        constituents: args.constituents,
                        tickets: args.tickets,
                        scans: args.scans,
                        dir: args.dir,
                        replica: args.replica,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::scan::run(opts)).await??
                }
                "input" => {
                    tokio::task::spawn_blocking(move || portico::input::bench::run(args.frames))
                        .await?
                }
                "match" => {
                    let opts = portico::bench::matching::MatchBenchOptions {
                        constituents: args.constituents,
                        queries: args.queries,
                        replica: args.replica,
                        dir: args.dir,
                    };
                    tokio::task::spawn_blocking(move || portico::bench::matching::run(opts))
                        .await??
                }
                other => bail!("unknown benchmark {other:?}; available: sync, scan, input, match"),
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

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn hub(command: HubCommand) -> Result<()> {
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
            let report = tokio::task::spawn_blocking(move || seed::seed(&store, &spec)).await??;
            println!("{}", serde_json::to_string(&report)?);
        }
        HubCommand::Serve { dir, listen } => {
            let hub = HubDir::new(dir.dir);
            let store = Arc::new(HubStore::open(&hub.database())?);
            let tls = portico::tls::server_config(&hub.server_cert(), &hub.server_key())?;
            let server = HubServer::start(listen, store, tls).await?;
            println!("hub listening on https://{}", server.addr);
            let (_, mut stop) = shutdown_signal().await;
            let _ = stop.changed().await;
            server.shutdown().await;
        }
        HubCommand::AddDevice {
            dir,
            device_id,
            token_out,
        } => {
            let hub = HubDir::new(dir.dir);
            let store = HubStore::open(&hub.database())?;
            let token = store.add_device(&device_id)?;
            portico::hub::write_private(&token_out, token.as_bytes())?;
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
            let population = store.count(portico::protocol::Resource::Constituents)? as usize;
            let changed = seed::mutate(&store, changes, population, s)?;
            println!("changed {} constituents", changed.len());
        }
        HubCommand::Pin { dir } => {
            let hub = HubDir::new(dir.dir);
            let certs = portico::tls::load_certs(&hub.server_cert())?;
            let pin = portico::tls::spki_pin_of(&certs[0]).map_err(anyhow::Error::msg)?;
            println!("{}", portico::tls::format_pin(&pin));
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
    }
    Ok(())
}
