//! Tests of the engine, driven by a fake clock.
//!
//! - [`harness`]: a simulated `wd-signal` connecting one caller engine and
//!   up to three devices of the invitee, one FIFO queue per link, so a test
//!   chooses exactly which message arrives when;
//! - [`unit`]: every transition and every race, one ordering at a time;
//! - [`prop`]: random interleavings of everything, thousands of times,
//!   checking that each invite ends exactly once and both sides agree.

mod harness;
mod prop;
mod unit;
