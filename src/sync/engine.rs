//! The device's sync engine: pulls the change feeds into the replica, pushes the outbox, purges
//! merged-away records, and keeps the link status that `portico status` shows.
//!
//! Pull and push are independent loops: a failing upload never holds up downloads, and the
//! other way round. Each feed page is applied with its cursor in one transaction; the next page
//! is fetched and decoded while the current one is written.

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
use crate::outbox;
use crate::protocol::{
    Change, ConstituentDto, FeedPage, MembershipDto, MergeDto, ProductDto, Resource, RowStatus,
    TicketDto, UploadBatch, UploadRow,
};
use crate::replica::{self, Applier, ApplyStats};

/// What the device knows about its link to the hub.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct LinkStatus {
    pub online: bool,
    pub unauthorized: bool,
    /// The hub speaks another protocol version (or the token is another device's): nothing is
    /// pulled or pushed until that is fixed; the hub is greeted again at every attempt.
    #[serde(default)]
    pub incompatible: bool,
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

/// Bound on the changes one feed transaction holds when pages arrive faster than they are
/// written.
const MAX_CHANGES_PER_COMMIT: usize = 20_000;

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

fn local<E: std::fmt::Display>(e: E) -> SyncError {
    SyncError::Local(e.to_string())
}

pub struct SyncEngine {
    cfg: Arc<DeviceConfig>,
    client: HubClient,
    db: Arc<Mutex<Connection>>,
    /// The feed writer's own connection, opened on first use.
    pull_db: Arc<Mutex<Option<Connection>>>,
    clock: Arc<dyn Clock>,
    applier: Applier,
    status: Mutex<LinkStatus>,
    /// The hub answered hello on the current link: cleared at start and by every link fault,
    /// so a device greets the hub (and checks its protocol) before anything else.
    greeted: Mutex<bool>,
    /// Wakes the pull loop for an on-demand sync.
    pub pull_now: Notify,
    /// Wakes the push loop (e.g. after a decision enqueued a row).
    pub push_now: Notify,
}

impl SyncEngine {
    pub fn new(
        cfg: Arc<DeviceConfig>,
        db: Arc<Mutex<Connection>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SyncError> {
        let client = HubClient::new(&cfg.upstream)?;
        Ok(Self {
            applier: Applier::new(cfg.normalizer.clone()),
            cfg,
            client,
            db,
            pull_db: Arc::new(Mutex::new(None)),
            clock,
            status: Mutex::new(LinkStatus::default()),
            greeted: Mutex::new(false),
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

    pub fn database(&self) -> Arc<Mutex<Connection>> {
        self.db.clone()
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
                s.last_error = None;
                if push {
                    s.last_push_ok = Some(now);
                } else {
                    s.last_pull_ok = Some(now);
                }
            }
            Err(e) => {
                s.last_error = Some(e.to_string());
                if e.is_link_fault() {
                    *self.greeted.lock().unwrap_or_else(|p| p.into_inner()) = false;
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
                    SyncError::Rejected { .. } => s.online = true,
                    SyncError::Local(_) => {}
                    _ => s.online = false,
                }
            }
        }
    }

    /// Greets the hub unless it already answered hello on this link: checks it speaks this
    /// device's protocol and knows the token as this device's. Called before every pull and
    /// upload, so a device greets the hub when it starts and again after every link fault.
    async fn greet(&self) -> Result<(), SyncError> {
        if *self.greeted.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(());
        }
        self.greet_now().await.map(drop)
    }

    async fn greet_now(&self) -> Result<crate::protocol::Hello, SyncError> {
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
        *self.greeted.lock().unwrap_or_else(|p| p.into_inner()) = true;
        Ok(hello)
    }

    /// Runs `f` on the device database on a blocking thread.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, SyncError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            // Background work: a gate deciding scans on this machine goes first.
            crate::priority::in_background(|| {
                let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut conn)
            })
        })
        .await
        .map_err(local)?
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
        if let Err(e) = self.greet().await {
            self.note(Err(&e), false);
            return Err(e);
        }
        let warm = ReadBack::start(self.cfg.database_path());
        let result = async {
            for r in Resource::ALL {
                let (o, w) = (observer.clone(), warm.clone());
                let rep = match r {
                    Resource::Catalog => self.pull::<CatalogFeed>(o, w).await?,
                    Resource::Constituents => self.pull::<ConstituentFeed>(o, w).await?,
                    Resource::Memberships => self.pull::<MembershipFeed>(o, w).await?,
                    Resource::Tickets => self.pull::<TicketFeed>(o, w).await?,
                    Resource::Merges => self.pull::<MergeFeed>(o, w).await?,
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

    /// Pulls one feed. `warm` is the read-back of what the kernel dropped of the replica,
    /// started by [`Self::pull_all`]; when most of the file was gone, the writer waits for it
    /// before its first change rather than wait for the disk at each cold page.
    async fn pull<F: Feed>(
        &self,
        observer: Option<Observer>,
        warm: Arc<ReadBack>,
    ) -> Result<PullReport, SyncError> {
        let resource = F::RESOURCE;
        let start = self
            .with_db(move |c| replica::cursor(c, resource).map_err(local))
            .await?;
        let page_size = self.cfg.sync.page_size;
        let (tx, mut rx) = mpsc::channel::<FeedPage<F::Dto>>(2);
        let client = self.client.clone();

        let fetch = async move {
            // Every record the pull brings is held by the replica as it was at `start` or
            // later, whatever page it comes in: the hub names its parts changed since then.
            let since = start.clone();
            let mut cursor = start;
            let mut limit = FIRST_PAGE.min(page_size);
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

        // The writer runs on one blocking thread with its own connection, so readers (status,
        // lookups) and the upload loop are never queued behind a long first sync. Pages that
        // are already waiting are folded into the same transaction (up to a bound), saving a
        // commit per page; the cursor stored is always that of the last page applied.
        let pull_db = self.pull_db.clone();
        let path = self.cfg.database_path();
        let applier = self.applier.clone();
        let clock = self.clock.clone();
        let apply = tokio::task::spawn_blocking(move || {
            crate::priority::in_background(|| {
                let mut guard = pull_db.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    *guard = Some(replica::open(&path).map_err(local)?);
                }
                let Some(conn) = guard.as_mut() else {
                    return Err(SyncError::Local("no database connection".into()));
                };
                let mut report = PullReport::default();
                let mut applied = 0u64;
                let mut announced = None;
                while let Some(first) = rx.blocking_recv() {
                    if !first.changes.is_empty() {
                        warm.wait_if_mostly_evicted();
                    }
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(local)?;
                    let mut page = Some(first);
                    let mut in_tx = 0usize;
                    let mut cursor = None;
                    let mut waited = Duration::ZERO;
                    let started = std::time::Instant::now();
                    let lock_mark = replica::lock_wait_mark();
                    while let Some(p) = page.take() {
                        if announced.is_none() {
                            announced = p.remaining.map(|r| r + p.changes.len() as u64);
                        }
                        let more = p.has_more;
                        let stats = F::apply(&applier, &tx, &p.changes).map_err(local)?;
                        cursor = Some(p.next_cursor);
                        report.pages += 1;
                        report.upserts += stats.upserts;
                        report.deletes += stats.deletes;
                        in_tx += p.changes.len();
                        applied += p.changes.len() as u64;
                        if in_tx < MAX_CHANGES_PER_COMMIT {
                            let asked = std::time::Instant::now();
                            page = next_page_in_time(&mut rx, more, || {
                                replica::lock_wanted_since(lock_mark)
                            });
                            waited += asked.elapsed();
                        }
                    }
                    // The cursor of the last page folded in, written once with the changes it
                    // covers: one write of the cursor row per transaction, not one per page.
                    if let Some(cursor) = cursor {
                        replica::set_cursor(&tx, resource, &cursor, clock.now()).map_err(local)?;
                    }
                    let applied_in = started.elapsed();
                    commit(tx)?;
                    tracing::debug!(
                        resource = %resource,
                        changes = in_tx,
                        apply_ms = applied_in.as_millis() as u64,
                        waited_for_pages_ms = waited.as_millis() as u64,
                        commit_ms = (started.elapsed() - applied_in).as_millis() as u64,
                        "feed changes committed"
                    );
                    if let Some(obs) = &observer {
                        obs(resource, applied, announced);
                    }
                    if replica::lock_wanted_since(lock_mark) {
                        std::thread::sleep(replica::WRITER_GAP);
                    }
                }
                Ok::<_, SyncError>(report)
            })
        });
        let apply = async { apply.await.map_err(local)? };

        let (fetched, applied) = tokio::join!(fetch, apply);
        let report = applied?;
        fetched?;
        if report.pages > 0 {
            tracing::debug!(resource = %resource, pages = report.pages, upserts = report.upserts, "feed applied");
        }
        Ok(report)
    }

    /// Hourly upkeep of what the device itself writes: delivered outbox rows older than
    /// `sync.keep_delivered` are deleted, and on a gate the scan log's scans older than
    /// `gate.scan_log_retention` are folded into use tallies ([`crate::gate::retention`]),
    /// [`HOUSEKEEPING_SCANS`] at most per call. The fold has a connection of its own, so pulls
    /// and uploads never wait for it.
    pub async fn housekeep(&self) -> Result<(usize, Compaction), SyncError> {
        let now = self.clock.now();
        let keep = chrono::Duration::from_std(self.cfg.sync.keep_delivered).unwrap_or_default();
        let before = (now - keep).timestamp_millis();
        let pruned = self
            .with_db(move |c| outbox::prune_delivered(c, before).map_err(local))
            .await?;
        let compaction = match self.cfg.gate.as_ref().map(|g| g.scan_log_retention) {
            Some(keep) => {
                let db = self.cfg.database_path();
                let zone = self.cfg.timezone;
                tokio::task::spawn_blocking(move || {
                    crate::priority::in_background(|| {
                        let mut conn = replica::open(&db).map_err(local)?;
                        let cutoff = retention::Cutoff::before(now, keep, |t| {
                            crate::gate::station::now_local(t, zone).local
                        });
                        retention::compact(&mut conn, cutoff, HOUSEKEEPING_SCANS).map_err(local)
                    })
                })
                .await
                .map_err(local)??
            }
            None => Compaction::default(),
        };
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
        Ok((pruned, compaction))
    }

    /// Purges merged-away records when the purge interval has passed since the last purge.
    /// The first call only starts the interval. Returns how many records were removed.
    pub async fn maybe_purge(&self) -> Result<usize, SyncError> {
        let now = self.clock.now();
        let interval = chrono::Duration::from_std(self.cfg.sync.purge_interval).map_err(local)?;
        let removed = self
            .with_db(move |conn| {
                let last = replica::state(conn, "last_purge_at")
                    .map_err(local)?
                    .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                    .map(|d| d.with_timezone(&Utc));
                if !purge_due(last, now, interval) {
                    if last.is_none() {
                        replica::set_state(conn, "last_purge_at", &now.to_rfc3339())
                            .map_err(local)?;
                    }
                    return Ok(None);
                }
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(local)?;
                let n = replica::purge_merged(&tx).map_err(local)?;
                replica::set_state(&tx, "last_purge_at", &now.to_rfc3339()).map_err(local)?;
                commit(tx)?;
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
        let rows = self
            .with_db(move |c| outbox::due(c, now_ms, batch).map_err(local))
            .await?;
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
            self.with_db(move |c| {
                for (id, reason) in corrupt {
                    outbox::mark_dead(c, id, &reason).map_err(local)?;
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
                    .with_db(move |c| {
                        let tx = c
                            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                            .map_err(local)?;
                        let mut counts = PushReport::default();
                        for row in &rows2 {
                            match results
                                .iter()
                                .find(|x| x.idempotency_key == row.idempotency_key)
                            {
                                Some(res) if res.status == RowStatus::Rejected => {
                                    let reason =
                                        res.reason.clone().unwrap_or_else(|| "rejected".into());
                                    outbox::mark_dead(&tx, row.id, &reason).map_err(local)?;
                                    counts.dead += 1;
                                }
                                Some(res) => {
                                    outbox::mark_delivered(&tx, row.id, now_ms).map_err(local)?;
                                    if let Some(lookup_id) = res.lookup_id.as_deref() {
                                        remap_created(&tx, row, lookup_id, now)?;
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
                                        &tx,
                                        row.id,
                                        at,
                                        "hub reply had no result for this row",
                                    )
                                    .map_err(local)?;
                                    counts.retrying += 1;
                                }
                            }
                        }
                        commit(tx)?;
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
                self.with_db(move |c| {
                    for id in ids {
                        outbox::mark_dead(c, id, &reason).map_err(local)?;
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
        self.with_db(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(local)?;
            for (id, at) in plan {
                outbox::mark_retry(&tx, id, at, &msg).map_err(local)?;
            }
            commit(tx)?;
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
                            // A long scan log is folded a slice at a time.
                            Ok((_, fold)) if fold.more => HOUSEKEEPING_BACKLOG,
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

/// Below this share of the replica in memory, the feed writer waits for the read-back before
/// its first change. Replays of 10,000 changes on a 1-million-constituent replica with 36 %
/// of it resident: 1.2–1.6 s waiting, against 2.2–3.3 s applying straight away (each change's
/// cold pages read at random); with 80–95 % resident, waiting added the read-back's
/// 0.15–0.25 s to a delta of 0.6–0.75 s, and applying alongside it cost nothing.
const WAIT_BELOW_RESIDENT_PCT: f64 = 75.0;

/// The read-back of the replica before a pull ([`replica::residency::warm_if_evicted`]), on a
/// thread of its own at background CPU and idle I/O priority, so it runs while the first feed
/// pages are fetched and never holds back a gate's (or the feed writer's) disk reads. When most
/// of the file was gone, the first feed writer with changes to apply waits for it.
struct ReadBack {
    /// The share of the file in memory when the read-back started (`None`: unknown, nothing
    /// read): on its way from the thread, then kept.
    measured: Mutex<Measured>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

enum Measured {
    Coming(std::sync::mpsc::Receiver<Option<f64>>),
    Known(Option<f64>),
}

impl ReadBack {
    fn start(db: std::path::PathBuf) -> Arc<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("replica-readback".into())
            .spawn(move || {
                crate::priority::lower_this_thread();
                crate::priority::idle_io_this_thread();
                match replica::residency::resident(&db) {
                    Ok(r) => {
                        let _ = tx.send(Some(r.percent()));
                        replica::residency::warm_from(&db, r, "pull");
                    }
                    Err(e) => {
                        let _ = tx.send(None);
                        tracing::debug!(error = %e, "replica residency unknown; not reading it back");
                    }
                }
            });
        let handle = spawned
            .map_err(|e| tracing::warn!(error = %e, "cannot start reading back the replica"))
            .ok();
        Arc::new(Self {
            measured: Mutex::new(Measured::Coming(rx)),
            handle: Mutex::new(handle),
        })
    }

    /// Blocks until the read-back has finished when less than [`WAIT_BELOW_RESIDENT_PCT`] of
    /// the file was in memory; otherwise returns once the residency is measured (a `mincore`
    /// pass) and the read-back goes on beside the writer.
    fn wait_if_mostly_evicted(&self) {
        let measured = {
            let mut m = self.measured.lock().unwrap_or_else(|p| p.into_inner());
            let pct = match &*m {
                Measured::Known(pct) => *pct,
                // The thread sends first thing; a thread that never started sends nothing.
                Measured::Coming(rx) => rx.recv().ok().flatten(),
            };
            *m = Measured::Known(pct);
            pct
        };
        let mut handle = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pct) = measured
            && pct < WAIT_BELOW_RESIDENT_PCT
            && let Some(h) = handle.take()
            && h.join().is_err()
        {
            tracing::warn!("reading back the replica failed");
        }
    }
}

/// How long the feed writer keeps its transaction open for a page the hub has announced
/// (`has_more`) but the fetcher has not yet delivered. Committing at once would cost a commit
/// (and its `fdatasync`) per page whenever the writer outpaces the fetcher, as it does on the
/// small first pages of a delta.
const FOLD_WAIT: Duration = Duration::from_millis(250);

/// The next page to fold into the open transaction: one already waiting, or, when the hub
/// said more is coming, one that arrives within [`FOLD_WAIT`], unless `lock_wanted` says
/// another connection of this process waits for the write lock. `None` means commit now.
fn next_page_in_time<T>(
    rx: &mut mpsc::Receiver<T>,
    more_announced: bool,
    lock_wanted: impl Fn() -> bool,
) -> Option<T> {
    use tokio::sync::mpsc::error::TryRecvError;
    let deadline = std::time::Instant::now() + FOLD_WAIT;
    loop {
        if lock_wanted() {
            return None;
        }
        match rx.try_recv() {
            Ok(page) => return Some(page),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if !more_announced => return None,
            Err(TryRecvError::Empty) => {}
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Commits a feed or upload transaction, then tells the gate when it rewrote use keys (a
/// remapped local id), so the gate reads them again.
fn commit(tx: rusqlite::Transaction<'_>) -> Result<(), SyncError> {
    tx.commit().map_err(local)?;
    crate::gate::use_log::publish_rewrites();
    Ok(())
}

/// The hub answered a `new_constituent` row with the Lookup ID of the record it created or
/// matched: every local reference to the row's local id is remapped to it, in the same
/// transaction that marks the row delivered.
fn remap_created(
    tx: &Connection,
    row: &outbox::OutboxRow,
    lookup_id: &str,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    if row.kind != outbox::kinds::NEW_CONSTITUENT.0 {
        return Ok(());
    }
    let local_id = serde_json::from_str::<crate::intake::NewConstituentV1>(&row.payload)
        .ok()
        .and_then(|p| p.local_id);
    let Some(local_id) = local_id else {
        return Ok(());
    };
    crate::intake::remap::remap_local_id(tx, &local_id, lookup_id, now).map_err(local)?;
    Ok(())
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
    fn the_writer_folds_an_announced_page_that_arrives_while_it_waits() {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.blocking_send(7).unwrap();
        });
        assert_eq!(next_page_in_time(&mut rx, true, || false), Some(7));
        sender.join().unwrap();
    }

    #[test]
    fn the_writer_commits_at_once_when_no_page_is_announced_or_the_lock_is_wanted() {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        // Nothing announced: the last page was the feed's last.
        let started = std::time::Instant::now();
        assert_eq!(next_page_in_time(&mut rx, false, || false), None);
        assert!(started.elapsed() < FOLD_WAIT);
        // A page already waiting is taken whatever was announced.
        tx.try_send(1).unwrap();
        assert_eq!(next_page_in_time(&mut rx, false, || false), Some(1));
        // Another connection waited for the lock since the transaction began: commit now,
        // even with a page ready.
        tx.try_send(2).unwrap();
        assert_eq!(next_page_in_time(&mut rx, true, || true), None);
        assert_eq!(
            rx.try_recv().ok(),
            Some(2),
            "the page stays queued for the next transaction"
        );
        // The fetcher stopped (its error is reported elsewhere).
        drop(tx);
        assert_eq!(next_page_in_time(&mut rx, true, || false), None);
    }

    #[test]
    fn the_writer_stops_waiting_for_an_announced_page_after_the_fold_wait() {
        let (_tx, mut rx) = mpsc::channel::<u32>(2);
        let started = std::time::Instant::now();
        assert_eq!(next_page_in_time(&mut rx, true, || false), None);
        assert!(started.elapsed() >= FOLD_WAIT);
    }

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
