//! Tests of the engine, driven by a fake clock.
//!
//! - [`harness`]: a simulated `wd-signal` connecting one caller engine and
//!   up to three devices of the invitee, one FIFO queue per link, so a test
//!   chooses exactly which message arrives when;
//! - [`unit`]: every transition and every race, one ordering at a time;
//! - [`conversation`]: messages, three-party conversations built by
//!   inviting into a live one, leaving in every order, and glare;
//! - [`reconnect`]: a link lost and regained, and how incoming invites
//!   are reconciled with their caller afterwards;
//! - [`prop`]: random interleavings of everything, thousands of times,
//!   checking that each invite ends exactly once and both sides agree.

mod conversation;
mod harness;
mod prop;
mod reconnect;
mod unit;
