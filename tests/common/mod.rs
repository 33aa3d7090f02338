//! Helpers shared by the SDK's integration tests: a real `wd-signal` on
//! loopback, clients connected to it, and listeners that record events
//! into channels so tests wait on events instead of sleeping.

#![allow(dead_code)]

use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use wilddog_video::client::{
    Client, ClientConfig, ConversationEvent, IncomingEvent, IncomingInvite, InviteOptions,
    OutgoingEvent, OutgoingInvite,
};

/// The longest a test waits for an event before it fails. Only a failure
/// bound: tests never wait this long when the SDK works.
pub const WAIT: Duration = Duration::from_secs(20);

/// A dev-mode server on a free loopback port.
pub fn server() -> wd_signal::ServerHandle {
    wd_signal::spawn(wd_signal::ServerConfig::dev()).expect("server starts")
}

/// A client of `uid` with the default (event thread) dispatch.
pub fn connect(server: &wd_signal::ServerHandle, uid: &str) -> Client {
    Client::connect(ClientConfig::new(server.url(), format!("dev:{uid}"))).expect("client connects")
}

/// Receives one item or fails the test.
pub fn next<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Every incoming invite `client` receives.
pub fn invites(client: &Client) -> Receiver<IncomingInvite> {
    let (tx, rx) = unbounded();
    client.set_invite_listener(move |inv| {
        let _ = tx.send(inv);
    });
    rx
}

/// Every event of an outgoing invite.
pub fn outgoing_events(invite: &OutgoingInvite) -> Receiver<OutgoingEvent> {
    let (tx, rx) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

/// Every event of an incoming invite.
pub fn incoming_events(invite: &IncomingInvite) -> Receiver<IncomingEvent> {
    let (tx, rx) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

/// Every event of a conversation.
pub fn conversation_events(
    conv: &wilddog_video::client::Conversation,
) -> Receiver<ConversationEvent> {
    let (tx, rx) = unbounded();
    conv.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

/// The outgoing invite's events up to and including its terminal one.
pub fn until_terminal(rx: &Receiver<OutgoingEvent>) -> Vec<OutgoingEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = next(rx, "an outgoing event");
        let done = ev != OutgoingEvent::Ringing;
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

/// Options inviting `uid` with a given lifetime.
pub fn invite_opts(uid: &str, lifetime_ms: u64) -> InviteOptions {
    InviteOptions {
        lifetime_ms,
        ..InviteOptions::new(uid)
    }
}
