//! `ClientConfig::from_json` (what `wd_client_new` parses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wilddog_video::client::ClientConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientConfig::from_json(text);
    }
});
