//! The `[gate]` section of the device configuration: every key as written
//! ([`RawGateSection`]) and its validation into typed settings ([`GatePolicyConfig`]).
//!
//! Durations are humantime strings (`"800ms"`, `"10m"`). Every problem is reported with the
//! dotted key path from the document root (`gate.relay.chip`, `gate.revoked[2]`); validation
//! collects all of them. `docs/gate-config.md` has a commented example.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gpiocdev::line::Bias;
use serde::Deserialize;

use super::passage::PassageConfig;
use super::plan::KEY_PREFIXES;
use super::policy::{GateDirection, GatePolicy, PartyOverflow, Reentry};
use super::relay::gpio::{GpioInput, GpioLine};
use super::relay::serial::{SerialRelaySettings, parse_hex};
use super::retention;
use portico_core::lang::Lang;

/// The `[gate]` table as written. Every key is optional; [`validate`] applies the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateSection {
    pub name: Option<String>,
    /// The screen's language: `en` (default) or `es`.
    pub language: Option<String>,
    /// `entry`, `exit` or `both` (default).
    pub direction: Option<String>,
    pub relay_pulse: Option<String>,
    pub result_display: Option<String>,
    pub grace_days: Option<i64>,
    pub slot_tolerance_before: Option<String>,
    pub slot_tolerance_after: Option<String>,
    /// `"0s"` disables it.
    pub anti_passback: Option<String>,
    /// `never`, `after_exit` (default) or `always`.
    pub reentry: Option<String>,
    pub daily_limit: Option<i64>,
    pub party_max: Option<i64>,
    /// `deny` (default) or `admit_allowed`.
    pub party_overflow: Option<String>,
    pub allowed_products: Option<Vec<String>>,
    /// Blocked credential keys (`ticket:…`, `membership:…`, `lookup:…`, `rfid:…`,
    /// `wiegand:…`).
    pub revoked: Option<Vec<String>>,
    /// A file of blocked credential keys, one a line (`#` comments), read by the shell.
    pub revocation_file: Option<String>,
    /// How long scans stay in the scan log before they are folded into tallies.
    pub scan_log_retention: Option<String>,
    pub relay: Option<RawRelay>,
    pub passage: Option<RawPassage>,
    /// The technician screen's PIN (an Argon2id hash written by `portico pin set`).
    pub technician_pin_file: Option<String>,
    /// Cards that open the technician screen's PIN pad when scanned.
    pub technician_cards: Option<Vec<String>>,
}

/// `[gate.relay]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelay {
    /// `gpio`, `serial` or `simulated`.
    pub kind: Option<String>,
    // gpio
    pub chip: Option<String>,
    pub line: Option<i64>,
    pub active_low: Option<bool>,
    // serial
    pub port: Option<String>,
    pub baud: Option<i64>,
    pub open_hex: Option<String>,
    pub close_hex: Option<String>,
}

/// `[gate.passage]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPassage {
    /// `none` (default), `gpio` or `simulated`.
    pub sensor: Option<String>,
    pub timeout: Option<String>,
    // gpio
    pub chip: Option<String>,
    pub line: Option<i64>,
    pub active_low: Option<bool>,
    /// `pull_up`, `pull_down` or `disabled`.
    pub bias: Option<String>,
    pub debounce: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    gate: RawGateSection,
}

impl RawGateSection {
    /// Reads the `[gate]` table from a whole configuration document (other tables are
    /// ignored; an absent `[gate]` gives the defaults).
    pub fn from_document(text: &str) -> Result<Self, String> {
        toml::from_str::<Document>(text)
            .map(|d| d.gate)
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayConfig {
    Gpio(GpioLine),
    Serial(SerialRelaySettings),
    /// Records pulses only (the default when `[gate.relay]` is absent).
    Simulated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorConfig {
    None,
    Gpio(GpioInput),
    Simulated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassageSettings {
    pub sensor: SensorConfig,
    pub timeout: Duration,
}

/// The validated `[gate]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicyConfig {
    /// The rules (with the inline block list; the shell adds the file's entries).
    pub policy: GatePolicy,
    pub relay: RelayConfig,
    pub passage: PassageSettings,
    /// As written; relative paths are relative to the configuration file's folder.
    pub revocation_file: Option<PathBuf>,
    /// Scans older than this are folded into per-credential tallies (see
    /// [`super::retention`]).
    pub scan_log_retention: Duration,
    /// Who opens the gate screen's technician pages.
    pub technician: crate::config::TechnicianAccess,
}

impl GatePolicyConfig {
    /// The passage tracker's settings.
    pub fn passage_config(&self) -> PassageConfig {
        PassageConfig {
            sensor: self.passage.sensor != SensorConfig::None,
            timeout: self.passage.timeout,
            relay_pulse: self.policy.relay_pulse,
        }
    }
}

pub const DEFAULT_PASSAGE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SERIAL_BAUD: u32 = 9600;

/// Problems, each with its key path from the document root.
pub type Problems = Vec<crate::config::Problem>;

struct P(Problems);

impl P {
    fn add(&mut self, key: impl Into<String>, msg: impl Into<String>) {
        self.0.push(crate::config::Problem::new(key, msg));
    }

    fn duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
        range: (Duration, Duration),
    ) -> Duration {
        let Some(s) = value else {
            return default;
        };
        match humantime::parse_duration(s.trim()) {
            Ok(d) if d >= range.0 && d <= range.1 => d,
            Ok(_) => {
                self.add(
                    key,
                    format!(
                        "{s:?} is out of range ({} to {})",
                        humantime::format_duration(range.0),
                        humantime::format_duration(range.1)
                    ),
                );
                default
            }
            Err(e) => {
                self.add(
                    key,
                    format!("{s:?} is not a duration like \"800ms\" or \"10m\": {e}"),
                );
                default
            }
        }
    }

    fn int(&mut self, key: &str, value: Option<i64>, default: u32, range: (u32, u32)) -> u32 {
        let Some(v) = value else {
            return default;
        };
        match u32::try_from(v) {
            Ok(v) if v >= range.0 && v <= range.1 => v,
            _ => {
                self.add(
                    key,
                    format!("{v} is out of range ({} to {})", range.0, range.1),
                );
                default
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: T,
        options: &[(&str, T)],
    ) -> T {
        let Some(s) = value else {
            return default;
        };
        match options.iter().find(|(name, _)| *name == s) {
            Some((_, v)) => *v,
            None => {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
                self.add(key, format!("{s:?}: expected one of {}", names.join(", ")));
                default
            }
        }
    }

    fn required<'a>(&mut self, key: &str, value: Option<&'a str>, why: &str) -> Option<&'a str> {
        match value {
            Some(v) if !v.trim().is_empty() => Some(v),
            Some(_) => {
                self.add(key, "must not be empty");
                None
            }
            None => {
                self.add(key, format!("missing required key ({why})"));
                None
            }
        }
    }

    fn line(&mut self, key: &str, value: Option<i64>, why: &str) -> Option<u32> {
        match value {
            None => {
                self.add(key, format!("missing required key ({why})"));
                None
            }
            Some(v) => match u32::try_from(v) {
                Ok(v) if v < 1024 => Some(v),
                _ => {
                    self.add(key, format!("{v} is not a GPIO line offset (0 to 1023)"));
                    None
                }
            },
        }
    }

    fn chip(&mut self, key: &str, value: Option<&str>, why: &str) -> Option<PathBuf> {
        let s = self.required(key, value, why)?;
        let path = if s.contains('/') {
            PathBuf::from(s)
        } else {
            Path::new("/dev").join(s)
        };
        Some(path)
    }

    /// Forbids keys that belong to another kind.
    fn unused(&mut self, key: &str, present: bool, kind: &str) {
        if present {
            self.add(key, format!("not used with kind {kind:?}"));
        }
    }
}

/// Checks a block-list entry: `<prefix>:<id>` with a known prefix.
pub fn check_credential_key(s: &str) -> Result<(), String> {
    match s.split_once(':') {
        Some((prefix, id)) if KEY_PREFIXES.contains(&prefix) && !id.trim().is_empty() => Ok(()),
        _ => Err(format!(
            "{s:?} is not a credential key like \"ticket:SECRET\" (prefixes: {})",
            KEY_PREFIXES.join(", ")
        )),
    }
}

/// Reads a revocation file's text: one credential key a line, blank lines and `#` comments
/// ignored. Problems name the line (`revocation_file:3`).
pub fn parse_revocation_list(text: &str) -> Result<BTreeSet<String>, Problems> {
    let mut set = BTreeSet::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match check_credential_key(line) {
            Ok(()) => {
                set.insert(line.to_owned());
            }
            Err(e) => problems.push(crate::config::Problem::new(
                format!("gate.revocation_file:{}", i + 1),
                e,
            )),
        }
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(problems)
    }
}

/// Validates the `[gate]` section, collecting every problem.
pub fn validate(raw: RawGateSection) -> Result<GatePolicyConfig, Problems> {
    let mut p = P(Vec::new());
    let d = GatePolicy::default();

    let name = match raw.name {
        Some(n) if n.trim().is_empty() => {
            p.add("gate.name", "must not be empty");
            d.gate_id.clone()
        }
        Some(n) => n,
        None => d.gate_id.clone(),
    };
    let direction = p.choice(
        "gate.direction",
        raw.direction.as_deref(),
        GateDirection::Both,
        &[
            ("entry", GateDirection::Entry),
            ("exit", GateDirection::Exit),
            ("both", GateDirection::Both),
        ],
    );
    let language = p.choice(
        "gate.language",
        raw.language.as_deref(),
        d.language,
        &[("en", Lang::En), ("es", Lang::Es)],
    );
    let relay_pulse = p.duration(
        "gate.relay_pulse",
        raw.relay_pulse.as_deref(),
        d.relay_pulse,
        (Duration::from_millis(50), Duration::from_secs(30)),
    );
    let result_display = p.duration(
        "gate.result_display",
        raw.result_display.as_deref(),
        d.result_display,
        (Duration::from_millis(500), Duration::from_secs(60)),
    );
    let grace_days = p.int("gate.grace_days", raw.grace_days, d.grace_days, (0, 366));
    let day = Duration::from_secs(24 * 3600);
    let slot_tolerance_before = p.duration(
        "gate.slot_tolerance_before",
        raw.slot_tolerance_before.as_deref(),
        d.slot_tolerance_before,
        (Duration::ZERO, day),
    );
    let slot_tolerance_after = p.duration(
        "gate.slot_tolerance_after",
        raw.slot_tolerance_after.as_deref(),
        d.slot_tolerance_after,
        (Duration::ZERO, day),
    );
    let anti_passback = p.duration(
        "gate.anti_passback",
        raw.anti_passback.as_deref(),
        d.anti_passback,
        (Duration::ZERO, day),
    );
    let reentry = p.choice(
        "gate.reentry",
        raw.reentry.as_deref(),
        d.reentry,
        &[
            ("never", Reentry::Never),
            ("after_exit", Reentry::AfterExit),
            ("always", Reentry::Always),
        ],
    );
    let daily_limit = raw
        .daily_limit
        .map(|v| p.int("gate.daily_limit", Some(v), 1, (1, 1000)));
    let party_max = p.int("gate.party_max", raw.party_max, d.party_max, (1, 100));
    let party_overflow = p.choice(
        "gate.party_overflow",
        raw.party_overflow.as_deref(),
        d.party_overflow,
        &[
            ("deny", PartyOverflow::Deny),
            ("admit_allowed", PartyOverflow::AdmitAllowed),
        ],
    );
    let allowed_products = raw.allowed_products.map(|list| {
        if list.is_empty() {
            p.add(
                "gate.allowed_products",
                "empty list admits no ticket; remove the key to admit every product",
            );
        }
        let mut set = BTreeSet::new();
        for (i, prod) in list.into_iter().enumerate() {
            let prod = prod.trim().to_owned();
            if prod.is_empty() {
                p.add(format!("gate.allowed_products[{i}]"), "must not be empty");
            } else if !set.insert(prod.clone()) {
                p.add(
                    format!("gate.allowed_products[{i}]"),
                    format!("{prod:?} is listed twice"),
                );
            }
        }
        set
    });
    let mut revoked = BTreeSet::new();
    for (i, key) in raw.revoked.unwrap_or_default().into_iter().enumerate() {
        match check_credential_key(key.trim()) {
            Ok(()) => {
                revoked.insert(key.trim().to_owned());
            }
            Err(e) => p.add(format!("gate.revoked[{i}]"), e),
        }
    }
    let revocation_file = match raw.revocation_file {
        Some(f) if f.trim().is_empty() => {
            p.add("gate.revocation_file", "must not be empty");
            None
        }
        f => f.map(PathBuf::from),
    };

    let scan_log_retention = p.duration(
        "gate.scan_log_retention",
        raw.scan_log_retention.as_deref(),
        retention::DEFAULT_RETENTION,
        (retention::MIN_RETENTION, retention::MAX_RETENTION),
    );

    let relay = validate_relay(&mut p, raw.relay);
    let passage = validate_passage(&mut p, raw.passage);

    if !p.0.is_empty() {
        return Err(p.0);
    }
    let (Some(relay), Some(passage)) = (relay, passage) else {
        return Err(vec![crate::config::Problem::new("gate", "invalid")]);
    };
    Ok(GatePolicyConfig {
        policy: GatePolicy {
            gate_id: name,
            direction,
            relay_pulse,
            result_display,
            grace_days,
            slot_tolerance_before,
            slot_tolerance_after,
            anti_passback,
            reentry,
            daily_limit,
            party_max,
            party_overflow,
            allowed_products,
            revoked,
            language,
        },
        relay,
        passage,
        revocation_file,
        scan_log_retention,
        technician: Default::default(),
    })
}

fn validate_relay(p: &mut P, raw: Option<RawRelay>) -> Option<RelayConfig> {
    let Some(r) = raw else {
        return Some(RelayConfig::Simulated);
    };
    let kind = p.required(
        "gate.relay.kind",
        r.kind.as_deref(),
        "\"gpio\", \"serial\" or \"simulated\"",
    )?;
    let gpio_keys = [
        ("gate.relay.chip", r.chip.is_some()),
        ("gate.relay.line", r.line.is_some()),
        ("gate.relay.active_low", r.active_low.is_some()),
    ];
    let serial_keys = [
        ("gate.relay.port", r.port.is_some()),
        ("gate.relay.baud", r.baud.is_some()),
        ("gate.relay.open_hex", r.open_hex.is_some()),
        ("gate.relay.close_hex", r.close_hex.is_some()),
    ];
    match kind {
        "gpio" => {
            for (k, present) in serial_keys {
                p.unused(k, present, kind);
            }
            let chip = p.chip(
                "gate.relay.chip",
                r.chip.as_deref(),
                "e.g. \"/dev/gpiochip0\"",
            );
            let line = p.line("gate.relay.line", r.line, "the line offset on the chip");
            Some(RelayConfig::Gpio(GpioLine {
                chip: chip?,
                line: line?,
                active_low: r.active_low.unwrap_or(false),
            }))
        }
        "serial" => {
            for (k, present) in gpio_keys {
                p.unused(k, present, kind);
            }
            let port = p.required("gate.relay.port", r.port.as_deref(), "the serial port path");
            let baud = match r.baud {
                None => Some(DEFAULT_SERIAL_BAUD),
                Some(b) => match u32::try_from(b) {
                    Ok(b) if crate::input::config::STANDARD_BAUDS.contains(&b) => Some(b),
                    _ => {
                        p.add(
                            "gate.relay.baud",
                            format!("{b} is not a standard baud rate"),
                        );
                        None
                    }
                },
            };
            let mut hex = |key: &str, v: Option<&str>| {
                let s = p.required(key, v, "the bytes as hex, e.g. \"A0 01 01 A2\"")?;
                parse_hex(s)
                    .map_err(|e| p.add(key, format!("{s:?}: {e}")))
                    .ok()
            };
            let open_bytes = hex("gate.relay.open_hex", r.open_hex.as_deref());
            let close_bytes = hex("gate.relay.close_hex", r.close_hex.as_deref());
            Some(RelayConfig::Serial(SerialRelaySettings {
                port: port?.to_owned(),
                baud: baud?,
                open_bytes: open_bytes?,
                close_bytes: close_bytes?,
            }))
        }
        "simulated" => {
            for (k, present) in gpio_keys.into_iter().chain(serial_keys) {
                p.unused(k, present, kind);
            }
            Some(RelayConfig::Simulated)
        }
        other => {
            p.add(
                "gate.relay.kind",
                format!("{other:?}: expected \"gpio\", \"serial\" or \"simulated\""),
            );
            None
        }
    }
}

fn validate_passage(p: &mut P, raw: Option<RawPassage>) -> Option<PassageSettings> {
    let r = raw.unwrap_or_default();
    let timeout = p.duration(
        "gate.passage.timeout",
        r.timeout.as_deref(),
        DEFAULT_PASSAGE_TIMEOUT,
        (Duration::from_secs(1), Duration::from_secs(300)),
    );
    let gpio_keys = [
        ("gate.passage.chip", r.chip.is_some()),
        ("gate.passage.line", r.line.is_some()),
        ("gate.passage.active_low", r.active_low.is_some()),
        ("gate.passage.bias", r.bias.is_some()),
        ("gate.passage.debounce", r.debounce.is_some()),
    ];
    let sensor = match r.sensor.as_deref().unwrap_or("none") {
        "none" | "simulated" => {
            let kind = r.sensor.as_deref().unwrap_or("none");
            for (k, present) in gpio_keys {
                p.unused(k, present, kind);
            }
            if kind == "none" {
                SensorConfig::None
            } else {
                SensorConfig::Simulated
            }
        }
        "gpio" => {
            let chip = p.chip(
                "gate.passage.chip",
                r.chip.as_deref(),
                "e.g. \"/dev/gpiochip0\"",
            );
            let line = p.line("gate.passage.line", r.line, "the sensor's line offset");
            let bias = p.choice(
                "gate.passage.bias",
                r.bias.as_deref(),
                None,
                &[
                    ("pull_up", Some(Bias::PullUp)),
                    ("pull_down", Some(Bias::PullDown)),
                    ("disabled", Some(Bias::Disabled)),
                ],
            );
            let debounce = p.duration(
                "gate.passage.debounce",
                r.debounce.as_deref(),
                Duration::from_millis(20),
                (Duration::ZERO, Duration::from_secs(1)),
            );
            SensorConfig::Gpio(GpioInput {
                line: GpioLine {
                    chip: chip?,
                    line: line?,
                    active_low: r.active_low.unwrap_or(false),
                },
                debounce,
                bias,
            })
        }
        other => {
            p.add(
                "gate.passage.sensor",
                format!("{other:?}: expected \"none\", \"gpio\" or \"simulated\""),
            );
            return None;
        }
    };
    Some(PassageSettings { sensor, timeout })
}
