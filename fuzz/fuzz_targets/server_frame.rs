//! The server's whole decode path for one text frame: size, JSON nesting
//! depth (checked by a byte scan before parsing), then the decoder. Also
//! checks the scan against serde_json: a frame the scan lets through
//! never nests deeper than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wd_signal::limits::{decode_frame, nesting_exceeds, FrameError};

const DEPTH: usize = 16;

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_frame(text, DEPTH) {
        Err(FrameError::TooDeep(_)) => assert!(nesting_exceeds(data, DEPTH)),
        Ok(_) | Err(_) => {
            if !nesting_exceeds(data, DEPTH) {
                // serde_json's own recursion limit is 128, above DEPTH.
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
                    assert!(depth(&v) <= DEPTH, "scan missed nesting");
                }
            }
        }
    }
});
