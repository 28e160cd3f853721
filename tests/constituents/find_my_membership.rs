//! Find My Membership (seed 001) end to end: a kiosk and a hub on loopback TLS, codes read
//! from the hub's notification spool, time moved by a manual clock on the hub.
//!
//! Seed 001: "Enter your Membership ID and click Locate Membership. Verify your membership
//! (using the primary phone or email from the constituent's Altru record). Once you receive
//! the verification phone via text or email, enter the code and click Submit Code and Reset
//! Account."

use crate::common;
use crate::fixtures;

use chrono::Duration;
use fixtures::{
    Fixture, JANE, JANE_MEMBERSHIP, NOBODY_MEMBERSHIP, SAM, SAM_DUPLICATE, SAM_MEMBERSHIP,
    STALE_MEMBERSHIP, code_from_spool, fixture, other_code,
};
use portico::find_membership::kiosk::{CodeProblem, Input, Screen};
use portico::find_membership::{CodeError, KioskSession, ReassociationV1};
use portico::outbox::{self, kinds};
use portico::protocol::{
    FindMembershipLocateReply, FindMembershipSendReply, FindMembershipVerifyReply, MaskedTargetDto,
    RowStatus, TargetChannelDto, UploadRow,
};
use portico::sync::SyncError;

/// Locates `id` and returns the request id and its targets; panics when not found.
async fn locate(f: &Fixture, id: &str) -> (String, Vec<MaskedTargetDto>) {
    match f.client.find_membership_locate(id).await.unwrap() {
        FindMembershipLocateReply::Found {
            request_id,
            targets,
        } => (request_id, targets),
        FindMembershipLocateReply::NotFound => panic!("{id} not found"),
    }
}

/// Locates `id`, sends a code to its first target, returns the request id and the code.
async fn code_sent(f: &Fixture, id: &str) -> (String, String) {
    let (request_id, _) = locate(f, id).await;
    let sent = f.client.find_membership_send(&request_id, 0).await.unwrap();
    assert!(
        matches!(sent, FindMembershipSendReply::Sent { .. }),
        "{sent:?}"
    );
    let code = code_from_spool(&f.hub.store, &request_id);
    (request_id, code)
}

fn rejected_status(e: &SyncError) -> u16 {
    match e {
        SyncError::Rejected { status, .. } => *status,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Issue rule: the hub shows the visitor "the primary phone or email on record …, masked
/// (j***@e***.org, ***-***-1234) so the visitor picks one". Only the primary active entries
/// are offered: not the work email, not the mobile, not the inactive old primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_only_the_primary_phone_and_email_are_offered_masked() {
    let f = fixture().await;
    let reply = f
        .client
        .find_membership_locate(JANE_MEMBERSHIP)
        .await
        .unwrap();
    let wire = serde_json::to_string(&reply).unwrap();
    let FindMembershipLocateReply::Found { targets, .. } = reply else {
        panic!("not found: {wire}");
    };
    assert_eq!(
        targets,
        vec![
            MaskedTargetDto {
                index: 0,
                channel: TargetChannelDto::Email,
                masked: "j***@e***.org".into(),
            },
            MaskedTargetDto {
                index: 1,
                channel: TargetChannelDto::Sms,
                masked: "***-***-1234".into(),
            },
        ]
    );
    // Everything the reply carries but its random request id (whose hex may hold "555").
    let mut shown: serde_json::Value = serde_json::from_str(&wire).unwrap();
    shown.as_object_mut().unwrap().remove("request_id");
    let shown = shown.to_string();
    for secret in [
        "jane", "example", "555", "123-1234", "jdoe", "oldmail", "6543", "5678",
    ] {
        assert!(!shown.contains(secret), "{secret:?} leaked in {wire}");
    }
}

/// Issue rule: "on success the visitor's record is re-associated with the membership's
/// constituent". The kiosk walks the seed's steps with the code from the spool; the
/// re-association is queued, uploaded, and accepted by the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_the_code_from_the_spool_verifies_and_relinks_the_visitor_to_the_member() {
    let f = fixture().await;
    let device = f.device.open(f.clock.clone());
    let mut kiosk = KioskSession::new(
        f.client.clone(),
        device.store.clone(),
        f.clock.clone(),
        "kiosk-session-42",
    );

    let screen = kiosk
        .act(Input::IdEntered(format!(" {JANE_MEMBERSHIP} ")))
        .await
        .unwrap();
    let Screen::ChooseTarget {
        request_id,
        targets,
    } = screen.clone()
    else {
        panic!("{screen:?}");
    };
    assert_eq!(targets.len(), 2);
    assert!(kiosk.message().contains("primary phone or email"));

    let screen = kiosk.act(Input::TargetChosen(1)).await.unwrap();
    assert!(matches!(screen, Screen::EnterCode { .. }), "{screen:?}");
    assert!(
        kiosk.message().contains("***-***-1234"),
        "{}",
        kiosk.message()
    );
    let spool = portico::hub::find_membership::spool(&f.hub.store, 10).unwrap();
    let message = spool.last().unwrap();
    assert_eq!(
        (message.channel.as_str(), message.recipient.as_str()),
        ("sms", "(555) 123-1234"),
        "sent to the primary phone on record"
    );
    let code = code_from_spool(&f.hub.store, &request_id);

    // The hub keeps only a salted hash of the code.
    let stored: String = f
        .hub
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT code_hash FROM find_membership_requests WHERE request_id = ?1",
                [&request_id],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(!stored.contains(&code), "code stored in clear");

    let screen = kiosk.act(Input::CodeEntered(code.clone())).await.unwrap();
    assert_eq!(
        screen,
        &Screen::Verified {
            lookup_id: JANE.into(),
            membership_id: JANE_MEMBERSHIP.into(),
        }
    );
    let done = kiosk
        .reassociation()
        .expect("re-association queued")
        .clone();
    assert_eq!(done.lookup_id, JANE);
    assert_eq!(done.membership.membership_id, JANE_MEMBERSHIP);
    assert_eq!(done.membership.members, vec![JANE.to_string()]);

    let row = {
        let db = device.engine.database();
        let conn = db.lock().unwrap();
        outbox::get(&conn, &done.outbox_key).unwrap().unwrap()
    };
    assert_eq!((row.kind.as_str(), row.version), kinds::REASSOCIATION);
    let payload: ReassociationV1 = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(payload.visitor, "kiosk-session-42");
    assert_eq!(payload.lookup_id, JANE);
    assert_eq!(payload.membership_id, JANE_MEMBERSHIP);
    assert_eq!(payload.request_id, request_id);

    device.engine.push_once().await.unwrap();
    assert_eq!(
        f.hub.store.inbox_count(&done.outbox_key).unwrap(),
        1,
        "accepted by the hub"
    );
}

/// The hub accepts a `reassociation` row only for a request it verified, for that membership
/// and that constituent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassociation_without_a_verified_request_is_refused() {
    let f = fixture().await;
    let (request_id, code) = code_sent(&f, JANE_MEMBERSHIP).await;
    let row = |key: &str, lookup: &str| UploadRow {
        idempotency_key: key.into(),
        kind: "reassociation".into(),
        version: 1,
        payload: serde_json::json!({
            "visitor": "kiosk-session-1",
            "lookup_id": lookup,
            "membership_id": JANE_MEMBERSHIP,
            "request_id": request_id,
            "verified_at": "2026-11-01T09:00:00Z",
        }),
        created_at: common::start_time(),
    };
    let before = f
        .hub
        .store
        .ingest("kiosk-1", &[row("k1", JANE)], common::start_time())
        .unwrap();
    assert_eq!(before[0].status, RowStatus::Rejected);
    assert!(
        before[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("not verified"),
        "{before:?}"
    );

    let verified = f
        .client
        .find_membership_verify(&request_id, &code)
        .await
        .unwrap();
    assert!(matches!(
        verified,
        FindMembershipVerifyReply::Verified { .. }
    ));
    let r = f
        .hub
        .store
        .ingest(
            "kiosk-1",
            &[row("k2", SAM), row("k3", JANE)],
            common::start_time(),
        )
        .unwrap();
    assert_eq!(
        r[0].status,
        RowStatus::Rejected,
        "another constituent: {r:?}"
    );
    assert_eq!(r[1].status, RowStatus::Accepted, "{r:?}");
    let mut missing = row("k4", JANE);
    missing.payload = serde_json::json!({"visitor": "x"});
    let r = f
        .hub
        .store
        .ingest("kiosk-1", &[missing], common::start_time())
        .unwrap();
    assert_eq!(r[0].status, RowStatus::Rejected, "{r:?}");
    assert!(
        r[0].reason
            .as_deref()
            .unwrap()
            .contains("reassociation payload: missing field `lookup_id`"),
        "{r:?}"
    );
}

/// Issue rule: a wrong code is refused with the attempts left; the right code still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_a_wrong_code_is_refused_with_the_attempts_left() {
    let f = fixture().await;
    let (request_id, code) = code_sent(&f, JANE_MEMBERSHIP).await;
    for left in [4, 3] {
        let r = f
            .client
            .find_membership_verify(&request_id, &other_code(&code, left))
            .await
            .unwrap();
        assert_eq!(
            r,
            FindMembershipVerifyReply::WrongCode {
                attempts_left: left
            }
        );
    }
    let r = f
        .client
        .find_membership_verify(&request_id, &code)
        .await
        .unwrap();
    let FindMembershipVerifyReply::Verified {
        lookup_id,
        membership,
    } = r
    else {
        panic!("{r:?}");
    };
    assert_eq!(
        (lookup_id.as_str(), membership.membership_id.as_str()),
        (JANE, JANE_MEMBERSHIP)
    );
}

/// Issue rule: "5 wrong attempts lock the request": the fifth wrong code locks it, and the
/// correct code after that is refused, as is a new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_wrong_attempts_lock_the_request() {
    let f = fixture().await;
    let (request_id, code) = code_sent(&f, JANE_MEMBERSHIP).await;
    let mut answers = Vec::new();
    for n in 0..5 {
        answers.push(
            f.client
                .find_membership_verify(&request_id, &other_code(&code, n))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        answers,
        vec![
            FindMembershipVerifyReply::WrongCode { attempts_left: 4 },
            FindMembershipVerifyReply::WrongCode { attempts_left: 3 },
            FindMembershipVerifyReply::WrongCode { attempts_left: 2 },
            FindMembershipVerifyReply::WrongCode { attempts_left: 1 },
            FindMembershipVerifyReply::Locked,
        ]
    );
    let r = f
        .client
        .find_membership_verify(&request_id, &code)
        .await
        .unwrap();
    assert_eq!(
        r,
        FindMembershipVerifyReply::Locked,
        "the correct code is refused"
    );
    let r = f.client.find_membership_send(&request_id, 1).await.unwrap();
    assert_eq!(
        r,
        FindMembershipSendReply::Locked,
        "no new code for a locked request"
    );

    // The kiosk shows the lock in plain words.
    let (_device, mut kiosk, _request_id, code) = f.kiosk_awaiting_code().await;
    for n in 0..5 {
        kiosk
            .act(Input::CodeEntered(other_code(&code, n)))
            .await
            .unwrap();
    }
    assert_eq!(kiosk.screen(), &Screen::Locked);
    assert!(kiosk.message().contains("locked"));
    kiosk.act(Input::CodeEntered(code)).await.unwrap();
    assert_eq!(kiosk.screen(), &Screen::Locked);
    assert!(kiosk.reassociation().is_none());
}

/// Issue rule: "codes expire after 10 minutes" (time from the hub's clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_codes_expire_after_10_minutes() {
    let f = fixture().await;
    let (in_time, in_time_code) = code_sent(&f, JANE_MEMBERSHIP).await;
    let (late, late_code) = code_sent(&f, JANE_MEMBERSHIP).await;

    f.clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    let r = f
        .client
        .find_membership_verify(&in_time, &in_time_code)
        .await
        .unwrap();
    assert!(
        matches!(r, FindMembershipVerifyReply::Verified { .. }),
        "9:59 {r:?}"
    );

    f.clock.advance(Duration::seconds(1));
    let r = f
        .client
        .find_membership_verify(&late, &late_code)
        .await
        .unwrap();
    assert_eq!(r, FindMembershipVerifyReply::Expired, "at 10:00");

    // A new code starts a new 10 minutes; the expired one stays refused.
    let sent = f.client.find_membership_send(&late, 1).await.unwrap();
    let FindMembershipSendReply::Sent { expires_at, .. } = sent else {
        panic!("{sent:?}");
    };
    assert_eq!(
        expires_at,
        common::start_time() + Duration::minutes(20),
        "10 minutes from the new code"
    );
    let fresh = code_from_spool(&f.hub.store, &late);
    if fresh != late_code {
        let r = f
            .client
            .find_membership_verify(&late, &late_code)
            .await
            .unwrap();
        assert_eq!(
            r,
            FindMembershipVerifyReply::WrongCode { attempts_left: 4 },
            "old code"
        );
    }
    let r = f
        .client
        .find_membership_verify(&late, &fresh)
        .await
        .unwrap();
    assert!(
        matches!(r, FindMembershipVerifyReply::Verified { .. }),
        "{r:?}"
    );

    // The kiosk offers a new code once the old one ran out.
    let (_device, mut kiosk, _request_id, code) = f.kiosk_awaiting_code().await;
    f.clock.advance(Duration::minutes(11));
    kiosk.act(Input::CodeEntered(code)).await.unwrap();
    assert!(
        matches!(kiosk.screen(), Screen::Expired { .. }),
        "{:?}",
        kiosk.screen()
    );
    assert!(kiosk.message().contains("expired"));
}

/// "Unknown membership ids must not reveal whether a membership exists beyond not found": an
/// unknown id and a membership with no primary contact to verify with get the same answer,
/// and nothing is sent or kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_membership_id_is_only_not_found() {
    let f = fixture().await;
    let unknown = f.client.find_membership_locate("M0000000").await.unwrap();
    let no_contact = f
        .client
        .find_membership_locate(NOBODY_MEMBERSHIP)
        .await
        .unwrap();
    assert_eq!(unknown, FindMembershipLocateReply::NotFound);
    assert_eq!(
        serde_json::to_string(&unknown).unwrap(),
        serde_json::to_string(&no_contact).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&unknown).unwrap(),
        r#"{"outcome":"not_found"}"#
    );
    assert!(
        portico::hub::find_membership::spool(&f.hub.store, 10)
            .unwrap()
            .is_empty()
    );
    let requests: i64 = f
        .hub
        .store
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM find_membership_requests", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(requests, 0);

    let (_device, mut kiosk) = f.kiosk("v");
    assert_eq!(
        kiosk
            .act(Input::IdEntered("M0000000".into()))
            .await
            .unwrap(),
        &Screen::NotFound
    );
    assert!(kiosk.message().contains("couldn't find"));
}

/// Seed 000/001: merged-away records resolve to the survivor. A merged-away Lookup ID leads to
/// the survivor's membership, and a membership still naming the merged-away record sends the
/// code to the survivor's primary contacts and verifies as the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_away_ids_resolve_to_the_survivor() {
    let f = fixture().await;
    let (_, targets) = locate(&f, SAM_DUPLICATE).await;
    let masked: Vec<&str> = targets.iter().map(|t| t.masked.as_str()).collect();
    assert_eq!(
        masked,
        ["s***@z***.org", "***-***-3333"],
        "the survivor's contacts"
    );

    for membership in [SAM_MEMBERSHIP, STALE_MEMBERSHIP] {
        let (request_id, code) = code_sent(&f, membership).await;
        let r = f
            .client
            .find_membership_verify(&request_id, &code)
            .await
            .unwrap();
        let FindMembershipVerifyReply::Verified {
            lookup_id,
            membership: m,
        } = r
        else {
            panic!("{r:?}");
        };
        assert_eq!(lookup_id, SAM, "{membership}");
        assert_eq!(m.membership_id, membership);
    }
    // The merged-away Lookup ID finds the survivor's membership.
    let (request_id, code) = code_sent(&f, SAM_DUPLICATE).await;
    let r = f
        .client
        .find_membership_verify(&request_id, &code)
        .await
        .unwrap();
    let FindMembershipVerifyReply::Verified { lookup_id, .. } = r else {
        panic!("{r:?}");
    };
    assert_eq!(lookup_id, SAM);
}

/// Hostile input gets a clear error, never a panic, and never costs an attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clear_errors() {
    let f = fixture().await;
    let e = f
        .client
        .find_membership_locate(&"M".repeat(100_000))
        .await
        .unwrap_err();
    assert_eq!(rejected_status(&e), 400);
    assert!(e.to_string().contains("invalid_id"), "{e}");
    let e = f
        .client
        .find_membership_locate("M1'; DROP TABLE records; --")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_id"), "{e}");

    let (request_id, code) = code_sent(&f, JANE_MEMBERSHIP).await;
    for bad in ["12ab56", "", "1234567", "１２３４５６", &"9".repeat(5000)] {
        let e = f
            .client
            .find_membership_verify(&request_id, bad)
            .await
            .unwrap_err();
        assert_eq!(rejected_status(&e), 400, "{bad:?}");
        assert!(e.to_string().contains("invalid_code"), "{e}");
    }
    let r = f
        .client
        .find_membership_verify(&request_id, &other_code(&code, 0))
        .await
        .unwrap();
    assert_eq!(
        r,
        FindMembershipVerifyReply::WrongCode { attempts_left: 4 },
        "no attempt used"
    );

    let e = f
        .client
        .find_membership_send(&request_id, 99)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("bad_target"), "{e}");
    let e = f
        .client
        .find_membership_send("../../etc", 0)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_request_id"), "{e}");
    let e = f
        .client
        .find_membership_verify(&"a".repeat(65), &code)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_request_id"), "{e}");
    let e = f
        .client
        .find_membership_verify("0123456789abcdef", &code)
        .await
        .unwrap_err();
    assert_eq!(rejected_status(&e), 404);
    assert!(e.to_string().contains("unknown_request"), "{e}");

    // A request belongs to the device that made it.
    let other = common::TestDevice::new(&f.hub, "kiosk-2", &f.hub.ca, "", "");
    let other = portico::sync::HubClient::new(&other.config().upstream).unwrap();
    let e = other
        .find_membership_verify(&request_id, &code)
        .await
        .unwrap_err();
    assert_eq!(rejected_status(&e), 404);

    // Verifying before any code was sent.
    let (fresh, _) = locate(&f, JANE_MEMBERSHIP).await;
    let e = f
        .client
        .find_membership_verify(&fresh, &code)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no_code_sent"), "{e}");

    // The kiosk refuses these before the hub sees them.
    let (_device, mut kiosk) = f.kiosk("v");
    let s = kiosk
        .act(Input::IdEntered("M".repeat(10_000)))
        .await
        .unwrap();
    assert!(matches!(s, Screen::EnterId { problem: Some(_) }), "{s:?}");
    kiosk
        .act(Input::IdEntered(JANE_MEMBERSHIP.into()))
        .await
        .unwrap();
    kiosk.act(Input::TargetChosen(0)).await.unwrap();
    let s = kiosk
        .act(Input::CodeEntered("12 34 5x".into()))
        .await
        .unwrap();
    let Screen::EnterCode {
        problem,
        attempts_left,
        ..
    } = s
    else {
        panic!("{s:?}");
    };
    assert_eq!(*problem, Some(CodeProblem::Invalid(CodeError::NotDigits)));
    assert_eq!(*attempts_left, 5);
    assert!(kiosk.message().contains("6 digits"), "{}", kiosk.message());

    // And without a token there is nothing to learn.
    let token_file = f.device.dir.path().join("device.token");
    std::fs::write(&token_file, "not-a-token").unwrap();
    let e = f
        .client
        .find_membership_locate(JANE_MEMBERSHIP)
        .await
        .unwrap_err();
    assert!(matches!(e, SyncError::Unauthorized(_)), "{e:?}");
}

/// A kiosk that cannot reach the hub says so and retries the same step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_hub_shows_offline_and_the_step_can_be_retried() {
    let f = fixture().await;
    let (_device, mut kiosk) = f.kiosk("v");
    let token_file = f.device.dir.path().join("device.token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    std::fs::write(&token_file, "").unwrap();
    let s = kiosk
        .act(Input::IdEntered(JANE_MEMBERSHIP.into()))
        .await
        .unwrap();
    assert!(matches!(s, Screen::Offline { .. }), "{s:?}");
    assert!(kiosk.message().contains("can't reach"));
    std::fs::write(&token_file, token).unwrap();
    let s = kiosk.act(Input::Retry).await.unwrap();
    assert!(matches!(s, Screen::ChooseTarget { .. }), "{s:?}");
}
