//! When the kiosk cannot serve visitors, and what its screen then says, sans-IO: the shell
//! gathers the facts ([`Health`]: service mode, the hub's silence, the card terminal, the
//! printer) and [`judge`] names the one reason the screen shows, with a short code staff can
//! read out on the phone ("the lobby kiosk says P1").
//!
//! Some reasons stop only the sales (no tickets without paper, no payment without the
//! terminal): members still check in and volunteers still clock. Others stop everything (a
//! technician took the kiosk out of service; it has not heard from the hub for so long that
//! what it knows of memberships and timed entries can no longer be trusted).

use std::time::Duration;

use crate::kiosk::checkout::PrinterProblem;

/// Why the kiosk is out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfOrder {
    /// A technician switched the kiosk out of service.
    ServiceMode,
    /// The kiosk could not start its sales (no signing key yet, no catalog).
    NotReady,
    /// The hub has not answered for longer than the configured limit.
    HubUnreachable,
    /// The card terminal does not answer.
    TerminalUnreachable,
    Printer(PrinterProblem),
}

impl OutOfOrder {
    /// The short code the screen shows beside its words.
    pub fn code(self) -> &'static str {
        match self {
            Self::ServiceMode => "S1",
            Self::NotReady => "S2",
            Self::HubUnreachable => "H1",
            Self::TerminalUnreachable => "T1",
            Self::Printer(PrinterProblem::PaperOut) => "P1",
            Self::Printer(PrinterProblem::CoverOpen) => "P2",
            Self::Printer(PrinterProblem::Offline) => "P3",
            Self::Printer(PrinterProblem::NoPrinter) => "P4",
        }
    }

    /// Whether members and volunteers are turned away too; otherwise only sales stop.
    pub fn stops_everything(self) -> bool {
        matches!(
            self,
            Self::ServiceMode | Self::NotReady | Self::HubUnreachable
        )
    }

    /// For staff (logs, the technician screen), in plain words.
    pub fn words(self) -> &'static str {
        match self {
            Self::ServiceMode => "out of service (switched off on the technician screen)",
            Self::NotReady => "sales could not start (no signing key or no catalog)",
            Self::HubUnreachable => "the hub has not answered for too long",
            Self::TerminalUnreachable => "the card terminal does not answer",
            Self::Printer(PrinterProblem::PaperOut) => "the printer is out of paper",
            Self::Printer(PrinterProblem::CoverOpen) => "the printer's cover is open",
            Self::Printer(PrinterProblem::Offline) => "the printer does not answer",
            Self::Printer(PrinterProblem::NoPrinter) => "no printer is configured",
        }
    }
}

/// What the shell found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub service_mode: bool,
    pub not_ready: bool,
    /// How long the hub has not answered (`None`: it answers).
    pub hub_silent_for: Option<Duration>,
    /// The card terminal answered its last check.
    pub terminal_unreachable: bool,
    pub printer: Option<PrinterProblem>,
}

/// The one reason the screen shows, the gravest first; `offline_limit` is how long the hub may
/// be silent (`None`: for ever).
pub fn judge(h: &Health, offline_limit: Option<Duration>) -> Option<OutOfOrder> {
    if h.service_mode {
        return Some(OutOfOrder::ServiceMode);
    }
    if h.not_ready {
        return Some(OutOfOrder::NotReady);
    }
    if let (Some(silent), Some(limit)) = (h.hub_silent_for, offline_limit)
        && silent > limit
    {
        return Some(OutOfOrder::HubUnreachable);
    }
    if h.terminal_unreachable {
        return Some(OutOfOrder::TerminalUnreachable);
    }
    h.printer.map(OutOfOrder::Printer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gravest_reason_shows_with_its_code() {
        let hour = Duration::from_secs(3600);
        let ok = Health::default();
        type Want = Option<(&'static str, bool)>;
        let cases: [(Health, Option<Duration>, Want); 9] = [
            (ok, Some(hour), None),
            (
                Health {
                    printer: Some(PrinterProblem::PaperOut),
                    ..ok
                },
                Some(hour),
                Some(("P1", false)),
            ),
            (
                Health {
                    terminal_unreachable: true,
                    printer: Some(PrinterProblem::CoverOpen),
                    ..ok
                },
                Some(hour),
                Some(("T1", false)),
            ),
            // Silent for less than the limit: still serving, from what it knows.
            (
                Health {
                    hub_silent_for: Some(hour),
                    ..ok
                },
                Some(hour),
                None,
            ),
            (
                Health {
                    hub_silent_for: Some(hour + Duration::from_secs(1)),
                    terminal_unreachable: true,
                    ..ok
                },
                Some(hour),
                Some(("H1", true)),
            ),
            // No limit: the hub may be silent for ever.
            (
                Health {
                    hub_silent_for: Some(hour * 1000),
                    ..ok
                },
                None,
                None,
            ),
            (
                Health {
                    not_ready: true,
                    printer: Some(PrinterProblem::Offline),
                    ..ok
                },
                Some(hour),
                Some(("S2", true)),
            ),
            (
                Health {
                    service_mode: true,
                    not_ready: true,
                    hub_silent_for: Some(hour * 2),
                    ..ok
                },
                Some(hour),
                Some(("S1", true)),
            ),
            (
                Health {
                    printer: Some(PrinterProblem::NoPrinter),
                    ..ok
                },
                Some(hour),
                Some(("P4", false)),
            ),
        ];
        for (health, limit, want) in cases {
            let got = judge(&health, limit).map(|o| (o.code(), o.stops_everything()));
            assert_eq!(got, want, "{health:?}");
        }
    }
}
