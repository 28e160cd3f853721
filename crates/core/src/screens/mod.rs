//! Screen controllers: pure state machines whose output is a plain model, tested without
//! rendering. The ui crate copies the model into the Slint screens and routes their callbacks
//! back.

pub mod gate_view;
pub mod kiosk_view;
pub mod technician_view;
