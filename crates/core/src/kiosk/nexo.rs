//! The card terminal's messages, sans-IO: nexo "Terminal API" requests (`SaleToPOIRequest`,
//! JSON) for a payment, its status, an abort and a reversal, and what their answers mean for
//! the kiosk ([`TerminalOutcome`], [`TerminalStatus`]).
//!
//! Each payment carries the kiosk's reference twice: as the sale's transaction id (so the
//! terminal's records and the receipt name it) and, hashed, as the message's `ServiceID`,
//! which is how a later status request or abort names the payment. The reference is sent once,
//! ever, so its `ServiceID` is too. The reversal of that payment takes a `ServiceID` of its
//! own made the same way, so the kiosk can ask whether it was reversed already (a reversal
//! whose answer was lost, or sent just before a crash) instead of reversing twice. Other
//! requests take a fresh `ServiceID` from the caller.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::money;
use super::order::Approval;
use super::payment::{TerminalOutcome, TerminalStatus};
use crate::domain::MinorUnits;

/// Who talks to whom: the kiosk (`SaleID`) and the terminal (`POIID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    pub sale_id: String,
    pub poi_id: String,
}

/// The `ServiceID` of the payment with our `reference`: ten characters, the same every time.
pub fn payment_service_id(reference: &str) -> String {
    let digest = Sha256::digest(reference.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// The `ServiceID` of the reversal of the payment with our `reference`: the same every time,
/// and never that of a payment.
pub fn reversal_service_id(reference: &str) -> String {
    payment_service_id(&format!("reversal of {reference}"))
}

fn header(p: &Parties, category: &str, service_id: &str) -> Value {
    json!({
        "ProtocolVersion": "3.0",
        "MessageClass": "Service",
        "MessageCategory": category,
        "MessageType": "Request",
        "SaleID": p.sale_id,
        "ServiceID": service_id,
        "POIID": p.poi_id,
    })
}

/// `minor` units as the decimal amount the terminal takes (`1099` USD → `10.99`).
fn decimal(minor: MinorUnits, currency: &str) -> f64 {
    minor as f64 / 10f64.powi(money::minor_digits(currency) as i32)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A payment of `amount` for the kiosk's `reference`.
pub fn payment_request(
    p: &Parties,
    reference: &str,
    amount: MinorUnits,
    currency: &str,
    now: DateTime<Utc>,
) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": header(p, "Payment", &payment_service_id(reference)),
        "PaymentRequest": {
            "SaleData": {"SaleTransactionID": {"TransactionID": reference, "TimeStamp": stamp(now)}},
            "PaymentTransaction": {"AmountsReq": {
                "Currency": currency,
                "RequestedAmount": decimal(amount, currency),
            }},
        },
    }})
}

/// The earlier message of `category` whose `ServiceID` was `of`.
fn message_reference(p: &Parties, category: &str, of: &str) -> Value {
    json!({
        "MessageCategory": category,
        "SaleID": p.sale_id,
        "POIID": p.poi_id,
        "ServiceID": of,
    })
}

/// The payment for `reference`.
fn reference_to(p: &Parties, reference: &str) -> Value {
    message_reference(p, "Payment", &payment_service_id(reference))
}

/// What became of the message `asked` names.
fn transaction_status(p: &Parties, asked: Value, service_id: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": header(p, "TransactionStatus", service_id),
        "TransactionStatusRequest": {
            "ReceiptReprintFlag": false,
            "MessageReference": asked,
        },
    }})
}

/// Was the payment for `reference` reversed already? Answered by [`parse_reversal_status`].
pub fn reversal_status_request(p: &Parties, reference: &str, service_id: &str) -> Value {
    let reversal = message_reference(p, "Reversal", &reversal_service_id(reference));
    transaction_status(p, reversal, service_id)
}

/// What became of the payment for `reference`.
pub fn status_request(p: &Parties, reference: &str, service_id: &str) -> Value {
    transaction_status(p, reference_to(p, reference), service_id)
}

/// Stop the payment for `reference` (the visitor tapped Cancel): the terminal decides, and the
/// payment's own answer says what happened.
pub fn abort_request(p: &Parties, reference: &str, service_id: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": header(p, "Abort", service_id),
        "AbortRequest": {
            "AbortReason": "MerchantAbort",
            "MessageReference": reference_to(p, reference),
        },
    }})
}

/// Give back the approved payment for `reference`, which the terminal knows as `poi_txn`.
pub fn reversal_request(p: &Parties, reference: &str, poi_txn: &PoiTransaction) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": header(p, "Reversal", &reversal_service_id(reference)),
        "ReversalRequest": {
            "OriginalPOITransaction": {"POITransactionID": {
                "TransactionID": poi_txn.id,
                "TimeStamp": poi_txn.timestamp,
            }},
            "ReversalReason": "MerchantCancel",
        },
    }})
}

/// Is the terminal there (between visitors; starts nothing)?
pub fn diagnosis_request(p: &Parties, service_id: &str) -> Value {
    json!({"SaleToPOIRequest": {
        "MessageHeader": header(p, "Diagnosis", service_id),
        "DiagnosisRequest": {"HostDiagnosisFlag": false},
    }})
}

/// A terminal's answer that does not say what the kiosk needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NexoError {
    #[error("the terminal's answer is not a Terminal API response: {0}")]
    Malformed(String),
    #[error("the terminal refused the request ({condition})")]
    Refused { condition: String },
}

/// The terminal's own id of a payment, which a reversal names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PoiTransaction {
    #[serde(rename = "TransactionID")]
    pub id: String,
    #[serde(rename = "TimeStamp")]
    pub timestamp: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "SaleToPOIResponse")]
    response: Option<Body>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    payment_response: Option<PaymentResponse>,
    transaction_status_response: Option<StatusResponse>,
    reversal_response: Option<Outcome>,
    diagnosis_response: Option<Outcome>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Outcome {
    response: ResponseCode,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseCode {
    result: String,
    error_condition: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PaymentResponse {
    response: ResponseCode,
    #[serde(rename = "POIData")]
    poi_data: Option<PoiData>,
    payment_result: Option<PaymentResult>,
}

#[derive(Debug, Deserialize)]
struct PoiData {
    #[serde(rename = "POITransactionID")]
    poi_transaction: Option<PoiTransaction>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PaymentResult {
    payment_acquirer_data: Option<AcquirerData>,
    payment_instrument_data: Option<InstrumentData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AcquirerData {
    approval_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InstrumentData {
    card_data: Option<CardData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CardData {
    payment_brand: Option<String>,
    masked_pan: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusResponse {
    response: ResponseCode,
    repeated_message_response: Option<Repeated>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Repeated {
    repeated_response_message_body: Option<RepeatedBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RepeatedBody {
    payment_response: Option<PaymentResponse>,
    reversal_response: Option<Outcome>,
}

fn body(reply: &[u8]) -> Result<Body, NexoError> {
    let e: Envelope =
        serde_json::from_slice(reply).map_err(|e| NexoError::Malformed(e.to_string()))?;
    e.response
        .ok_or_else(|| NexoError::Malformed("no SaleToPOIResponse".into()))
}

/// The terminal's condition, as a short word fit for a log line. Its `AdditionalResponse` is
/// never kept: it may carry the cardholder's data.
fn condition(code: &ResponseCode) -> String {
    let raw = code.error_condition.as_deref().unwrap_or(&code.result);
    let word: String = raw
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    if word.is_empty() {
        "unnamed".into()
    } else {
        word
    }
}

fn refused(code: &ResponseCode) -> NexoError {
    NexoError::Refused {
        condition: condition(code),
    }
}

/// What a payment's answer means: its outcome, and the terminal's id of an approved one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAnswer {
    pub outcome: TerminalOutcome,
    /// The terminal approved only part of the amount: the kiosk must reverse it.
    pub partial: bool,
    pub poi_transaction: Option<PoiTransaction>,
}

fn payment_answer(r: PaymentResponse, now: DateTime<Utc>) -> Result<PaymentAnswer, NexoError> {
    let poi_transaction = r.poi_data.and_then(|d| d.poi_transaction);
    let outcome = match (
        r.response.result.as_str(),
        r.response.error_condition.as_deref(),
    ) {
        ("Success" | "Partial", _) => {
            let result = r.payment_result;
            let card = result
                .as_ref()
                .and_then(|p| p.payment_instrument_data.as_ref())
                .and_then(|i| i.card_data.as_ref());
            let auth_code = result
                .as_ref()
                .and_then(|p| p.payment_acquirer_data.as_ref())
                .and_then(|a| a.approval_code.clone())
                .unwrap_or_default();
            TerminalOutcome::Approved(Approval {
                auth_code,
                card_brand: card
                    .and_then(|c| c.payment_brand.as_deref())
                    .map(str::to_uppercase),
                last4: card.and_then(|c| c.masked_pan.as_deref()).and_then(|pan| {
                    let digits: Vec<char> = pan.chars().filter(char::is_ascii_digit).collect();
                    (digits.len() >= 4)
                        .then(|| digits[digits.len() - 4..].iter().collect::<String>())
                }),
                terminal_txn: poi_transaction.as_ref().map(|t| t.id.clone()),
                approved_at: now,
            })
        }
        ("Failure", Some("Cancel" | "Aborted")) => TerminalOutcome::CancelledByVisitor,
        // Any other failure of a payment took no money: a refusal, a wrong PIN, a card
        // removed, the terminal busy or not signed in.
        ("Failure", _) => TerminalOutcome::Declined {
            reason: condition(&r.response),
        },
        _ => return Err(refused(&r.response)),
    };
    Ok(PaymentAnswer {
        partial: r.response.result == "Partial",
        outcome,
        poi_transaction,
    })
}

/// The answer to [`payment_request`].
pub fn parse_payment(reply: &[u8], now: DateTime<Utc>) -> Result<PaymentAnswer, NexoError> {
    let r = body(reply)?
        .payment_response
        .ok_or_else(|| NexoError::Malformed("no PaymentResponse".into()))?;
    payment_answer(r, now)
}

/// What a status request learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAnswer {
    pub status: TerminalStatus,
    /// The payment was approved for only part of its amount: the kiosk gives it back and
    /// never makes an order of it.
    pub partial: bool,
    pub poi_transaction: Option<PoiTransaction>,
}

/// What a `TransactionStatusResponse` says of the message asked about.
enum Asked {
    /// It ended: its answer, repeated.
    Ended(Box<RepeatedBody>),
    InProgress,
    NotFound,
}

fn asked(reply: &[u8]) -> Result<Asked, NexoError> {
    let r = body(reply)?
        .transaction_status_response
        .ok_or_else(|| NexoError::Malformed("no TransactionStatusResponse".into()))?;
    match (
        r.response.result.as_str(),
        r.response.error_condition.as_deref(),
    ) {
        ("Success", _) => Ok(Asked::Ended(Box::new(
            r.repeated_message_response
                .and_then(|m| m.repeated_response_message_body)
                .unwrap_or_default(),
        ))),
        ("Failure", Some("InProgress")) => Ok(Asked::InProgress),
        ("Failure", Some("NotFound")) => Ok(Asked::NotFound),
        _ => Err(refused(&r.response)),
    }
}

/// The answer to [`status_request`]: what the terminal knows of the payment, and its id there.
pub fn parse_status(reply: &[u8], now: DateTime<Utc>) -> Result<StatusAnswer, NexoError> {
    let plain = |status| StatusAnswer {
        status,
        partial: false,
        poi_transaction: None,
    };
    match asked(reply)? {
        Asked::Ended(body) => {
            let payment = body
                .payment_response
                .ok_or_else(|| NexoError::Malformed("a status without its payment".into()))?;
            let answer = payment_answer(payment, now)?;
            Ok(StatusAnswer {
                status: TerminalStatus::Completed(answer.outcome),
                partial: answer.partial,
                poi_transaction: answer.poi_transaction,
            })
        }
        Asked::InProgress => Ok(plain(TerminalStatus::InProgress)),
        Asked::NotFound => Ok(plain(TerminalStatus::Unknown)),
    }
}

/// The answer to [`reversal_request`]: reversed, or why not.
pub fn parse_reversal(reply: &[u8]) -> Result<(), NexoError> {
    let r = body(reply)?
        .reversal_response
        .ok_or_else(|| NexoError::Malformed("no ReversalResponse".into()))?;
    match r.response.result.as_str() {
        "Success" => Ok(()),
        _ => Err(refused(&r.response)),
    }
}

/// What the terminal knows of a payment's reversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalStatus {
    /// Given back: a reversal sent again would be refused, or worse.
    Reversed,
    /// Never received, or received and refused: the payment stands.
    NotReversed,
    InProgress,
}

/// The answer to [`reversal_status_request`].
pub fn parse_reversal_status(reply: &[u8]) -> Result<ReversalStatus, NexoError> {
    match asked(reply)? {
        Asked::Ended(body) => {
            let reversal = body
                .reversal_response
                .ok_or_else(|| NexoError::Malformed("a status without its reversal".into()))?;
            Ok(match reversal.response.result.as_str() {
                "Success" => ReversalStatus::Reversed,
                _ => ReversalStatus::NotReversed,
            })
        }
        Asked::InProgress => Ok(ReversalStatus::InProgress),
        Asked::NotFound => Ok(ReversalStatus::NotReversed),
    }
}

/// The answer to [`diagnosis_request`]: the terminal is there and well.
pub fn parse_diagnosis(reply: &[u8]) -> Result<(), NexoError> {
    let r = body(reply)?
        .diagnosis_response
        .ok_or_else(|| NexoError::Malformed("no DiagnosisResponse".into()))?;
    match r.response.result.as_str() {
        "Success" => Ok(()),
        _ => Err(refused(&r.response)),
    }
}

#[cfg(test)]
mod tests;
