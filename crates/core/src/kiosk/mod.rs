//! The visitor kiosk's pure parts: the catalog it sells from, what a basket costs, the
//! timed-entry capacity kiosks share without overselling, and the checkout's screens as a state
//! machine.

pub mod capacity;
pub mod catalog;
pub mod checkin;
pub mod checkout;
pub mod escpos;
pub mod keyboard;
pub mod money;
pub mod nexo;
pub mod order;
pub mod out_of_order;
pub mod payment;
pub mod pricing;
pub mod receipt;
