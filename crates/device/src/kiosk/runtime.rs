//! What a kiosk does while `portico run` runs it, beside the screens: registers its
//! ticket-signing key with the hub, settles at start-up any payment a crash left unsettled, and
//! keeps its seat leases (asks for seats of the slots about to open, gives back what it will
//! not sell).

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::{DeviceConfig, KioskConfig, TerminalKind};
use crate::kiosk::lease_client::LeaseClient;
use crate::kiosk::sale::Sales;
use crate::kiosk::signer::{self, Signer};
use crate::kiosk::terminal::{PaymentTerminal, SimulatedTerminal};
use crate::replica::Store;
use crate::sync::{HubClient, SyncEngine};

/// The kiosk's parts that live as long as the device runs.
pub struct KioskRuntime {
    pub sales: Option<Arc<Sales>>,
    /// Wakes the lease client (a visitor wants more seats than the kiosk holds).
    pub lease_poke: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    session: Option<crate::kiosk::session::SessionThread>,
}

impl KioskRuntime {
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        if let Some(s) = self.session {
            s.stop();
        }
    }
}

/// The screen's side of a kiosk: the taps it sends, and where its models go.
pub struct ScreenLink {
    pub inbox: std::sync::mpsc::Receiver<crate::kiosk::checkout::Event>,
    pub display: crate::kiosk::session::DisplaySlot,
}

/// The card terminal the config names.
pub fn terminal(
    cfg: &DeviceConfig,
    kiosk: &KioskConfig,
) -> Result<Arc<dyn PaymentTerminal>, crate::kiosk::terminal::TerminalError> {
    Ok(match &kiosk.terminal.kind {
        TerminalKind::Simulated => Arc::new(SimulatedTerminal::with_bank(
            cfg.data_dir.join("terminal-bank.json"),
        )),
        TerminalKind::Nexo(settings) => Arc::new(crate::kiosk::nexo_terminal::NexoTerminal::new(
            settings,
            &cfg.device_id,
        )?),
    })
}

/// The signer: the key's id from the hub (registering it when the hub answers), or the id the
/// database kept from an earlier registration when it does not. `None`: never registered, so
/// the kiosk cannot sign tickets yet.
pub async fn signer(cfg: &DeviceConfig, kiosk: &KioskConfig, store: &Store) -> Option<Signer> {
    let key = match signer::load_or_create(&kiosk.key_path(&cfg.data_dir)) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "no ticket-signing key: the kiosk cannot sell");
            return None;
        }
    };
    match HubClient::new(&cfg.upstream) {
        Ok(client) => match signer::register(&client, store, &key).await {
            Ok(s) => return Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "signing key not registered now; using the id kept")
            }
        },
        Err(e) => tracing::warn!(error = %e, "no hub client"),
    }
    let conn = store.reader().ok()?;
    let id = signer::registered(&conn, &key).ok()??;
    Some(Signer::new(id, key))
}

/// The receipt printer the config names, if any.
pub fn printer(kiosk: &KioskConfig) -> Option<crate::kiosk::shell::SharedPrinter> {
    kiosk.printer.as_ref().map(|p| {
        let printer: Box<dyn crate::kiosk::printer::TicketPrinter> = Box::new(
            crate::kiosk::printer::EscPosPrinter::new(p.address.clone(), p.timeout),
        );
        Arc::new(std::sync::Mutex::new(printer))
    })
}

/// Prints what of order `order_no` has not printed yet (or all of it, `again`), and records
/// what came out. Returns how many pieces printed and how many there were.
pub fn print_order(
    store: &Store,
    kiosk: &KioskConfig,
    catalog: &crate::kiosk::catalog::Catalog,
    order_no: &str,
    again: bool,
    now_ms: i64,
) -> Result<(usize, usize), String> {
    let printer = printer(kiosk).ok_or("no [kiosk.printer] is configured")?;
    let conn = store.reader().map_err(|e| e.to_string())?;
    let mut p = crate::kiosk::orders::printout(&conn, order_no)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no order {order_no} on this kiosk"))?;
    if crate::kiosk::orders::refunded(&conn, &p.order_id).map_err(|e| e.to_string())? {
        return Err(format!(
            "order {order_no} was refunded: its tickets no longer admit anyone, so nothing was printed"
        ));
    }
    if again {
        for t in &mut p.tickets {
            t.printed = false;
        }
    }
    let paper = kiosk.printer.as_ref().map(|p| p.paper).unwrap_or_default();
    let (doc, secrets) = crate::kiosk::shell::documents(&p, catalog, &kiosk.letterhead, paper);
    let pieces = doc.cuts();
    let report = printer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .print(&doc)
        .map_err(|e| e.to_string())?;
    let tickets: Vec<String> = secrets.into_iter().take(report.printed).collect();
    let receipt = report.printed >= pieces;
    let order_id = p.order_id.clone();
    store
        .write(move |tx| {
            crate::kiosk::orders::mark_printed(tx, &order_id, &tickets, receipt, now_ms).map_err(
                |e| crate::replica::ReplicaError::Corrupt {
                    table: "orders",
                    detail: e.to_string(),
                },
            )
        })
        .map_err(|e| e.to_string())?;
    Ok((report.printed, pieces))
}

/// What to print a member's guest passes on, and how.
pub struct PassPrinting<'a> {
    pub printer: crate::kiosk::shell::SharedPrinter,
    pub letterhead: &'a crate::kiosk::receipt::Letterhead,
    pub paper: crate::kiosk::receipt::Paper,
    pub lang: crate::kiosk::catalog::Lang,
}

/// The guest passes of a member's latest check-in on `day` still to print (those that did not
/// come out, or all of them with `again`): the document and the passes' secrets in its order.
/// `Ok(None)`: nothing is left to print.
pub fn passes_to_print(
    conn: &rusqlite::Connection,
    to: &PassPrinting<'_>,
    membership_id: &str,
    day: chrono::NaiveDate,
    again: bool,
) -> Result<Option<(crate::kiosk::escpos::PrintDoc, Vec<String>)>, String> {
    let check_in = crate::kiosk::check_ins::passes_on(conn, day)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|c| c.membership_id == membership_id)
        .ok_or_else(|| format!("no guest passes for {membership_id} on {day} at this kiosk"))?;
    let level: String = conn
        .query_row(
            "SELECT level FROM memberships WHERE membership_id = ?1",
            [membership_id],
            |r| r.get(0),
        )
        .unwrap_or_default();
    let passes: Vec<(String, String)> = check_in
        .passes
        .iter()
        .filter(|(_, printed)| again || !printed)
        .map(|(p, _)| (p.code.clone(), p.secret.clone()))
        .collect();
    if passes.is_empty() {
        return Ok(None);
    }
    let doc = crate::kiosk::receipt::guest_passes_doc(
        to.letterhead,
        &passes,
        &level,
        day,
        to.paper,
        to.lang,
    );
    Ok(Some((doc, passes.into_iter().map(|(_, s)| s).collect())))
}

/// Records which passes printed: the first `printed` of `secrets`.
pub fn mark_passes_printed(
    store: &Store,
    secrets: &[String],
    printed: usize,
    now_ms: i64,
) -> Result<(), String> {
    let done: Vec<String> = secrets.iter().take(printed).cloned().collect();
    store
        .write(move |tx| {
            crate::kiosk::check_ins::mark_printed(tx, &done, now_ms).map_err(|e| {
                crate::replica::ReplicaError::Corrupt {
                    table: "guest_passes",
                    detail: e.to_string(),
                }
            })
        })
        .map_err(|e| e.to_string())
}

/// Prints again the guest passes of a member's latest check-in on `day` that did not come out
/// (the paper ran out), or all of them with `again`, and records which printed. Returns
/// (printed, to print). The passes are those the check-in signed: printing again makes none.
pub fn print_passes(
    store: &Store,
    to: &PassPrinting<'_>,
    membership_id: &str,
    day: chrono::NaiveDate,
    again: bool,
    now_ms: i64,
) -> Result<(usize, usize), String> {
    let conn = store.reader().map_err(|e| e.to_string())?;
    let Some((doc, secrets)) = passes_to_print(&conn, to, membership_id, day, again)? else {
        return Ok((0, 0));
    };
    let report = to
        .printer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .print(&doc)
        .map_err(|e| e.to_string())?;
    let printed = report.printed.min(secrets.len());
    mark_passes_printed(store, &secrets, printed, now_ms)?;
    Ok((printed, secrets.len()))
}

/// The kiosk's till as the config sets it up; an error when its card terminal cannot be set
/// up (its CA file unreadable).
pub fn sales(
    cfg: &DeviceConfig,
    kiosk: &KioskConfig,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    signer: Signer,
) -> Result<Sales, crate::kiosk::terminal::TerminalError> {
    Ok(Sales {
        store,
        terminal: terminal(cfg, kiosk)?,
        signer: Arc::new(signer),
        clock,
        zone: cfg.timezone,
        device_id: cfg.device_id.clone(),
        order_prefix: kiosk.order_prefix.clone(),
        normalizer: cfg.normalizer.clone(),
        // The checkout has asked one more detail already when several records matched: the
        // order then goes to a new record that staff review at the hub.
        intake: crate::intake::IntakeConfig {
            matching: crate::matching::MatchConfig {
                on_ambiguous: crate::matching::OnAmbiguous::Create,
                ..cfg.matching
            },
            ..crate::intake::IntakeConfig::default()
        },
        on_approved_after_crash: kiosk.terminal.after_crash,
    })
}

/// Starts the kiosk's background work on `engine`'s device.
pub async fn start(
    engine: &Arc<SyncEngine>,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    screen: Option<ScreenLink>,
) -> Option<KioskRuntime> {
    let cfg = engine.config().clone();
    let kiosk = cfg.kiosk_screen()?.clone();
    // A volunteer time clock sells nothing: no signing key, no terminal, no seat leases.
    let sells = cfg.offer() == crate::kiosk::checkout::Offer::Everything;
    let store = engine.store();
    let signer = match sells {
        true => signer(&cfg, &kiosk, &store).await,
        false => None,
    };
    let sales =
        signer.and_then(
            |signer| match sales(&cfg, &kiosk, store.clone(), clock.clone(), signer) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    tracing::error!(error = %e, "no card terminal: the kiosk cannot sell");
                    None
                }
            },
        );
    if let Some(s) = sales.clone() {
        let online = engine.link_status().online;
        match tokio::task::spawn_blocking(move || s.recover(!online)).await {
            Ok(Ok(r)) if r != Default::default() => tracing::info!(
                completed = r.completed.len(),
                voided = r.voided,
                forgotten = r.forgotten,
                unanswered = r.unanswered,
                "payments left by the last run settled"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "payments left by the last run not settled"),
            Err(e) => tracing::error!(error = %e, "payment recovery stopped"),
        }
    }
    let lease_poke = Arc::new(Notify::new());
    // The visitor's session: the shell behind the screen.
    let mut session = None;
    let mut session_holds: Arc<dyn Fn(&str) -> u32 + Send + Sync> = Arc::new(|_: &str| 0);
    let display = screen.as_ref().map(|l| l.display.clone());
    if let Some(link) = screen.filter(|_| sales.is_some() || !sells) {
        let status = engine.clone();
        let online: Arc<dyn Fn() -> bool + Send + Sync> =
            Arc::new(move || status.link_status().online);
        match crate::kiosk::session::shell_parts(
            &cfg,
            &kiosk,
            store.clone(),
            sales.clone(),
            clock.clone(),
            online,
            Some(lease_poke.clone()),
        ) {
            Ok(mut parts) => {
                let (status, sync) = (engine.clone(), engine.clone());
                parts.tech.link = Some(Arc::new(move || status.link_status()));
                parts.tech.sync_now = Some(Arc::new(move || {
                    sync.pull_now.notify_one();
                    sync.push_now.notify_one();
                }));
                let shell = crate::kiosk::shell::KioskShell::new(parts);
                session_holds = shell.session_holds();
                match crate::kiosk::session::spawn(
                    shell,
                    link.inbox,
                    link.display,
                    store.clone(),
                    clock.clone(),
                    cfg.timezone,
                ) {
                    Ok(s) => session = Some(s),
                    Err(e) => tracing::error!(error = %e, "cannot start the kiosk's session"),
                }
            }
            Err(e) => tracing::error!(error = %e, "the kiosk cannot read its catalog"),
        }
    }
    // A screen was given but no session runs behind it.
    if session.is_none() && display.is_some() {
        tracing::error!(
            signing = sales.is_some(),
            "the kiosk cannot sell: its screen says so until it restarts"
        );
        let show = display
            .as_ref()
            .and_then(|d| d.lock().unwrap_or_else(|p| p.into_inner()).clone());
        if let Some(show) = show {
            show(crate::kiosk::session::out_of_service_model(kiosk.language));
        }
    }
    let mut tasks = Vec::new();
    if let Some(client) = HubClient::new(&cfg.upstream).ok().filter(|_| sells) {
        // The groups of the timed admissions the kiosk sells.
        let groups: Vec<String> = store
            .reader()
            .ok()
            .and_then(|c| {
                let today = crate::gate::station::now_local(clock.now(), cfg.timezone)
                    .local
                    .date();
                crate::replica::catalog::load_catalog(&c, today, today).ok()
            })
            .map(|l| {
                let mut g: Vec<String> = l
                    .catalog
                    .products
                    .values()
                    .filter_map(|p| match &p.admission {
                        crate::kiosk::catalog::Admission::Timed { slot_group } => {
                            Some(slot_group.clone())
                        }
                        _ => None,
                    })
                    .collect();
                g.sort();
                g.dedup();
                g
            })
            .unwrap_or_default();
        let leases = Arc::new(LeaseClient::new(
            client,
            store.clone(),
            engine.database(),
            clock,
            cfg.timezone,
            kiosk.leases.clone(),
            groups,
        ));
        let poke = lease_poke.clone();
        tasks.push(tokio::spawn(leases.run(poke, session_holds, shutdown)));
    }
    tracing::info!(
        signing = sales.is_some(),
        printer = kiosk.printer.is_some(),
        screen = session.is_some(),
        "kiosk running"
    );
    Some(KioskRuntime {
        sales,
        lease_poke,
        tasks,
        session,
    })
}
