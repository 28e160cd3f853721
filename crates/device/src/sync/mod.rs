//! Keeping the replica current and the outbox drained: the hub client and the sync engine.

pub mod client;
pub mod engine;
pub mod report;

pub use client::{HubClient, SyncError};
pub use engine::{LinkStatus, Observer, PullReport, PushReport, SyncEngine, purge_due};
