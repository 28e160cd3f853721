//! Configuration of inputs and credential patterns: raw serde structs and their validation.
//!
//! The device configuration file has an array of tables `[[inputs]]` and a table
//! `[credentials]`:
//!
//! ```toml
//! [[inputs]]
//! name = "gate-1-scanner"
//! kind = "serial"
//! path = "/dev/serial/by-id/usb-Honeywell_Imaging_1900-if00"
//! baud = 115200            # default 9600; data_bits 8, parity "none", stop_bits 1
//! terminator = "cr"        # cr | lf | crlf | tab | eot | any | none (default cr)
//!
//! [[inputs]]
//! name = "kiosk-wedge"
//! kind = "evdev"
//! vendor_product = "0c2e:0b61"   # or device = "/dev/input/by-id/…", or device_name = "…"
//! layout = "fr"                  # us | uk | de | fr (default us)
//!
//! [[inputs]]
//! name = "turnstile-rfid"
//! kind = "serial"
//! path = "/dev/serial/by-id/usb-RFIDeas-if00"
//! formats = ["rfid_uid"]
//!
//! [credentials]
//! membership_regex = "^M(?P<id>[0-9]{8})$"
//! double_scan_window_ms = 1500
//!
//! [[credentials.signing_keys]]
//! id = 1
//! public_key = "base64 of the 32-byte Ed25519 public key"
//! ```
//!
//! [`validate`] checks everything that deserialisation cannot and reports each problem with the
//! dotted key path from the document root (`inputs[1].baud`,
//! `credentials.signing_keys[0].public_key`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

pub use crate::config::Problem;

use super::credential::parser::{
    DEFAULT_LOOKUP_ID_REGEX, DEFAULT_MEMBERSHIP_REGEX, DEFAULT_TICKET_SECRET_REGEX, IdPattern,
};
use super::credential::{
    ByteOrder, CredentialFormat, CredentialRules, FormatSet, RfidFormat, RfidRules,
};
use super::framer::{FramingConfig, Terminator};
use super::keymap::Layout;

/// Baud rates accepted for serial inputs.
pub const STANDARD_BAUDS: &[u32] = &[
    300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
];

/// The input-related part of the device configuration document. Other sections of the
/// document are ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawInputsConfig {
    #[serde(default)]
    pub inputs: Vec<RawInput>,
    #[serde(default)]
    pub credentials: RawCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Serial,
    Evdev,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// One `[[inputs]]` entry as written. Kind-specific keys are optional here; [`validate`]
/// requires or rejects them by kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub name: String,
    pub kind: InputKind,
    #[serde(default = "yes")]
    pub enabled: bool,
    // serial
    pub path: Option<String>,
    pub baud: Option<i64>,
    pub data_bits: Option<i64>,
    pub parity: Option<Parity>,
    pub stop_bits: Option<i64>,
    pub flow_control: Option<FlowControl>,
    // evdev
    pub device: Option<String>,
    pub vendor_product: Option<String>,
    pub device_name: Option<String>,
    pub layout: Option<Layout>,
    pub grab: Option<bool>,
    // framing
    pub terminator: Option<Terminator>,
    pub idle_gap_ms: Option<i64>,
    #[serde(default)]
    pub stx_etx: bool,
    #[serde(default)]
    pub strip_prefix: String,
    #[serde(default)]
    pub strip_suffix: String,
    pub max_frame_len: Option<i64>,
    pub formats: Option<Vec<CredentialFormat>>,
}

fn yes() -> bool {
    true
}

/// The `[credentials]` table as written. An empty pattern disables that format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCredentials {
    pub membership_prefix: String,
    pub membership_regex: String,
    pub lookup_id_regex: String,
    pub ticket_secret_regex: String,
    pub signing_keys: Vec<RawSigningKey>,
    pub rfid_format: RfidFormat,
    pub rfid_byte_order: ByteOrder,
    pub rfid_uid_lengths: Vec<i64>,
    pub wiegand_hex_prefix: String,
    pub double_scan_window_ms: i64,
}

impl Default for RawCredentials {
    fn default() -> Self {
        Self {
            membership_prefix: String::new(),
            membership_regex: DEFAULT_MEMBERSHIP_REGEX.to_owned(),
            lookup_id_regex: DEFAULT_LOOKUP_ID_REGEX.to_owned(),
            ticket_secret_regex: DEFAULT_TICKET_SECRET_REGEX.to_owned(),
            signing_keys: Vec::new(),
            rfid_format: RfidFormat::Hex,
            rfid_byte_order: ByteOrder::MsbFirst,
            rfid_uid_lengths: vec![4, 7, 10],
            wiegand_hex_prefix: String::new(),
            double_scan_window_ms: 1500,
        }
    }
}

/// A venue public key for signed tickets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigningKey {
    pub id: i64,
    /// Standard base64 (padding optional) of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// Validated configuration of all inputs.
#[derive(Debug, Clone)]
pub struct ValidatedInputs {
    pub inputs: Vec<InputSpec>,
    pub credentials: CredentialRules,
    pub double_scan_window: Duration,
}

/// One validated input.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: String,
    pub enabled: bool,
    pub source: InputSource,
    pub framing: FramingConfig,
    pub formats: FormatSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    Serial(SerialSettings),
    Evdev(EvdevSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    pub path: PathBuf,
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub flow_control: FlowControl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvdevSettings {
    pub selector: DeviceSelector,
    pub layout: Layout,
    pub grab: bool,
}

/// How an evdev input finds its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// An event node, preferably a stable `/dev/input/by-id/…` link.
    Path(PathBuf),
    /// USB vendor and product id.
    VendorProduct { vendor: u16, product: u16 },
    /// Case-insensitive substring of the device name.
    Name(String),
}

impl std::fmt::Display for DeviceSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => write!(f, "{}", p.display()),
            Self::VendorProduct { vendor, product } => write!(f, "{vendor:04x}:{product:04x}"),
            Self::Name(n) => write!(f, "name~\"{n}\""),
        }
    }
}

/// Parses the input sections of a TOML document and validates them. Syntax and type errors
/// are reported with an empty key and the parser's message (which includes the location).
pub fn from_toml_str(text: &str) -> Result<ValidatedInputs, Vec<Problem>> {
    let raw: RawInputsConfig = toml::from_str(text).map_err(|e| {
        vec![Problem {
            key: String::new(),
            message: e.to_string(),
        }]
    })?;
    validate(&raw)
}

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// Validates the raw configuration; every problem found is reported, not only the first.
pub fn validate(raw: &RawInputsConfig) -> Result<ValidatedInputs, Vec<Problem>> {
    let mut p = Problems(Vec::new());
    let mut names = HashSet::new();
    let mut inputs = Vec::with_capacity(raw.inputs.len());
    for (i, input) in raw.inputs.iter().enumerate() {
        let k = |field: &str| format!("inputs[{i}].{field}");
        let name = input.name.trim();
        if name.is_empty() {
            p.add(k("name"), "must not be empty");
        } else if name.chars().any(char::is_control) {
            p.add(k("name"), "must not contain control characters");
        } else if !names.insert(name.to_owned()) {
            p.add(k("name"), format!("duplicate input name \"{name}\""));
        }
        if let Some(spec) = validate_input(input, i, &mut p) {
            inputs.push(spec);
        }
    }
    let (credentials, window) = validate_credentials(&raw.credentials, &mut p);
    if p.0.is_empty() {
        Ok(ValidatedInputs {
            inputs,
            credentials,
            double_scan_window: window,
        })
    } else {
        Err(p.0)
    }
}

fn validate_input(input: &RawInput, i: usize, p: &mut Problems) -> Option<InputSpec> {
    let k = |field: &str| format!("inputs[{i}].{field}");
    let before = p.0.len();
    let not_for = |p: &mut Problems, field: &str, set: bool, kind: &str| {
        if set {
            p.add(
                k(field),
                format!("does not apply to kind = \"{kind}\" inputs"),
            );
        }
    };
    let source = match input.kind {
        InputKind::Serial => {
            not_for(p, "device", input.device.is_some(), "serial");
            not_for(
                p,
                "vendor_product",
                input.vendor_product.is_some(),
                "serial",
            );
            not_for(p, "device_name", input.device_name.is_some(), "serial");
            not_for(p, "layout", input.layout.is_some(), "serial");
            not_for(p, "grab", input.grab.is_some(), "serial");
            let path = match input.path.as_deref() {
                None => {
                    p.add(k("path"), "required for serial inputs");
                    PathBuf::new()
                }
                Some(s) if !s.starts_with('/') => {
                    p.add(
                        k("path"),
                        "must be an absolute path (prefer /dev/serial/by-id/…)",
                    );
                    PathBuf::new()
                }
                Some(s) => PathBuf::from(s),
            };
            let baud = input.baud.unwrap_or(9600);
            if !u32::try_from(baud).is_ok_and(|b| STANDARD_BAUDS.contains(&b)) {
                p.add(
                    k("baud"),
                    format!("{baud} is not a standard baud rate (one of {STANDARD_BAUDS:?})"),
                );
            }
            let data_bits = input.data_bits.unwrap_or(8);
            if !(5..=8).contains(&data_bits) {
                p.add(k("data_bits"), "must be 5, 6, 7 or 8");
            }
            let stop_bits = input.stop_bits.unwrap_or(1);
            if !(1..=2).contains(&stop_bits) {
                p.add(k("stop_bits"), "must be 1 or 2");
            }
            InputSource::Serial(SerialSettings {
                path,
                baud: u32::try_from(baud).unwrap_or(9600),
                data_bits: u8::try_from(data_bits).unwrap_or(8),
                parity: input.parity.unwrap_or(Parity::None),
                stop_bits: u8::try_from(stop_bits).unwrap_or(1),
                flow_control: input.flow_control.unwrap_or(FlowControl::None),
            })
        }
        InputKind::Evdev => {
            not_for(p, "path", input.path.is_some(), "evdev");
            not_for(p, "baud", input.baud.is_some(), "evdev");
            not_for(p, "data_bits", input.data_bits.is_some(), "evdev");
            not_for(p, "parity", input.parity.is_some(), "evdev");
            not_for(p, "stop_bits", input.stop_bits.is_some(), "evdev");
            not_for(p, "flow_control", input.flow_control.is_some(), "evdev");
            let mut selectors = Vec::new();
            if let Some(d) = &input.device {
                if d.starts_with('/') {
                    selectors.push(("device", DeviceSelector::Path(PathBuf::from(d))));
                } else {
                    p.add(
                        k("device"),
                        "must be an absolute path (prefer /dev/input/by-id/…)",
                    );
                }
            }
            if let Some(vp) = &input.vendor_product {
                match parse_vendor_product(vp) {
                    Some((vendor, product)) => selectors.push((
                        "vendor_product",
                        DeviceSelector::VendorProduct { vendor, product },
                    )),
                    None => p.add(
                        k("vendor_product"),
                        "must be \"vvvv:pppp\" (four hex digits each)",
                    ),
                }
            }
            if let Some(n) = &input.device_name {
                if n.trim().is_empty() {
                    p.add(k("device_name"), "must not be empty");
                } else {
                    selectors.push(("device_name", DeviceSelector::Name(n.trim().to_owned())));
                }
            }
            let before_selector = p.0.len();
            if selectors.len() > 1 {
                p.add(
                    k(selectors[1].0),
                    format!(
                        "give only one of device, vendor_product, device_name (already have {})",
                        selectors[0].0
                    ),
                );
            }
            let no_selector_problem = before_selector == p.0.len()
                && input.device.is_none()
                && input.vendor_product.is_none()
                && input.device_name.is_none();
            if no_selector_problem {
                p.add(
                    format!("inputs[{i}]"),
                    "evdev inputs need one of device, vendor_product or device_name",
                );
            }
            let selector = selectors
                .into_iter()
                .next()
                .map(|(_, s)| s)
                .unwrap_or(DeviceSelector::Name(String::new()));
            InputSource::Evdev(EvdevSettings {
                selector,
                layout: input.layout.unwrap_or(Layout::Us),
                grab: input.grab.unwrap_or(true),
            })
        }
    };
    let terminator = input.terminator.unwrap_or(match input.kind {
        InputKind::Serial => Terminator::Cr,
        InputKind::Evdev => Terminator::Any,
    });
    let idle_gap = match input.idle_gap_ms {
        None => None,
        Some(ms) if (1..=10_000).contains(&ms) => Some(Duration::from_millis(ms.unsigned_abs())),
        Some(_) => {
            p.add(k("idle_gap_ms"), "must be between 1 and 10000");
            None
        }
    };
    if terminator == Terminator::None && !input.stx_etx && input.idle_gap_ms.is_none() {
        p.add(
            k("idle_gap_ms"),
            "required when terminator = \"none\" and stx_etx is off (nothing would end a frame)",
        );
    }
    let max = input.max_frame_len.unwrap_or(512);
    if !(1..=4096).contains(&max) {
        p.add(k("max_frame_len"), "must be between 1 and 4096");
    }
    for (field, v) in [
        ("strip_prefix", &input.strip_prefix),
        ("strip_suffix", &input.strip_suffix),
    ] {
        if v.len() > 32 {
            p.add(k(field), "must be at most 32 bytes");
        }
    }
    let formats = match &input.formats {
        None => FormatSet::barcode_default(),
        Some(list) => {
            if list.is_empty() {
                p.add(k("formats"), "must list at least one format");
            }
            let mut seen = HashSet::new();
            for (j, f) in list.iter().enumerate() {
                if !seen.insert(*f) {
                    p.add(format!("inputs[{i}].formats[{j}]"), "listed twice");
                }
            }
            list.iter().copied().collect()
        }
    };
    if p.0.len() != before {
        return None;
    }
    Some(InputSpec {
        name: input.name.trim().to_owned(),
        enabled: input.enabled,
        source,
        framing: FramingConfig {
            terminator,
            idle_gap,
            stx_etx: input.stx_etx,
            strip_prefix: input.strip_prefix.as_bytes().to_vec(),
            strip_suffix: input.strip_suffix.as_bytes().to_vec(),
            max_frame_len: usize::try_from(max).unwrap_or(512),
        },
        formats,
    })
}

fn parse_vendor_product(s: &str) -> Option<(u16, u16)> {
    let (v, p) = s.split_once(':')?;
    let hex4 = |x: &str| {
        (x.len() == 4 && x.bytes().all(|c| c.is_ascii_hexdigit()))
            .then(|| u16::from_str_radix(x, 16).ok())
            .flatten()
    };
    Some((hex4(v)?, hex4(p)?))
}

fn pattern(p: &mut Problems, key: &str, src: &str) -> Option<IdPattern> {
    if src.is_empty() {
        return None;
    }
    match regex::RegexBuilder::new(src).size_limit(1 << 20).build() {
        Ok(r) => Some(IdPattern::new(r)),
        Err(e) => {
            p.add(key, format!("invalid regular expression: {e}"));
            None
        }
    }
}

fn validate_credentials(c: &RawCredentials, p: &mut Problems) -> (CredentialRules, Duration) {
    let membership = pattern(p, "credentials.membership_regex", &c.membership_regex);
    let lookup_id = pattern(p, "credentials.lookup_id_regex", &c.lookup_id_regex);
    let ticket_secret = pattern(p, "credentials.ticket_secret_regex", &c.ticket_secret_regex);
    if c.membership_regex.is_empty() && !c.membership_prefix.is_empty() {
        p.add(
            "credentials.membership_regex",
            "required when membership_prefix is set",
        );
    }
    let mut keys = Vec::new();
    let mut ids = HashSet::new();
    for (j, key) in c.signing_keys.iter().enumerate() {
        let kk = |f: &str| format!("credentials.signing_keys[{j}].{f}");
        let id = u16::try_from(key.id);
        match id {
            Err(_) => p.add(kk("id"), "must be between 0 and 65535"),
            Ok(id) if id >= crate::input::credential::signed_ticket::FIRST_KIOSK_KEY => p.add(
                kk("id"),
                format!(
                    "ids from {} up are kiosks' keys, given out by the hub; use a smaller one",
                    crate::input::credential::signed_ticket::FIRST_KIOSK_KEY
                ),
            ),
            Ok(id) if !ids.insert(id) => p.add(kk("id"), format!("duplicate key id {id}")),
            Ok(_) => {}
        }
        let decoded = decode_base64(key.public_key.trim());
        match decoded {
            None => p.add(kk("public_key"), "not valid base64"),
            Some(b) if b.len() != 32 => p.add(
                kk("public_key"),
                format!("decodes to {} bytes; an Ed25519 public key has 32", b.len()),
            ),
            Some(b) => {
                let mut a = [0u8; 32];
                a.copy_from_slice(&b);
                match (VerifyingKey::from_bytes(&a), id) {
                    (Ok(vk), Ok(id)) => keys.push((id, vk)),
                    (Err(_), _) => p.add(kk("public_key"), "not a valid Ed25519 public key"),
                    (Ok(_), Err(_)) => {}
                }
            }
        }
    }
    let mut lengths = Vec::new();
    if c.rfid_uid_lengths.is_empty() {
        p.add(
            "credentials.rfid_uid_lengths",
            "must list at least one length",
        );
    }
    for (j, l) in c.rfid_uid_lengths.iter().enumerate() {
        if (1..=16).contains(l) {
            lengths.push(usize::try_from(*l).unwrap_or(4));
        } else {
            p.add(
                format!("credentials.rfid_uid_lengths[{j}]"),
                "must be between 1 and 16 bytes",
            );
        }
    }
    lengths.sort_unstable();
    lengths.dedup();
    if c.wiegand_hex_prefix.len() > 16 {
        p.add("credentials.wiegand_hex_prefix", "must be at most 16 bytes");
    }
    let window = if (0..=60_000).contains(&c.double_scan_window_ms) {
        Duration::from_millis(c.double_scan_window_ms.unsigned_abs())
    } else {
        p.add(
            "credentials.double_scan_window_ms",
            "must be between 0 and 60000",
        );
        Duration::from_millis(1500)
    };
    let rules = CredentialRules {
        membership_prefix: c.membership_prefix.clone(),
        membership,
        lookup_id,
        ticket_secret,
        signing_keys: keys,
        rfid: RfidRules {
            format: c.rfid_format,
            byte_order: c.rfid_byte_order,
            uid_lengths: lengths,
        },
        wiegand_hex_prefix: c.wiegand_hex_prefix.clone(),
    };
    (rules, window)
}

/// Standard base64 with or without padding (URL-safe accepted too).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
    [BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD]
        .iter()
        .find_map(|e| e.decode(s.as_bytes()).ok())
}
