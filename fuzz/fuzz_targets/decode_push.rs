//! The push payload decoder, fed what a platform hands the app: any text
//! either decodes to a payload that re-encodes to an equal, valid payload,
//! or is refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wd_protocol::{decode_push, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(payload) = decode_push(text) {
        assert!(payload.validate().is_ok());
        let again = decode_push(&encode(&payload)).expect("an encoded payload decodes");
        assert_eq!(again, payload);
    }
});
