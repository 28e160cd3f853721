//! `POST /v1/device-report`: what a device tells the hub of itself each few minutes, so the
//! venue's IT sees the fleet (`portico hub devices`) without visiting each box.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The report's format version this build writes.
pub const DEVICE_REPORT_VERSION: u32 = 1;

/// A device's report of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// The report's format ([`DEVICE_REPORT_VERSION`]).
    pub report: u32,
    /// The firmware's version.
    pub firmware: String,
    pub roles: Vec<String>,
    /// Uploads waiting for the hub, and those the hub refused.
    pub outbox_pending: u64,
    pub dead_letters: u64,
    /// When the daemon started, and how long it has been without the hub since.
    pub up_since: DateTime<Utc>,
    pub offline_secs: u64,
    /// The last outage that ended: how long it lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outage_secs: Option<u64>,
    /// A kiosk's out-of-order code, while it shows its out-of-order screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// The hub's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReportReply {
    pub received_at: DateTime<Utc>,
}
