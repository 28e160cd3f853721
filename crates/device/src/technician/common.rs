//! What the technician screen does alike on every device with a screen (a kiosk, a gate): the
//! PIN checked on a worker thread (Argon2id takes a moment), the facts of the status, inputs and
//! volunteer pages, and the actions every device offers (sync now, re-queue refused uploads).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{Entry, PinAnswer};
use crate::kiosk::checkout::InputSeen;
use crate::replica::{self, Store};
use crate::screens::technician_view::TechFacts;
use crate::sync::LinkStatus;

/// How long an open technician session lasts untouched, on every device.
pub const SESSION_IDLE: Duration = Duration::from_secs(300);
/// How often an open page's facts are read again.
pub const FACTS_REFRESH: Duration = Duration::from_secs(2);

/// Checks `pin` against the PIN file (and the lock-out kept in the database) on a worker
/// thread; `reply` gets the answer there. Without a PIN file no PIN opens the pages.
pub fn check_pin(
    store: Arc<Store>,
    file: Option<PathBuf>,
    pin: String,
    now: DateTime<Utc>,
    reply: impl FnOnce(PinAnswer) + Send + 'static,
) {
    let Some(file) = file else {
        tracing::error!("a PIN was entered but this device has no technician_pin_file");
        reply(PinAnswer::Wrong);
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("technician-pin".into())
        .spawn(move || {
            let answer =
                match store.reader().map_err(|e| e.to_string()).and_then(|r| {
                    super::enter(&store, &r, &file, &pin, now).map_err(|e| e.to_string())
                }) {
                    Ok(Entry::Granted) => {
                        tracing::info!("technician PIN accepted");
                        PinAnswer::Granted
                    }
                    Ok(Entry::Wrong) => {
                        tracing::warn!("wrong technician PIN");
                        PinAnswer::Wrong
                    }
                    Ok(Entry::Locked(wait)) => {
                        tracing::warn!(secs = wait.as_secs(), "technician PIN entry locked");
                        PinAnswer::Locked(wait)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the technician PIN could not be checked");
                        PinAnswer::Wrong
                    }
                };
            reply(answer);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot check the technician PIN");
    }
}

/// What the common pages are read from.
pub struct Sources<'a> {
    pub reader: &'a Connection,
    pub device_id: &'a str,
    pub roles: &'a [String],
    /// The configured readers, with the last frame each sent since the screen opened.
    pub readers: &'a [String],
    pub seen: &'a BTreeMap<String, InputSeen>,
    /// The sync engine's view of the link (`None`: no engine runs beside the screen).
    pub link: Option<LinkStatus>,
    pub hub_silent_for: Option<Duration>,
    pub now: DateTime<Utc>,
}

/// The facts of the status, inputs and volunteer events pages (the rest left empty for the
/// device's own pages to fill).
pub fn facts(s: Sources<'_>) -> replica::Result<TechFacts> {
    let link = s.link.clone().unwrap_or_default();
    let report =
        crate::status::report(s.reader, s.device_id, s.roles.to_vec(), link.clone(), s.now)?;
    Ok(TechFacts {
        device_id: s.device_id.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        online: link.online || s.link.is_none(),
        hub_silent_for: s.hub_silent_for,
        last_pull: link.last_pull_ok,
        last_push: link.last_push_ok,
        outbox_waiting: report.outbox.pending,
        dead_letters: report.outbox.dead,
        kept_aside: report.kept_aside.len() as u64,
        constituents: report.constituents,
        memberships: report.memberships,
        tickets: report.tickets,
        disk: report.storage.map(|st| (st.free_bytes, st.total_bytes)),
        readers: s
            .readers
            .iter()
            .map(|r| (r.clone(), s.seen.get(r).cloned()))
            .collect(),
        event_problems: report
            .volunteers
            .map(|v| v.event_problems)
            .unwrap_or_default(),
        ..TechFacts::default()
    })
}

/// "Sync now": asks the sync engine to pull and upload at once.
pub fn sync_now(sync: Option<&Arc<dyn Fn() + Send + Sync>>) -> String {
    match sync {
        Some(sync) => {
            sync();
            "Pulling and uploading now.".to_owned()
        }
        None => "This device has no hub link to sync with.".to_owned(),
    }
}

/// "Re-queue refused uploads": every dead letter back in the upload queue, then a sync.
pub fn requeue_refused(
    store: &Store,
    now: DateTime<Utc>,
    sync: Option<&Arc<dyn Fn() + Send + Sync>>,
) -> String {
    let now_ms = now.timestamp_millis();
    match store
        .write(move |tx| crate::outbox::requeue(tx, &crate::outbox::Requeue::AllDead, now_ms))
    {
        Ok(done) => {
            if let Some(sync) = sync {
                sync();
            }
            format!(
                "{} refused upload(s) put back in the queue.",
                done.requeued.len()
            )
        }
        Err(e) => format!("Nothing was put back: {e}"),
    }
}

/// The frame a reader sent, for the scan test: its bytes in hex and what they parse to.
pub fn input_seen(credential: &crate::input::credential::Credential) -> InputSeen {
    use crate::input::credential::CredentialKind as K;
    let hex: Vec<String> = credential
        .raw
        .iter()
        .take(48)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut hex = hex.join(" ");
    if credential.raw.len() > 48 {
        hex.push_str(" …");
    }
    let parsed = match &credential.kind {
        K::Membership { membership_id } => format!("membership {membership_id}"),
        K::LookupId { lookup_id } => format!("constituent {lookup_id}"),
        K::TicketSecret { .. } => "ticket".to_owned(),
        K::SignedTicket(_) | K::KioskTicket { .. } => "signed ticket".to_owned(),
        K::Magstripe(_) => "magnetic stripe card".to_owned(),
        K::RfidUid { uid_hex, .. } => format!("card UID {uid_hex}"),
        K::Wiegand26(w) => format!("Wiegand card {w:?}"),
        K::Gs1 { .. } => "GS1 code".to_owned(),
        K::Unrecognized { reason } => format!("not accepted: {reason:?}"),
    };
    InputSeen {
        reader: credential.reader.clone(),
        hex,
        parsed,
    }
}
