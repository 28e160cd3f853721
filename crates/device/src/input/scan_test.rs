//! `scan-test`: a live view of every configured input for installers and support.
//!
//! Shows each input's device state (connected, grabbed, last error), every frame as text and
//! hex with its timing, and the credential it was parsed as, or why it was not recognised.

use std::io::{self, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::config::{InputSource, ValidatedInputs};
use super::credential::{Credential, CredentialKind};
use super::event::{DeviceState, InputEvent, Scan, StopSignal};
use super::spawn_inputs;

/// Runs the live view until `stop` is signalled, writing to `out`.
pub fn run_scan_test(
    config: &ValidatedInputs,
    mut out: impl Write,
    stop: &StopSignal,
) -> io::Result<()> {
    let start = Instant::now();
    write_header(config, &mut out)?;
    let (tx, rx) = mpsc::channel();
    let readers_stop = StopSignal::new();
    let handles = match spawn_inputs(config, tx, &readers_stop) {
        Ok(h) => h,
        Err(e) => {
            readers_stop.stop();
            return Err(e);
        }
    };
    let result = (|| -> io::Result<()> {
        while !stop.is_stopped() {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ev) => write_event(&mut out, start, &ev)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    })();
    readers_stop.stop();
    for h in handles {
        let _ = h.join();
    }
    if result.is_ok() {
        while let Ok(ev) = rx.try_recv() {
            write_event(&mut out, start, &ev)?;
        }
        writeln!(out, "scan-test stopped")?;
        out.flush()?;
    }
    result
}

fn write_header(config: &ValidatedInputs, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "scan-test: {} input(s); double-scan window {} ms",
        config.inputs.len(),
        config.double_scan_window.as_millis()
    )?;
    for i in &config.inputs {
        let what = match &i.source {
            InputSource::Serial(s) => format!(
                "serial {} {} baud {}{}{}",
                s.path.display(),
                s.baud,
                s.data_bits,
                match s.parity {
                    super::config::Parity::None => 'N',
                    super::config::Parity::Odd => 'O',
                    super::config::Parity::Even => 'E',
                },
                s.stop_bits
            ),
            InputSource::Evdev(e) => format!(
                "evdev {} layout {}{}",
                e.selector,
                e.layout.as_str(),
                if e.grab { " grab" } else { "" }
            ),
        };
        let f = &i.framing;
        let mut framing = format!("terminator {}", f.terminator.as_str());
        if let Some(g) = f.idle_gap {
            framing.push_str(&format!(", idle gap {} ms", g.as_millis()));
        }
        if f.stx_etx {
            framing.push_str(", STX/ETX");
        }
        framing.push_str(&format!(", max {} bytes", f.max_frame_len));
        writeln!(
            out,
            "  {}{}: {what}; {framing}",
            i.name,
            if i.enabled { "" } else { " (disabled)" }
        )?;
    }
    out.flush()
}

fn write_event(out: &mut impl Write, start: Instant, ev: &InputEvent) -> io::Result<()> {
    let stamp = |at: Instant| {
        let d = at.saturating_duration_since(start);
        format!("[{:>4}.{:03}s]", d.as_secs(), d.subsec_millis())
    };
    match ev {
        InputEvent::State { reader, state, at } => {
            let text = match state {
                DeviceState::Connected { .. } => state.to_string(),
                DeviceState::Disconnected { error } => format!("disconnected; last error: {error}"),
                DeviceState::Stopped => "stopped".to_owned(),
            };
            writeln!(out, "{} {reader}: {text}", stamp(*at))?;
        }
        InputEvent::Scan(scan) => write_scan(out, &stamp(scan.at), scan, false)?,
        InputEvent::Repeat(scan) => write_scan(out, &stamp(scan.at), scan, true)?,
        InputEvent::Dropped {
            reader,
            reason,
            len,
            at,
        } => writeln!(
            out,
            "{} {reader}: dropped {len} bytes: {reason}",
            stamp(*at)
        )?,
    }
    out.flush()
}

fn write_scan(out: &mut impl Write, stamp: &str, scan: &Scan, repeat: bool) -> io::Result<()> {
    let c = &scan.credential;
    writeln!(
        out,
        "{stamp} {}: frame \"{}\" ({} bytes in {:.1} ms, ended by {})",
        c.reader,
        printable(&c.raw),
        c.raw.len(),
        scan.span.as_secs_f64() * 1000.0,
        scan.ended_by.as_str()
    )?;
    writeln!(out, "    hex {}", hex_spaced(&c.raw))?;
    if repeat {
        writeln!(out, "    repeat within the double-scan window: ignored")
    } else {
        writeln!(out, "    -> {}", describe(c))
    }
}

/// The frame as text, control characters shown by name (`<GS>`), invalid UTF-8 as U+FFFD.
pub fn printable(bytes: &[u8]) -> String {
    const NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF",
        "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
        "SUB", "ESC", "FS", "GS", "RS", "US",
    ];
    let mut s = String::with_capacity(bytes.len());
    for ch in String::from_utf8_lossy(bytes).chars() {
        match ch {
            '\u{0}'..='\u{1f}' => {
                s.push('<');
                s.push_str(NAMES[ch as usize]);
                s.push('>');
            }
            '\u{7f}' => s.push_str("<DEL>"),
            '"' => s.push_str("\\\""),
            _ => s.push(ch),
        }
    }
    s
}

fn hex_spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// A one-line description of what a credential is.
pub fn describe(c: &Credential) -> String {
    match &c.kind {
        CredentialKind::Membership { membership_id } => format!("membership {membership_id}"),
        CredentialKind::LookupId { lookup_id } => format!("lookup id {lookup_id}"),
        CredentialKind::TicketSecret { secret } => format!("ticket secret {secret}"),
        CredentialKind::SignedTicket(t) | CredentialKind::KioskTicket { claimed: t, .. } => {
            format!(
                "{} ticket {} product {} validity {} uses {} (key {})",
                if matches!(c.kind, CredentialKind::SignedTicket(_)) {
                    "signed"
                } else {
                    "kiosk-signed (checked at the gate)"
                },
                t.fields.ticket_id,
                t.fields.product_id,
                match &t.fields.validity {
                    crate::domain::TicketValidity::Open => "open".to_owned(),
                    crate::domain::TicketValidity::Date { date } => date.to_string(),
                    crate::domain::TicketValidity::Slot { start, end } => format!("{start}–{end}"),
                },
                t.fields.uses,
                t.key_id
            )
        }
        CredentialKind::Magstripe(m) => {
            let tracks = match (&m.track1, &m.track2) {
                (Some(_), Some(_)) => "tracks 1+2",
                (Some(_), None) => "track 1",
                _ => "track 2",
            };
            let name = m.track1.as_ref().map(|t| t.name.as_str()).unwrap_or("-");
            let exp = m
                .track2
                .as_ref()
                .map(|t| t.expiry)
                .or(m.track1.as_ref().map(|t| t.expiry))
                .map(|e| format!("{:04}-{:02}", e.year, e.month))
                .unwrap_or_default();
            format!(
                "magstripe ({tracks}) PAN {} name {name} expiry {exp}",
                m.pan().unwrap_or("-")
            )
        }
        CredentialKind::RfidUid { uid, uid_hex } => {
            format!("RFID UID {uid_hex} ({} bytes)", uid.len())
        }
        CredentialKind::Wiegand26(w) => format!(
            "Wiegand 26: facility {} card {}",
            w.facility_code, w.card_number
        ),
        CredentialKind::Gs1 { elements } => {
            let parts: Vec<String> = elements
                .iter()
                .map(|e| format!("({}){}", e.ai, e.value))
                .collect();
            format!("GS1 {}", parts.join(" "))
        }
        CredentialKind::Unrecognized { reason } => format!("not recognised: {reason}"),
    }
}
