//! Resource exhaustion attacks against a real `wd-signal` process with
//! its default limits, by raw WebSocket clients of the test's own: each
//! attack must leave the server's peak RSS at most [`BOUND_MIB`] above its
//! idle RSS, disturb nobody else, and the server must give the memory
//! back once the attackers are gone.
//!
//! The figures (idle, peak and after-attack RSS) are printed; run
//! `cargo test --locked -p wd-signal --test exhaustion -- --nocapture
//! --test-threads 1` to see them (docs/SECURITY.md records them).
//!
//! Nothing here sleeps to synchronise: a connection's frames are handled
//! in order, so an answer to a final frame shows that the server has
//! handled everything before it.

mod cluster;
mod common;

use cluster::Node;
use common::{Client, Event};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Bytes, Message, WebSocket};
use wd_protocol::{ErrorCode, FailureReason, Outcome, PeerMessage, ServerMessage};

/// The most the server's RSS may grow above idle during one attack.
const BOUND_MIB: u64 = 64;

/// How far above idle the RSS must fall back once the attackers are gone.
const AFTER_MIB: u64 = 16;

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A `wd-signal` process with default limits, and its idle RSS (after one
/// client came and went).
struct Server {
    node: Node,
    idle_kib: u64,
}

impl Server {
    fn start() -> Server {
        let node = Node::start_with(None, "n1", &[]);
        Client::dev(&node.url, "warmup").close();
        let idle_kib = memory(node.pid()).0;
        Server { node, idle_kib }
    }

    fn url(&self) -> &str {
        &self.node.url
    }

    /// Checks the peak RSS so far against the bound; returns it (MiB
    /// above idle).
    fn check_peak(&self, attack: &str) -> f64 {
        let (_, hwm) = memory(self.node.pid());
        let grown = hwm.saturating_sub(self.idle_kib);
        eprintln!(
            "{attack}: idle RSS {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
            self.idle_kib as f64 / 1024.0,
            hwm as f64 / 1024.0,
            grown as f64 / 1024.0
        );
        assert!(
            grown <= BOUND_MIB * 1024,
            "{attack}: peak RSS {hwm} KiB is {grown} KiB above idle ({} KiB)",
            self.idle_kib
        );
        grown as f64 / 1024.0
    }

    /// Waits (at most 20 s) for the RSS to fall within [`AFTER_MIB`] of
    /// idle once every attacker is gone; a client coming and going gives
    /// the server's runtime a turn. Returns the RSS reached.
    fn check_returned(&self, attack: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let bound = self.idle_kib + AFTER_MIB * 1024;
        loop {
            Client::dev(self.url(), "probe").close();
            let (rss, _) = memory(self.node.pid());
            if rss <= bound {
                eprintln!(
                    "{attack}: RSS after the attack {:.1} MiB (idle {:.1} MiB)",
                    rss as f64 / 1024.0,
                    self.idle_kib as f64 / 1024.0
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{attack}: RSS stayed at {rss} KiB after the attack (idle {} KiB)",
                self.idle_kib
            );
            // The memory allocator returns freed pages on its own
            // schedule: this is a bounded wait for a condition.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A raw connection that writes as fast as it can and never reads.
fn raw_ws(url: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (ws, _) = tungstenite::connect(url).expect("connect");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
    }
    ws
}

/// Writes masked 125-byte pings as fast as possible without reading,
/// until the server ends the connection or `limit` pings or 3 s have
/// gone by; returns how many were written and whether the server ended it.
fn ping_flood(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>, limit: usize) -> (usize, bool) {
    let payload = Bytes::from(vec![0x5a; 125]);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut sent = 0;
    while sent < limit && Instant::now() < deadline {
        for _ in 0..256 {
            if ws.write(Message::Ping(payload.clone())).is_err() {
                return (sent, true);
            }
            sent += 1;
        }
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                return (sent, false)
            }
            Err(_) => return (sent, true),
        }
    }
    (sent, false)
}

/// Reads until the server ends the connection; panics if it does not
/// within the read timeout.
fn until_closed(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) {
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => {}
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                panic!("the server did not end the connection")
            }
            Err(_) => return,
        }
    }
}

/// Item 1: pings before `hello` (the server answers each, the client
/// never reads) are bounded by the frame rate (closed after the burst)
/// and by the write buffer; after `hello` they count against the frame
/// rate, and a client that floods and does not read is closed.
#[test]
fn ping_floods_that_never_read_are_bounded_and_closed() {
    let server = Server::start();
    let mut before = raw_ws(server.url());
    let (sent, ended) = ping_flood(&mut before, 2_000_000);
    eprintln!("pings before hello: {sent} written, ended by the server: {ended}");
    until_closed(&mut before);

    let mut after = Client::dev(server.url(), "pinger");
    let (sent, ended) = ping_flood(&mut after.ws, 2_000_000);
    eprintln!("pings after hello: {sent} written, ended by the server: {ended}");
    until_closed(&mut after.ws);
    server.check_peak("ping floods");

    // Others are served.
    let mut a = Client::dev(server.url(), "alice");
    a.invite("nobody", "i1");
    a.expect_invite_failed("i1", FailureReason::Offline);
    drop((before, after, a));
    server.check_returned("ping floods");
}

fn invite_into(id: &str, conversation: &str) -> PeerMessage {
    PeerMessage::Invite {
        invite_id: id.into(),
        conversation_id: conversation.into(),
        mode: Default::default(),
        user_data: None,
        offer: None,
        lifetime_ms: 60_000,
    }
}

/// `caller` invites the user of `callee` into `conversation` and says it
/// was accepted by `callee`: the two users now share the conversation.
/// `callee` reads the invite and the outcome.
fn converse(caller: &mut Client, callee: &mut Client, conversation: &str) {
    let id = format!("{conversation}-{}", callee.uid);
    caller.send_to(&callee.uid.clone(), None, invite_into(&id, conversation));
    callee.expect_deliver();
    caller.send_to(
        &callee.uid.clone(),
        Some(&callee.device.clone()),
        PeerMessage::Outcome {
            invite_id: id,
            outcome: Outcome::Accepted {
                device: callee.device.clone(),
                participants: Vec::new(),
            },
        },
    );
    callee.expect_deliver();
}

/// A `message` padded with a field the protocol does not define.
fn padded(conversation: &str, payload: usize, pad: usize) -> String {
    format!(
        r#"{{"type":"send","to":"{{TO}}","body":{{"kind":"message","conversation_id":"{conversation}","payload":"{}","pad":"{}"}}}}"#,
        "p".repeat(payload),
        "x".repeat(pad)
    )
}

/// Sends a final invite to nobody and reads until its answer: the server
/// has then handled every frame sent before it. Returns the number of
/// `error` frames read on the way, by code.
fn sync(c: &mut Client, id: &str) -> (usize, usize) {
    c.invite("nobody", id);
    let (mut limited, mut other) = (0, 0);
    loop {
        match c.next_event() {
            Event::Msg(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            Event::Msg(ServerMessage::Error { .. }) => other += 1,
            Event::Msg(ServerMessage::InviteFailed { invite_id, .. }) if invite_id == id => {
                return (limited, other)
            }
            Event::Msg(_) => {}
            Event::Closed => return (limited, other),
        }
    }
}

/// Item 2: one user with 4 connections floods itself (refused) and the 4
/// connections of an accomplice (a conversation they share) that never
/// read, with
/// 64 KiB messages padded by a field the protocol does not define. The
/// padding is stripped; the queues of the receivers are bounded in bytes
/// per connection, per sender and per user; the excess is refused to the
/// senders.
#[test]
fn a_user_flooding_readers_that_do_not_read_is_bounded() {
    let server = Server::start();
    let url = server.url().to_owned();
    let mut sinks: Vec<Client> = (0..4).map(|_| Client::dev(&url, "hog-sink")).collect();
    let mut hogs: Vec<Client> = (0..4).map(|_| Client::dev(&url, "hog")).collect();
    // The first hog connection starts the conversation with the first
    // sink device; every sink device reads the invite and the outcome.
    let id = "flood-conv";
    hogs[0].send_to("hog-sink", None, invite_into(id, "flood"));
    for s in sinks.iter_mut() {
        s.expect_deliver();
    }
    let device = sinks[0].device.clone();
    hogs[0].send_to(
        "hog-sink",
        None,
        PeerMessage::Outcome {
            invite_id: id.into(),
            outcome: Outcome::Accepted {
                device,
                participants: Vec::new(),
            },
        },
    );
    for s in sinks.iter_mut() {
        s.expect_deliver();
    }
    // From now on the sinks never read. 300 frames from each hog
    // connection: 64 KiB of payload and 64 KiB of padding each.
    const FRAMES: usize = 300;
    // Every third frame also goes to the hog's own user (the attack as
    // issue 20 ran it): nobody shares a conversation with itself, so those
    // are refused `forbidden` whole.
    let frame = padded("flood", 64 * 1024 - 16, 64 * 1024);
    let (to_sink, to_self) = (
        frame.replace("{TO}", "hog-sink"),
        frame.replace("{TO}", "hog"),
    );
    const TO_SELF: usize = FRAMES / 3;
    let threads: Vec<_> = hogs
        .into_iter()
        .enumerate()
        .map(|(i, mut hog)| {
            let (to_sink, to_self) = (to_sink.clone(), to_self.clone());
            std::thread::spawn(move || {
                for n in 0..FRAMES {
                    if hog.ws.send(Message::text(to_sink.clone())).is_err() {
                        return (0, 0);
                    }
                    if n % 3 == 0 && hog.ws.send(Message::text(to_self.clone())).is_err() {
                        return (0, 0);
                    }
                }
                sync(&mut hog, &format!("sync-{i}"))
            })
        })
        .collect();
    let mut refused = 0;
    for t in threads {
        let (limited, forbidden) = t.join().expect("a hog thread");
        assert_eq!(forbidden, TO_SELF, "every frame to itself is refused");
        refused += limited;
    }
    eprintln!(
        "padded flood: {} frames sent to the sink, {} to itself, {refused} copies refused to the senders",
        4 * FRAMES,
        4 * TO_SELF
    );
    assert!(refused > 0, "nothing was refused");
    server.check_peak("padded flood to readers that do not read");
    drop(sinks);
    server.check_returned("padded flood to readers that do not read");
}

/// Item 3: a sender floods a victim that reads slowly (here: not at all
/// during the flood) with 1500 messages of 64 KiB in a conversation they
/// share. The victim stays connected and gets every message of a friend;
/// the flooder's excess is refused to it (`error rate_limited`). A
/// stranger's flood is refused whole (`error forbidden`).
#[test]
fn a_flood_to_a_slow_reader_costs_the_sender_not_the_victim() {
    let server = Server::start();
    let url = server.url().to_owned();
    let mut victim = Client::dev(&url, "victim");
    let mut flooder = Client::dev(&url, "flooder");
    let mut friend = Client::dev(&url, "friend");
    let mut stranger = Client::dev(&url, "stranger");
    converse(&mut flooder, &mut victim, "c-flood");
    converse(&mut friend, &mut victim, "c-friend");
    let msg = |conversation: &str, payload: String| PeerMessage::Message {
        conversation_id: conversation.into(),
        payload,
    };
    // The victim does not read while this goes on.
    const FLOOD: usize = 1500;
    let big = "f".repeat(64 * 1024 - 16);
    let flood = std::thread::spawn(move || {
        for _ in 0..FLOOD {
            flooder.send_to("victim", None, msg("c-flood", big.clone()));
        }
        let answers = sync(&mut flooder, "flood-sync");
        (flooder, answers)
    });
    for i in 0..10 {
        friend.send_to("victim", None, msg("c-friend", format!("friend {i}")));
    }
    for i in 0..100 {
        stranger.send_to("victim", None, msg("c-flood", format!("stranger {i}")));
    }
    let (_, forbidden) = sync(&mut stranger, "stranger-sync");
    assert_eq!(forbidden, 100, "every frame of the stranger is refused");
    let (flooder, (limited, _)) = flood.join().expect("the flood thread");
    drop(flooder);
    eprintln!("flood of {FLOOD} × 64 KiB: {limited} refused to the flooder");
    assert!(limited > 0, "nothing was refused to the flooder");
    server.check_peak("flood to a slow reader");
    // The victim reads now: what the flooder got in, every message of
    // the friend, and it is still connected.
    // The flooder's connection is gone: the victim may hear that too
    // (`participant_gone`, within the flooder's share of its queue, so
    // only if there is room for it), once.
    let mut gone = 0;
    let mut next_deliver = |victim: &mut Client| loop {
        match victim.recv() {
            ServerMessage::Deliver { from, device, body } => return (from, device, body),
            ServerMessage::ParticipantGone {
                conversation_id,
                uid,
                ..
            } => {
                assert_eq!(
                    (conversation_id.as_str(), uid.as_str()),
                    ("c-flood", "flooder")
                );
                gone += 1;
                assert_eq!(gone, 1, "participant_gone twice");
            }
            other => panic!("expected deliver, got {other:?}"),
        }
    };
    let (mut from_flooder, mut from_friend) = (0, 0);
    while from_friend < 10 {
        let (from, _, body) = next_deliver(&mut victim);
        match from.as_str() {
            "flooder" => from_flooder += 1,
            "friend" => {
                assert_eq!(body, msg("c-friend", format!("friend {from_friend}")));
                from_friend += 1;
            }
            other => panic!("the victim got a message from {other}"),
        }
    }
    friend.send_to("victim", None, msg("c-friend", "after".into()));
    loop {
        let (from, _, body) = next_deliver(&mut victim);
        if from == "friend" {
            assert_eq!(body, msg("c-friend", "after".into()));
            break;
        }
        from_flooder += 1;
    }
    assert_eq!(
        from_flooder + limited,
        FLOOD,
        "every frame delivered or refused"
    );
    drop((victim, friend, stranger));
    server.check_returned("flood to a slow reader");
}

/// Item 5: a frame over 1 MiB sent whole is answered with close 1009,
/// which the client reads (no reset for unread data), every time.
#[test]
fn a_frame_over_the_hard_cap_gets_close_1009_every_time() {
    let server = Server::start();
    let huge = "z".repeat(wd_signal::HARD_FRAME_CAP + 1);
    for round in 0..3 {
        for hello in [false, true] {
            let mut c = if hello {
                Client::dev(server.url(), "big")
            } else {
                Client::raw(server.url())
            };
            let _ = c.ws.send(Message::text(huge.clone()));
            let code = loop {
                match c.ws.read() {
                    Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
                    Ok(Message::Text(t)) => assert!(t.contains("too_large"), "{t}"),
                    Ok(_) => {}
                    Err(e) => panic!("round {round}, hello {hello}: no close frame: {e}"),
                }
            };
            assert_eq!(code, Some(1009), "round {round}, hello {hello}");
        }
    }
}
