use chrono::TimeZone;

use super::*;

fn parties() -> Parties {
    Parties {
        sale_id: "kiosk-1".into(),
        poi_id: "V400m-324688179".into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 14, 30, 0).unwrap()
}

#[test]
fn a_payment_request_names_the_reference_twice_and_the_amount_in_decimal() {
    let r = payment_request(&parties(), "K1-00042-a", 6712, "USD", now());
    let m = &r["SaleToPOIRequest"];
    assert_eq!(m["MessageHeader"]["MessageCategory"], "Payment");
    assert_eq!(m["MessageHeader"]["SaleID"], "kiosk-1");
    assert_eq!(m["MessageHeader"]["POIID"], "V400m-324688179");
    let service = m["MessageHeader"]["ServiceID"].as_str().unwrap();
    assert_eq!(service.len(), 10);
    assert_eq!(
        service,
        payment_service_id("K1-00042-a"),
        "the same every time"
    );
    assert_ne!(service, payment_service_id("K1-00043-a"));
    let sale = &m["PaymentRequest"]["SaleData"]["SaleTransactionID"];
    assert_eq!(sale["TransactionID"], "K1-00042-a");
    assert_eq!(sale["TimeStamp"], "2026-12-07T14:30:00.000Z");
    let amounts = &m["PaymentRequest"]["PaymentTransaction"]["AmountsReq"];
    assert_eq!(amounts["Currency"], "USD");
    assert_eq!(amounts["RequestedAmount"].to_string(), "67.12");
    // (minor units, currency, the amount the terminal is asked for)
    let cases = [
        (1500, "JPY", "1500.0"),
        (15000, "KRW", "15000.0"),
        (1234, "KWD", "1.234"),
        (1, "EUR", "0.01"),
    ];
    for (minor, currency, want) in cases {
        let r = payment_request(&parties(), "x", minor, currency, now());
        assert_eq!(
            r["SaleToPOIRequest"]["PaymentRequest"]["PaymentTransaction"]["AmountsReq"]
                ["RequestedAmount"]
                .to_string(),
            want,
            "{currency}"
        );
    }
}

#[test]
fn status_abort_and_reversal_name_the_payment() {
    let status = status_request(&parties(), "K1-00042-a", "0000000002");
    let m = &status["SaleToPOIRequest"];
    assert_eq!(m["MessageHeader"]["MessageCategory"], "TransactionStatus");
    assert_eq!(m["MessageHeader"]["ServiceID"], "0000000002");
    let reference = &m["TransactionStatusRequest"]["MessageReference"];
    assert_eq!(reference["ServiceID"], payment_service_id("K1-00042-a"));
    assert_eq!(reference["MessageCategory"], "Payment");

    let abort = abort_request(&parties(), "K1-00042-a", "0000000003");
    let m = &abort["SaleToPOIRequest"];
    assert_eq!(m["MessageHeader"]["MessageCategory"], "Abort");
    assert_eq!(
        m["AbortRequest"]["MessageReference"]["ServiceID"],
        payment_service_id("K1-00042-a")
    );

    let txn = PoiTransaction {
        id: "8535".into(),
        timestamp: "2026-12-07T14:30:05.000Z".into(),
    };
    let reversal = reversal_request(&parties(), "K1-00042-a", &txn);
    let m = &reversal["SaleToPOIRequest"];
    assert_eq!(m["MessageHeader"]["MessageCategory"], "Reversal");
    assert_eq!(
        m["ReversalRequest"]["OriginalPOITransaction"]["POITransactionID"]["TransactionID"],
        "8535"
    );
    // The reversal's ServiceID is the payment's own, never a payment's, so the kiosk can ask
    // whether it was made before it sends it again.
    let service = reversal_service_id("K1-00042-a");
    assert_eq!(m["MessageHeader"]["ServiceID"], service.as_str());
    assert_eq!(service, reversal_service_id("K1-00042-a"));
    assert_eq!(service.len(), 10);
    assert_ne!(service, payment_service_id("K1-00042-a"));
    assert_ne!(service, reversal_service_id("K1-00043-a"));
    let asked = reversal_status_request(&parties(), "K1-00042-a", "0000000005");
    let reference = &asked["SaleToPOIRequest"]["TransactionStatusRequest"]["MessageReference"];
    assert_eq!(reference["MessageCategory"], "Reversal");
    assert_eq!(reference["ServiceID"], service.as_str());
}

#[test]
fn a_reversal_status_says_whether_the_payment_was_given_back() {
    let status = |result: &str, condition: Option<&str>, reversal: Option<&str>| {
        let mut body = json!({"Response": {"Result": result}});
        if let Some(c) = condition {
            body["Response"]["ErrorCondition"] = json!(c);
        }
        if let Some(r) = reversal {
            body["RepeatedMessageResponse"] = json!({"RepeatedResponseMessageBody": {
                "ReversalResponse": {"Response": {"Result": r}}
            }});
        }
        serde_json::to_vec(&json!({"SaleToPOIResponse": {"TransactionStatusResponse": body}}))
            .unwrap()
    };
    let cases = [
        (
            status("Success", None, Some("Success")),
            Ok(ReversalStatus::Reversed),
        ),
        (
            status("Success", None, Some("Failure")),
            Ok(ReversalStatus::NotReversed),
        ),
        (
            status("Failure", Some("NotFound"), None),
            Ok(ReversalStatus::NotReversed),
        ),
        (
            status("Failure", Some("InProgress"), None),
            Ok(ReversalStatus::InProgress),
        ),
    ];
    for (reply, want) in cases {
        assert_eq!(parse_reversal_status(&reply), want);
    }
    // Anything else says nothing: never read as "not reversed", which would reverse again.
    for reply in [
        status("Success", None, None),
        status("Failure", Some("Busy"), None),
        b"{}".to_vec(),
    ] {
        assert!(parse_reversal_status(&reply).is_err());
    }
}

/// A payment's answer as a terminal writes it.
fn payment_reply(result: &str, condition: Option<&str>) -> Vec<u8> {
    let mut response = json!({"Result": result});
    if let Some(c) = condition {
        response["ErrorCondition"] = json!(c);
        response["AdditionalResponse"] = json!("message=Declined%20by%20issuer");
    }
    serde_json::to_vec(&json!({"SaleToPOIResponse": {
        "MessageHeader": {"MessageCategory": "Payment", "MessageType": "Response"},
        "PaymentResponse": {
            "Response": response,
            "POIData": {"POITransactionID": {"TransactionID": "8535", "TimeStamp": "2026-12-07T14:30:05.000Z"}},
            "PaymentResult": {
                "PaymentAcquirerData": {"ApprovalCode": "123456"},
                "PaymentInstrumentData": {"CardData": {"PaymentBrand": "visa", "MaskedPan": "411111******4242"}},
            },
        },
    }}))
    .unwrap()
}

#[test]
fn every_payment_answer_means_one_outcome() {
    let approved = TerminalOutcome::Approved(Approval {
        auth_code: "123456".into(),
        card_brand: Some("VISA".into()),
        last4: Some("4242".into()),
        terminal_txn: Some("8535".into()),
        approved_at: now(),
    });
    let declined = |r: &str| TerminalOutcome::Declined { reason: r.into() };
    // (result, error condition, outcome, partial)
    let cases = [
        ("Success", None, Some(approved.clone()), false),
        ("Partial", None, Some(approved), true),
        ("Failure", Some("Refusal"), Some(declined("Refusal")), false),
        (
            "Failure",
            Some("WrongPIN"),
            Some(declined("WrongPIN")),
            false,
        ),
        ("Failure", Some("Busy"), Some(declined("Busy")), false),
        (
            "Failure",
            Some("Cancel"),
            Some(TerminalOutcome::CancelledByVisitor),
            false,
        ),
        (
            "Failure",
            Some("Aborted"),
            Some(TerminalOutcome::CancelledByVisitor),
            false,
        ),
        (
            "Failure",
            Some("DeviceOut"),
            Some(declined("DeviceOut")),
            false,
        ),
        (
            "Failure",
            Some("Invalid\u{1b}[31mCard"),
            Some(declined("Invalid31mCard")),
            false,
        ),
        ("Failure", None, Some(declined("Failure")), false),
        ("Pending", None, None, false),
    ];
    for (result, condition, outcome, partial) in cases {
        let got = parse_payment(&payment_reply(result, condition), now());
        match outcome {
            Some(o) => {
                let a = got.unwrap_or_else(|e| panic!("{result} {condition:?}: {e}"));
                assert_eq!(
                    (a.outcome, a.partial),
                    (o, partial),
                    "{result} {condition:?}"
                );
                assert_eq!(a.poi_transaction.unwrap().id, "8535");
            }
            None => assert!(
                matches!(got, Err(NexoError::Refused { .. })),
                "{result} {condition:?}: {got:?}"
            ),
        }
    }
}

#[test]
fn a_status_answer_says_unknown_in_progress_or_the_payment_as_it_ended() {
    let status = |result: &str, condition: Option<&str>, payment: Option<Vec<u8>>| {
        let mut body = json!({"Response": {"Result": result}});
        if let Some(c) = condition {
            body["Response"]["ErrorCondition"] = json!(c);
        }
        if let Some(p) = payment {
            let p: Value = serde_json::from_slice(&p).unwrap();
            body["RepeatedMessageResponse"] = json!({"RepeatedResponseMessageBody": {
                "PaymentResponse": p["SaleToPOIResponse"]["PaymentResponse"].clone()
            }});
        }
        serde_json::to_vec(&json!({"SaleToPOIResponse": {"TransactionStatusResponse": body}}))
            .unwrap()
    };
    let s = parse_status(&status("Failure", Some("NotFound"), None), now()).unwrap();
    assert_eq!(s.status, TerminalStatus::Unknown);
    let s = parse_status(&status("Failure", Some("InProgress"), None), now()).unwrap();
    assert_eq!(s.status, TerminalStatus::InProgress);
    let s = parse_status(
        &status("Success", None, Some(payment_reply("Success", None))),
        now(),
    )
    .unwrap();
    assert!(matches!(
        s.status,
        TerminalStatus::Completed(TerminalOutcome::Approved(_))
    ));
    assert!(!s.partial);
    assert_eq!(s.poi_transaction.unwrap().id, "8535");
    // A partial approval reads as one, so the kiosk gives it back instead of completing it.
    let s = parse_status(
        &status("Success", None, Some(payment_reply("Partial", None))),
        now(),
    )
    .unwrap();
    assert!(s.partial);
    let s = parse_status(
        &status(
            "Success",
            None,
            Some(payment_reply("Failure", Some("Refusal"))),
        ),
        now(),
    )
    .unwrap();
    assert_eq!(
        s.status,
        TerminalStatus::Completed(TerminalOutcome::Declined {
            reason: "Refusal".into()
        })
    );
    assert!(parse_status(&status("Success", None, None), now()).is_err());
    assert!(parse_status(&status("Failure", Some("Busy"), None), now()).is_err());
}

#[test]
fn hostile_or_foreign_answers_are_errors_not_outcomes() {
    let cases: [&[u8]; 6] = [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"{}",
        b"{\"SaleToPOIResponse\": {}}",
        b"{\"SaleToPOIResponse\": {\"PaymentResponse\": {\"Response\": 7}}}",
        b"[1, 2, 3]",
    ];
    for reply in cases {
        assert!(parse_payment(reply, now()).is_err(), "{reply:?}");
        assert!(parse_status(reply, now()).is_err(), "{reply:?}");
        assert!(parse_reversal(reply).is_err(), "{reply:?}");
    }
    let reversed = serde_json::to_vec(&json!({"SaleToPOIResponse": {
    "ReversalResponse": {"Response": {"Result": "Success"}}}}))
    .unwrap();
    assert_eq!(parse_reversal(&reversed), Ok(()));
}
