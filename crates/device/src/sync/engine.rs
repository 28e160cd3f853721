//! The device's sync engine: pulls the change feeds into the replica, pushes the outbox, purges
//! merged-away records, and keeps the link status that `portico status` shows.
//!
//! Pull and push are independent loops: a failing upload never holds up downloads, and the
//! other way round. Every write goes through the database's one writer ([`Store`]): a feed page
//! in jobs of at most [`JOB_TIME`] (its cursor with its last one), each ending early when any
//! other write waits (a gate's scan, a visitor's details), so that write waits for one step of
//! changes; the next page is fetched and decoded meanwhile.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc, watch};

use super::client::{HubClient, SyncError, decode_page};
use crate::clock::Clock;
use crate::config::DeviceConfig;
use crate::gate::retention::{self, Compaction};
use crate::kiosk::retention as kiosk_retention;
use crate::outbox;
use crate::protocol::{
    CategoryDto, Change, ConstituentDto, FeedPage, JobDto, MembershipDto, MergeDto, ProductDto,
    Resource, RowStatus, ShiftDto, SigningKeyDto, SlotDto, TaxRuleDto, TicketDto, UploadBatch,
    UploadRow, VolunteerEventDto,
};
use crate::replica::{self, Applier, ApplyStats, Store};

/// What the device knows about its link to the hub.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct LinkStatus {
    pub online: bool,
    pub unauthorized: bool,
    /// The hub speaks another protocol version (or the token is another device's): nothing is
    /// pulled or pushed until that is fixed; the hub is greeted again at every attempt.
    #[serde(default)]
    pub incompatible: bool,
    /// The last attempt reached no hub at all (no route, no name, connection refused or
    /// broken): the device is offline, as opposed to a link that answers wrongly.
    #[serde(default)]
    pub unreachable: bool,
    /// The hub that last answered hello.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<String>,
    pub last_pull_ok: Option<DateTime<Utc>>,
    pub last_push_ok: Option<DateTime<Utc>>,
    pub last_purge: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Called after each applied page: resource, changes applied so far in this pass, and the
/// total the hub announced for a first sync.
pub type Observer = Arc<dyn Fn(Resource, u64, Option<u64>) + Send + Sync>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub pages: u64,
    pub upserts: u64,
    pub deletes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    pub delivered: u64,
    pub duplicates: u64,
    pub dead: u64,
    pub retrying: u64,
}

trait Feed {
    type Dto: DeserializeOwned + Send + 'static;
    const RESOURCE: Resource;
    fn apply(
        a: &Applier,
        c: &Connection,
        changes: &[Change<Self::Dto>],
    ) -> replica::Result<ApplyStats>;
}

macro_rules! feed {
    ($name:ident, $dto:ty, $res:expr, $method:ident) => {
        struct $name;
        impl Feed for $name {
            type Dto = $dto;
            const RESOURCE: Resource = $res;
            fn apply(
                a: &Applier,
                c: &Connection,
                ch: &[Change<$dto>],
            ) -> replica::Result<ApplyStats> {
                a.$method(c, ch)
            }
        }
    };
}
feed!(CatalogFeed, ProductDto, Resource::Catalog, catalog);
feed!(
    ConstituentFeed,
    ConstituentDto,
    Resource::Constituents,
    constituents
);
feed!(
    MembershipFeed,
    MembershipDto,
    Resource::Memberships,
    memberships
);
feed!(TicketFeed, TicketDto, Resource::Tickets, tickets);
feed!(MergeFeed, MergeDto, Resource::Merges, merges);
feed!(CategoryFeed, CategoryDto, Resource::Categories, categories);
feed!(TaxRuleFeed, TaxRuleDto, Resource::TaxRules, tax_rules);
feed!(SlotFeed, SlotDto, Resource::Slots, slots);
feed!(
    SigningKeyFeed,
    SigningKeyDto,
    Resource::SigningKeys,
    signing_keys
);
feed!(JobFeed, JobDto, Resource::Jobs, jobs);
feed!(
    VolunteerEventFeed,
    VolunteerEventDto,
    Resource::VolunteerEvents,
    volunteer_events
);
feed!(
    VolunteerShiftFeed,
    ShiftDto,
    Resource::VolunteerShifts,
    volunteer_shifts
);

/// How long one writer job applies a feed's changes, at most, before it commits and the next
/// job goes on. A job ends sooner, at its next step, as soon as any other write waits for the
/// database ([`Store::others_waiting`]): a gate's scan or a visitor's details wait for one step
/// of changes and that job's commit, while a sync nobody interrupts commits in few, large
/// transactions (each commit rewrites the index pages it touched: the first sync of a million
/// constituents took 2.97× the `sqlite3` import in 20 ms jobs, 2.15× in 250 ms jobs, 1.89× in
/// one-second jobs).
pub const JOB_TIME: Duration = Duration::from_millis(1000);

/// Changes applied between two looks at the clock, and at waiting scans, within a job.
const CHUNK_STEP: usize = 32;

/// Applies changes from `changes[*done..]`, [`CHUNK_STEP`] at a time, until `deadline` has
/// passed or `others_waiting` says another write waits (after at least one step), or none are left;
/// moves `done` on and adds to `stats`.
pub fn apply_for_a_while<T>(
    changes: &[T],
    done: &mut usize,
    stats: &mut ApplyStats,
    deadline: std::time::Instant,
    others_waiting: &impl Fn() -> bool,
    mut apply: impl FnMut(&[T]) -> replica::Result<ApplyStats>,
) -> replica::Result<()> {
    while *done < changes.len() {
        let end = (*done + CHUNK_STEP).min(changes.len());
        let s = apply(&changes[*done..end])?;
        stats.upserts += s.upserts;
        stats.deletes += s.deletes;
        *done = end;
        if std::time::Instant::now() >= deadline || others_waiting() {
            break;
        }
    }
    Ok(())
}

/// A feed being applied: the pages fetched and waiting, the one under way, and the counts so
/// far. Moved into each writer job and handed back by it.
struct Applying<D> {
    pages: mpsc::Receiver<FeedPage<D>>,
    /// The page under way and how many of its changes are applied.
    page: Option<(FeedPage<D>, usize)>,
    report: PullReport,
    applied: u64,
    announced: Option<u64>,
}

impl<D> Applying<D> {
    /// One writer job: applies the page under way and then every page already fetched, until
    /// [`JOB_TIME`] has passed or another write waits; writes the cursor of the last page it finished.
    /// A page left half done goes on in the next job (a crash in between applies it again from
    /// its start, which changes nothing twice).
    fn job(
        &mut self,
        tx: &Connection,
        resource: Resource,
        now: DateTime<Utc>,
        others_waiting: &impl Fn() -> bool,
        mut apply: impl FnMut(&[Change<D>]) -> replica::Result<ApplyStats>,
    ) -> replica::Result<()> {
        let deadline = std::time::Instant::now() + JOB_TIME;
        let mut finished = None;
        loop {
            if self.page.is_none() {
                match self.pages.try_recv() {
                    Ok(page) => self.page = Some((page, 0)),
                    Err(_) => break,
                }
            }
            let Some((page, done)) = self.page.as_mut() else {
                break;
            };
            if self.announced.is_none() {
                self.announced = page
                    .remaining
                    .map(|r| r.saturating_add(page.changes.len() as u64));
            }
            let mut stats = ApplyStats::default();
            apply_for_a_while(
                &page.changes,
                done,
                &mut stats,
                deadline,
                others_waiting,
                &mut apply,
            )?;
            self.report.upserts += stats.upserts;
            self.report.deletes += stats.deletes;
            if *done == page.changes.len() {
                self.report.pages += 1;
                self.applied += page.changes.len() as u64;
                finished = self.page.take().map(|(p, _)| p.next_cursor);
            }
            if std::time::Instant::now() >= deadline || others_waiting() {
                break;
            }
        }
        if let Some(cursor) = finished {
            replica::set_cursor(tx, resource, &cursor, now)?;
        }
        Ok(())
    }
}

/// Changes asked for in a pull's first page; each further page asks for twice the last, up to
/// `sync.page_size`. The writer can start on a small page while the hub builds the larger
/// ones: a first page of 2,000 constituents took 45 ms to arrive, during which the writer
/// had nothing to do.
const FIRST_PAGE: u32 = 250;

/// The page size to ask for after a page of `asked` changes (see [`FIRST_PAGE`]).
fn next_page_size(asked: u32, page_size: u32) -> u32 {
    asked.saturating_mul(2).min(page_size)
}

/// How often the device's own records are tidied ([`SyncEngine::housekeep`]).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(3600);
/// The next slice of a long scan-log fold follows this soon.
const HOUSEKEEPING_BACKLOG: Duration = Duration::from_secs(10);
/// Scans one housekeeping call folds, at most (about a second's work).
pub const HOUSEKEEPING_SCANS: usize = 20_000;
/// Writer jobs of kiosk records one housekeeping call deletes, at most
/// ([`kiosk_retention::BATCH`] orders each).
const HOUSEKEEPING_RECORD_JOBS: usize = 50;

/// What one housekeeping call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Delivered outbox rows deleted.
    pub outbox_pruned: usize,
    /// The gate's scan-log fold.
    pub scans: Compaction,
    /// The kiosk's records deleted, and those kept until the hub has them.
    pub kiosk_records: kiosk_retention::Pruned,
    /// Kiosk records were left for the next call (it stopped at its limit).
    pub kiosk_more: bool,
}

fn local<E: std::fmt::Display>(e: E) -> SyncError {
    SyncError::Local(e.to_string())
}

pub struct SyncEngine {
    cfg: Arc<DeviceConfig>,
    client: HubClient,
    store: Arc<Store>,
    /// The engine's read connection (status, due rows, cursors).
    reader: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    applier: Applier,
    status: Mutex<LinkStatus>,
    /// The hub answered hello on the current link, for the token as it was then (a
    /// fingerprint of it): cleared at start and by every link fault, and stale once the token
    /// file changes, so a device greets the hub (and checks its protocol and who the token
    /// belongs to) before anything else. With it, the feeds that hub serves.
    greeted: Mutex<Option<(u64, Vec<Resource>)>>,
    /// Wakes the pull loop for an on-demand sync.
    pub pull_now: Notify,
    /// Wakes the push loop (e.g. after a decision enqueued a row).
    pub push_now: Notify,
}

impl SyncEngine {
    pub fn new(
        cfg: Arc<DeviceConfig>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SyncError> {
        let client = HubClient::new(&cfg.upstream)?;
        let reader = store.reader()?;
        Ok(Self {
            applier: Applier::new(cfg.normalizer.clone()),
            cfg,
            client,
            store,
            reader: Arc::new(Mutex::new(reader)),
            clock,
            status: Mutex::new(LinkStatus::default()),
            greeted: Mutex::new(None),
            pull_now: Notify::new(),
            push_now: Notify::new(),
        })
    }

    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// The device's clock's time (the system clock, or a test's).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The engine's read-only connection to the device database.
    pub fn database(&self) -> Arc<Mutex<Connection>> {
        self.reader.clone()
    }

    /// The device database's writer.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The hub's client.
    pub fn client(&self) -> &HubClient {
        &self.client
    }

    pub fn link_status(&self) -> LinkStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note(&self, result: Result<(), &SyncError>, push: bool) {
        let now = self.clock.now();
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                s.online = true;
                s.unauthorized = false;
                s.incompatible = false;
                s.unreachable = false;
                s.last_error = None;
                if push {
                    s.last_push_ok = Some(now);
                } else {
                    s.last_pull_ok = Some(now);
                }
            }
            Err(e) => {
                s.last_error = Some(e.to_string());
                s.unreachable = matches!(e, SyncError::Network(_));
                if e.is_link_fault() {
                    *self.greeted.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                match e {
                    SyncError::Unauthorized(_) => {
                        s.unauthorized = true;
                        s.online = true;
                    }
                    SyncError::Incompatible(_) => {
                        s.incompatible = true;
                        s.online = true;
                    }
                    // The hub refusing an upload still shows the link works; refusing a hello
                    // or a feed page means nothing syncs.
                    SyncError::Rejected { .. } => s.online = push,
                    SyncError::Local(_) | SyncError::Database(_) => {}
                    _ => s.online = false,
                }
            }
        }
    }

    /// Greets the hub unless it already answered hello on this link: checks it speaks this
    /// device's protocol and knows the token as this device's. Called before every pull and
    /// upload, so a device greets the hub when it starts and again after every link fault.
    /// Greets the hub unless already greeted with this token; the feeds it serves.
    async fn greet(&self) -> Result<Vec<Resource>, SyncError> {
        let token = token_fingerprint(&self.client.token()?);
        if let Some((t, feeds)) = &*self.greeted.lock().unwrap_or_else(|p| p.into_inner())
            && *t == token
        {
            return Ok(feeds.clone());
        }
        self.greet_now().await.map(|hello| hello.feeds())
    }

    async fn greet_now(&self) -> Result<crate::protocol::Hello, SyncError> {
        let token = token_fingerprint(&self.client.token()?);
        let hello = self.client.hello().await?;
        if hello.device_id != self.cfg.device_id {
            return Err(SyncError::Incompatible(format!(
                "the hub knows this device's token as device {:?}, but this device is {:?}; \
                 install the token made for {:?} (`portico hub add-device`)",
                hello.device_id, self.cfg.device_id, self.cfg.device_id
            )));
        }
        tracing::info!(hub = %hello.hub_id, protocol = hello.protocol, "hub said hello");
        self.status.lock().unwrap_or_else(|p| p.into_inner()).hub_id = Some(hello.hub_id.clone());
        *self.greeted.lock().unwrap_or_else(|p| p.into_inner()) = Some((token, hello.feeds()));
        Ok(hello)
    }

    /// Runs `f` on the engine's read connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> replica::Result<T> + Send + 'static,
    ) -> Result<T, SyncError> {
        let db = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(local)?
        .map_err(SyncError::from)
    }

    /// Runs `f` in one transaction on the database's writer.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> replica::Result<T> + Send + 'static,
    ) -> Result<T, SyncError> {
        Ok(self.store.write_async(f).await?)
    }

    /// Checks the hub answers, speaks our protocol and accepts our token.
    pub async fn hello(&self) -> Result<crate::protocol::Hello, SyncError> {
        let r = self.greet_now().await;
        self.note(r.as_ref().map(|_| ()), false);
        r
    }

    /// One pass over every feed until the hub has nothing more.
    pub async fn pull_all(&self, observer: Option<Observer>) -> Result<PullReport, SyncError> {
        let mut total = PullReport::default();
        let feeds = match self.greet().await {
            Ok(feeds) => feeds,
            Err(e) => {
                self.note(Err(&e), false);
                return Err(e);
            }
        };
        let result = async {
            for r in feeds {
                let o = observer.clone();
                let rep = match r {
                    Resource::Categories => self.pull::<CategoryFeed>(o).await?,
                    Resource::TaxRules => self.pull::<TaxRuleFeed>(o).await?,
                    Resource::Slots => self.pull::<SlotFeed>(o).await?,
                    Resource::SigningKeys => self.pull::<SigningKeyFeed>(o).await?,
                    Resource::Catalog => self.pull::<CatalogFeed>(o).await?,
                    Resource::Constituents => self.pull::<ConstituentFeed>(o).await?,
                    Resource::Memberships => self.pull::<MembershipFeed>(o).await?,
                    Resource::Tickets => self.pull::<TicketFeed>(o).await?,
                    Resource::Merges => self.pull::<MergeFeed>(o).await?,
                    Resource::Jobs => self.pull::<JobFeed>(o).await?,
                    Resource::VolunteerEvents => self.pull::<VolunteerEventFeed>(o).await?,
                    Resource::VolunteerShifts => self.pull::<VolunteerShiftFeed>(o).await?,
                };
                total.pages += rep.pages;
                total.upserts += rep.upserts;
                total.deletes += rep.deletes;
            }
            Ok::<_, SyncError>(())
        }
        .await;
        self.note(result.as_ref().map(|_| ()), false);
        result?;
        tracing::info!(
            pages = total.pages,
            upserts = total.upserts,
            deletes = total.deletes,
            "pull complete"
        );
        Ok(total)
    }

    /// Pulls one feed: pages are fetched and decoded ahead while the writer applies the one
    /// before, a chunk at a time.
    async fn pull<F: Feed>(&self, observer: Option<Observer>) -> Result<PullReport, SyncError> {
        let resource = F::RESOURCE;
        let start = self.read(move |c| replica::cursor(c, resource)).await?;
        let page_size = self.cfg.sync.page_size;
        let (tx, rx) = mpsc::channel::<FeedPage<F::Dto>>(2);
        let client = self.client.clone();

        let fetch = async move {
            // Every record the pull brings is held by the replica as it was at `start` or
            // later, whatever page it comes in: the hub names its parts changed since then.
            let since = start.clone();
            let mut cursor = start;
            let mut limit = FIRST_PAGE.min(page_size);
            // Cursors this pull was given: a hub that hands one out again would loop forever.
            let mut seen: std::collections::HashSet<String> = cursor.iter().cloned().collect();
            loop {
                let bytes = client
                    .feed_bytes(resource, cursor.as_deref(), since.as_deref(), limit)
                    .await?;
                limit = next_page_size(limit, page_size);
                let page =
                    tokio::task::spawn_blocking(move || decode_page::<F::Dto>(resource, &bytes))
                        .await
                        .map_err(local)??;
                if page.has_more && page.changes.is_empty() {
                    return Err(SyncError::Protocol(format!(
                        "{resource}: hub announced more changes but sent none"
                    )));
                }
                let more = page.has_more;
                if more && !seen.insert(page.next_cursor.clone()) {
                    return Err(SyncError::Protocol(format!(
                        "{resource}: the hub gave cursor {:?} again and announced more; \
                         the feed would never end",
                        crate::sync::client::printable(&page.next_cursor, 40)
                    )));
                }
                cursor = Some(page.next_cursor.clone());
                if tx.send(page).await.is_err() {
                    break; // the writer stopped; its error is reported
                }
                if !more {
                    break;
                }
            }
            Ok::<_, SyncError>(())
        };

        // Owns the receiving end: should applying fail, the fetcher's next send fails too and
        // it stops.
        let apply = async move {
            let mut state = Applying {
                pages: rx,
                page: None,
                report: PullReport::default(),
                applied: 0,
                announced: None,
            };
            loop {
                if state.page.is_none() {
                    match state.pages.recv().await {
                        Some(page) => state.page = Some((page, 0)),
                        None => break,
                    }
                }
                let applier = self.applier.clone();
                let now = self.clock.now();
                let waiting = self.store.others_waiting();
                state = self
                    .write(move |tx| {
                        let waiting = || waiting.now();
                        state.job(tx, resource, now, &waiting, |part| {
                            F::apply(&applier, tx, part)
                        })?;
                        Ok(state)
                    })
                    .await?;
                if let Some(obs) = &observer {
                    obs(resource, state.applied, state.announced);
                }
            }
            Ok::<_, SyncError>(state.report)
        };
        let (fetched, applied) = tokio::join!(fetch, apply);
        let report = applied?;
        fetched?;
        if report.pages > 0 {
            tracing::debug!(resource = %resource, pages = report.pages, upserts = report.upserts, "feed applied");
        }
        Ok(report)
    }

    /// Hourly upkeep of what the device itself writes: delivered outbox rows older than
    /// `sync.keep_delivered` are deleted; on a gate the scan log's scans older than
    /// `gate.scan_log_retention` are folded into use tallies ([`crate::gate::retention`]),
    /// [`HOUSEKEEPING_SCANS`] at most per call, in small writer jobs; and a kiosk's records
    /// older than `kiosk.keep_records` that the hub has are deleted
    /// ([`crate::kiosk::retention`]), a batch per writer job.
    pub async fn housekeep(&self) -> Result<Housekeeping, SyncError> {
        let now = self.clock.now();
        let keep = chrono::Duration::from_std(self.cfg.sync.keep_delivered).unwrap_or_default();
        let before = (now - keep).timestamp_millis();
        let pruned = self
            .write(move |tx| outbox::prune_delivered(tx, before))
            .await?;
        let zone = self.cfg.timezone;
        let compaction = match self.cfg.gate.as_ref().map(|g| g.scan_log_retention) {
            Some(keep) => {
                let store = self.store.clone();
                let cutoff = retention::Cutoff::before(now, keep, |t| {
                    crate::gate::station::now_local(t, zone).local
                });
                tokio::task::spawn_blocking(move || {
                    retention::compact(&store, cutoff, HOUSEKEEPING_SCANS)
                })
                .await
                .map_err(local)??
            }
            None => Compaction::default(),
        };
        // Every device's database has the kiosk's tables; a device that never sold finds
        // nothing to do.
        let keep_records = self
            .cfg
            .kiosk
            .as_ref()
            .map_or(kiosk_retention::DEFAULT_KEEP, |k| k.keep_records);
        let cutoff = kiosk_retention::Cutoff::before(
            now.timestamp_millis(),
            crate::gate::station::now_local(now, zone).local,
            keep_records,
        );
        let mut records = kiosk_retention::Pruned::default();
        let mut records_more = false;
        for _ in 0..HOUSEKEEPING_RECORD_JOBS {
            let (done, more) = self
                .write(move |tx| kiosk_retention::prune(tx, cutoff))
                .await?;
            records.orders += done.orders;
            records.intents += done.intents;
            records.guest_passes += done.guest_passes;
            records.timesheets += done.timesheets;
            records.lease_calls += done.lease_calls;
            records.leases += done.leases;
            records.kept_unsent = done.kept_unsent;
            records_more = more;
            if !more {
                break;
            }
        }
        if pruned > 0 || compaction.folded > 0 || compaction.kept_unsent > 0 {
            tracing::info!(
                outbox_pruned = pruned,
                scans_folded = compaction.folded,
                tallies = compaction.tallied,
                spent = compaction.spent,
                kept_unsent = compaction.kept_unsent,
                "housekeeping"
            );
        }
        if records.deleted() > 0 || records.kept_unsent > 0 {
            tracing::info!(
                orders = records.orders,
                payment_intents = records.intents,
                guest_passes = records.guest_passes,
                timesheets = records.timesheets,
                lease_calls = records.lease_calls,
                leases = records.leases,
                kept_unsent = records.kept_unsent,
                "kiosk records older than kiosk.keep_records deleted"
            );
        }
        Ok(Housekeeping {
            outbox_pruned: pruned,
            scans: compaction,
            kiosk_records: records,
            kiosk_more: records_more,
        })
    }

    /// Purges merged-away records when the purge interval has passed since the last purge.
    /// The first call only starts the interval. Returns how many records were removed.
    pub async fn maybe_purge(&self) -> Result<usize, SyncError> {
        let now = self.clock.now();
        let interval = chrono::Duration::from_std(self.cfg.sync.purge_interval).map_err(local)?;
        let removed = self
            .write(move |tx| {
                let last = replica::state(tx, "last_purge_at")?
                    .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                    .map(|d| d.with_timezone(&Utc));
                if !purge_due(last, now, interval) {
                    if last.is_none() {
                        replica::set_state(tx, "last_purge_at", &now.to_rfc3339())?;
                    }
                    return Ok(None);
                }
                let n = replica::purge_merged(tx)?;
                replica::set_state(tx, "last_purge_at", &now.to_rfc3339())?;
                Ok(Some(n))
            })
            .await?;
        if let Some(n) = removed {
            self.status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last_purge = Some(now);
            tracing::info!(removed = n, "purged merged-away records");
        }
        Ok(removed.unwrap_or(0))
    }

    /// Uploads one batch of due outbox rows and records the hub's answer for each.
    pub async fn push_once(&self) -> Result<PushReport, SyncError> {
        let now_ms = self.clock.now().timestamp_millis();
        let batch = self.cfg.sync.upload_batch;
        let rows = self.read(move |c| outbox::due(c, now_ms, batch)).await?;
        if rows.is_empty() {
            return Ok(PushReport::default());
        }
        if let Err(e) = self.greet().await {
            self.note(Err(&e), true);
            // The rows were due and could not go: they wait out their backoff, as after a
            // failed upload. A hub of another protocol is not a failed try of theirs.
            if !matches!(e, SyncError::Incompatible(_)) {
                self.schedule_retry(&rows, &e).await?;
            }
            return Err(e);
        }
        let mut report = PushReport::default();
        let r = self.deliver(rows, &mut report).await;
        self.note(r.as_ref().map(|_| ()), true);
        r.map(|_| report)
    }

    async fn deliver(
        &self,
        rows: Vec<outbox::OutboxRow>,
        report: &mut PushReport,
    ) -> Result<(), SyncError> {
        let mut upload = Vec::with_capacity(rows.len());
        let mut corrupt = Vec::new();
        for r in &rows {
            match serde_json::from_str(&r.payload) {
                Ok(payload) => upload.push(UploadRow {
                    idempotency_key: r.idempotency_key.clone(),
                    kind: r.kind.clone(),
                    version: r.version,
                    payload,
                    created_at: DateTime::from_timestamp_millis(r.created_at_ms)
                        .unwrap_or_default(),
                }),
                Err(e) => corrupt.push((r.id, format!("stored payload is not JSON: {e}"))),
            }
        }
        if !corrupt.is_empty() {
            report.dead += corrupt.len() as u64;
            self.write(move |tx| {
                for (id, reason) in corrupt {
                    outbox::mark_dead(tx, id, &reason)?;
                }
                Ok(())
            })
            .await?;
        }
        if upload.is_empty() {
            return Ok(());
        }
        let batch = UploadBatch { rows: upload };
        match self.client.upload(&batch).await {
            Ok(resp) => {
                let now = self.clock.now();
                let now_ms = now.timestamp_millis();
                let retry = self.cfg.sync.retry;
                let jitter: f64 = rand::rng().random();
                let results = resp.results;
                let rows2 = rows.clone();
                let counts = self
                    .write(move |tx| {
                        let mut counts = PushReport::default();
                        for row in &rows2 {
                            match results
                                .iter()
                                .find(|x| x.idempotency_key == row.idempotency_key)
                            {
                                Some(res) if res.status == RowStatus::Rejected => {
                                    let reason =
                                        res.reason.clone().unwrap_or_else(|| "rejected".into());
                                    outbox::mark_dead(tx, row.id, &reason)?;
                                    counts.dead += 1;
                                }
                                Some(res) => {
                                    outbox::mark_delivered(tx, row.id, now_ms)?;
                                    if let Some(lookup_id) = res.lookup_id.as_deref() {
                                        remap_created(tx, row, lookup_id, now)?;
                                    }
                                    if res.status == RowStatus::Duplicate {
                                        counts.duplicates += 1;
                                    } else {
                                        counts.delivered += 1;
                                    }
                                }
                                None => {
                                    let at = now_ms
                                        + retry.delay(row.attempts, jitter).as_millis() as i64;
                                    outbox::mark_retry(
                                        tx,
                                        row.id,
                                        at,
                                        "hub reply had no result for this row",
                                    )?;
                                    counts.retrying += 1;
                                }
                            }
                        }
                        Ok(counts)
                    })
                    .await?;
                report.delivered += counts.delivered;
                report.duplicates += counts.duplicates;
                report.dead += counts.dead;
                report.retrying += counts.retrying;
                Ok(())
            }
            Err(SyncError::Rejected { .. }) if rows.len() > 1 => {
                // One bad row must not sink the batch: find it by sending rows one at a time.
                for row in rows {
                    Box::pin(self.deliver(vec![row], report)).await?;
                }
                Ok(())
            }
            Err(SyncError::Rejected { status, message }) => {
                let reason = format!("HTTP {status}: {message}");
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                report.dead += ids.len() as u64;
                self.write(move |tx| {
                    for id in ids {
                        outbox::mark_dead(tx, id, &reason)?;
                    }
                    Ok(())
                })
                .await?;
                Ok(())
            }
            Err(e) => {
                // Transient, certificate, token or auth trouble: keep every row, try later.
                report.retrying += rows.len() as u64;
                self.schedule_retry(&rows, &e).await?;
                Err(e)
            }
        }
    }

    /// Keeps every row of a batch that could not be delivered, each due again after its
    /// backoff, with the reason.
    async fn schedule_retry(
        &self,
        rows: &[outbox::OutboxRow],
        e: &SyncError,
    ) -> Result<(), SyncError> {
        let now_ms = self.clock.now().timestamp_millis();
        let retry = self.cfg.sync.retry;
        let msg = e.to_string();
        let plan: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| {
                let jitter: f64 = rand::rng().random();
                (
                    r.id,
                    now_ms + retry.delay(r.attempts, jitter).as_millis() as i64,
                )
            })
            .collect();
        self.write(move |tx| {
            for (id, at) in plan {
                outbox::mark_retry(tx, id, at, &msg)?;
            }
            Ok(())
        })
        .await
    }

    /// The pull and push loops, until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>, observer: Option<Observer>) {
        let pull = {
            let me = self.clone();
            let mut shutdown = shutdown.clone();
            async move {
                let mut failures = 0u32;
                loop {
                    let wait = match me.pull_all(observer.clone()).await {
                        Ok(_) => {
                            failures = 0;
                            if let Err(e) = me.maybe_purge().await {
                                tracing::error!(error = %e, "purge failed");
                            }
                            me.cfg.sync.pull_interval
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "pull failed");
                            failures = failures.saturating_add(1);
                            let d = me.cfg.sync.retry.delay(failures, rand::rng().random());
                            d.min(me.cfg.sync.pull_interval)
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = me.pull_now.notified() => {}
                        _ = shutdown.changed() => break,
                    }
                    if *shutdown.borrow() {
                        break;
                    }
                }
            }
        };
        let push = {
            let me = self.clone();
            let mut shutdown = shutdown.clone();
            async move {
                let mut housekeeping_due = std::time::Instant::now();
                loop {
                    let wait = match me.push_once().await {
                        Ok(r) if r.delivered + r.duplicates + r.dead > 0 => Duration::ZERO,
                        Ok(_) => me.cfg.sync.upload_interval,
                        Err(SyncError::Unauthorized(e)) => {
                            tracing::error!(error = %e, "hub refuses this device's token; uploads paused");
                            Duration::from_secs(30).max(me.cfg.sync.upload_interval)
                        }
                        Err(e @ SyncError::Incompatible(_)) => {
                            tracing::error!(error = %e, "uploads paused");
                            Duration::from_secs(60).max(me.cfg.sync.upload_interval)
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "upload failed; rows kept for retry");
                            me.cfg.sync.upload_interval
                        }
                    };
                    if std::time::Instant::now() >= housekeeping_due {
                        let next = match me.housekeep().await {
                            // A long scan log is folded, and a kiosk's years of records
                            // deleted, a slice at a time.
                            Ok(done) if done.scans.more || done.kiosk_more => HOUSEKEEPING_BACKLOG,
                            Ok(_) => HOUSEKEEPING_INTERVAL,
                            Err(e) => {
                                tracing::warn!(error = %e, "housekeeping failed; tried again in an hour");
                                HOUSEKEEPING_INTERVAL
                            }
                        };
                        housekeeping_due = std::time::Instant::now() + next;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = me.push_now.notified() => {}
                        _ = shutdown.changed() => break,
                    }
                    if *shutdown.borrow() {
                        break;
                    }
                }
            }
        };
        tokio::join!(pull, push);
    }
}

/// The hub answered a `new_constituent` row with the Lookup ID of the record it created or
/// matched: every local reference to the row's local id is remapped to it, in the same
/// transaction that marks the row delivered.
fn remap_created(
    tx: &Connection,
    row: &outbox::OutboxRow,
    lookup_id: &str,
    now: DateTime<Utc>,
) -> replica::Result<()> {
    if row.kind != outbox::kinds::NEW_CONSTITUENT.0 {
        return Ok(());
    }
    let read = serde_json::from_str(&row.payload)
        .map_err(|e| e.to_string())
        .and_then(|payload| {
            crate::upstream::Upstream::decode(&row.kind, row.version, &payload)
                .map_err(|e| e.to_string())
        });
    match read {
        Ok(crate::upstream::Upstream::NewConstituent(p)) => match p.local_id {
            Some(local_id) => {
                crate::intake::remap::remap_local_id(tx, &local_id, lookup_id, now).map(drop)
            }
            None => Ok(()),
        },
        // The hub took the row, but this build cannot read the local id in it: its local
        // references stay as they are until a technician looks (never silently skipped).
        Ok(_) | Err(_) => replica::keep_aside(
            tx,
            &format!(
                "outbox row {} ({} v{}), which the hub recorded as {lookup_id}",
                row.id, row.kind, row.version
            ),
            &format!(
                "its local id cannot be read back ({}), so local references to it were not \
                 renamed",
                read.err().unwrap_or_else(|| "not a new constituent".into())
            ),
            Some(&row.payload),
            now.timestamp_millis(),
        ),
    }
}

/// A fingerprint of the device token, to notice that it changed (kept in memory only).
fn token_fingerprint(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// Whether a purge is due: `interval` has passed since the last one. Never due before the
/// first purge time is recorded (the interval starts with the first sync).
pub fn purge_due(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: chrono::Duration,
) -> bool {
    last.is_some_and(|last| now - last >= interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pages_start_small_and_double_up_to_the_page_size() {
        let asked = |page_size: u32, pages: usize| {
            std::iter::successors(Some(FIRST_PAGE.min(page_size)), |&n| {
                Some(next_page_size(n, page_size))
            })
            .take(pages)
            .collect::<Vec<_>>()
        };
        assert_eq!(asked(2000, 6), [250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(asked(1500, 4), [250, 500, 1000, 1500]);
        assert_eq!(asked(100, 3), [100, 100, 100]);
        assert_eq!(asked(1, 3), [1, 1, 1]);
        assert_eq!(next_page_size(u32::MAX, u32::MAX), u32::MAX);
    }

    /// A row the hub took but this build cannot read back (a newer build's version, after a
    /// downgrade) is kept aside and listed, never skipped in silence.
    #[test]
    fn a_created_row_this_build_cannot_read_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::replica::Store::open(&dir.path().join("d.db")).unwrap();
        let row = outbox::OutboxRow {
            id: 17,
            kind: "new_constituent".into(),
            version: 2,
            payload: r#"{"names": {"given": "Ada"}, "local": "L-1"}"#.into(),
            idempotency_key: "k".into(),
            created_at_ms: 0,
            attempts: 0,
            next_attempt_at_ms: 0,
            last_error: None,
            state: "pending".into(),
            dead_reason: None,
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
        store
            .write(move |tx| remap_created(tx, &row, "8-10000042", now))
            .unwrap();
        let kept = crate::replica::kept_aside_records(&store.reader().unwrap()).unwrap();
        assert_eq!(kept.len(), 1);
        assert!(
            kept[0].contains("outbox row 17 (new_constituent v2)")
                && kept[0].contains("8-10000042")
                && kept[0].contains("version 2 is not supported"),
            "{kept:?}"
        );
    }

    #[test]
    fn purge_runs_every_interval_and_not_before() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
        let eight = chrono::Duration::hours(8);
        let cases = [
            (None, t0, false),
            (Some(t0), t0, false),
            (Some(t0), t0 + chrono::Duration::minutes(479), false),
            (Some(t0), t0 + eight, true),
            (Some(t0), t0 + chrono::Duration::days(3), true),
        ];
        for (last, now, due) in cases {
            assert_eq!(purge_due(last, now, eight), due, "last {last:?} now {now}");
        }
    }
}
