//! The `[kiosk]` section and its parts (`docs/kiosk-config.md`): timings, order numbers, the
//! ticket-signing key, the receipt printer, the card terminal, seat leases and the receipt's
//! letterhead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawKiosk, RawKioskLeases, RawKioskPrinter, RawKioskTerminal};
use super::{Problems, duration, int_in, resolve};
use crate::kiosk::capacity::LeasePolicy;
use crate::kiosk::lease_client::LeaseSettings;
use crate::kiosk::payment::OnApprovedAfterCrash;
use crate::kiosk::printer::PrinterAddress;
use crate::kiosk::receipt::{Letterhead, Paper};

/// The receipt printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterConfig {
    pub address: PrinterAddress,
    pub paper: Paper,
    pub timeout: Duration,
}

/// Which card terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalKind {
    /// The simulator (demo, tests, a kiosk on trial): approves unless scripted otherwise.
    Simulated,
    /// A card terminal speaking nexo's Terminal API (JSON over HTTPS).
    Nexo(NexoSettings),
}

/// Where and how to reach a nexo terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexoSettings {
    pub url: reqwest::Url,
    pub poi_id: String,
    /// `None`: the device id.
    pub sale_id: Option<String>,
    pub ca_cert: PathBuf,
    pub api_key_file: Option<PathBuf>,
    /// How long a payment may take.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    pub kind: TerminalKind,
    /// A payment approved before a crash, whose order was not committed: complete the order
    /// (the default) or give the money back.
    pub after_crash: OnApprovedAfterCrash,
}

impl TerminalConfig {
    /// The terminal's kind as the config names it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TerminalKind::Simulated => "simulated",
            TerminalKind::Nexo(_) => "nexo",
        }
    }
}

/// A validated `[kiosk]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskConfig {
    pub currency: String,
    /// The language the screen starts each visitor in (they can switch).
    pub language: crate::kiosk::catalog::Lang,
    pub idle_timeout: Duration,
    /// The "Still there?" countdown.
    pub still_there: Duration,
    /// Who opens the technician screen: its PIN file and cards.
    pub technician: super::TechnicianAccess,
    /// How long the hub may be silent before the kiosk shows its out-of-order screen (`None`:
    /// for ever).
    pub offline_limit: Option<Duration>,
    /// Order numbers are `{order_prefix}-00042`.
    pub order_prefix: String,
    /// The ticket-signing key (made at first start); `None`: `kiosk-signing.key` in the
    /// data directory.
    pub key_file: Option<PathBuf>,
    /// How long orders, guest passes, timesheets and seat-lease calls are kept once the hub
    /// has them ([`crate::kiosk::retention`]).
    pub keep_records: Duration,
    /// Day passes for today are sold until this time (`None`: all day).
    pub last_admission: Option<chrono::NaiveTime>,
    /// `None`: no printer; the kiosk does not sell (it could not print the tickets).
    pub printer: Option<PrinterConfig>,
    pub terminal: TerminalConfig,
    pub leases: LeaseSettings,
    pub letterhead: Letterhead,
    /// The volunteer time clock's rules (`[kiosk.volunteer_clock]`).
    pub clock: crate::volunteer::ClockRules,
}

impl KioskConfig {
    /// The checkout's timings, starting language and what it offers.
    pub fn flow(&self, offer: crate::kiosk::checkout::Offer) -> crate::kiosk::checkout::FlowConfig {
        crate::kiosk::checkout::FlowConfig {
            idle_timeout: self.idle_timeout,
            still_there: self.still_there,
            default_lang: self.language,
            clock: self.clock,
            offer,
            last_admission: self.last_admission,
            ..Default::default()
        }
    }

    /// The signing key's file.
    pub fn key_path(&self, data_dir: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("kiosk-signing.key"))
    }
}

pub(super) fn validate(
    p: &mut Problems<'_>,
    base: &Path,
    k: RawKiosk,
    active: bool,
) -> Option<KioskConfig> {
    let currency = k.currency.unwrap_or_else(|| "USD".to_owned());
    let currency_ok = currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
    if !currency_ok {
        p.at_path(
            "kiosk.currency",
            &format!("{currency:?} is not an ISO 4217 code like \"USD\""),
        );
    }
    let tag = k.language.as_deref().unwrap_or("en");
    let language = crate::kiosk::catalog::Lang::from_tag(tag);
    if language.is_none() {
        p.at_path(
            "kiosk.language",
            &format!("{tag:?}: expected \"en\" (English) or \"es\" (Spanish)"),
        );
    }
    let idle = duration(
        p,
        "kiosk.idle_timeout",
        k.idle_timeout,
        Duration::from_secs(90),
        (Duration::from_secs(10), Duration::from_secs(3600)),
    );
    let still_there = duration(
        p,
        "kiosk.still_there",
        k.still_there,
        Duration::from_secs(30),
        (Duration::from_secs(5), Duration::from_secs(300)),
    );
    let technician = super::technician_access(
        p,
        base,
        "kiosk",
        k.technician_pin_file,
        k.technician_cards,
        active,
    );
    // "never": the kiosk serves from what it knows however long the hub is silent.
    let offline_limit = match k.offline_limit.as_deref() {
        Some("never") => Some(None),
        other => duration(
            p,
            "kiosk.offline_limit",
            other.map(str::to_owned),
            Duration::from_secs(6 * 3600),
            (Duration::from_secs(600), Duration::from_secs(30 * 86_400)),
        )
        .map(Some),
    };
    let order_prefix = k.order_prefix.unwrap_or_else(|| "K".to_owned());
    let prefix_ok = (1..=8).contains(&order_prefix.len())
        && order_prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !prefix_ok {
        p.at_path(
            "kiosk.order_prefix",
            &format!(
                "{order_prefix:?} must be 1 to 8 capital letters or digits (order numbers read \
                 \"K1-00042\")"
            ),
        );
    }
    let key_file = k
        .key_file
        .filter(|s| !s.trim().is_empty())
        .map(|s| resolve(base, &s));
    let keep_records = duration(
        p,
        "kiosk.keep_records",
        k.keep_records,
        crate::kiosk::retention::DEFAULT_KEEP,
        (
            crate::kiosk::retention::MIN_KEEP,
            crate::kiosk::retention::MAX_KEEP,
        ),
    );
    let last_admission = match k.last_admission.as_deref() {
        None => Some(None),
        Some(text) => match chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M") {
            Ok(t) => Some(Some(t)),
            Err(_) => {
                p.at_path(
                    "kiosk.last_admission",
                    &format!("{text:?} is not a time of day like \"16:30\" (24-hour clock)"),
                );
                None
            }
        },
    };
    let printer = match k.printer {
        None => Some(None),
        Some(raw) => printer(p, base, raw).map(Some),
    };
    let terminal = terminal(p, base, k.terminal.unwrap_or_default());
    let leases = leases(p, k.leases.unwrap_or_default());
    let r = k.receipt.unwrap_or_default();
    let letterhead = Letterhead {
        venue: r.venue.unwrap_or_else(|| "Portico".to_owned()),
        address: r.address.unwrap_or_default(),
        tax_id: r.tax_id.unwrap_or_default(),
        footer: r.footer.unwrap_or_default(),
    };
    for (key, text) in [
        ("kiosk.receipt.venue", &letterhead.venue),
        ("kiosk.receipt.address", &letterhead.address),
        ("kiosk.receipt.tax_id", &letterhead.tax_id),
        ("kiosk.receipt.footer", &letterhead.footer),
    ] {
        if text.chars().count() > 48 || text.contains('\n') {
            p.at_path(
                key,
                "must be one line of at most 48 characters (80 mm paper)",
            );
        }
    }
    let clock = volunteer_clock(p, k.volunteer_clock.unwrap_or_default());
    (currency_ok && prefix_ok).then_some(())?;
    Some(KioskConfig {
        currency,
        language: language?,
        idle_timeout: idle?,
        still_there: still_there?,
        technician: technician?,
        offline_limit: offline_limit?,
        order_prefix,
        key_file,
        keep_records: keep_records?,
        last_admission: last_admission?,
        printer: printer?,
        terminal: terminal?,
        leases: leases?,
        letterhead,
        clock: clock?,
    })
}

fn volunteer_clock(
    p: &mut Problems<'_>,
    r: super::raw::RawVolunteerClock,
) -> Option<crate::volunteer::ClockRules> {
    use crate::volunteer::{ClockRules, RoundMode, Rounding};
    let d = ClockRules::default();
    let minutes = |t: chrono::TimeDelta| Duration::from_secs(t.num_seconds().max(0) as u64);
    let opens_before = duration(
        p,
        "kiosk.volunteer_clock.opens_before",
        r.opens_before,
        minutes(d.opens_before),
        (Duration::ZERO, Duration::from_secs(6 * 3600)),
    );
    let grace = duration(
        p,
        "kiosk.volunteer_clock.checkout_grace",
        r.checkout_grace,
        minutes(d.checkout_grace),
        (Duration::ZERO, Duration::from_secs(6 * 3600)),
    );
    let step = int_in(
        p,
        "kiosk.volunteer_clock.rounding_minutes",
        r.rounding_minutes,
        i64::from(d.rounding.minutes),
        (1, 60),
    );
    let mode = match r.rounding.as_deref().unwrap_or("nearest") {
        "nearest" => Some(RoundMode::Nearest),
        "down" => Some(RoundMode::Down),
        "up" => Some(RoundMode::Up),
        other => {
            p.at_path(
                "kiosk.volunteer_clock.rounding",
                &format!("{other:?}: expected \"nearest\", \"down\" or \"up\""),
            );
            None
        }
    };
    let delta = |d: Duration| chrono::TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap_or(0));
    Some(ClockRules {
        opens_before: delta(opens_before?),
        rounding: Rounding {
            minutes: u32::try_from(step?).unwrap_or(15),
            mode: mode?,
        },
        checkout_grace: delta(grace?),
        max_open: d.max_open,
    })
}

fn printer(p: &mut Problems<'_>, base: &Path, r: RawKioskPrinter) -> Option<PrinterConfig> {
    let paper = match r.paper.as_deref().unwrap_or("80mm") {
        "80mm" => Some(Paper::Mm80),
        "58mm" => Some(Paper::Mm58),
        other => {
            p.at_path(
                "kiosk.printer.paper",
                &format!("{other:?}: expected \"80mm\" or \"58mm\""),
            );
            None
        }
    };
    let timeout = duration(
        p,
        "kiosk.printer.timeout",
        r.timeout,
        Duration::from_secs(5),
        (Duration::from_millis(200), Duration::from_secs(60)),
    );
    let kind = r.kind.unwrap_or_else(|| "tcp".to_owned());
    let address = match kind.as_str() {
        "tcp" => match r.address.filter(|a| !a.trim().is_empty()) {
            None => {
                p.at_path(
                    "kiosk.printer.address",
                    "missing required key: the printer's host and port, like \"10.0.4.20:9100\"",
                );
                None
            }
            Some(a)
                if a.rsplit_once(':').is_some_and(|(h, port)| {
                    !h.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0)
                }) =>
            {
                Some(PrinterAddress::Tcp(a.trim().to_owned()))
            }
            Some(a) => {
                p.at_path(
                    "kiosk.printer.address",
                    &format!("{a:?} is not host:port, like \"10.0.4.20:9100\""),
                );
                None
            }
        },
        "usb" | "serial" => match r.device.filter(|d| !d.trim().is_empty()) {
            None => {
                p.at_path(
                    "kiosk.printer.device",
                    "missing required key: the printer's device file, like \"/dev/usb/lp0\"",
                );
                None
            }
            Some(d) if kind == "usb" => Some(PrinterAddress::Usb(resolve(base, &d))),
            Some(d) => {
                int_in(p, "kiosk.printer.baud", r.baud, 19_200, (1200, 921_600)).map(|baud| {
                    PrinterAddress::Serial {
                        path: resolve(base, &d),
                        baud: baud as u32,
                    }
                })
            }
        },
        other => {
            p.at_path(
                "kiosk.printer.kind",
                &format!("{other:?}: expected \"tcp\", \"usb\" or \"serial\""),
            );
            None
        }
    };
    Some(PrinterConfig {
        address: address?,
        paper: paper?,
        timeout: timeout?,
    })
}

fn terminal(p: &mut Problems<'_>, base: &Path, r: RawKioskTerminal) -> Option<TerminalConfig> {
    let nexo_keys = [
        ("url", r.url.is_some()),
        ("poi_id", r.poi_id.is_some()),
        ("sale_id", r.sale_id.is_some()),
        ("ca_cert", r.ca_cert.is_some()),
        ("api_key_file", r.api_key_file.is_some()),
        ("timeout", r.timeout.is_some()),
    ];
    let kind = match r.kind.as_deref().unwrap_or("simulated") {
        "simulated" => {
            for (key, _) in nexo_keys.iter().filter(|(_, set)| *set) {
                p.at_path(
                    &format!("kiosk.terminal.{key}"),
                    "only a \"nexo\" terminal takes this key",
                );
            }
            Some(TerminalKind::Simulated)
        }
        "nexo" => nexo(p, base, r.clone()).map(TerminalKind::Nexo),
        other => {
            p.at_path(
                "kiosk.terminal.kind",
                &format!("{other:?}: expected \"simulated\" or \"nexo\""),
            );
            None
        }
    };
    let after_crash = match r.after_crash.as_deref().unwrap_or("complete") {
        "complete" => Some(OnApprovedAfterCrash::Complete),
        "void" => Some(OnApprovedAfterCrash::Void),
        other => {
            p.at_path(
                "kiosk.terminal.after_crash",
                &format!("{other:?}: expected \"complete\" or \"void\""),
            );
            None
        }
    };
    Some(TerminalConfig {
        kind: kind?,
        after_crash: after_crash?,
    })
}

/// A nexo terminal's keys: an https endpoint, its id, the CA its certificate chains to, and
/// optionally the API key's file (a secret: never in the TOML, never shown).
fn nexo(p: &mut Problems<'_>, base: &Path, r: RawKioskTerminal) -> Option<NexoSettings> {
    let url = match r.url.as_deref().map(str::trim) {
        None | Some("") => {
            p.at_path(
                "kiosk.terminal.url",
                "missing required key (the terminal's https:// endpoint)",
            );
            None
        }
        Some(s) => match reqwest::Url::parse(s) {
            Ok(u)
                if u.scheme() == "https"
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.query().is_none()
                    && u.fragment().is_none() =>
            {
                Some(u)
            }
            Ok(_) => {
                p.at_path(
                    "kiosk.terminal.url",
                    "must be an https:// URL with a host, and no user, password, query or fragment",
                );
                None
            }
            Err(e) => {
                p.at_path("kiosk.terminal.url", &format!("not a URL: {e}"));
                None
            }
        },
    };
    let poi_id = match r.poi_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() && id.len() <= 64 => Some(id.to_owned()),
        Some(_) => {
            p.at_path("kiosk.terminal.poi_id", "must be 1 to 64 characters");
            None
        }
        None => {
            p.at_path(
                "kiosk.terminal.poi_id",
                "missing required key (the terminal's id, as its provider names it)",
            );
            None
        }
    };
    let sale_id = match r.sale_id.as_deref().map(str::trim) {
        Some(id) if id.is_empty() || id.len() > 64 => {
            p.at_path("kiosk.terminal.sale_id", "must be 1 to 64 characters");
            None
        }
        id => Some(id.map(str::to_owned)),
    };
    let ca_cert = super::existing_file(p, base, "kiosk.terminal.ca_cert", r.ca_cert);
    let api_key_file = match r.api_key_file {
        None => Some(None),
        Some(f) => {
            let path = super::existing_file(p, base, "kiosk.terminal.api_key_file", Some(f));
            path.filter(|f| super::secret_file(p, "kiosk.terminal.api_key_file", f, "API key"))
                .map(Some)
        }
    };
    let timeout = duration(
        p,
        "kiosk.terminal.timeout",
        r.timeout,
        Duration::from_secs(150),
        (Duration::from_secs(30), Duration::from_secs(600)),
    );
    Some(NexoSettings {
        url: url?,
        poi_id: poi_id?,
        sale_id: sale_id?,
        ca_cert: ca_cert?,
        api_key_file: api_key_file?,
        timeout: timeout?,
    })
}

fn leases(p: &mut Problems<'_>, r: RawKioskLeases) -> Option<LeaseSettings> {
    let batch = int_in(p, "kiosk.leases.batch", r.batch, 10, (1, 40));
    let low_water = int_in(p, "kiosk.leases.low_water", r.low_water, 4, (0, 40));
    let lead = duration(
        p,
        "kiosk.leases.lead",
        r.lead,
        Duration::from_secs(3 * 3600),
        (Duration::from_secs(60), Duration::from_secs(14 * 24 * 3600)),
    );
    let check_interval = duration(
        p,
        "kiosk.leases.check_interval",
        r.check_interval,
        Duration::from_secs(60),
        (Duration::from_secs(5), Duration::from_secs(3600)),
    );
    Some(LeaseSettings {
        policy: LeasePolicy {
            batch: batch? as u32,
            low_water: low_water? as u32,
        },
        lead: lead?,
        check_interval: check_interval?,
    })
}
