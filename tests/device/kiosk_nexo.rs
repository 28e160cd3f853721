//! The nexo card terminal against a terminal on loopback HTTPS that speaks the Terminal API
//! (`SaleToPOIRequest` in, `SaleToPOIResponse` out), with certificates made in the test: a
//! payment approved, declined, cancelled by an abort while the visitor hesitates, partly
//! approved (and given back), its status asked after a lost answer, a void; and the terminal's
//! link kept to its origin, its CA and its API key.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portico::config::NexoSettings;
use portico::kiosk::nexo_terminal::NexoTerminal;
use portico::kiosk::payment::{TerminalOutcome, TerminalStatus};
use portico::kiosk::terminal::{PaymentRequest, PaymentTerminal, TerminalError};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What the loopback terminal does with the next payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Approve,
    Decline,
    /// The visitor does nothing until the kiosk aborts.
    Hang,
    Partial,
    /// Its provider fails (HTTP 503) after approving: the kiosk must ask.
    ApproveThen503,
    Redirect,
    Huge,
}

#[derive(Default)]
struct Terminal {
    script: VecDeque<Step>,
    /// Payments by their ServiceID: the answer given (or to give, once it ends).
    ledger: BTreeMap<String, Value>,
    in_progress: Vec<String>,
    aborted: Vec<String>,
    reversed: Vec<String>,
    /// Reversals by their ServiceID: the answer given.
    reversals: BTreeMap<String, Value>,
    /// The next reversal is made, and its answer lost (HTTP 503), as when the kiosk dies
    /// before it reads it.
    lose_reversal_answer: bool,
    /// Reversals are refused (the terminal's day is closed, say).
    refuse_reversals: bool,
    requests: Vec<String>,
    /// Requests anywhere but the Terminal API's path (a redirect followed would land there).
    strays: u32,
    /// The port it listens on, for its redirects.
    port: u16,
    txn: u32,
}

#[derive(Clone)]
struct Loop {
    state: Arc<Mutex<Terminal>>,
    abort: Arc<Notify>,
    api_key: Option<String>,
}

fn reply(category: &str, body: Value) -> Response {
    let mut m = serde_json::Map::new();
    m.insert(
        "MessageHeader".into(),
        json!({"MessageCategory": category, "MessageType": "Response"}),
    );
    if let Value::Object(b) = body {
        m.extend(b);
    }
    axum::Json(json!({ "SaleToPOIResponse": m })).into_response()
}

fn payment_response(result: &str, condition: Option<&str>, txn: u32) -> Value {
    let mut response = json!({"Result": result});
    if let Some(c) = condition {
        response["ErrorCondition"] = json!(c);
    }
    json!({
        "Response": response,
        "POIData": {"POITransactionID": {"TransactionID": format!("T{txn}"), "TimeStamp": "2026-12-07T14:30:05.000Z"}},
        "PaymentResult": {
            "PaymentAcquirerData": {"ApprovalCode": format!("A{txn:05}")},
            "PaymentInstrumentData": {"CardData": {"PaymentBrand": "mc", "MaskedPan": "541333******0021"}},
        },
    })
}

async fn handle(State(t): State<Loop>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(key) = &t.api_key
        && headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(key.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let m = &msg["SaleToPOIRequest"];
    let category = m["MessageHeader"]["MessageCategory"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let service = m["MessageHeader"]["ServiceID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    t.state.lock().unwrap().requests.push(category.clone());
    match category.as_str() {
        "Payment" => {
            let (step, txn) = {
                let mut s = t.state.lock().unwrap();
                s.txn += 1;
                (s.script.pop_front().unwrap_or(Step::Approve), s.txn)
            };
            let answer = match step {
                Step::Approve | Step::ApproveThen503 => payment_response("Success", None, txn),
                Step::Decline => payment_response("Failure", Some("Refusal"), txn),
                Step::Partial => payment_response("Partial", None, txn),
                Step::Redirect => {
                    let port = t.state.lock().unwrap().port;
                    let to = format!("https://localhost:{port}/elsewhere");
                    return (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response();
                }
                Step::Huge => return "x".repeat(600 * 1024).into_response(),
                Step::Hang => {
                    t.state.lock().unwrap().in_progress.push(service.clone());
                    loop {
                        let notified = t.abort.notified();
                        if t.state.lock().unwrap().aborted.contains(&service) {
                            break;
                        }
                        notified.await;
                    }
                    t.state
                        .lock()
                        .unwrap()
                        .in_progress
                        .retain(|s| s != &service);
                    payment_response("Failure", Some("Aborted"), txn)
                }
            };
            t.state
                .lock()
                .unwrap()
                .ledger
                .insert(service, answer.clone());
            if step == Step::ApproveThen503 {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            reply("Payment", json!({ "PaymentResponse": answer }))
        }
        "TransactionStatus" => {
            let asked = &m["TransactionStatusRequest"]["MessageReference"];
            let of = asked["ServiceID"].as_str().unwrap_or_default();
            let s = t.state.lock().unwrap();
            let body = if asked["MessageCategory"] == "Reversal" {
                match s.reversals.get(of) {
                    Some(r) => json!({"Response": {"Result": "Success"},
                        "RepeatedMessageResponse": {"RepeatedResponseMessageBody": {"ReversalResponse": r}}}),
                    None => {
                        json!({"Response": {"Result": "Failure", "ErrorCondition": "NotFound"}})
                    }
                }
            } else if s.in_progress.iter().any(|p| p == of) {
                json!({"Response": {"Result": "Failure", "ErrorCondition": "InProgress"}})
            } else if let Some(p) = s.ledger.get(of) {
                json!({"Response": {"Result": "Success"},
                    "RepeatedMessageResponse": {"RepeatedResponseMessageBody": {"PaymentResponse": p}}})
            } else {
                json!({"Response": {"Result": "Failure", "ErrorCondition": "NotFound"}})
            };
            reply(
                "TransactionStatus",
                json!({ "TransactionStatusResponse": body }),
            )
        }
        "Abort" => {
            let of = m["AbortRequest"]["MessageReference"]["ServiceID"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            t.state.lock().unwrap().aborted.push(of);
            t.abort.notify_waiters();
            StatusCode::OK.into_response()
        }
        "Reversal" => {
            let txn =
                m["ReversalRequest"]["OriginalPOITransaction"]["POITransactionID"]["TransactionID"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            let mut s = t.state.lock().unwrap();
            let answer = if s.refuse_reversals {
                json!({"Response": {"Result": "Failure", "ErrorCondition": "NotAllowed"}})
            } else {
                s.reversed.push(txn);
                json!({"Response": {"Result": "Success"}})
            };
            s.reversals.insert(service, answer.clone());
            if std::mem::take(&mut s.lose_reversal_answer) {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            reply("Reversal", json!({ "ReversalResponse": answer }))
        }
        "Diagnosis" => reply(
            "Diagnosis",
            json!({"DiagnosisResponse": {"Response": {"Result": "Success"}}}),
        ),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

struct LoopbackTerminal {
    addr: SocketAddr,
    state: Arc<Mutex<Terminal>>,
    ca: PathBuf,
    dir: tempfile::TempDir,
    _server: portico::hub::server::TlsServer,
}

impl LoopbackTerminal {
    async fn start(api_key: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (_, ca, cert, key) = crate::common::write_pki(&dir.path().join("pki"), "Terminal CA");
        let tls = portico::tls::server_config(&cert, &key).unwrap();
        let state = Arc::new(Mutex::new(Terminal::default()));
        let strays = state.clone();
        let app = Router::new()
            .route("/nexo", post(handle))
            .fallback(move || {
                let strays = strays.clone();
                async move {
                    strays.lock().unwrap().strays += 1;
                    StatusCode::NOT_FOUND
                }
            })
            .with_state(Loop {
                state: state.clone(),
                abort: Arc::new(Notify::new()),
                api_key: api_key.map(str::to_owned),
            });
        let server =
            portico::hub::server::serve_tls(SocketAddr::from(([127, 0, 0, 1], 0)), tls, app)
                .await
                .unwrap();
        state.lock().unwrap().port = server.addr.port();
        Self {
            addr: server.addr,
            state,
            ca,
            dir,
            _server: server,
        }
    }

    fn script(&self, steps: &[Step]) {
        self.state.lock().unwrap().script.extend(steps);
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn settings(&self, key: Option<&str>) -> NexoSettings {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let api_key_file = key.map(|k| {
            let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let f = self.dir.path().join(format!("terminal-api-{n}.key"));
            std::fs::write(&f, format!("{k}\n")).unwrap();
            f
        });
        NexoSettings {
            url: format!("https://localhost:{}/nexo", self.addr.port())
                .parse()
                .unwrap(),
            poi_id: "V400m-324688179".into(),
            sale_id: None,
            ca_cert: self.ca.clone(),
            api_key_file,
            timeout: Duration::from_secs(30),
        }
    }
}

fn pay(reference: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.into(),
        amount: 6712,
        currency: "USD".into(),
    }
}

/// Runs a blocking terminal call off the test's runtime threads.
async fn call<T: Send + 'static>(
    t: &Arc<NexoTerminal>,
    f: impl FnOnce(&NexoTerminal) -> T + Send + 'static,
) -> T {
    let t = t.clone();
    tokio::task::spawn_blocking(move || f(&t)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nexo_terminal_approves_declines_and_gives_back_as_the_terminal_says() {
    let lo = LoopbackTerminal::start(Some("s3cret-key")).await;
    let t = Arc::new(NexoTerminal::new(&lo.settings(Some("s3cret-key")), "kiosk-1").unwrap());
    call(&t, |t| t.ping()).await.unwrap();
    lo.script(&[Step::Approve, Step::Decline]);

    let outcome = call(&t, |t| t.start(&pay("K1-00001-a"))).await.unwrap();
    let TerminalOutcome::Approved(a) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (
            a.auth_code.as_str(),
            a.card_brand.as_deref(),
            a.last4.as_deref(),
            a.terminal_txn.as_deref()
        ),
        ("A00001", Some("MC"), Some("0021"), Some("T1"))
    );
    let outcome = call(&t, |t| t.start(&pay("K1-00002-a"))).await.unwrap();
    assert_eq!(
        outcome,
        TerminalOutcome::Declined {
            reason: "Refusal".into()
        }
    );
    // What became of each, asked afterwards (a reference it never saw is unknown).
    let status = call(&t, |t| t.status("K1-00001-a")).await.unwrap();
    assert!(matches!(
        status,
        TerminalStatus::Completed(TerminalOutcome::Approved(_))
    ));
    assert_eq!(
        call(&t, |t| t.status("K1-09999-a")).await.unwrap(),
        TerminalStatus::Unknown
    );
    // A void gives the approved payment back by the terminal's own transaction id; a declined
    // one has nothing to give back.
    call(&t, |t| t.void("K1-00001-a")).await.unwrap();
    call(&t, |t| t.void("K1-00002-a")).await.unwrap();
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_who_walks_away_from_a_nexo_terminal_is_aborted_and_charged_nothing() {
    let lo = LoopbackTerminal::start(None).await;
    let t = Arc::new(NexoTerminal::new(&lo.settings(None), "kiosk-1").unwrap());
    lo.script(&[Step::Hang]);
    let paying = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || t.start(&pay("K1-00003-a")))
    };
    // The payment waits on the terminal: its status says so.
    let mut waited = 0;
    while call(&t, |t| t.status("K1-00003-a")).await.unwrap() != TerminalStatus::InProgress {
        waited += 1;
        assert!(waited < 100, "the payment never reached the terminal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    call(&t, |t| t.cancel("K1-00003-a")).await.unwrap();
    assert_eq!(
        paying.await.unwrap().unwrap(),
        TerminalOutcome::CancelledByVisitor
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_approval_is_given_back_and_a_lost_answer_is_asked_for() {
    let lo = LoopbackTerminal::start(None).await;
    let t = Arc::new(NexoTerminal::new(&lo.settings(None), "kiosk-1").unwrap());
    lo.script(&[Step::Partial, Step::ApproveThen503]);
    let outcome = call(&t, |t| t.start(&pay("K1-00004-a"))).await.unwrap();
    assert!(
        matches!(&outcome, TerminalOutcome::Declined { reason } if reason.contains("given back")),
        "{outcome:?}"
    );
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1"]);
    // Asked again (after a crash, say), it is still no payment: never an order for part of
    // the price. It was given back already, so it is not given back twice.
    assert_eq!(
        call(&t, |t| t.status("K1-00004-a")).await.unwrap(),
        TerminalStatus::Completed(TerminalOutcome::Declined {
            reason: "only part of the amount was approved (given back)".into()
        })
    );
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1"]);
    // Approved, but the answer is lost on the way: a link fault, and the status tells.
    let lost = call(&t, |t| t.start(&pay("K1-00005-a"))).await;
    assert!(matches!(lost, Err(TerminalError::Link(_))), "{lost:?}");
    assert!(matches!(
        call(&t, |t| t.status("K1-00005-a")).await.unwrap(),
        TerminalStatus::Completed(TerminalOutcome::Approved(_))
    ));
}

/// A void whose answer never came back (the link failed, or the kiosk died before recording
/// it) is asked about before it is sent again: the terminal reverses a payment once. A
/// terminal that will not reverse says so, and the payment stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_whose_answer_was_lost_is_found_and_never_made_twice() {
    let lo = LoopbackTerminal::start(None).await;
    let t = Arc::new(NexoTerminal::new(&lo.settings(None), "kiosk-1").unwrap());
    lo.script(&[Step::Approve, Step::Approve]);
    call(&t, |t| t.start(&pay("K1-00006-a"))).await.unwrap();
    lo.state.lock().unwrap().lose_reversal_answer = true;
    let lost = call(&t, |t| t.void("K1-00006-a")).await;
    assert!(matches!(lost, Err(TerminalError::Link(_))), "{lost:?}");
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1"]);
    call(&t, |t| t.void("K1-00006-a")).await.unwrap();
    call(&t, |t| t.void("K1-00006-a")).await.unwrap();
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1"], "reversed once");

    call(&t, |t| t.start(&pay("K1-00007-a"))).await.unwrap();
    lo.state.lock().unwrap().refuse_reversals = true;
    let refused = call(&t, |t| t.void("K1-00007-a")).await;
    assert!(
        matches!(refused, Err(TerminalError::Refused(_))),
        "{refused:?}"
    );
    // Refused is not reversed: once the terminal allows it, the void goes through.
    lo.state.lock().unwrap().refuse_reversals = false;
    call(&t, |t| t.void("K1-00007-a")).await.unwrap();
    assert_eq!(lo.state.lock().unwrap().reversed, ["T1", "T2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nexo_terminal_is_reached_only_at_its_origin_with_its_ca_and_its_key() {
    let lo = LoopbackTerminal::start(Some("s3cret-key")).await;
    // (what is wrong, the settings, the script, the error's kind and words)
    let other_ca = {
        let (_, ca, _, _) =
            crate::common::write_pki(&lo.dir.path().join("other"), "Somebody else's CA");
        NexoSettings {
            ca_cert: ca,
            ..lo.settings(Some("s3cret-key"))
        }
    };
    let cases: Vec<(&str, NexoSettings, Option<Step>, bool, &str)> = vec![
        (
            "wrong key",
            lo.settings(Some("guess")),
            None,
            false,
            "API key",
        ),
        ("no key", lo.settings(None), None, false, "API key"),
        ("another CA", other_ca, None, true, "certificate"),
        (
            "a redirect",
            lo.settings(Some("s3cret-key")),
            Some(Step::Redirect),
            false,
            "not followed",
        ),
        (
            "an endless reply",
            lo.settings(Some("s3cret-key")),
            Some(Step::Huge),
            true,
            "bytes",
        ),
    ];
    for (what, settings, step, link, words) in cases {
        if let Some(s) = step {
            lo.script(&[s]);
        }
        let t = Arc::new(NexoTerminal::new(&settings, "kiosk-1").unwrap());
        let before = lo.requests().len();
        let e = call(&t, |t| t.start(&pay("K1-00006-a"))).await.unwrap_err();
        assert_eq!(matches!(e, TerminalError::Link(_)), link, "{what}: {e}");
        assert!(e.to_string().contains(words), "{what}: {e}");
        assert!(!e.to_string().contains("s3cret"), "{what}: {e}");
        assert!(lo.requests().len() <= before + 1, "{what}: sent again");
        assert_eq!(lo.state.lock().unwrap().strays, 0, "{what}: followed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_configured_for_a_nexo_terminal_pays_through_it() {
    let lo = LoopbackTerminal::start(Some("s3cret-key")).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, hub_ca, _, _) = crate::common::write_pki(&dir.path().join("hub"), "Hub CA");
    portico::hub::write_private(&dir.path().join("device.token"), b"secret").unwrap();
    portico::hub::write_private(&dir.path().join("terminal.key"), b"s3cret-key\n").unwrap();
    let text = format!(
        r#"[device]
id = "kiosk-7"
roles = ["kiosk"]
data_dir = "data"

[upstream]
url = "https://hub.example:8443"
ca_cert = "{hub_ca}"
token_file = "device.token"

[kiosk]
[kiosk.terminal]
kind = "nexo"
url = "https://localhost:{port}/nexo"
poi_id = "V400m-324688179"
ca_cert = "{terminal_ca}"
api_key_file = "terminal.key"
"#,
        hub_ca = hub_ca.display(),
        port = lo.addr.port(),
        terminal_ca = lo.ca.display(),
    );
    let path = dir.path().join("kiosk.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = portico::config::parse(&path, &text).unwrap();
    let kiosk = cfg.kiosk_screen().unwrap().clone();
    assert_eq!(kiosk.terminal.kind_name(), "nexo");
    let terminal = portico::kiosk::runtime::terminal(&cfg, &kiosk).unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        terminal.ping()?;
        terminal.start(&pay("K7-00001-a"))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        matches!(outcome, TerminalOutcome::Approved(_)),
        "{outcome:?}"
    );
    assert_eq!(lo.requests(), ["Diagnosis", "Payment"]);
}
