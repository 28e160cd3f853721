//! A real card terminal: nexo's Terminal API, JSON over HTTPS, to the one configured endpoint
//! (a countertop terminal on the venue's network, or its provider's cloud endpoint).
//!
//! The messages and what their answers mean are [`portico_core::kiosk::nexo`]'s; this file
//! only carries them. Each exchange runs on the terminal's own small tokio runtime and the
//! calling thread waits for it, so the kiosk's payment thread, the start-up recovery and the
//! technician screen can all call it, inside an async context or not. Redirects are refused,
//! replies are read up to a cap, and the API key is read from its file at every request and
//! never logged.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use portico_core::kiosk::nexo::{self, NexoError, Parties, ReversalStatus};
use serde_json::Value;

use super::payment::{TerminalOutcome, TerminalStatus};
use super::terminal::{PaymentRequest, PaymentTerminal, TerminalError};
use crate::config::NexoSettings;

/// How long a request other than a payment may take.
const SHORT: Duration = Duration::from_secs(15);
/// The most a terminal's reply may hold.
const REPLY_CAP: usize = 256 * 1024;

pub struct NexoTerminal {
    parties: Parties,
    url: reqwest::Url,
    api_key_file: Option<PathBuf>,
    timeout: Duration,
    http: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
    /// Payments the visitor cancelled: one not sent yet is not sent at all.
    cancelled: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl NexoTerminal {
    /// A terminal for `settings`; `device_id` names the kiosk unless `sale_id` is set.
    pub fn new(settings: &NexoSettings, device_id: &str) -> Result<Self, TerminalError> {
        let setup = |e: String| TerminalError::Refused(format!("card terminal setup: {e}"));
        let tls =
            crate::tls::client_config(&settings.ca_cert, None).map_err(|e| setup(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .build()
            .map_err(|e| setup(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("card-terminal")
            .enable_all()
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(Self {
            parties: Parties {
                sale_id: settings
                    .sale_id
                    .clone()
                    .unwrap_or_else(|| device_id.to_owned()),
                poi_id: settings.poi_id.clone(),
            },
            url: settings.url.clone(),
            api_key_file: settings.api_key_file.clone(),
            timeout: settings.timeout,
            http,
            runtime: Some(runtime),
            cancelled: Default::default(),
        })
    }

    /// A `ServiceID` for a request other than a payment: ten characters, fresh each time.
    fn service_id() -> String {
        let id = uuid::Uuid::now_v7().simple().to_string();
        id[id.len() - 10..].to_owned()
    }

    /// Posts `message` and returns the reply's body.
    fn exchange(&self, message: &Value, timeout: Duration) -> Result<Vec<u8>, TerminalError> {
        let mut req = self
            .http
            .post(self.url.clone())
            .timeout(timeout)
            .json(message);
        if let Some(file) = &self.api_key_file {
            let key = std::fs::read_to_string(file).map_err(|e| {
                TerminalError::Refused(format!("the API key file {}: {e}", file.display()))
            })?;
            // Sensitive: kept out of the client's debug output and its HTTP/2 header tables.
            let value = reqwest::header::HeaderValue::from_str(key.trim())
                .ok()
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .filter(|_| !key.trim().is_empty())
                .ok_or_else(|| {
                    TerminalError::Refused(format!(
                        "the API key file {} holds no key a request can carry (one line of \
                         printable characters)",
                        file.display()
                    ))
                })?;
            req = req.header("x-api-key", value);
        }
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| TerminalError::Link("the terminal's client has stopped".into()))?;
        let (tx, rx) = mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(send(req).await);
        });
        rx.recv()
            .map_err(|_| TerminalError::Link("the terminal's client has stopped".into()))?
    }

    fn status_of(&self, reference: &str) -> Result<nexo::StatusAnswer, TerminalError> {
        let reply = self.exchange(
            &nexo::status_request(&self.parties, reference, &Self::service_id()),
            SHORT,
        )?;
        nexo::parse_status(&reply, Utc::now()).map_err(answer)
    }

    /// Gives back the payment for `reference` (the terminal's `txn`), once: a reversal the
    /// terminal already made (its answer lost, or sent just before the kiosk died) is found by
    /// asking, and not sent again. A terminal that cannot say is sent the reversal.
    fn reverse(&self, reference: &str, txn: &nexo::PoiTransaction) -> Result<(), TerminalError> {
        let asked = self.exchange(
            &nexo::reversal_status_request(&self.parties, reference, &Self::service_id()),
            SHORT,
        )?;
        match nexo::parse_reversal_status(&asked) {
            Ok(ReversalStatus::Reversed) => return Ok(()),
            Ok(ReversalStatus::InProgress) => {
                return Err(TerminalError::Link(
                    "the payment's reversal is still in progress".into(),
                ));
            }
            Ok(ReversalStatus::NotReversed) | Err(_) => {}
        }
        let reply = self.exchange(
            &nexo::reversal_request(&self.parties, reference, txn),
            SHORT,
        )?;
        nexo::parse_reversal(&reply).map_err(answer)
    }

    /// A payment approved for only part of its amount is given back, and reads as declined:
    /// no order is ever made of it. When the terminal will not reverse it (one reversed
    /// already is found by [`Self::reverse`] and not refused), staff are told to check it in
    /// the terminal's records.
    fn give_back_partial(
        &self,
        reference: &str,
        txn: Option<&nexo::PoiTransaction>,
    ) -> Result<TerminalOutcome, TerminalError> {
        let txn = txn.ok_or_else(|| {
            TerminalError::Link("a partial approval without the terminal's transaction id".into())
        })?;
        match self.reverse(reference, txn) {
            Ok(()) => {}
            Err(TerminalError::Refused(why)) => tracing::error!(
                %reference,
                terminal_txn = %txn.id,
                why = %why,
                "the terminal would not give back a partial approval: check it in its records"
            ),
            Err(link) => return Err(link),
        }
        Ok(TerminalOutcome::Declined {
            reason: "only part of the amount was approved (given back)".into(),
        })
    }
}

impl Drop for NexoTerminal {
    fn drop(&mut self) {
        // Dropped possibly inside an async context, where a runtime may not block.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// An answer the kiosk cannot read leaves the payment's fate unknown (a link fault: the kiosk
/// asks again); a refusal is the terminal's word.
fn answer(e: NexoError) -> TerminalError {
    match e {
        NexoError::Malformed(_) => TerminalError::Link(e.to_string()),
        NexoError::Refused { .. } => TerminalError::Refused(e.to_string()),
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<Vec<u8>, TerminalError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| TerminalError::Link(crate::sync::client::error_chain(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(TerminalError::Refused(format!(
            "the terminal answered with a redirect (HTTP {}), which is not followed",
            status.as_u16()
        )));
    }
    if matches!(status.as_u16(), 401 | 403) {
        return Err(TerminalError::Refused(format!(
            "the terminal refused the kiosk's API key (HTTP {})",
            status.as_u16()
        )));
    }
    if status.is_client_error() {
        return Err(TerminalError::Refused(format!(
            "the terminal refused the request (HTTP {})",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        // The terminal or its provider failed: the payment's fate is unknown until asked.
        return Err(TerminalError::Link(format!("HTTP {}", status.as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| TerminalError::Link(crate::sync::client::error_chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > REPLY_CAP {
            return Err(TerminalError::Link(format!(
                "the terminal's reply is over {REPLY_CAP} bytes"
            )));
        }
    }
    Ok(body)
}

impl PaymentTerminal for NexoTerminal {
    fn start(&self, req: &PaymentRequest) -> Result<TerminalOutcome, TerminalError> {
        if self
            .cancelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&req.reference)
        {
            return Ok(TerminalOutcome::CancelledByVisitor);
        }
        let message = nexo::payment_request(
            &self.parties,
            &req.reference,
            req.amount,
            &req.currency,
            Utc::now(),
        );
        let reply = self.exchange(&message, self.timeout)?;
        let answer = nexo::parse_payment(&reply, Utc::now()).map_err(answer)?;
        if answer.partial {
            return self.give_back_partial(&req.reference, answer.poi_transaction.as_ref());
        }
        Ok(answer.outcome)
    }

    fn status(&self, reference: &str) -> Result<TerminalStatus, TerminalError> {
        let s = self.status_of(reference)?;
        if s.partial {
            let declined = self.give_back_partial(reference, s.poi_transaction.as_ref())?;
            return Ok(TerminalStatus::Completed(declined));
        }
        Ok(s.status)
    }

    fn cancel(&self, reference: &str) -> Result<(), TerminalError> {
        // The abort has no answer of its own: the payment's answer says what happened. An
        // abort that reaches the terminal before the payment does is lost, so it is sent again
        // while the payment is not over, for a few seconds.
        let abort = || {
            self.exchange(
                &nexo::abort_request(&self.parties, reference, &Self::service_id()),
                SHORT,
            )
            .map(|_| ())
        };
        self.cancelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(reference.to_owned());
        abort()?;
        for _ in 0..5 {
            std::thread::sleep(Duration::from_secs(1));
            match self.status_of(reference).map(|s| s.status) {
                Ok(TerminalStatus::InProgress | TerminalStatus::Unknown) => abort()?,
                _ => break,
            }
        }
        Ok(())
    }

    fn void(&self, reference: &str) -> Result<(), TerminalError> {
        let s = self.status_of(reference)?;
        match (&s.status, s.partial) {
            (TerminalStatus::Completed(TerminalOutcome::Approved(_)), true) => self
                .give_back_partial(reference, s.poi_transaction.as_ref())
                .map(|_| ()),
            (TerminalStatus::Completed(TerminalOutcome::Approved(_)), false) => {
                match &s.poi_transaction {
                    Some(txn) => self.reverse(reference, txn),
                    None => Err(TerminalError::Link(
                        "an approval without the terminal's transaction id".into(),
                    )),
                }
            }
            (TerminalStatus::InProgress, _) => Err(TerminalError::Refused(
                "the payment is still in progress on the terminal".into(),
            )),
            // Nothing was charged: nothing to give back.
            _ => Ok(()),
        }
    }

    fn ping(&self) -> Result<(), TerminalError> {
        let reply = self.exchange(
            &nexo::diagnosis_request(&self.parties, &Self::service_id()),
            SHORT,
        )?;
        nexo::parse_diagnosis(&reply).map_err(answer)
    }
}
