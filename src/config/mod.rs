//! Device configuration, in two steps: the TOML file is read into raw serde structs
//! ([`raw`]) that accept exactly the documented keys, then validated into [`DeviceConfig`],
//! whose values are typed, in range and resolved (paths relative to the file, files present).
//!
//! Every problem is reported with file, line, column and key, all at once where the file
//! parses. Secrets are never in the TOML: the device token lives in the file `token_file`
//! names.

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

/// One problem in a config file.
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
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gate => "gate",
            Role::Kiosk => "kiosk",
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskConfig {
    pub currency: String,
    pub idle_timeout: Duration,
    pub technician_pin_file: Option<PathBuf>,
}

/// A validated device configuration.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub source: PathBuf,
    pub device_id: String,
    pub roles: Vec<Role>,
    pub data_dir: PathBuf,
    pub status_socket: PathBuf,
    pub upstream: UpstreamConfig,
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
}

impl DeviceConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("portico.db")
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<DeviceConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Validates config text as if read from `path` (relative paths resolve against its folder).
pub fn parse(path: &Path, text: &str) -> Result<DeviceConfig, ConfigError> {
    let mut p = Problems {
        file: path.to_owned(),
        text,
        doc: None,
        list: Vec::new(),
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            p.at_span(e.span(), "", e.message().trim());
            return Err(ConfigError::Invalid(p.list));
        }
    };
    p.doc = Some(doc.get_ref());
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();

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

    let device = device.map(|d| validate_device(&mut p, &base, d));
    let upstream = upstream.map(|u| validate_upstream(&mut p, &base, u));
    let sync = sync.map(|s| validate_sync(&mut p, s));
    let normalizer = matching.map(|m| validate_matching(&mut p, m));
    let gate = gate.map(|g| validate_gate(&mut p, &base, g));
    let kiosk = kiosk.map(|k| validate_kiosk(&mut p, &base, k));

    if let Some(Some((_, roles, _, _))) = &device {
        if roles.contains(&Role::Gate) && !has("gate") {
            p.at_path("device.roles", "role \"gate\" needs a [gate] section");
        }
        if roles.contains(&Role::Kiosk) && !has("kiosk") {
            p.at_path("device.roles", "role \"kiosk\" needs a [kiosk] section");
        }
    }

    match (device, upstream, sync, normalizer, gate, kiosk, inputs) {
        (
            Some(Some((device_id, roles, data_dir, status_socket))),
            Some(Some(upstream)),
            Some(Some(sync)),
            Some(Some((normalizer, matching))),
            Some(gate),
            Some(kiosk),
            Some(inputs),
        ) if p.list.is_empty() => Ok(DeviceConfig {
            source: path.to_owned(),
            device_id,
            roles,
            data_dir,
            status_socket,
            upstream,
            sync,
            normalizer,
            matching,
            gate: gate.filter(|_| has("gate")),
            kiosk: kiosk.filter(|_| has("kiosk")),
            inputs,
        }),
        _ => Err(ConfigError::Invalid(p.list)),
    }
}

struct Problems<'a> {
    file: PathBuf,
    text: &'a str,
    doc: Option<&'a DeTable<'a>>,
    list: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn push(&mut self, offset: usize, key: String, message: &str) {
        let (line, column) = line_col(self.text, offset);
        self.list.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            key,
            message: message.to_owned(),
        });
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
        p.at_path(key, "missing required key");
        return None;
    };
    let path = resolve(base, &s);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Some(path),
        Ok(_) => {
            p.at_path(key, &format!("{} is not a file", path.display()));
            None
        }
        Err(e) => {
            p.at_path(key, &format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

type DeviceParts = (String, Vec<Role>, PathBuf, PathBuf);

fn validate_device(p: &mut Problems<'_>, base: &Path, d: raw::RawDevice) -> Option<DeviceParts> {
    let id = match d.id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Some(id)
        }
        Some(id) => {
            p.at_path(
                "device.id",
                &format!("{id:?} must be 1-64 characters of A-Z a-z 0-9 - _ ."),
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
                    other => {
                        p.at_path(
                            &format!("device.roles[{i}]"),
                            &format!("unknown role {other:?}; expected \"gate\" or \"kiosk\""),
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
            let parent_ok = dir.is_dir() || dir.parent().is_some_and(Path::is_dir);
            if parent_ok {
                Some(dir)
            } else {
                p.at_path(
                    "device.data_dir",
                    &format!(
                        "{} does not exist and neither does its parent",
                        dir.display()
                    ),
                );
                None
            }
        }
    };
    if let Some(tz) = d.timezone
        && tz.trim().is_empty()
    {
        p.at_path("device.timezone", "must not be empty");
    }
    let (id, data_dir) = (id?, data_dir?);
    let socket = d
        .status_socket
        .map(|s| resolve(base, &s))
        .unwrap_or_else(|| data_dir.join("portico.sock"));
    roles_ok.then_some((id, roles, data_dir, socket))
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
        Some(s) => match reqwest::Url::parse(&s) {
            Ok(url) if url.scheme() == "https" && url.host().is_some() => Some(url),
            Ok(_) => {
                p.at_path(
                    "upstream.url",
                    &format!("{s:?} must be an https:// URL with a host"),
                );
                None
            }
            Err(e) => {
                p.at_path("upstream.url", &format!("{s:?} is not a URL: {e}"));
                None
            }
        },
    };
    let ca_cert = existing_file(p, base, "upstream.ca_cert", u.ca_cert);
    let token_file = existing_file(p, base, "upstream.token_file", u.token_file);
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
) -> Option<crate::gate::config::GatePolicyConfig> {
    match crate::gate::config::validate(g) {
        Ok(mut v) => {
            if let Some(file) = v.revocation_file.take() {
                let path = existing_file(
                    p,
                    base,
                    "gate.revocation_file",
                    Some(file.display().to_string()),
                )?;
                v.revocation_file = Some(path);
            }
            Some(v)
        }
        Err(problems) => {
            for (key, message) in problems {
                p.at_path(&key, &message);
            }
            None
        }
    }
}

fn validate_kiosk(p: &mut Problems<'_>, base: &Path, k: raw::RawKiosk) -> Option<KioskConfig> {
    let currency = k.currency.unwrap_or_else(|| "USD".to_owned());
    let currency_ok = currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
    if !currency_ok {
        p.at_path(
            "kiosk.currency",
            &format!("{currency:?} is not an ISO 4217 code like \"USD\""),
        );
    }
    let idle = duration(
        p,
        "kiosk.idle_timeout",
        k.idle_timeout,
        Duration::from_secs(90),
        (Duration::from_secs(10), Duration::from_secs(3600)),
    );
    let pin = match k.technician_pin_file {
        None => Some(None),
        Some(s) => existing_file(p, base, "kiosk.technician_pin_file", Some(s)).map(Some),
    };
    (currency_ok).then_some(())?;
    Some(KioskConfig {
        currency,
        idle_timeout: idle?,
        technician_pin_file: pin?,
    })
}
