//! The visitor kiosk's pure parts: the catalog it sells from, what a basket costs, and the
//! timed-entry capacity kiosks share without overselling.

pub mod capacity;
pub mod catalog;
pub mod pricing;
