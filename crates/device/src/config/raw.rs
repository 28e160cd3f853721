//! The TOML file as written: serde structs that accept exactly the documented keys
//! (`deny_unknown_fields`) and nothing about meaning. [`super::validate`] turns them into the
//! typed configuration.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub id: Option<String>,
    pub roles: Option<Vec<String>>,
    pub data_dir: Option<String>,
    pub status_socket: Option<String>,
    pub timezone: Option<String>,
    pub metrics: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Option<String>,
    pub ca_cert: Option<String>,
    pub spki_pin: Option<String>,
    pub token_file: Option<String>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub pull_interval: Option<String>,
    pub purge_interval: Option<String>,
    pub page_size: Option<i64>,
    pub upload_batch: Option<i64>,
    pub upload_interval: Option<String>,
    pub retry_base: Option<String>,
    pub retry_cap: Option<String>,
    pub keep_delivered: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatching {
    pub default_country: Option<String>,
    pub placeholder_emails: Option<Vec<String>>,
    pub mode: Option<String>,
    pub automatic_above: Option<i64>,
    pub review_from: Option<i64>,
    pub on_ambiguous: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKiosk {
    pub currency: Option<String>,
    pub language: Option<String>,
    pub idle_timeout: Option<String>,
    pub still_there: Option<String>,
    pub technician_pin_file: Option<String>,
    pub technician_cards: Option<Vec<String>>,
    pub offline_limit: Option<String>,
    pub order_prefix: Option<String>,
    pub key_file: Option<String>,
    pub keep_records: Option<String>,
    /// The venue's last admission, `"16:30"`: day passes for today are sold until then.
    pub last_admission: Option<String>,
    pub printer: Option<RawKioskPrinter>,
    pub terminal: Option<RawKioskTerminal>,
    pub leases: Option<RawKioskLeases>,
    pub receipt: Option<RawKioskReceipt>,
    pub volunteer_clock: Option<RawVolunteerClock>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVolunteerClock {
    pub opens_before: Option<String>,
    pub rounding_minutes: Option<i64>,
    pub rounding: Option<String>,
    pub checkout_grace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKioskPrinter {
    pub kind: Option<String>,
    pub address: Option<String>,
    pub device: Option<String>,
    pub baud: Option<i64>,
    pub paper: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKioskTerminal {
    pub kind: Option<String>,
    pub after_crash: Option<String>,
    /// `nexo`: the terminal's (or its provider's) Terminal API endpoint, `https://…`.
    pub url: Option<String>,
    /// `nexo`: the terminal's id (`POIID`), as its provider names it.
    pub poi_id: Option<String>,
    /// `nexo`: the kiosk's id towards the terminal (`SaleID`); default the device id.
    pub sale_id: Option<String>,
    /// `nexo`: the CA that signed the terminal's (or provider's) certificate.
    pub ca_cert: Option<String>,
    /// `nexo`: a file holding the API key the provider asks for (sent as `x-api-key`).
    pub api_key_file: Option<String>,
    /// `nexo`: how long a payment may take, card presented and approved.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKioskLeases {
    pub batch: Option<i64>,
    pub low_water: Option<i64>,
    pub lead: Option<String>,
    pub check_interval: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKioskReceipt {
    pub venue: Option<String>,
    pub address: Option<String>,
    pub tax_id: Option<String>,
    pub footer: Option<String>,
}
