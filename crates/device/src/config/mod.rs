//! Device configuration, in two steps: the TOML file is read into raw serde structs
//! ([`raw`]) that accept exactly the documented keys, then validated into [`DeviceConfig`],
//! whose values are typed, in range and resolved (paths relative to the file, files present).
//!
//! Every problem is reported with file, line, column and key, all at once where the file
//! parses. Secrets are never in the TOML: the device token lives in the file `token_file`
//! names.

mod kiosk;
mod locate;
pub mod raw;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::{DeTable, DeValue};

use crate::normalize::Normalizer;
use crate::outbox::Backoff;
pub use locate::{Seg, line_col};

/// A problem with one key of a config section, before it is located in the file: the one
/// problem type every section's validation returns (`[gate]`, `[[inputs]]`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path from the document root, e.g. `inputs[1].baud`.
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// One problem in a config file, located: a [`Problem`] with its file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `upstream.url` or `inputs[1].baud`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            if self.key.is_empty() {
                "(file)"
            } else {
                &self.key
            },
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render_all(d: &[Diagnostic]) -> String {
    let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
    format!("{} problem(s):\n{}", d.len(), lines.join("\n"))
}

impl ConfigError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Gate,
    Kiosk,
    /// The volunteer time clock alone: the kiosk's screen (its `[kiosk]` section's language,
    /// timings and technician settings) offering nothing else.
    Volunteer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gate => "gate",
            Role::Kiosk => "kiosk",
            Role::Volunteer => "volunteer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub url: reqwest::Url,
    pub ca_cert: PathBuf,
    /// SHA-256 of the hub certificate's SubjectPublicKeyInfo, when pinned.
    pub spki_pin: Option<[u8; 32]>,
    pub token_file: PathBuf,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub pull_interval: Duration,
    pub purge_interval: Duration,
    pub page_size: u32,
    pub upload_batch: usize,
    pub upload_interval: Duration,
    pub retry: Backoff,
    pub keep_delivered: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            pull_interval: Duration::from_secs(15 * 60),
            purge_interval: Duration::from_secs(8 * 3600),
            page_size: 2000,
            upload_batch: 100,
            upload_interval: Duration::from_secs(2),
            retry: Backoff::default(),
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

pub use kiosk::{KioskConfig, NexoSettings, PrinterConfig, TerminalConfig, TerminalKind};

/// A validated device configuration.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub source: PathBuf,
    pub device_id: String,
    pub roles: Vec<Role>,
    pub data_dir: PathBuf,
    pub status_socket: PathBuf,
    pub upstream: UpstreamConfig,
    /// The venue's time zone (`device.timezone`), for the local dates and times of admission
    /// rules; the system's when not set.
    pub timezone: Option<chrono_tz::Tz>,
    pub sync: SyncConfig,
    pub normalizer: Normalizer,
    /// Strict (the integration's rule, the default) or scored matching (`[matching] mode`).
    pub matching: crate::matching::MatchConfig,
    /// Admission rules, relay and passage sensor (`[gate]`, see `docs/gate-config.md`).
    pub gate: Option<crate::gate::config::GatePolicyConfig>,
    pub kiosk: Option<KioskConfig>,
    /// Scanners and card readers (`[[inputs]]`) and how frames become credentials
    /// (`[credentials]`).
    pub inputs: crate::input::config::ValidatedInputs,
    /// Where Prometheus reads the device's metrics (`device.metrics`), if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
    /// What is accepted but probably not meant (a section the device's roles never use).
    pub warnings: Vec<Diagnostic>,
}

impl DeviceConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("portico.db")
    }

    /// The kiosk screen's settings, when the device shows one (a kiosk, or a volunteer time
    /// clock).
    pub fn kiosk_screen(&self) -> Option<&KioskConfig> {
        self.kiosk
            .as_ref()
            .filter(|_| self.roles.contains(&Role::Kiosk) || self.roles.contains(&Role::Volunteer))
    }

    /// What the kiosk screen offers: everything on a kiosk, the time clock alone on a device
    /// whose only screen role is `volunteer`.
    pub fn offer(&self) -> crate::kiosk::checkout::Offer {
        if self.roles.contains(&Role::Kiosk) {
            crate::kiosk::checkout::Offer::Everything
        } else {
            crate::kiosk::checkout::Offer::VolunteerClock
        }
    }
}

/// Reads and validates a config file: everything `portico run` needs must hold.
pub fn load(path: &Path) -> Result<DeviceConfig, ConfigError> {
    load_as(path, false)
}

/// Reads and validates a config file for the technician's tools (`status`, `outbox`,
/// `search`): the text must be right, but what the machine's state says (a missing CA file, a
/// token readable by others, an unplugged relay) comes back as warnings, so the tools still
/// reach a running device or its database.
pub fn load_for_tools(path: &Path) -> Result<DeviceConfig, ConfigError> {
    load_as(path, true)
}

fn load_as(path: &Path, lenient: bool) -> Result<DeviceConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => parse_as(path, &text, lenient),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let (line, column) = line_col(before, valid);
            Err(ConfigError::Invalid(vec![Diagnostic {
                file: path.to_owned(),
                line,
                column,
                key: String::new(),
                message: format!(
                    "the file is not UTF-8 text: byte 0x{:02X} here starts no UTF-8 character \
                     (save the file as UTF-8)",
                    bytes.get(valid).copied().unwrap_or_default()
                ),
            }]))
        }
    }
}

/// Validates config text as if read from `path` (relative paths resolve against its folder,
/// made absolute: `device.toml` and `./device.toml` are the same file).
pub fn parse(path: &Path, text: &str) -> Result<DeviceConfig, ConfigError> {
    parse_as(path, text, false)
}

fn parse_as(path: &Path, text: &str, lenient: bool) -> Result<DeviceConfig, ConfigError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut p = Problems {
        file: path.clone(),
        text,
        doc: None,
        list: Vec::new(),
        lenient,
        env_warnings: Vec::new(),
    };
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        p.doc = Some(doc.get_ref());
        for e in errors {
            let message = e.message().trim().to_owned();
            match e.span().filter(|_| message.starts_with("duplicate key")) {
                Some(span) => {
                    let key = duplicate_key_path(doc.get_ref(), text, span.clone());
                    p.at_span(
                        Some(span),
                        &key,
                        &format!("duplicate key: {key} is already set above"),
                    );
                }
                None => p.at_span(e.span(), "", &message),
            }
        }
        return Err(ConfigError::Invalid(p.list));
    }
    p.doc = Some(doc.get_ref());
    let base = path.parent().unwrap_or(Path::new("/")).to_owned();

    const SECTIONS: [&str; 8] = [
        "device",
        "upstream",
        "sync",
        "matching",
        "gate",
        "kiosk",
        "inputs",
        "credentials",
    ];
    for (key, _) in doc.get_ref().iter() {
        let name = key.get_ref().as_ref();
        if !SECTIONS.contains(&name) {
            p.at_span(
                Some(key.span()),
                name,
                &format!("unknown section; expected one of {}", SECTIONS.join(", ")),
            );
        }
    }
    let device: Option<raw::RawDevice> = section(&mut p, doc.get_ref(), "device", true);
    let upstream: Option<raw::RawUpstream> = section(&mut p, doc.get_ref(), "upstream", true);
    let sync: Option<raw::RawSync> = section(&mut p, doc.get_ref(), "sync", false);
    let matching: Option<raw::RawMatching> = section(&mut p, doc.get_ref(), "matching", false);
    let gate: Option<crate::gate::config::RawGateSection> =
        section(&mut p, doc.get_ref(), "gate", false);
    let kiosk: Option<raw::RawKiosk> = section(&mut p, doc.get_ref(), "kiosk", false);
    let inputs = validate_inputs(&mut p, doc.get_ref());
    let has = |name: &str| {
        doc.get_ref()
            .iter()
            .any(|(k, _)| k.get_ref().as_ref() == name)
    };

    let timezone = device
        .as_ref()
        .and_then(|d| d.timezone.clone())
        .map(|tz| validate_timezone(&mut p, &tz));
    // `None` when the key is bad (a problem is listed), `Some(None)` when absent.
    let metrics = match device.as_ref().and_then(|d| d.metrics.clone()) {
        None => Some(None),
        Some(m) => match m.trim().parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.port() != 0 => Some(Some(addr)),
            _ => {
                p.at_path(
                    "device.metrics",
                    &format!(
                        "{m:?} is not an address and port to serve metrics on (e.g. \
                         \"127.0.0.1:9464\")"
                    ),
                );
                None
            }
        },
    };
    let device = device.map(|d| validate_device(&mut p, &base, d));
    let upstream = upstream.map(|u| validate_upstream(&mut p, &base, u));
    let sync = sync.map(|s| validate_sync(&mut p, s));
    let normalizer = matching.map(|m| validate_matching(&mut p, m));
    // A section for a role the device does not have is checked as text only (and warned
    // of below): its files and hardware belong to another device.
    let has_role =
        |role: Role| matches!(&device, Some(Some((_, roles, _, _))) if roles.contains(&role));
    let (gate_active, kiosk_active) = (
        has_role(Role::Gate),
        has_role(Role::Kiosk) || has_role(Role::Volunteer),
    );
    let gate = gate.map(|g| validate_gate(&mut p, &base, g, gate_active));
    let kiosk = kiosk.map(|k| kiosk::validate(&mut p, &base, k, kiosk_active));

    let mut warnings = Vec::new();
    if let Some(Some((_, roles, _, _))) = &device {
        if roles.contains(&Role::Gate) && !has("gate") {
            p.at_path("device.roles", "role \"gate\" needs a [gate] section");
        }
        if roles.contains(&Role::Kiosk) && !has("kiosk") {
            p.at_path("device.roles", "role \"kiosk\" needs a [kiosk] section");
        }
        if roles.contains(&Role::Volunteer) && !has("kiosk") {
            p.at_path(
                "device.roles",
                "role \"volunteer\" needs a [kiosk] section (its screen's language, timings \
                 and [kiosk.volunteer_clock])",
            );
        }
        if roles.contains(&Role::Volunteer) && roles.contains(&Role::Kiosk) {
            p.at_path(
                "device.roles",
                "a kiosk offers the volunteer time clock already: list \"kiosk\" or \
                 \"volunteer\", not both",
            );
        }
        for (role, section) in [(Role::Gate, "gate"), (Role::Kiosk, "kiosk")] {
            let used =
                roles.contains(&role) || (role == Role::Kiosk && roles.contains(&Role::Volunteer));
            if has(section) && !used {
                warnings.push(p.diagnostic_at_path(
                    section,
                    &format!(
                        "warning: this device has no {:?} role, so [{section}] is not used \
                         (add {:?} to device.roles, or remove the section)",
                        role.as_str(),
                        role.as_str()
                    ),
                ));
            }
        }
    }
    if let (Some(Some(gate)), Some(inputs), true) = (&gate, &inputs, gate_active) {
        check_gate_hardware(&mut p, gate, inputs);
    }

    match (
        device, upstream, sync, normalizer, gate, kiosk, inputs, timezone,
    ) {
        (
            Some(Some((device_id, roles, data_dir, status_socket))),
            Some(Some(upstream)),
            Some(Some(sync)),
            Some(Some((normalizer, matching))),
            Some(gate),
            Some(kiosk),
            Some(inputs),
            None | Some(Some(_)),
        ) if p.list.is_empty() => Ok(DeviceConfig {
            source: path.clone(),
            device_id,
            roles,
            data_dir,
            status_socket,
            upstream,
            timezone: timezone.flatten(),
            sync,
            normalizer,
            matching,
            gate: gate.filter(|_| has("gate")),
            kiosk: kiosk.filter(|_| has("kiosk")),
            inputs,
            metrics: metrics.flatten(),
            warnings: warnings.into_iter().chain(p.env_warnings).collect(),
        }),
        _ => Err(ConfigError::Invalid(p.list)),
    }
}

struct Problems<'a> {
    file: PathBuf,
    text: &'a str,
    doc: Option<&'a DeTable<'a>>,
    list: Vec<Diagnostic>,
    /// What this machine's state says about the config (files, modes, hardware, folders)
    /// is a warning, not a problem: for the technician's tools, which must work on a device
    /// whose config `portico run` would refuse.
    lenient: bool,
    env_warnings: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn diagnostic(&self, offset: usize, key: String, message: &str) -> Diagnostic {
        let (line, column) = line_col(self.text, offset);
        Diagnostic {
            file: self.file.clone(),
            line,
            column,
            key,
            message: message.to_owned(),
        }
    }

    fn push(&mut self, offset: usize, key: String, message: &str) {
        let d = self.diagnostic(offset, key, message);
        self.list.push(d);
    }

    /// A problem found in the machine's state rather than in the text (a missing file, a
    /// mode, a folder, hardware). Returns whether validation may go on as if it were fine
    /// (only for the technician's tools, see [`load_for_tools`]).
    fn env(&mut self, key: &str, message: &str) -> bool {
        if self.lenient {
            let d = self.diagnostic_at_path(key, &format!("warning: {message}"));
            self.env_warnings.push(d);
            true
        } else {
            self.at_path(key, message);
            false
        }
    }

    /// A diagnostic at a key path, not counted as a problem (for warnings).
    fn diagnostic_at_path(&self, key: &str, message: &str) -> Diagnostic {
        let span = self
            .doc
            .and_then(|d| locate::span_of(d, &locate::parse(key)));
        self.diagnostic(span.map_or(0, |s| s.start), key.to_owned(), message)
    }

    /// A problem at a span; the key is found from the span when not given.
    fn at_span(&mut self, span: Option<Range<usize>>, key: &str, message: &str) {
        let offset = span.map_or(0, |s| s.start);
        let key = if key.is_empty() {
            self.doc
                .map(|d| locate::render(&locate::path_at(d, offset)))
                .unwrap_or_default()
        } else {
            key.to_owned()
        };
        self.push(offset, key, message);
    }

    /// A problem at a key path (the nearest existing part of it locates the line).
    fn at_path(&mut self, key: &str, message: &str) {
        let span = self
            .doc
            .and_then(|d| locate::span_of(d, &locate::parse(key)));
        self.push(span.map_or(0, |s| s.start), key.to_owned(), message);
    }
}

/// Deserialises one top-level section. `Some(default)` when absent and optional; `None` after
/// reporting a problem.
fn section<T: DeserializeOwned + Default>(
    p: &mut Problems<'_>,
    doc: &DeTable<'_>,
    name: &str,
    required: bool,
) -> Option<T> {
    let Some((_, value)) = doc.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
        if required {
            p.push(
                0,
                name.to_owned(),
                &format!("missing required section [{name}]"),
            );
            return None;
        }
        return Some(T::default());
    };
    if !matches!(value.get_ref(), DeValue::Table(_)) {
        p.at_span(Some(value.span()), name, "must be a table");
        return None;
    }
    match T::deserialize(value.clone().into_deserializer()) {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = e.message().trim().to_owned();
            // For an unknown key, point at that key.
            let span = unknown_field(&msg)
                .and_then(|f| {
                    let mut path = locate::path_at(doc, e.span().map_or(0, |s| s.start));
                    if path.is_empty() {
                        path.push(Seg::Key(name.to_owned()));
                    }
                    if path.last() != Some(&Seg::Key(f.to_owned())) {
                        path.push(Seg::Key(f.to_owned()));
                    }
                    locate::span_of(doc, &path)
                })
                .or(e.span());
            p.at_span(span, "", &msg);
            None
        }
    }
}

/// The `[[inputs]]` and `[credentials]` sections, validated by the input layer; its problems
/// come back as key paths, located here.
fn validate_inputs(
    p: &mut Problems<'_>,
    doc: &DeTable<'_>,
) -> Option<crate::input::config::ValidatedInputs> {
    let mut part = DeTable::default();
    for (k, v) in doc.iter() {
        if matches!(k.get_ref().as_ref(), "inputs" | "credentials") {
            part.insert(k.clone(), v.clone());
        }
    }
    let spanned = toml::Spanned::new(0..0, part);
    let raw = match crate::input::config::RawInputsConfig::deserialize(spanned.into_deserializer())
    {
        Ok(raw) => raw,
        Err(e) => {
            let msg = e.message().trim().to_owned();
            let span = unknown_field(&msg)
                .and_then(|f| {
                    let mut path = locate::path_at(doc, e.span().map_or(0, |s| s.start));
                    if path.last() != Some(&Seg::Key(f.to_owned())) {
                        path.push(Seg::Key(f.to_owned()));
                    }
                    locate::span_of(doc, &path)
                })
                .or(e.span());
            p.at_span(span, "", &msg);
            return None;
        }
    };
    match crate::input::config::validate(&raw) {
        Ok(v) => Some(v),
        Err(problems) => {
            for fp in problems {
                p.at_path(&fp.key, &fp.message);
            }
            None
        }
    }
}

fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn duration(
    p: &mut Problems<'_>,
    key: &str,
    raw: Option<String>,
    default: Duration,
    range: (Duration, Duration),
) -> Option<Duration> {
    let Some(s) = raw else { return Some(default) };
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d >= range.0 && d <= range.1 => Some(d),
        Ok(_) => {
            p.at_path(
                key,
                &format!(
                    "{s:?} is out of range ({} to {})",
                    humantime::format_duration(range.0),
                    humantime::format_duration(range.1)
                ),
            );
            None
        }
        Err(e) => {
            p.at_path(
                key,
                &format!("{s:?} is not a duration (like \"15m\" or \"8h\"): {e}"),
            );
            None
        }
    }
}

fn int_in(
    p: &mut Problems<'_>,
    key: &str,
    raw: Option<i64>,
    default: i64,
    range: (i64, i64),
) -> Option<i64> {
    let v = raw.unwrap_or(default);
    if v < range.0 || v > range.1 {
        p.at_path(
            key,
            &format!("{v} is out of range ({} to {})", range.0, range.1),
        );
        return None;
    }
    Some(v)
}

fn resolve(base: &Path, s: &str) -> PathBuf {
    let path = Path::new(s);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

fn existing_file(
    p: &mut Problems<'_>,
    base: &Path,
    key: &str,
    raw: Option<String>,
) -> Option<PathBuf> {
    let Some(s) = raw.filter(|s| !s.trim().is_empty()) else {
        if key == "upstream.token_file" {
            p.at_path(
                key,
                "missing required key (or run under systemd with \
                 LoadCredential=device.token:/etc/portico/device.token)",
            );
        } else {
            p.at_path(key, "missing required key");
        }
        return None;
    };
    let path = resolve(base, &s);
    let problem = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => return Some(path),
        Ok(_) => format!("{} is not a file", path.display()),
        Err(e) => format!("cannot read {}: {e}", path.display()),
    };
    p.env(key, &problem).then_some(path)
}

/// The credential systemd hands the device token in.
pub const DEVICE_TOKEN_CREDENTIAL: &str = "device.token";
/// Who may open a device's technician screen: the PIN's hash and the cards that open its pad.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TechnicianAccess {
    /// The PIN's Argon2id hash (`portico pin set`); none: no PIN opens the pages.
    pub pin_file: Option<PathBuf>,
    /// Cards that open the PIN pad when scanned, each as its reader sends it.
    pub cards: Vec<String>,
}

/// A section's `technician_pin_file` and `technician_cards` (`section` is `kiosk` or `gate`).
/// systemd's copy of the PIN's hash, when the unit hands one over, stands in for the file.
fn technician_access(
    p: &mut Problems<'_>,
    base: &Path,
    section: &str,
    pin_file: Option<String>,
    cards: Option<Vec<String>>,
    active: bool,
) -> Option<TechnicianAccess> {
    let key = format!("{section}.technician_pin_file");
    let pin_file = match credential(TECHNICIAN_PIN_CREDENTIAL) {
        Some(c) => Some(c.to_string_lossy().into_owned()),
        None => pin_file,
    };
    let pin = match pin_file {
        None => Some(None),
        // Another device's PIN file: not this one's to read.
        Some(s) if !active => Some(Some(resolve(base, &s))),
        Some(s) => existing_file(p, base, &key, Some(s))
            .filter(|path| secret_file(p, &key, path, "technician PIN"))
            .map(Some),
    };
    let cards: Vec<String> = cards
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    if cards.iter().any(|c| c.len() < 8) {
        p.at_path(
            &format!("{section}.technician_cards"),
            "each card must be at least 8 characters, as its reader sends it (a short code is \
             too easy to print)",
        );
    }
    Some(TechnicianAccess {
        pin_file: pin?,
        cards,
    })
}

/// The credential systemd may hand the technician PIN's hash in.
pub const TECHNICIAN_PIN_CREDENTIAL: &str = "technician.pin";

/// The file of systemd credential `name`, when the service was given it
/// (`$CREDENTIALS_DIRECTORY/name`, from `LoadCredential=` in the unit).
pub fn credential(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty())?;
    let path = Path::new(&dir).join(name);
    path.is_file().then_some(path)
}

/// `upstream.url`: https, a host, no user name or password (the device authenticates with its
/// token), no query or fragment, a real port. Problems never repeat a password.
fn validate_url(s: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(s.trim()).map_err(|e| {
        format!(
            "{:?} is not a URL: {e}",
            crate::sync::client::redact_url_text(s)
        )
    })?;
    let shown = crate::sync::client::redacted(&url);
    if url.scheme() != "https" || url.host().is_none() {
        return Err(format!("{shown:?} must be an https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown:?} must not carry a user name or password: the device signs in with the \
             token in upstream.token_file"
        ));
    }
    if url.query().is_some() {
        return Err(format!("{shown:?} must not have a query (?…)"));
    }
    if url.fragment().is_some() {
        return Err(format!("{shown:?} must not have a fragment (#…)"));
    }
    if url.port() == Some(0) {
        return Err(format!(
            "{shown:?}: port 0 is not a port a hub can listen on"
        ));
    }
    // Protocol paths are joined under the URL's path: `https://hub/portico` means
    // `https://hub/portico/v1/…`, not `https://hub/v1/…`.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A file holding a secret (the device token, the technician PIN): refused, as ssh refuses a
/// private key, when group or others may read or write it; and refused when it holds nothing.
/// Its content is never shown.
fn secret_file(p: &mut Problems<'_>, key: &str, path: &Path, what: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) => {
            return p.env(key, &format!("cannot read {}: {e}", path.display()));
        }
    };
    if mode & 0o077 != 0 {
        return p.env(
            key,
            &format!(
                "{} holds the {what} but group or others may read it (mode {mode:04o}); make \
                 it private to the service user: chmod 600 {}",
                path.display(),
                path.display()
            ),
        );
    }
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => p.env(
            key,
            &format!("{} is empty; it must hold the {what}", path.display()),
        ),
        Ok(bytes) if key == "upstream.token_file" => {
            let text = String::from_utf8_lossy(&bytes);
            match crate::sync::client::check_token(text.trim()) {
                Ok(_) => true,
                Err(why) => p.env(key, &format!("{} {why}", path.display())),
            }
        }
        Ok(_) => true,
        Err(e) => p.env(key, &format!("cannot read {}: {e}", path.display())),
    }
}

type DeviceParts = (String, Vec<Role>, PathBuf, PathBuf);

fn validate_device(p: &mut Problems<'_>, base: &Path, d: raw::RawDevice) -> Option<DeviceParts> {
    let id = match d.id {
        Some(id) if valid_device_id(&id) => Some(id),
        Some(id) => {
            p.at_path(
                "device.id",
                &format!(
                    "{id:?} must be 1-64 characters of A-Z a-z 0-9 - _ ., at least one a letter \
                     or digit"
                ),
            );
            None
        }
        None => {
            p.at_path("device.id", "missing required key");
            None
        }
    };
    let mut roles = Vec::new();
    let mut roles_ok = true;
    match d.roles {
        None => {
            p.at_path(
                "device.roles",
                "missing required key (e.g. [\"gate\"] or [\"kiosk\"])",
            );
            roles_ok = false;
        }
        Some(list) if list.is_empty() => {
            p.at_path(
                "device.roles",
                "needs at least one role: \"gate\" or \"kiosk\"",
            );
            roles_ok = false;
        }
        Some(list) => {
            for (i, r) in list.iter().enumerate() {
                let role = match r.as_str() {
                    "gate" => Role::Gate,
                    "kiosk" => Role::Kiosk,
                    "volunteer" => Role::Volunteer,
                    other => {
                        p.at_path(
                            &format!("device.roles[{i}]"),
                            &format!(
                                "unknown role {other:?}; expected \"gate\", \"kiosk\" or \
                                 \"volunteer\""
                            ),
                        );
                        roles_ok = false;
                        continue;
                    }
                };
                if roles.contains(&role) {
                    p.at_path(
                        &format!("device.roles[{i}]"),
                        &format!("role {r:?} listed twice"),
                    );
                    roles_ok = false;
                }
                roles.push(role);
            }
        }
    }
    let data_dir = match d.data_dir {
        None => {
            p.at_path("device.data_dir", "missing required key");
            None
        }
        Some(s) => {
            let dir = resolve(base, &s);
            match data_dir_problem(&dir) {
                None => Some(dir),
                Some(problem) => p.env("device.data_dir", &problem).then_some(dir),
            }
        }
    };
    let (id, data_dir) = (id?, data_dir?);
    let (socket, socket_key) = match &d.status_socket {
        Some(s) => (resolve(base, s), "device.status_socket"),
        None => (data_dir.join("portico.sock"), "device.data_dir"),
    };
    let length = socket.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        p.at_path(
            socket_key,
            &format!(
                "the status socket {} is {length} bytes long, over the kernel's limit of \
                 {MAX_SOCKET_PATH} for a socket path; set device.status_socket to a shorter \
                 path (e.g. \"/run/portico/portico.sock\")",
                socket.display()
            ),
        );
        return None;
    }
    if d.status_socket.is_some() {
        let folder = socket.parent().unwrap_or(Path::new("/"));
        if !folder.is_dir() && folder != data_dir {
            let why = if folder.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            if !p.env(
                "device.status_socket",
                &format!("{} {why}", folder.display()),
            ) {
                return None;
            }
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(&socket) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            p.at_path(
                socket_key,
                &format!(
                    "the status socket's path {} is taken by a file that is not a socket; \
                     choose another path for device.status_socket",
                    socket.display()
                ),
            );
            return None;
        }
    }
    roles_ok.then_some((id, roles, data_dir, socket))
}

/// Longest path a Unix socket can be bound at (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

pub use crate::domain::valid_device_id;

/// Why `portico run` could not keep its database in `dir`, if it could not: `dir` must be a
/// folder this user can write (or one it can make), and a database already there writable.
fn data_dir_problem(dir: &Path) -> Option<String> {
    let user = current_uid().map_or(String::new(), |uid| format!(" (uid {uid})"));
    let writable = |folder: &Path| -> Option<String> {
        // The real test: make (and drop) a file there, as the database's own files will be.
        tempfile::tempfile_in(folder).err().map(|e| {
            format!(
                "{} is not writable by the user running this{user}: {e}",
                folder.display()
            )
        })
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            if let Some(problem) = writable(dir) {
                return Some(problem);
            }
            let db = dir.join("portico.db");
            if db.exists()
                && let Err(e) = std::fs::OpenOptions::new().write(true).open(&db)
            {
                return Some(format!(
                    "the database {} is not writable by the user running this{user}: {e}",
                    db.display()
                ));
            }
            None
        }
        Ok(_) => Some(format!("{} is a file, not a folder", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // `portico run` makes the folder: its parent must be there and writable.
            match dir.parent().filter(|p| p.is_dir()) {
                Some(parent) => writable(parent)
                    .map(|problem| format!("{} does not exist, and {problem}", dir.display())),
                None => Some(format!(
                    "{} does not exist and neither does its parent",
                    dir.display()
                )),
            }
        }
        Err(e) => Some(format!("cannot read {}: {e}", dir.display())),
    }
}

/// This process's user id, from `/proc/self/status`.
fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `device.timezone`: an IANA time zone name (`Europe/Madrid`); a misspelt one names the
/// closest real zone.
fn validate_timezone(p: &mut Problems<'_>, tz: &str) -> Option<chrono_tz::Tz> {
    let name = tz.trim();
    if let Ok(zone) = name.parse::<chrono_tz::Tz>() {
        return Some(zone);
    }
    let closest = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| {
            (
                strsim::levenshtein(&z.name().to_lowercase(), &name.to_lowercase()),
                z,
            )
        })
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, _)| *distance <= 4)
        .map(|(_, z)| format!(" (did you mean {:?}?)", z.name()))
        .unwrap_or_default();
    p.at_path(
        "device.timezone",
        &format!(
            "{tz:?} is not a time zone; use an IANA name like \"Europe/Madrid\" or \
             \"America/New_York\"{closest}"
        ),
    );
    None
}

/// A path as the kernel sees the device behind it (a `/dev/serial/by-id/…` link and the
/// `/dev/ttyUSB0` it points at are the same port).
fn device_identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The gate's hardware as `portico run` will find it: the relay's and the sensor's devices
/// present, and no GPIO line or serial port given two jobs (the relay, the passage sensor, a
/// scanner): each opens it exclusively, so the second would fail, or worse, both would fight
/// over it.
fn check_gate_hardware(
    p: &mut Problems<'_>,
    gate: &crate::gate::config::GatePolicyConfig,
    inputs: &crate::input::config::ValidatedInputs,
) {
    use crate::gate::config::{RelayConfig, SensorConfig};
    use crate::input::config::{DeviceSelector, InputSource};
    // (what it is, the kernel's identity of it, the key that uses it)
    let mut users: Vec<(&str, String, String)> = Vec::new();
    match &gate.relay {
        RelayConfig::Gpio(line) => users.push((
            "GPIO",
            format!(
                "line {} of {}",
                line.line,
                device_identity(&line.chip).display()
            ),
            "gate.relay.line".into(),
        )),
        RelayConfig::Serial(serial) => users.push((
            "serial port",
            device_identity(Path::new(&serial.port))
                .display()
                .to_string(),
            "gate.relay.port".into(),
        )),
        RelayConfig::Simulated => {}
    }
    if let SensorConfig::Gpio(input) = &gate.passage.sensor {
        users.push((
            "GPIO",
            format!(
                "line {} of {}",
                input.line.line,
                device_identity(&input.line.chip).display()
            ),
            "gate.passage.line".into(),
        ));
    }
    for (i, input) in inputs.inputs.iter().enumerate() {
        match &input.source {
            InputSource::Serial(serial) => users.push((
                "serial port",
                device_identity(&serial.path).display().to_string(),
                format!("inputs[{i}].path"),
            )),
            InputSource::Evdev(ev) => {
                if let DeviceSelector::Path(path) = &ev.selector {
                    users.push((
                        "input device",
                        device_identity(path).display().to_string(),
                        format!("inputs[{i}].path"),
                    ));
                }
            }
        }
    }
    // `portico run` opens the relay and the sensor when it starts, and stops if it cannot.
    let mut present = |key: &str, path: &Path, what: &str| {
        if !path.exists() {
            p.env(
                key,
                &format!(
                    "{} does not exist (is the {what} connected?)",
                    path.display()
                ),
            );
        }
    };
    match &gate.relay {
        RelayConfig::Gpio(line) => present("gate.relay.chip", &line.chip, "GPIO chip"),
        RelayConfig::Serial(serial) => {
            present("gate.relay.port", Path::new(&serial.port), "relay board")
        }
        RelayConfig::Simulated => {}
    }
    if let SensorConfig::Gpio(input) = &gate.passage.sensor {
        present("gate.passage.chip", &input.line.chip, "GPIO chip");
    }
    for (i, (what, identity, key)) in users.iter().enumerate() {
        if let Some((_, _, first)) = users[..i]
            .iter()
            .find(|(w, id, _)| w == what && id == identity)
        {
            p.at_path(
                key,
                &format!("{what} {identity} is already used by {first}; give each job its own"),
            );
        }
    }
}

/// The key path of a duplicate key whose second occurrence is at `span`: the same name set
/// last before it.
fn duplicate_key_path(doc: &DeTable<'_>, text: &str, span: Range<usize>) -> String {
    let name = text
        .get(span.clone())
        .unwrap_or_default()
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_owned();
    let mut best: Option<(usize, Vec<Seg>)> = None;
    for (start, path) in locate::all_keys(doc) {
        if start < span.start
            && path.last() == Some(&Seg::Key(name.clone()))
            && best.as_ref().is_none_or(|(b, _)| start >= *b)
        {
            best = Some((start, path));
        }
    }
    best.map_or(name, |(_, path)| locate::render(&path))
}

fn validate_upstream(
    p: &mut Problems<'_>,
    base: &Path,
    u: raw::RawUpstream,
) -> Option<UpstreamConfig> {
    let url = match u.url {
        None => {
            p.at_path("upstream.url", "missing required key");
            None
        }
        Some(s) => match validate_url(&s) {
            Ok(url) => Some(url),
            Err(problem) => {
                p.at_path("upstream.url", &problem);
                None
            }
        },
    };
    let ca_cert = existing_file(p, base, "upstream.ca_cert", u.ca_cert);
    // Under systemd with LoadCredential=device.token:… the daemon reads systemd's copy of the
    // token (the file itself may stay root's); otherwise the file `upstream.token_file` names.
    let token = match credential(DEVICE_TOKEN_CREDENTIAL) {
        Some(c) => Some(c.to_string_lossy().into_owned()),
        None => u.token_file,
    };
    let token_file = existing_file(p, base, "upstream.token_file", token)
        .filter(|path| secret_file(p, "upstream.token_file", path, "device token"));
    let spki_pin = match u.spki_pin {
        None => Some(None),
        Some(s) => match crate::tls::parse_pin(&s) {
            Ok(pin) => Some(Some(pin)),
            Err(e) => {
                p.at_path("upstream.spki_pin", &e);
                None
            }
        },
    };
    let range = (Duration::from_secs(1), Duration::from_secs(600));
    let timeout = duration(
        p,
        "upstream.timeout",
        u.timeout,
        Duration::from_secs(60),
        range,
    );
    let connect_timeout = duration(
        p,
        "upstream.connect_timeout",
        u.connect_timeout,
        Duration::from_secs(10),
        range,
    );
    // The CA exactly as `portico run` loads it: a file of garbage, or a private key, holds no
    // certificate to trust.
    let ca_cert =
        ca_cert.filter(
            |path| match crate::tls::client_config(path, spki_pin.flatten()) {
                Ok(_) => true,
                Err(e) => p.env(
                    "upstream.ca_cert",
                    &format!(
                        "{} (it must hold the hub's CA certificate in PEM)",
                        crate::error_text::of(&e)
                    ),
                ),
            },
        );
    Some(UpstreamConfig {
        url: url?,
        ca_cert: ca_cert?,
        spki_pin: spki_pin?,
        token_file: token_file?,
        timeout: timeout?,
        connect_timeout: connect_timeout?,
    })
}

fn validate_sync(p: &mut Problems<'_>, s: raw::RawSync) -> Option<SyncConfig> {
    let d = SyncConfig::default();
    let secs = Duration::from_secs;
    let pull = duration(
        p,
        "sync.pull_interval",
        s.pull_interval,
        d.pull_interval,
        (secs(10), secs(86_400)),
    );
    let purge = duration(
        p,
        "sync.purge_interval",
        s.purge_interval,
        d.purge_interval,
        (secs(60), secs(7 * 86_400)),
    );
    let page = int_in(
        p,
        "sync.page_size",
        s.page_size,
        d.page_size.into(),
        (1, crate::protocol::MAX_PAGE_LIMIT.into()),
    );
    let batch = int_in(
        p,
        "sync.upload_batch",
        s.upload_batch,
        d.upload_batch as i64,
        (1, crate::protocol::MAX_UPLOAD_ROWS as i64),
    );
    let upload = duration(
        p,
        "sync.upload_interval",
        s.upload_interval,
        d.upload_interval,
        (Duration::from_millis(100), secs(3600)),
    );
    let base = duration(
        p,
        "sync.retry_base",
        s.retry_base,
        d.retry.base,
        (Duration::from_millis(100), secs(3600)),
    );
    let cap = duration(
        p,
        "sync.retry_cap",
        s.retry_cap,
        d.retry.cap,
        (secs(1), secs(86_400)),
    );
    let keep = duration(
        p,
        "sync.keep_delivered",
        s.keep_delivered,
        d.keep_delivered,
        (secs(3600), secs(365 * 86_400)),
    );
    if let (Some(b), Some(c)) = (base, cap)
        && b > c
    {
        p.at_path("sync.retry_base", "must not be longer than sync.retry_cap");
        return None;
    }
    Some(SyncConfig {
        pull_interval: pull?,
        purge_interval: purge?,
        page_size: u32::try_from(page?).ok()?,
        upload_batch: usize::try_from(batch?).ok()?,
        upload_interval: upload?,
        retry: Backoff {
            base: base?,
            cap: cap?,
        },
        keep_delivered: keep?,
    })
}

fn validate_matching(
    p: &mut Problems<'_>,
    m: raw::RawMatching,
) -> Option<(Normalizer, crate::matching::MatchConfig)> {
    use crate::matching::{MatchConfig, MatchMode, ScoreThresholds};
    let mut n = Normalizer::default();
    let mut ok = true;
    let mut threshold = |key: &str, v: Option<i64>, default: u8| match v {
        None => Some(default),
        Some(v) if (1..=100).contains(&v) => Some(v as u8),
        Some(v) => {
            p.at_path(
                &format!("matching.{key}"),
                &format!("{v} is out of range (1 to 100)"),
            );
            None
        }
    };
    let defaults = ScoreThresholds::default();
    let automatic = threshold(
        "automatic_above",
        m.automatic_above,
        defaults.automatic_above,
    );
    let review = threshold("review_from", m.review_from, defaults.review_from);
    let mode = match m.mode.as_deref().unwrap_or("strict") {
        "strict" => {
            for (key, given) in [
                ("automatic_above", m.automatic_above.is_some()),
                ("review_from", m.review_from.is_some()),
            ] {
                if given {
                    p.at_path(
                        &format!("matching.{key}"),
                        "thresholds apply only with mode = \"scored\"",
                    );
                    ok = false;
                }
            }
            Some(MatchMode::Strict)
        }
        "scored" => match (automatic, review) {
            (Some(automatic_above), Some(review_from)) if review_from <= automatic_above => {
                Some(MatchMode::Scored(ScoreThresholds {
                    automatic_above,
                    review_from,
                }))
            }
            (Some(a), Some(r)) => {
                p.at_path(
                    "matching.review_from",
                    &format!("{r} is above automatic_above ({a}); the review band would be empty"),
                );
                None
            }
            _ => None,
        },
        other => {
            p.at_path(
                "matching.mode",
                &format!("{other:?} is not a matching mode; expected \"strict\" or \"scored\""),
            );
            None
        }
    };
    if let Some(country) = m.default_country {
        match crate::normalize::DialingPlan::for_country(&country) {
            Some(plan) => n.dialing = plan,
            None => {
                p.at_path(
                    "matching.default_country",
                    &format!("{country:?} is not a supported ISO 3166 country code"),
                );
                return None;
            }
        }
    }
    if let Some(list) = m.placeholder_emails {
        for (i, e) in list.iter().enumerate() {
            if e.trim().is_empty() {
                p.at_path(
                    &format!("matching.placeholder_emails[{i}]"),
                    "must not be empty",
                );
                return None;
            }
        }
        n.placeholder_emails = list.into_iter().map(|e| e.trim().to_lowercase()).collect();
    }
    let on_ambiguous = match m.on_ambiguous.as_deref().unwrap_or("ask") {
        "ask" => Some(crate::matching::OnAmbiguous::Ask),
        "create" => Some(crate::matching::OnAmbiguous::Create),
        other => {
            p.at_path(
                "matching.on_ambiguous",
                &format!("{other:?} is not a choice; expected \"ask\" or \"create\""),
            );
            None
        }
    };
    match (mode, on_ambiguous) {
        (Some(mode), Some(on_ambiguous)) if ok => Some((n, MatchConfig { mode, on_ambiguous })),
        _ => None,
    }
}

fn validate_gate(
    p: &mut Problems<'_>,
    base: &Path,
    g: crate::gate::config::RawGateSection,
    active: bool,
) -> Option<crate::gate::config::GatePolicyConfig> {
    use crate::gate::config::{RelayConfig, SensorConfig};
    let mut g = g;
    let technician = technician_access(
        p,
        base,
        "gate",
        g.technician_pin_file.take(),
        g.technician_cards.take(),
        active,
    );
    let mut v = match crate::gate::config::validate(g) {
        Ok(v) => v,
        Err(problems) => {
            for Problem { key, message } in problems {
                p.at_path(&key, &message);
            }
            return None;
        }
    };
    // Device paths relative to the config file's folder, like every other path in it.
    match &mut v.relay {
        RelayConfig::Gpio(line) => line.chip = resolve(base, &line.chip.to_string_lossy()),
        // A bare name is a device node (`ttyUSB0` is `/dev/ttyUSB0`).
        RelayConfig::Serial(serial) if !serial.port.contains('/') => {
            serial.port = format!("/dev/{}", serial.port);
        }
        RelayConfig::Serial(serial) => {
            serial.port = resolve(base, &serial.port).to_string_lossy().into_owned();
        }
        RelayConfig::Simulated => {}
    }
    if let SensorConfig::Gpio(input) = &mut v.passage.sensor {
        input.line.chip = resolve(base, &input.line.chip.to_string_lossy());
    }
    v.technician = technician?;
    let Some(file) = v.revocation_file.take() else {
        return Some(v);
    };
    let path = resolve(base, &file.to_string_lossy());
    v.revocation_file = Some(path.clone());
    if !active {
        // Another device's block list: not this one's to read.
        return Some(v);
    }
    // Read as the gate reads it when it opens: a bad line stops the gate.
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if let Err(problems) = crate::gate::config::parse_revocation_list(&text) {
                let mut go_on = true;
                for Problem { key: at, message } in problems {
                    let line = at.rsplit(':').next().unwrap_or("?");
                    go_on &= p.env(
                        "gate.revocation_file",
                        &format!("{}:{line}: {message}", path.display()),
                    );
                }
                return go_on.then_some(v);
            }
            Some(v)
        }
        Err(e) => p
            .env(
                "gate.revocation_file",
                &format!("cannot read {}: {e}", path.display()),
            )
            .then_some(v),
    }
}
