//! The server's wire decoder: any text either decodes to a message that
//! re-encodes to an equal message, or is refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wd_protocol::{decode_client, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = decode_client(text) {
        let again = decode_client(&encode(&msg)).expect("an encoded message decodes");
        assert_eq!(again, msg);
    }
});
