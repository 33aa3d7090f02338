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
//!   checking that each invite ends exactly once and both sides agree;
//! - [`push`]: invites reaching a sleeping device by push, fetched and
//!   reconciled once it connects, and push registrations;
//! - [`push_prop`]: random interleavings of pushes, wake-ups, fetches,
//!   relayed outcomes and answers, checked as [`prop`] checks its own.

mod conversation;
mod harness;
mod prop;
mod push;
mod push_prop;
mod reconnect;
mod unit;
