//! The card terminal: a trait the kiosk pays through, and a simulator for the demo and the
//! tests.
//!
//! The real terminal, [`super::nexo_terminal::NexoTerminal`] (nexo's "Terminal API" over
//! HTTPS, as most acquirers' countertop devices speak), maps one to one: `start` is a
//! PaymentRequest carrying our reference as the sale's transaction id, `status` a
//! TransactionStatusRequest, `cancel` an AbortRequest, `void` a ReversalRequest.
//!
//! The simulator keeps what it approved in a small JSON "bank" file, written whole (a new file
//! renamed over the old), so it outlives a killed kiosk like a real terminal's host does: after
//! a restart the kiosk asks it what became of a payment.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::kiosk::order::Approval;
use crate::kiosk::payment::{TerminalOutcome, TerminalStatus};

/// A payment to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The kiosk's reference: sent to the terminal once, ever.
    pub reference: String,
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminalError {
    /// No answer (cable, network, power): the payment's fate is unknown until asked again.
    #[error("the card terminal did not answer: {0}")]
    Link(String),
    #[error("the card terminal refused the request: {0}")]
    Refused(String),
}

/// A card terminal. `start` blocks until the payment ends; `cancel` may be called meanwhile
/// from another thread (the terminal decides: a card already approved stays approved).
pub trait PaymentTerminal: Send + Sync {
    fn start(&self, req: &PaymentRequest) -> Result<TerminalOutcome, TerminalError>;
    fn status(&self, reference: &str) -> Result<TerminalStatus, TerminalError>;
    fn cancel(&self, reference: &str) -> Result<(), TerminalError>;
    /// Gives an approved payment back.
    fn void(&self, reference: &str) -> Result<(), TerminalError>;
    /// Whether the terminal answers (between visitors; starts nothing).
    fn ping(&self) -> Result<(), TerminalError>;
}

/// One scripted payment of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimStep {
    Approve,
    Decline,
    CancelledByVisitor,
    TimeOut,
    /// The bank approves, but the answer never reaches the kiosk (a crash or a cut cable
    /// between approval and the order's commit).
    ApproveAndLoseReply,
    /// The visitor never presents a card: the payment hangs until cancelled.
    HangUntilCancelled,
    /// The terminal cannot be reached at all.
    Unreachable,
    /// The bank approves, then the link to the terminal fails before the answer and stays
    /// down (until [`SimulatedTerminal::set_reachable`]).
    ApproveAndLoseLink,
    /// The bank approves, and the terminal takes a few seconds to say so (a kiosk killed in
    /// that moment has been charged and has no order yet).
    ApproveSlowly,
    /// The terminal takes a few seconds before it decides (and then approves).
    DecideSlowly,
}

impl SimStep {
    /// The step as the simulator's script file names it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "approve" => Self::Approve,
            "decline" => Self::Decline,
            "cancel" => Self::CancelledByVisitor,
            "timeout" => Self::TimeOut,
            "approve-lose-reply" => Self::ApproveAndLoseReply,
            "hang" => Self::HangUntilCancelled,
            "unreachable" => Self::Unreachable,
            "approve-lose-link" => Self::ApproveAndLoseLink,
            "approve-slowly" => Self::ApproveSlowly,
            "decide-slowly" => Self::DecideSlowly,
            _ => return None,
        })
    }
}

/// How long a slow step takes.
const SLOW: Duration = Duration::from_secs(3);

/// A terminal that answers from a script (then approves everything).
pub struct SimulatedTerminal {
    bank: Option<PathBuf>,
    state: Mutex<SimState>,
    cancelled: Condvar,
    /// The cable is in: when false, every call fails as a link fault.
    reachable: std::sync::atomic::AtomicBool,
    /// How long each payment takes.
    pub delay: Duration,
}

#[derive(Default)]
struct SimState {
    script: VecDeque<SimStep>,
    ledger: BTreeMap<String, TerminalStatus>,
    cancel_asked: Option<String>,
    approvals: u64,
    /// Voids are refused (the terminal's day is closed, say).
    refuse_voids: bool,
}

impl SimulatedTerminal {
    /// A terminal whose bank lives in memory only.
    pub fn in_memory() -> Self {
        Self {
            bank: None,
            state: Mutex::new(SimState::default()),
            cancelled: Condvar::new(),
            reachable: std::sync::atomic::AtomicBool::new(true),
            delay: Duration::ZERO,
        }
    }

    /// A terminal whose bank is the file `bank` (read if it exists). A file `…-script` beside
    /// it scripts the next payments, one step a line (`approve`, `decline`, `cancel`,
    /// `timeout`, `approve-lose-reply`, `approve-lose-link`, `hang`, `unreachable`, `approve-slowly`,
    /// `decide-slowly`); the simulator takes the lines it uses out of the file.
    pub fn with_bank(bank: PathBuf) -> Self {
        let ledger = std::fs::read(&bank)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            bank: Some(bank),
            state: Mutex::new(SimState {
                ledger,
                ..SimState::default()
            }),
            cancelled: Condvar::new(),
            reachable: std::sync::atomic::AtomicBool::new(true),
            delay: Duration::ZERO,
        }
    }

    fn script_file(&self) -> Option<PathBuf> {
        let bank = self.bank.as_ref()?;
        let mut name = bank.file_name()?.to_os_string();
        name.push("-script");
        Some(bank.with_file_name(name))
    }

    /// The next step from the script file, taken out of it.
    fn scripted_from_file(&self) -> Option<SimStep> {
        let path = self.script_file()?;
        let text = std::fs::read_to_string(&path).ok()?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let step = SimStep::parse(lines.next()?)?;
        let rest: Vec<&str> = lines.collect();
        let _ = std::fs::write(&path, rest.join("\n"));
        Some(step)
    }

    /// Plugs the terminal in or out: while out, every call is a link fault.
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable
            .store(reachable, std::sync::atomic::Ordering::SeqCst);
    }

    fn link(&self) -> Result<(), TerminalError> {
        if self.reachable.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(TerminalError::Link("the terminal does not answer".into()))
        }
    }

    /// Makes the terminal refuse (or again accept) to give payments back.
    pub fn set_refuse_voids(&self, refuse: bool) {
        self.lock().refuse_voids = refuse;
    }

    /// Queues the next payments' outcomes.
    pub fn script(&self, steps: impl IntoIterator<Item = SimStep>) {
        self.lock().script.extend(steps);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the bank holds for `reference`.
    pub fn ledger(&self, reference: &str) -> Option<TerminalStatus> {
        self.lock().ledger.get(reference).cloned()
    }

    /// Payments approved and not voided: what the visitor's card was charged.
    pub fn charged(&self) -> Vec<String> {
        self.lock()
            .ledger
            .iter()
            .filter(|(_, s)| matches!(s, TerminalStatus::Completed(TerminalOutcome::Approved(_))))
            .map(|(r, _)| r.clone())
            .collect()
    }

    fn record(&self, st: &mut SimState, reference: &str, status: TerminalStatus) {
        st.ledger.insert(reference.to_owned(), status);
        if let Some(path) = &self.bank {
            let write = || -> std::io::Result<()> {
                let folder = path.parent().unwrap_or(std::path::Path::new("."));
                let mut staged = tempfile::NamedTempFile::new_in(folder)?;
                std::io::Write::write_all(&mut staged, &serde_json::to_vec(&st.ledger)?)?;
                staged.as_file().sync_all()?;
                staged.persist(path).map_err(|e| e.error)?;
                Ok(())
            };
            if let Err(e) = write() {
                tracing::error!(error = %e, "the simulated terminal could not write its bank");
            }
        }
    }

    fn approval(st: &mut SimState) -> Approval {
        st.approvals += 1;
        Approval {
            auth_code: format!("SIM{:03}", st.approvals % 1000),
            card_brand: Some("VISA".into()),
            last4: Some("4242".into()),
            terminal_txn: Some(format!("SIM-TXN-{}", st.approvals)),
            approved_at: chrono::Utc::now(),
        }
    }
}

impl PaymentTerminal for SimulatedTerminal {
    fn start(&self, req: &PaymentRequest) -> Result<TerminalOutcome, TerminalError> {
        self.link()?;
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let mut st = self.lock();
        if st.ledger.contains_key(&req.reference) {
            return Err(TerminalError::Refused(format!(
                "reference {} was used before",
                req.reference
            )));
        }
        let step = match st.script.pop_front() {
            Some(s) => s,
            None => self.scripted_from_file().unwrap_or(SimStep::Approve),
        };
        let outcome = match step {
            SimStep::Unreachable => {
                return Err(TerminalError::Link("no route to the terminal".into()));
            }
            SimStep::DecideSlowly => {
                tracing::info!(reference = %req.reference, "terminal: waiting for the card");
                drop(st);
                std::thread::sleep(SLOW);
                st = self.lock();
                TerminalOutcome::Approved(Self::approval(&mut st))
            }
            SimStep::Approve
            | SimStep::ApproveAndLoseReply
            | SimStep::ApproveSlowly
            | SimStep::ApproveAndLoseLink => TerminalOutcome::Approved(Self::approval(&mut st)),
            SimStep::Decline => TerminalOutcome::Declined {
                reason: "card declined".into(),
            },
            SimStep::CancelledByVisitor => TerminalOutcome::CancelledByVisitor,
            SimStep::TimeOut => TerminalOutcome::TimedOut,
            SimStep::HangUntilCancelled => {
                st.ledger
                    .insert(req.reference.clone(), TerminalStatus::InProgress);
                while st.cancel_asked.as_deref() != Some(req.reference.as_str()) {
                    st = self.cancelled.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.cancel_asked = None;
                TerminalOutcome::CancelledByVisitor
            }
        };
        self.record(
            &mut st,
            &req.reference,
            TerminalStatus::Completed(outcome.clone()),
        );
        if step == SimStep::ApproveAndLoseReply {
            return Err(TerminalError::Link("the answer was lost".into()));
        }
        if step == SimStep::ApproveAndLoseLink {
            self.set_reachable(false);
            return Err(TerminalError::Link(
                "the link to the terminal failed".into(),
            ));
        }
        if step == SimStep::ApproveSlowly {
            tracing::info!(reference = %req.reference, "terminal: approved; answering slowly");
            drop(st);
            std::thread::sleep(SLOW);
        }
        Ok(outcome)
    }

    fn status(&self, reference: &str) -> Result<TerminalStatus, TerminalError> {
        self.link()?;
        Ok(self
            .lock()
            .ledger
            .get(reference)
            .cloned()
            .unwrap_or(TerminalStatus::Unknown))
    }

    fn cancel(&self, reference: &str) -> Result<(), TerminalError> {
        self.link()?;
        let mut st = self.lock();
        if matches!(st.ledger.get(reference), Some(TerminalStatus::InProgress)) {
            st.cancel_asked = Some(reference.to_owned());
            self.cancelled.notify_all();
        }
        Ok(())
    }

    fn ping(&self) -> Result<(), TerminalError> {
        self.link()
    }

    fn void(&self, reference: &str) -> Result<(), TerminalError> {
        self.link()?;
        let mut st = self.lock();
        match st.ledger.get(reference) {
            Some(TerminalStatus::Completed(TerminalOutcome::Approved(_))) if st.refuse_voids => {
                Err(TerminalError::Refused(format!(
                    "payment {reference} cannot be given back today"
                )))
            }
            Some(TerminalStatus::Completed(TerminalOutcome::Approved(_))) => {
                self.record(&mut st, reference, TerminalStatus::Voided);
                Ok(())
            }
            Some(TerminalStatus::Voided) => Ok(()),
            _ => Err(TerminalError::Refused(format!(
                "payment {reference} was not approved"
            ))),
        }
    }
}
