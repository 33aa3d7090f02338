//! Per-connection and per-user limits that are not invite rates: the JSON
//! nesting depth checked before a frame is parsed, the message token
//! bucket of one connection and the count of devices per uid.
//!
//! [`decode_frame`] is the server's whole decode path for one text frame
//! (size, nesting depth, then [`wd_protocol::decode_client`]); it is pure
//! so that it can be fuzzed (`fuzz/fuzz_targets/server_frame.rs`).

use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;
use wd_protocol::{decode_client, ClientMessage, DecodeError, PeerMessage, MAX_FRAME_LEN};

/// Default deepest JSON nesting a frame may have (objects and arrays). A
/// valid protocol message nests 3 deep; 16 leaves room for extensions.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 16;

/// Whether `text` nests arrays and objects deeper than `max` levels,
/// counting `[` and `{` outside JSON strings. A linear byte scan that
/// runs before any parser sees the frame, so a deeply nested frame costs
/// no recursion. Unbalanced or invalid JSON is not this function's
/// concern: the parser refuses it afterwards.
pub fn nesting_exceeds(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Why [`decode_frame`] refused a frame.
#[derive(Debug)]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_LEN`] bytes (the length is given).
    TooLarge(usize),
    /// Nested deeper than the configured maximum.
    TooDeep(usize),
    /// Not a valid client message.
    Decode(DecodeError),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes exceeds {MAX_FRAME_LEN}"),
            FrameError::TooDeep(max) => {
                write!(f, "JSON nested deeper than {max} levels")
            }
            FrameError::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FrameError {}

/// Decodes one text frame from a client as the server does: refuses it if
/// it is larger than [`MAX_FRAME_LEN`] or nested deeper than `max_depth`,
/// else parses and validates it.
pub fn decode_frame(text: &str, max_depth: usize) -> Result<ClientMessage, FrameError> {
    if text.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(text.len()));
    }
    if nesting_exceeds(text.as_bytes(), max_depth) {
        return Err(FrameError::TooDeep(max_depth));
    }
    decode_client(text).map_err(|e| match e {
        DecodeError::TooLarge(n) => FrameError::TooLarge(n),
        e => FrameError::Decode(e),
    })
}

/// A frame [`decode_frame_raw`] decoded.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A valid `send`, its body also kept as the client's JSON text.
    Send {
        /// Recipient user id.
        to: String,
        /// Recipient device, if one.
        device: Option<String>,
        /// The body, decoded and validated.
        body: PeerMessage,
        /// The body exactly as the client wrote it: one JSON object that
        /// decodes to `body`.
        raw_body: &'a str,
    },
    /// Any other valid message (`hello`).
    Other(ClientMessage),
}

/// What a `send` frame looks like on the wire, with its body kept as text.
#[derive(Deserialize)]
struct WireSend<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    to: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// Like [`decode_frame`], but a `send` keeps its body's JSON text too, so
/// that the server can forward it without encoding it again.
///
/// A `send` is decoded into a flat struct with the body as raw JSON, then
/// the body is decoded and the whole message validated exactly as
/// [`decode_frame`] does. Anything that path does not accept (every other
/// message, every invalid frame, any unusual spelling such as an escaped
/// `"type"` or a repeated field) falls back to [`decode_frame`], so the
/// answer (the message, or the error) is always the one it gives.
pub fn decode_frame_raw(text: &str, max_depth: usize) -> Result<Decoded<'_>, FrameError> {
    if text.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(text.len()));
    }
    if nesting_exceeds(text.as_bytes(), max_depth) {
        return Err(FrameError::TooDeep(max_depth));
    }
    if let Some(send) = decode_send(text) {
        return Ok(send);
    }
    decode_client(text)
        .map(Decoded::Other)
        .map_err(|e| match e {
            DecodeError::TooLarge(n) => FrameError::TooLarge(n),
            e => FrameError::Decode(e),
        })
}

fn decode_send(text: &str) -> Option<Decoded<'_>> {
    let wire: WireSend<'_> = serde_json::from_str(text).ok()?;
    if wire.ty != "send" {
        return None;
    }
    let raw_body = wire.body.get();
    let body: PeerMessage = serde_json::from_str(raw_body).ok()?;
    let msg = ClientMessage::Send {
        to: wire.to,
        device: wire.device,
        body,
    };
    msg.validate().ok()?;
    match msg {
        ClientMessage::Send { to, device, body } => Some(Decoded::Send {
            to,
            device,
            body,
            raw_body,
        }),
        ClientMessage::Hello { .. }
        | ClientMessage::RegisterPush { .. }
        | ClientMessage::UnregisterPush { .. }
        | ClientMessage::FetchInvite { .. } => None,
    }
}

/// The message token bucket of one connection: `burst` frames at once,
/// refilled at `rate_per_sec`. A rate of 0 disables the limit.
#[derive(Debug)]
pub struct MessageBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl MessageBucket {
    /// A full bucket.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        MessageBucket {
            rate_per_sec: f64::from(rate_per_sec),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token; false if the bucket is empty.
    pub fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> bool {
        if self.rate_per_sec == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Connected devices per uid on this server, capped; and the bytes
/// queued for all the devices of each uid.
#[derive(Debug, Default)]
pub struct DeviceCounter {
    counts: Mutex<HashMap<String, usize>>,
    queued: Mutex<HashMap<String, Weak<AtomicUsize>>>,
}

impl DeviceCounter {
    /// Counts one more device of `uid` unless it already has `max` (0: no
    /// limit); false if it has.
    pub fn acquire(&self, uid: &str, max: usize) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(uid.to_owned()).or_insert(0);
        if max != 0 && *n >= max {
            if *n == 0 {
                counts.remove(uid);
            }
            return false;
        }
        *n += 1;
        true
    }

    /// Forgets one device of `uid`.
    pub fn release(&self, uid: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(uid);
            }
        }
    }

    /// The count of bytes queued for every device of `uid` (shared by its
    /// connections' outgoing queues).
    pub fn queued_bytes(&self, uid: &str) -> Arc<AtomicUsize> {
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = queued.get(uid).and_then(Weak::upgrade) {
            return count;
        }
        if queued.len() >= 1024 && queued.len().is_power_of_two() {
            // Counts of users whose queues are all gone (now and then:
            // amortised over the insertions).
            queued.retain(|_, q| q.strong_count() > 0);
        }
        let count = Arc::new(AtomicUsize::new(0));
        queued.insert(uid.to_owned(), Arc::downgrade(&count));
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nesting_counts_outside_strings_only() {
        assert!(!nesting_exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(nesting_exceeds(br#"{"a":[1,{"b":[2]}]}"#, 3));
        assert!(!nesting_exceeds(br#"{"a":"[[[[[[{{{{"}"#, 1));
        assert!(!nesting_exceeds(br#"{"a":"\"[[[[\\"}"#, 1));
        assert!(nesting_exceeds(br#"{"a":"\\"[[}"#, 2));
        let deep = "[".repeat(100_000);
        assert!(nesting_exceeds(deep.as_bytes(), 16));
    }

    /// `decode_frame_raw` gives what `decode_frame` gives, for every
    /// frame; for a `send` also the body text, which decodes to the body.
    #[test]
    fn raw_decoding_agrees_with_decode_frame() {
        let long = format!(
            r#"{{"type":"send","to":"bob","body":{{"kind":"message","conversation_id":"c","payload":"{}"}}}}"#,
            "x".repeat(wd_protocol::MAX_MESSAGE_LEN + 1)
        );
        let frames = [
            r#"{"type":"send","to":"bob","body":{"kind":"ringing","invite_id":"i"}}"#,
            "{ \"type\" : \"send\",\n \"to\":\"bob\", \"device\":\"n1.2\",\n \"body\" :\n {\n \"invite_id\":\"i\",\"kind\":\"ringing\" , \"extra\":[1,{\"x\":null}]\n }\n}",
            r#"{"type":"send","to":"bob","device":null,"body":{"kind":"message","conversation_id":"c","payload":"\u00e9\n\"\\ \ud83d\ude00"}}"#,
            r#"{"body":{"kind":"ringing","invite_id":"i"},"to":"bob","type":"send"}"#,
            r#"{"type":"s\u0065nd","to":"bob","body":{"kind":"ringing","invite_id":"i"}}"#,
            r#"{"type":"send","to":"bob","to":"eve","body":{"kind":"ringing","invite_id":"i"}}"#,
            r#"{"type":"send","type":"hello","to":"bob","body":{"kind":"ringing","invite_id":"i"}}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"ringing","invite_id":"i","invite_id":"j"}}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"ringing","invite_id":""}}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"message","conversation_id":"c","payload":"a\u0000b"}}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"ringing","invite_id":"\ud800"}}"#,
            r#"{"type":"send","to":"b o b","body":{"kind":"ringing","invite_id":"i"}}"#,
            r#"{"type":"send","to":"bob","device":"","body":{"kind":"ringing","invite_id":"i"}}"#,
            r#"{"type":"send","to":"bob","body":"{\"kind\":\"ringing\"}"}"#,
            r#"{"type":"send","to":"bob","body":[1]}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"nope"}}"#,
            r#"{"type":"send","to":"bob"}"#,
            r#"{"type":"send","to":"bob","body":{"kind":"ringing","invite_id":"i"}} trailing"#,
            r#"{"type":"hello","protocol":1,"token":"dev:a"}"#,
            r#"{"type":"hello","protocol":1,"token":"dev:a","to":"bob","body":{}}"#,
            "",
            "null",
            "{",
            &long,
        ];
        for frame in frames {
            let slow = decode_frame(frame, DEFAULT_MAX_JSON_DEPTH);
            let fast = decode_frame_raw(frame, DEFAULT_MAX_JSON_DEPTH);
            match (slow, fast) {
                (
                    Ok(ClientMessage::Send { to, device, body }),
                    Ok(Decoded::Send {
                        to: t,
                        device: d,
                        body: b,
                        raw_body,
                    }),
                ) => {
                    assert_eq!((&to, &device, &body), (&t, &d, &b), "{frame}");
                    let again: PeerMessage = serde_json::from_str(raw_body).unwrap();
                    assert_eq!(again, body, "{frame}");
                }
                (Ok(slow), Ok(Decoded::Other(fast))) => assert_eq!(slow, fast, "{frame}"),
                (Err(slow), Err(fast)) => assert_eq!(slow.to_string(), fast.to_string(), "{frame}"),
                (slow, fast) => panic!("{frame}: {slow:?} but {fast:?}"),
            }
        }
    }

    #[test]
    fn decode_frame_refuses_deep_frames_before_parsing() {
        let ok = r#"{"type":"hello","protocol":1,"token":"dev:a"}"#;
        assert!(decode_frame(ok, 16).is_ok());
        assert!(matches!(decode_frame(ok, 0), Err(FrameError::TooDeep(0))));
        let deep = format!(
            r#"{{"type":"send","to":"b","body":{}{}}}"#,
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(matches!(
            decode_frame(&deep, 16),
            Err(FrameError::TooDeep(16))
        ));
        let big = "x".repeat(MAX_FRAME_LEN + 1);
        assert!(matches!(
            decode_frame(&big, 16),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn bucket_bursts_then_refills_and_zero_disables() {
        let mut b = MessageBucket::new(10, 2);
        let t0 = b.last;
        assert!(b.allow_at(t0));
        assert!(b.allow_at(t0));
        assert!(!b.allow_at(t0));
        assert!(b.allow_at(t0 + Duration::from_millis(100)));
        let mut off = MessageBucket::new(0, 1);
        assert!((0..1000).all(|_| off.allow()));
    }

    #[test]
    fn devices_are_capped_per_uid() {
        let d = DeviceCounter::default();
        assert!(d.acquire("a", 2));
        assert!(d.acquire("a", 2));
        assert!(!d.acquire("a", 2));
        assert!(d.acquire("b", 2));
        d.release("a");
        assert!(d.acquire("a", 2));
        assert!(d.acquire("c", 0));
        d.release("a");
        d.release("a");
        d.release("b");
        d.release("c");
        assert!(d.counts.lock().unwrap().is_empty());
    }
}
