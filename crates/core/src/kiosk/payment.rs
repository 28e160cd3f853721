//! Card payments: what a terminal answers, and what the kiosk does at start-up with a payment
//! it began and never settled (the kiosk crashed or lost power between asking the terminal
//! and committing the order).
//!
//! The rule: never "paid but no order", never charged twice, never an order without a
//! payment. The payment's intent is written before the terminal is asked, each reference is
//! sent to the terminal once, and the order only exists in the transaction that consumed an
//! approval. So at start-up every intent still `started` is settled by asking the terminal:
//!
//! | terminal says | the kiosk |
//! |---|---|
//! | never heard of it | forgets the intent (nothing was charged) |
//! | still in progress | cancels it, and asks again |
//! | approved | commits the order from the stored draft (or voids the payment when the draft cannot be read, or the venue prefers that) |
//! | approved, and will not give it back | commits the order after all (the visitor has paid); without a readable draft, records it for staff to refund by hand |
//! | declined, cancelled, timed out, voided | forgets the intent |
//! | cannot be reached | asks again later, and sells nothing meanwhile |

use serde::{Deserialize, Serialize};

use super::order::Approval;

/// How a payment ended at the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TerminalOutcome {
    Approved(Approval),
    Declined { reason: String },
    CancelledByVisitor,
    TimedOut,
}

/// What the terminal knows of a reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TerminalStatus {
    /// The terminal never received it.
    Unknown,
    InProgress,
    Completed(TerminalOutcome),
    /// Approved, then voided (no money moved).
    Voided,
}

/// What a kiosk does with an unsettled payment after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Commit the order from the stored draft with this approval, then print it.
    Complete(Approval),
    /// Void the approved payment: the draft cannot be made into an order.
    Void,
    /// Nothing was charged: forget the intent and release its seats.
    Forget,
    /// Cancel the payment at the terminal, then ask again.
    CancelThenAsk,
    /// The terminal did not answer: ask again later.
    AskLater,
}

/// How the venue wants an approved but uncommitted payment settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnApprovedAfterCrash {
    /// Commit the order and print the tickets (the visitor may still be at the kiosk, or
    /// collects them at the desk).
    #[default]
    Complete,
    /// Give the money back.
    Void,
}

/// The step for an intent still `started`, given the terminal's answer (`None`: it did not
/// answer) and whether this build can read the intent's draft.
pub fn recover(
    status: Option<&TerminalStatus>,
    draft_readable: bool,
    policy: OnApprovedAfterCrash,
) -> Recovery {
    match status {
        None => Recovery::AskLater,
        Some(TerminalStatus::InProgress) => Recovery::CancelThenAsk,
        Some(TerminalStatus::Completed(TerminalOutcome::Approved(a))) => {
            if draft_readable && policy == OnApprovedAfterCrash::Complete {
                Recovery::Complete(a.clone())
            } else {
                Recovery::Void
            }
        }
        Some(
            TerminalStatus::Unknown
            | TerminalStatus::Voided
            | TerminalStatus::Completed(
                TerminalOutcome::Declined { .. }
                | TerminalOutcome::CancelledByVisitor
                | TerminalOutcome::TimedOut,
            ),
        ) => Recovery::Forget,
    }
}

/// What the kiosk does with an approved payment the terminal will not give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotGivenBack {
    /// The visitor has paid: the order is made after all.
    Complete(Approval),
    /// No order can be made of it: it is recorded, and staff refund the card by hand. The
    /// kiosk goes on selling.
    RefundByHand,
}

/// The step after the terminal refused to void `approval`.
pub fn not_given_back(approval: &Approval, draft_readable: bool) -> NotGivenBack {
    if draft_readable {
        NotGivenBack::Complete(approval.clone())
    } else {
        NotGivenBack::RefundByHand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval() -> Approval {
        Approval {
            auth_code: "A1B2C3".into(),
            card_brand: Some("VISA".into()),
            last4: Some("4242".into()),
            terminal_txn: Some("T-1".into()),
            approved_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_payment_begun_before_a_crash_is_settled_exactly_once() {
        use OnApprovedAfterCrash::{Complete, Void};
        let approved = TerminalStatus::Completed(TerminalOutcome::Approved(approval()));
        let declined = TerminalStatus::Completed(TerminalOutcome::Declined {
            reason: "insufficient funds".into(),
        });
        // (terminal's answer, draft readable, venue policy) → step
        let cases: [(
            Option<&TerminalStatus>,
            bool,
            OnApprovedAfterCrash,
            Recovery,
        ); 10] = [
            (
                Some(&TerminalStatus::Unknown),
                true,
                Complete,
                Recovery::Forget,
            ),
            (
                Some(&TerminalStatus::InProgress),
                true,
                Complete,
                Recovery::CancelThenAsk,
            ),
            (
                Some(&approved),
                true,
                Complete,
                Recovery::Complete(approval()),
            ),
            (Some(&approved), false, Complete, Recovery::Void),
            (Some(&approved), true, Void, Recovery::Void),
            (Some(&declined), true, Complete, Recovery::Forget),
            (
                Some(&TerminalStatus::Completed(
                    TerminalOutcome::CancelledByVisitor,
                )),
                true,
                Complete,
                Recovery::Forget,
            ),
            (
                Some(&TerminalStatus::Completed(TerminalOutcome::TimedOut)),
                true,
                Complete,
                Recovery::Forget,
            ),
            (
                Some(&TerminalStatus::Voided),
                true,
                Complete,
                Recovery::Forget,
            ),
            (None, true, Complete, Recovery::AskLater),
        ];
        for (status, readable, policy, want) in cases {
            assert_eq!(
                recover(status, readable, policy),
                want,
                "{status:?} {readable} {policy:?}"
            );
        }
    }

    #[test]
    fn a_payment_the_terminal_will_not_give_back_becomes_its_order_or_a_refund_by_hand() {
        // (draft readable, step): never "paid but nothing" while an order can be made.
        let cases = [
            (true, NotGivenBack::Complete(approval())),
            (false, NotGivenBack::RefundByHand),
        ];
        for (readable, want) in cases {
            assert_eq!(not_given_back(&approval(), readable), want, "{readable}");
        }
    }
}
