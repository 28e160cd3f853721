//! Seat leases on the wire: a kiosk asks the hub for seats of a timed-entry slot, gives back
//! what it will not sell, and reads what it holds (`docs/protocol.md`, "Seat leases").
//!
//! Every request carries an id the kiosk made once: the hub keeps its reply under it, so a
//! request sent again (its reply was lost) gets the same reply and changes nothing.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// `POST /v1/leases/request` and `POST /v1/leases/return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub request_id: String,
    pub slot_id: String,
    pub seats: u32,
}

/// The hub's answer to a request or a return: what it granted or took back this time, and
/// the device's lease of the slot as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseReply {
    pub request_id: String,
    /// Seats granted by this request (0 for a return, and when none are left).
    pub granted: u32,
    /// Seats taken back by this return.
    #[serde(default)]
    pub returned: u32,
    pub lease: LeaseDto,
}

/// A device's lease of one slot as the hub counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDto {
    pub slot_id: String,
    /// Seats leased to the device, in all, less those it gave back.
    pub seats: u32,
    /// Seats of the device's orders the hub has received.
    pub used: u32,
    /// Seats the hub asks the device to give back when it can.
    #[serde(default)]
    pub recall: u32,
    pub sales_close: NaiveDateTime,
}

/// `GET /v1/leases`: every lease the device holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeasesDto {
    pub leases: Vec<LeaseDto>,
}

/// Most seats one request may ask for or give back.
pub const MAX_LEASE_SEATS: u32 = 1000;

/// `POST /v1/signing-keys`: a kiosk registers the public key it signs tickets with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterKeyRequest {
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// The key id the hub gave the key (the same for the same device and key every time); the
/// hub publishes it on the `signing_keys` feed, from which gates verify the kiosk's tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterKeyReply {
    pub key_id: u16,
}
