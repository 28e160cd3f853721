//! Taking a payment and making its order, exactly once, and settling at start-up any payment
//! a crash or a power cut left unsettled (the rules in [`crate::kiosk::payment`]).
//!
//! Blocking: runs on the kiosk's session thread (a payment takes as long as the visitor takes
//! with their card).

use std::sync::Arc;

use crate::clock::Clock;
use crate::intake::IntakeConfig;
use crate::kiosk::order::{Approval, OrderDraft};
use crate::kiosk::orders::{self, CommitCtx, CommittedOrder, OrderError};
use crate::kiosk::payment::{
    NotGivenBack, OnApprovedAfterCrash, Recovery, TerminalOutcome, TerminalStatus, not_given_back,
    recover,
};
use crate::kiosk::signer::Signer;
use crate::kiosk::terminal::{PaymentRequest, PaymentTerminal, TerminalError};
use crate::normalize::Normalizer;
use crate::replica::Store;

/// Why a payment did not make an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPaid {
    Declined,
    CancelledByVisitor,
    TimedOut,
    /// The terminal could not be asked, or its answer was lost and it still does not answer:
    /// the payment is settled at the next start-up or recovery.
    TerminalFault,
}

#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("the kiosk's database")]
    Database(#[from] crate::replica::ReplicaError),
}

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Orders committed for payments approved before the crash.
    pub completed: Vec<CommittedOrder>,
    pub voided: u32,
    /// Approved payments the terminal would not give back and no order could be made of:
    /// staff refund them by hand.
    pub refund_by_hand: u32,
    pub forgotten: u32,
    /// Payments the terminal did not answer for: new sales wait until it does.
    pub unanswered: u32,
}

/// The kiosk's till: its database, terminal and ticket signer.
pub struct Sales {
    pub store: Arc<Store>,
    pub terminal: Arc<dyn PaymentTerminal>,
    pub signer: Arc<Signer>,
    pub clock: Arc<dyn Clock>,
    pub zone: Option<chrono_tz::Tz>,
    pub device_id: String,
    pub order_prefix: String,
    pub normalizer: Normalizer,
    /// Intake's rules for the buyer. The checkout has already asked one more detail when
    /// several records matched; the order then goes to a new record staff review.
    pub intake: IntakeConfig,
    pub on_approved_after_crash: OnApprovedAfterCrash,
}

impl Sales {
    /// A new payment reference (sent to the terminal once, ever).
    pub fn new_reference() -> String {
        format!("PAY-{}", uuid::Uuid::now_v7().simple())
    }

    /// Pays for `draft` and commits its order (`offline`: the hub is out of reach).
    pub fn pay(
        &self,
        draft: &OrderDraft,
        offline: bool,
    ) -> Result<Result<CommittedOrder, NotPaid>, SaleError> {
        self.pay_as(&Self::new_reference(), draft, offline)
    }

    /// [`Self::pay`] under a reference the caller made (to cancel it while it runs).
    pub fn pay_as(
        &self,
        reference: &str,
        draft: &OrderDraft,
        offline: bool,
    ) -> Result<Result<CommittedOrder, NotPaid>, SaleError> {
        // A payment whose fate the terminal has not told yet comes first: until it is settled
        // no other payment starts, so a visitor is never charged a second time for what the
        // first charge may already have paid.
        let open = {
            let conn = self.store.reader()?;
            orders::unsettled(&conn)?
        };
        for intent in open {
            if let Settled::Open = self.settle(&intent.reference, offline)? {
                tracing::warn!(
                    reference = %intent.reference,
                    "a payment's fate is still unknown; no new payment until the terminal answers"
                );
                return Ok(Err(NotPaid::TerminalFault));
            }
        }
        let reference = reference.to_owned();
        let now_ms = self.clock.now().timestamp_millis();
        write(&self.store, |tx| {
            orders::start_intent(tx, &reference, draft, now_ms)
        })?;
        let req = PaymentRequest {
            reference: reference.clone(),
            amount: draft.quote.gross,
            currency: draft.quote.currency.clone(),
        };
        tracing::info!(%reference, amount = req.amount, "payment started");
        let outcome = self.terminal.start(&req);
        match outcome {
            Ok(TerminalOutcome::Approved(approval)) => {
                self.commit(&reference, &approval, offline).map(Ok)
            }
            Ok(other) => {
                let why = match other {
                    TerminalOutcome::Declined { .. } => NotPaid::Declined,
                    TerminalOutcome::CancelledByVisitor => NotPaid::CancelledByVisitor,
                    _ => NotPaid::TimedOut,
                };
                self.fail(&reference, &format!("{why:?}"))?;
                Ok(Err(why))
            }
            Err(e) => {
                tracing::warn!(%reference, error = %e, "payment's answer not received; asking the terminal");
                match self.settle(&reference, offline)? {
                    Settled::Order(o) => Ok(Ok(o)),
                    _ => Ok(Err(NotPaid::TerminalFault)),
                }
            }
        }
    }

    /// Asks the terminal to cancel a payment under way (the visitor pressed Cancel).
    pub fn cancel(&self, reference: &str) -> Result<(), TerminalError> {
        self.terminal.cancel(reference)
    }

    fn fail(&self, reference: &str, why: &str) -> Result<(), SaleError> {
        let now_ms = self.clock.now().timestamp_millis();
        write(&self.store, |tx| {
            orders::fail_intent(tx, reference, why, now_ms)
        })
    }

    fn commit(
        &self,
        reference: &str,
        approval: &Approval,
        offline: bool,
    ) -> Result<CommittedOrder, SaleError> {
        let now = self.clock.now();
        let now_local = crate::gate::station::now_local(now, self.zone).local;
        let sign = |f: &crate::input::credential::signed_ticket::TicketFields| {
            self.signer
                .issue(f)
                .map(|code| (self.signer.key_id(), code))
        };
        let ctx = CommitCtx {
            device_id: &self.device_id,
            order_prefix: &self.order_prefix,
            normalizer: &self.normalizer,
            intake: &self.intake,
            sign: &sign,
            now,
            now_local,
            offline,
        };
        let order = write(&self.store, |tx| {
            orders::commit_order(tx, reference, approval, &ctx)
        })?;
        tracing::info!(order = %order.order_no, %reference, tickets = order.tickets.len(), "order committed");
        Ok(order)
    }

    /// Settles one payment by asking the terminal (see [`recover`]).
    fn settle(&self, reference: &str, offline: bool) -> Result<Settled, SaleError> {
        let intent = {
            let conn = self.store.reader()?;
            orders::intent(&conn, reference)?
        };
        let Some(intent) = intent.filter(|i| i.state == "started") else {
            return Ok(Settled::Gone);
        };
        for _ in 0..3 {
            let status = self.terminal.status(reference).ok();
            match recover(
                status.as_ref(),
                intent.draft.is_some(),
                self.on_approved_after_crash,
            ) {
                Recovery::Complete(approval) => {
                    return self
                        .commit(reference, &approval, offline)
                        .map(Settled::Order);
                }
                Recovery::Void => return self.void(&intent, status.as_ref(), offline),
                Recovery::Forget => {
                    self.fail(reference, "not charged")?;
                    return Ok(Settled::Forgotten);
                }
                Recovery::CancelThenAsk => {
                    let _ = self.terminal.cancel(reference);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Recovery::AskLater => return Ok(Settled::Open),
            }
        }
        Ok(Settled::Open)
    }

    /// Gives an approved payment back because no order is to be made of it. When the terminal
    /// will not, the visitor has paid: the order is made after all, or, when it cannot be,
    /// the payment is recorded for staff to refund by hand, and the kiosk goes on selling.
    fn void(
        &self,
        intent: &orders::Intent,
        status: Option<&TerminalStatus>,
        offline: bool,
    ) -> Result<Settled, SaleError> {
        let reference = intent.reference.as_str();
        let now_ms = self.clock.now().timestamp_millis();
        match self.terminal.void(reference) {
            Ok(()) => {
                write(&self.store, |tx| {
                    orders::void_intent(tx, reference, false, now_ms)
                })?;
                tracing::warn!(%reference, "approved payment voided: its order could not be made");
                Ok(Settled::Voided)
            }
            Err(TerminalError::Link(_)) => Ok(Settled::Open),
            Err(TerminalError::Refused(why)) => {
                let Some(TerminalStatus::Completed(TerminalOutcome::Approved(approval))) = status
                else {
                    return Ok(Settled::Open);
                };
                match not_given_back(approval, intent.draft.is_some()) {
                    NotGivenBack::Complete(approval) => {
                        tracing::warn!(%reference, why = %why, "the terminal would not give the payment back: its order is made after all");
                        self.commit(reference, &approval, offline)
                            .map(Settled::Order)
                    }
                    NotGivenBack::RefundByHand => {
                        write(&self.store, |tx| {
                            orders::void_intent(tx, reference, true, now_ms)
                        })?;
                        tracing::error!(
                            %reference,
                            amount = intent.amount,
                            currency = %intent.currency,
                            why = %why,
                            "the terminal would not give back a payment no order can be made of: refund it by hand"
                        );
                        Ok(Settled::RefundByHand)
                    }
                }
            }
        }
    }

    /// Settles every payment left unsettled (run before the first screen).
    pub fn recover(&self, offline: bool) -> Result<Recovered, SaleError> {
        let unsettled = {
            let conn = self.store.reader()?;
            orders::unsettled(&conn)?
        };
        let mut out = Recovered::default();
        for intent in unsettled {
            match self.settle(&intent.reference, offline)? {
                Settled::Order(o) => out.completed.push(o),
                Settled::Open => out.unanswered += 1,
                Settled::Voided => out.voided += 1,
                Settled::RefundByHand => out.refund_by_hand += 1,
                Settled::Forgotten => out.forgotten += 1,
                Settled::Gone => {}
            }
        }
        if out != Recovered::default() {
            tracing::info!(
                completed = out.completed.len(),
                voided = out.voided,
                refund_by_hand = out.refund_by_hand,
                forgotten = out.forgotten,
                unanswered = out.unanswered,
                "payments left by the last run settled"
            );
        }
        Ok(out)
    }
}

/// Runs `f` in one transaction ahead of queued jobs; a failure of `f` rolls it all back.
fn write<T>(
    store: &Store,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, OrderError>,
) -> Result<T, SaleError> {
    let mut failed = None;
    let done = store.write_urgent(|tx| {
        f(tx).map_err(|e| {
            failed = Some(e);
            crate::replica::ReplicaError::WriteAbandoned
        })
    });
    match (done, failed) {
        (_, Some(e)) => Err(e.into()),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(e.into()),
    }
}

enum Settled {
    Order(CommittedOrder),
    /// Approved, and given back.
    Voided,
    /// Approved, not given back by the terminal, and no order can be made of it.
    RefundByHand,
    /// Never charged.
    Forgotten,
    /// Settled already (by another path, or before).
    Gone,
    /// Still unknown.
    Open,
}
