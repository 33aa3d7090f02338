//! A real WebRTC call set up through wilddog-video: two peers, each with
//! str0m (a sans-IO Rust WebRTC stack) as its "host media engine", meet
//! through the embedded `wd-signal` server, open a data channel over
//! loopback UDP and echo 100 messages.
//!
//! The pattern is the one every media engine (libwebrtc on iOS/Android,
//! str0m, webrtc-rs) plugs in with:
//!
//! 1. the caller puts its SDP offer in the invite (`InviteOptions.offer`);
//! 2. the callee reads `IncomingInvite::offer`, answers through
//!    `accept(Some(answer), ..)`, and the caller reads
//!    `OutgoingInvite::answer` once accepted;
//! 3. each side sends its ICE candidates as conversation messages
//!    (`Conversation::send`, JSON payload) and feeds the other side's
//!    into its engine.
//!
//! Run it with `cargo run --example webrtc_call`; `tests/webrtc_call.rs`
//! runs the same exchange in CI. Each peer drives its `Rtc` on its own
//! thread with its own UDP socket; waits are bounded by socket read
//! timeouts (str0m's `Output::Timeout`) and channel timeouts, never sleeps.

// `main` is unused when the test includes this file as a module.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use wilddog_video::client::{
    Client, ClientConfig, Conversation, ConversationEvent, IncomingEvent, IncomingInvite,
    InviteOptions, OutgoingEvent,
};

/// How many messages go through the data channel and back.
pub const ECHOES: usize = 100;

/// The longest the whole call may take before it counts as failed (a
/// failure bound only: it takes well under a second when it works).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a peer blocks on its socket before it looks at its signaling
/// messages again.
const SIGNAL_POLL: Duration = Duration::from_millis(5);

/// What a call measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// From sending the invite to the caller hearing `accepted`.
    pub invite_to_accepted: Duration,
    /// From sending the invite to the caller's data channel being open.
    pub invite_to_open: Duration,
    /// Messages echoed back to the caller.
    pub echoed: usize,
}

type Res<T> = Result<T, String>;

/// A candidate as a conversation message: `{"candidate": "candidate:…"}`.
fn candidate_message(c: &Candidate) -> String {
    serde_json::json!({ "candidate": c.to_sdp_string() }).to_string()
}

fn parse_candidate(payload: &str) -> Res<Candidate> {
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| format!("message is not JSON: {e}"))?;
    let line = value["candidate"]
        .as_str()
        .ok_or("message has no candidate")?;
    Candidate::from_sdp_string(line).map_err(|e| format!("bad candidate {line:?}: {e}"))
}

/// One side's media engine: an `Rtc` and its UDP socket.
struct Peer {
    name: &'static str,
    rtc: Rtc,
    socket: UdpSocket,
    buf: Vec<u8>,
    next_timeout: Instant,
}

impl Peer {
    fn new(name: &'static str) -> Res<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("{name}: bind: {e}"))?;
        let rtc = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .build(Instant::now());
        Ok(Peer {
            name,
            rtc,
            socket,
            buf: vec![0; 2000],
            next_timeout: Instant::now(),
        })
    }

    /// Adds this peer's host candidate (its loopback socket) to its engine
    /// and returns it, to be sent to the other side.
    fn local_candidate(&mut self) -> Res<Candidate> {
        let addr = self.socket.local_addr().map_err(|e| e.to_string())?;
        let c = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
        self.rtc.add_local_candidate(c.clone());
        Ok(c)
    }

    /// Drains the engine after a mutation: sends what it transmits,
    /// returns its events, remembers its next timeout.
    fn drain(&mut self) -> Res<Vec<Event>> {
        let mut events = Vec::new();
        loop {
            match self
                .rtc
                .poll_output()
                .map_err(|e| format!("{}: {e}", self.name))?
            {
                Output::Timeout(at) => {
                    self.next_timeout = at;
                    return Ok(events);
                }
                Output::Transmit(t) => {
                    self.socket
                        .send_to(&t.contents, t.destination)
                        .map_err(|e| format!("{}: send: {e}", self.name))?;
                }
                Output::Event(e) => events.push(e),
            }
        }
    }

    /// Waits for one packet or the engine's timeout (at most
    /// [`SIGNAL_POLL`]), feeds it in, and drains.
    fn step(&mut self) -> Res<Vec<Event>> {
        let wait = self
            .next_timeout
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), SIGNAL_POLL);
        self.socket
            .set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        self.buf.resize(2000, 0);
        let input = match self.socket.recv_from(&mut self.buf) {
            Ok((n, source)) => {
                self.buf.truncate(n);
                let destination = self.socket.local_addr().map_err(|e| e.to_string())?;
                Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination,
                        contents: self
                            .buf
                            .as_slice()
                            .try_into()
                            .map_err(|e| format!("{e:?}"))?,
                    },
                )
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Input::Timeout(Instant::now())
            }
            Err(e) => return Err(format!("{}: recv: {e}", self.name)),
        };
        self.rtc
            .handle_input(input)
            .map_err(|e| format!("{}: {e}", self.name))?;
        self.drain()
    }

    /// Feeds the candidates that arrived as conversation messages; true if
    /// the conversation ended.
    fn take_signals(&mut self, signals: &Receiver<ConversationEvent>) -> Res<(bool, Vec<Event>)> {
        let mut events = Vec::new();
        while let Ok(ev) = signals.try_recv() {
            match ev {
                ConversationEvent::Message { payload, .. } => {
                    self.rtc.add_remote_candidate(parse_candidate(&payload)?);
                    events.extend(self.drain()?);
                }
                ConversationEvent::Disconnected => return Ok((true, events)),
                _ => {}
            }
        }
        Ok((false, events))
    }

    fn write(&mut self, channel: ChannelId, data: &[u8]) -> Res<Vec<Event>> {
        let mut ch = self
            .rtc
            .channel(channel)
            .ok_or_else(|| format!("{}: channel gone", self.name))?;
        ch.write(false, data)
            .map_err(|e| format!("{}: write: {e}", self.name))?;
        self.drain()
    }
}

fn conversation_signals(conv: &Conversation) -> Receiver<ConversationEvent> {
    let (tx, rx) = unbounded();
    conv.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    rx
}

fn recv<T>(rx: &Receiver<T>, deadline: Instant, what: &str) -> Res<T> {
    rx.recv_deadline(deadline).map_err(|e| match e {
        RecvTimeoutError::Timeout => format!("timed out waiting for {what}"),
        RecvTimeoutError::Disconnected => format!("gone while waiting for {what}"),
    })
}

/// The callee: answers the offer in `accept`, trades candidates, echoes
/// every data channel message until the caller hangs up.
fn callee(invites: Receiver<IncomingInvite>, deadline: Instant) -> Res<usize> {
    let mut peer = Peer::new("callee")?;
    let invite = recv(&invites, deadline, "the invite")?;
    let offer = invite.offer().ok_or("the invite has no offer")?;
    let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("bad offer: {e}"))?;
    let answer = peer
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("callee: accept_offer: {e}"))?;
    peer.drain()?;
    let (tx, outcome) = unbounded();
    invite.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    invite
        .accept(Some(&answer.to_sdp_string()), Some("callee here"))
        .map_err(|e| format!("callee: accept: {e}"))?;
    match recv(&outcome, deadline, "the caller's confirmation")? {
        IncomingEvent::Accepted { .. } => {}
        other => return Err(format!("callee: the invite ended {other:?}")),
    }
    let conv = invite.conversation().ok_or("callee: no conversation")?;
    let signals = conversation_signals(&conv);
    let mine = peer.local_candidate()?;
    peer.drain()?;
    conv.send(Some(invite.from()), &candidate_message(&mine))
        .map_err(|e| format!("callee: send candidate: {e}"))?;

    let mut echoed = 0;
    loop {
        if Instant::now() > deadline {
            return Err("callee: timed out".into());
        }
        let (ended, mut events) = peer.take_signals(&signals)?;
        if ended {
            return Ok(echoed);
        }
        events.extend(peer.step()?);
        for e in events {
            if let Event::ChannelData(d) = e {
                let data = d.data.clone();
                // Writing from inside the drain is allowed; the loop
                // drains again right after.
                peer.write(d.id, &data)?;
                echoed += 1;
            }
        }
    }
}

/// Runs the whole call against an embedded server and returns what it
/// measured.
pub fn run() -> Res<Report> {
    let server =
        wd_signal::spawn(wd_signal::ServerConfig::dev()).map_err(|e| format!("server: {e}"))?;
    let connect = |uid: &str| {
        Client::connect(ClientConfig::new(server.url(), format!("dev:{uid}")))
            .map_err(|e| format!("{uid}: connect: {e}"))
    };
    let (alice, bob) = (connect("alice")?, connect("bob")?);
    let deadline = Instant::now() + CALL_TIMEOUT;

    let (tx, bob_invites) = unbounded();
    bob.set_invite_listener(move |inv| {
        let _ = tx.send(inv);
    });
    let callee = thread::Builder::new()
        .name("callee".into())
        .spawn(move || callee(bob_invites, deadline))
        .map_err(|e| e.to_string())?;

    // The caller: an offer with one data channel goes in the invite.
    let mut peer = Peer::new("caller")?;
    let mut change = peer.rtc.sdp_api();
    let channel = change.add_channel("echo".into());
    let (offer, pending) = change.apply().ok_or("caller: nothing to offer")?;
    peer.drain()?;

    let started = Instant::now();
    let options = InviteOptions {
        offer: Some(offer.to_sdp_string()),
        user_data: Some("a data channel call".into()),
        ..InviteOptions::new("bob")
    };
    let out = alice
        .invite_to_conversation(options)
        .map_err(|e| format!("caller: invite: {e}"))?;
    let (tx, outcome) = unbounded();
    out.set_listener(move |_, ev| {
        let _ = tx.send(ev.clone());
    });
    loop {
        match recv(&outcome, deadline, "the callee's answer")? {
            OutgoingEvent::Ringing => continue,
            OutgoingEvent::Accepted { .. } => break,
            other => return Err(format!("caller: the invite ended {other:?}")),
        }
    }
    let invite_to_accepted = started.elapsed();
    let answer = out.answer().ok_or("caller: accepted without an answer")?;
    let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| format!("bad answer: {e}"))?;
    peer.rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("caller: accept_answer: {e}"))?;
    peer.drain()?;

    let conv = out.conversation().ok_or("caller: no conversation")?;
    let signals = conversation_signals(&conv);
    let mine = peer.local_candidate()?;
    peer.drain()?;
    conv.send(Some("bob"), &candidate_message(&mine))
        .map_err(|e| format!("caller: send candidate: {e}"))?;

    let mut invite_to_open = None;
    let mut echoed = 0;
    while echoed < ECHOES {
        if Instant::now() > deadline {
            return Err(format!(
                "caller: timed out (open: {}, echoed {echoed})",
                invite_to_open.is_some()
            ));
        }
        let (ended, mut events) = peer.take_signals(&signals)?;
        if ended {
            return Err("caller: the callee left early".into());
        }
        events.extend(peer.step()?);
        for e in events {
            match e {
                Event::ChannelOpen(id, _) if id == channel => {
                    invite_to_open = Some(started.elapsed());
                    peer.write(channel, b"echo 0")?;
                }
                Event::ChannelData(d) => {
                    let expected = format!("echo {echoed}");
                    if d.data != expected.as_bytes() {
                        return Err(format!("caller: got {:?}, expected {expected}", d.data));
                    }
                    echoed += 1;
                    if echoed < ECHOES {
                        peer.write(channel, format!("echo {echoed}").as_bytes())?;
                    }
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    return Err("caller: ICE disconnected".into());
                }
                _ => {}
            }
        }
    }
    conv.disconnect()
        .map_err(|e| format!("caller: hang up: {e}"))?;
    let callee_echoed = callee
        .join()
        .map_err(|_| "the callee thread panicked".to_string())??;
    if callee_echoed != ECHOES {
        return Err(format!("callee echoed {callee_echoed}, expected {ECHOES}"));
    }
    Ok(Report {
        invite_to_accepted,
        invite_to_open: invite_to_open.ok_or("channel never opened")?,
        echoed,
    })
}

fn main() {
    match run() {
        Ok(r) => {
            println!(
                "invite → accepted: {:.1} ms",
                r.invite_to_accepted.as_secs_f64() * 1e3
            );
            println!(
                "invite → data channel open: {:.1} ms",
                r.invite_to_open.as_secs_f64() * 1e3
            );
            println!("echoed {} messages over the data channel", r.echoed);
        }
        Err(e) => {
            eprintln!("webrtc_call failed: {e}");
            std::process::exit(1);
        }
    }
}
