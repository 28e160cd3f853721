//! Tickets and receipts printed over real ESC/POS to the loopback printer on TCP: what comes
//! out is what the kiosk laid out; the kiosk reads the printer's state before selling; paper
//! that runs out halfway stops the job and says how far it got, and a new roll prints the rest.

use std::time::Duration;

use chrono::NaiveDate;
use portico::domain::TicketValidity;
use portico::kiosk::catalog::Lang;
use portico::kiosk::escpos::PrintDoc;
use portico::kiosk::pricing::PriceKind;
use portico::kiosk::printer::{EscPosPrinter, PrintReport, PrinterAddress, TicketPrinter};
use portico::kiosk::receipt::{
    Letterhead, Paper, ReceiptLine, ReceiptPrint, TicketPrint, receipt_doc, tickets_doc,
};
use portico::loopback_printer::LoopbackPrinter;

fn head() -> Letterhead {
    Letterhead {
        venue: "Riverside Zoo".into(),
        address: "1 River Road".into(),
        tax_id: "12-3456789".into(),
        footer: "¡Gracias por su visita!".into(),
    }
}

fn tickets(n: usize) -> PrintDoc {
    let start = NaiveDate::from_ymd_opt(2026, 11, 22)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let t: Vec<TicketPrint> = (0..n)
        .map(|i| TicketPrint {
            product: "Entrada con horario".into(),
            category: Some("Niño (3–17)".into()),
            validity: TicketValidity::Slot {
                start,
                end: start + chrono::Duration::minutes(30),
            },
            order_no: "K1-00007".into(),
            code: format!("PT:CODE{i}"),
            secret: format!("PT-32768-{i}"),
        })
        .collect();
    tickets_doc(&head(), &t, Paper::Mm80, Lang::Es)
}

fn as_printed(doc: &PrintDoc) -> Vec<PrintDoc> {
    doc.pieces().iter().map(PrintDoc::as_printed).collect()
}

fn printer(p: &LoopbackPrinter) -> EscPosPrinter {
    EscPosPrinter::new(
        PrinterAddress::Tcp(p.addr.to_string()),
        Duration::from_secs(5),
    )
}

#[test]
fn what_the_printer_prints_is_what_the_kiosk_laid_out() {
    let lp = LoopbackPrinter::start().unwrap();
    let mut kiosk = printer(&lp);
    let receipt = receipt_doc(
        &head(),
        &ReceiptPrint {
            order_no: "K1-00007".into(),
            when: NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(9, 41, 0)
                .unwrap(),
            lines: vec![ReceiptLine {
                quantity: 3,
                name: "Entrada con horario · Niño".into(),
                kind: PriceKind::NonMember,
                amount: 4200,
            }],
            subtotal: 4200,
            taxes: vec![("Impuesto sobre las ventas".into(), 825, 347)],
            included: vec![],
            gross: 4547,
            currency: "USD".into(),
            card: "VISA ****4242".into(),
            auth_code: "SIM001".into(),
            member_savings: 0,
            email: None,
        },
        Paper::Mm80,
        Lang::Es,
    );
    let mut job = tickets(3);
    job.0.extend(receipt.0.clone());
    assert!(kiosk.status().unwrap().can_print());
    assert_eq!(
        kiosk.print(&job).unwrap(),
        PrintReport {
            printed: 4,
            stopped: false
        }
    );
    assert_eq!(lp.printed(), as_printed(&job));
    assert!(lp.garbled().is_empty());
}

#[test]
fn the_kiosk_sees_the_printers_state_and_paper_that_runs_out_stops_the_job() {
    let lp = LoopbackPrinter::start().unwrap();
    let mut kiosk = printer(&lp);
    // (what happened, can the kiosk sell)
    type Make = fn(&LoopbackPrinter);
    let cases: [(&str, Make, bool); 4] = [
        ("ready", |_| {}, true),
        (
            "cover open",
            |p| p.set_status(|s| s.cover_open = true),
            false,
        ),
        ("no paper", |p| p.paper_for(0), false),
        ("offline", |p| p.set_status(|s| s.online = false), false),
    ];
    for (what, make, sellable) in cases {
        let lp = LoopbackPrinter::start().unwrap();
        make(&lp);
        let status = printer(&lp).status().unwrap();
        assert_eq!(status.can_print(), sellable, "{what}: {status:?}");
    }

    // Two tickets' worth of paper left for three tickets.
    lp.paper_for(2);
    let job = tickets(3);
    let report = kiosk.print(&job).unwrap();
    assert_eq!(
        report,
        PrintReport {
            printed: 2,
            stopped: true
        }
    );
    assert_eq!(lp.printed().len(), 2);
    assert!(kiosk.status().unwrap().paper_out);
    // A new roll: the rest prints again.
    lp.refill();
    let rest = PrintDoc(
        job.pieces()[report.printed..]
            .iter()
            .flat_map(|p| p.0.clone())
            .collect(),
    );
    assert_eq!(kiosk.print(&rest).unwrap().printed, 1);
    assert_eq!(lp.printed(), as_printed(&job));
}

#[test]
fn a_printer_that_is_not_there_is_said_so() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut kiosk = EscPosPrinter::new(
        PrinterAddress::Tcp(addr.to_string()),
        Duration::from_millis(500),
    );
    let err = kiosk.status().unwrap_err();
    assert!(err.to_string().contains("cannot be reached"), "{err}");
}
