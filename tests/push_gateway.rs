//! The test push gateway (`tests/support/push_gateway.py`), started the way
//! the C, Kotlin and Swift tests start it (`wd_gateway_start` from
//! `tests/c/server.sh`), answers the Matrix push gateway API, records
//! every push, rejects the keys it is told to, refuses malformed requests,
//! and stops with the helper's cleanup.

#[path = "support/services.rs"]
mod services;

use std::path::Path;

use serde_json::{json, Value};
use services::Gateway;

/// A notification as `wd-signal` sends one.
fn notification(kind: &str, keys: &[&str]) -> Value {
    let devices: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "app_id": "com.example.app", "pushkey": k, "data": { "format": "x" } }))
        .collect();
    json!({ "notification": {
        "event_id": "i1", "room_id": "c1", "sender": "alice", "type": kind, "prio": "high",
        "content": { "wd": 1, "type": "invite", "invite_id": "i1" },
        "devices": devices,
    }})
}

#[test]
fn records_every_push_and_rejects_the_keys_it_is_told_to() {
    let gw = Gateway::start("--reject dead-1");
    let (status, answer) = gw.notify(&notification("wd.invite", &["k1", "dead-1"]));
    assert_eq!(status, 200);
    assert_eq!(answer, json!({ "rejected": ["dead-1"] }));

    // Told at run time to reject another key.
    let (status, settings) = gw.post("/control", &json!({ "reject": ["k2"] }));
    assert_eq!(status, 200);
    assert_eq!(settings["reject"], json!(["dead-1", "k2"]));
    let (_, answer) = gw.notify(&notification("wd.invite_ended", &["k1", "k2"]));
    assert_eq!(answer, json!({ "rejected": ["k2"] }));

    let all = gw.pushes("");
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["pushkey"], "k1");
    assert_eq!(all[0]["app_id"], "com.example.app");
    assert_eq!(all[0]["type"], "wd.invite");
    assert_eq!(all[0]["content"]["invite_id"], "i1");
    assert_eq!(all[0]["data"], json!({ "format": "x" }));
    assert_eq!(all[1]["rejected"], true);
    let k1 = gw.pushes("?pushkey=k1");
    assert_eq!(k1.len(), 2);
    assert_eq!(gw.pushes("?pushkey=k1&type=wd.invite_ended").len(), 1);
    assert_eq!(gw.pushes("?since=3").len(), 1);

    // One line per push in the log: PUSHKEY, TYPE, CONTENT.
    let log = std::fs::read_to_string(&gw.log).expect("the push log");
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert_eq!(lines[0][..2], ["k1", "wd.invite"]);
    assert_eq!(lines[3][..2], ["k2", "wd.invite_ended"]);
    let content: Value = serde_json::from_str(lines[0][2]).unwrap();
    assert_eq!(content["invite_id"], "i1");

    let (_, settings) = gw.post("/control", &json!({ "clear": true, "accept": ["k2"] }));
    assert_eq!(settings["reject"], json!(["dead-1"]));
    assert_eq!(gw.pushes(""), Vec::<Value>::new());
    let pid = gw.stop();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "wd_server_stop_all stopped the gateway"
    );
}

#[test]
fn a_gateway_told_to_fail_answers_the_status_and_records_nothing() {
    let gw = Gateway::start("");
    let (_, settings) = gw.post("/control", &json!({ "fail_status": 503, "delay_ms": 1 }));
    assert_eq!(
        (
            settings["fail_status"].clone(),
            settings["delay_ms"].clone()
        ),
        (json!(503), json!(1))
    );
    let (status, answer) = gw.notify(&notification("wd.invite", &["k1"]));
    assert_eq!(status, 503);
    assert_eq!(answer["errcode"], "M_UNKNOWN");
    assert!(gw.pushes("").is_empty());
    gw.post("/control", &json!({ "fail_status": 0 }));
    assert_eq!(gw.notify(&notification("wd.invite", &["k1"])).0, 200);
    assert_eq!(gw.pushes("").len(), 1);
    gw.stop();
}

#[test]
fn malformed_requests_are_refused_as_the_api_says() {
    let gw = Gateway::start("");
    let notify = "/_matrix/push/v1/notify";
    for bad in [
        &b"not json"[..],
        b"[]",
        b"{}",
        br#"{"notification":{}}"#,
        br#"{"notification":{"devices":[]}}"#,
        br#"{"notification":{"devices":[{"app_id":"a"}]}}"#,
        br#"{"notification":{"devices":[{"app_id":"a","pushkey":7}]}}"#,
        br#"{"notification":{"devices":[{"app_id":"a","pushkey":"k","data":[]}]}}"#,
        br#"{"notification":{"type":5,"devices":[{"app_id":"a","pushkey":"k"}]}}"#,
    ] {
        let (status, answer) = gw.call("POST", notify, bad);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(answer["errcode"], "M_BAD_JSON");
    }
    let huge = vec![b' '; (1 << 20) + 1];
    assert_eq!(gw.call("POST", notify, &huge).0, 413);
    assert_eq!(gw.call("GET", notify, b"").0, 405);
    assert_eq!(gw.call("POST", "/pushes", b"{}").0, 405);
    let (status, answer) = gw.call("GET", "/_matrix/push/v1/other", b"");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_UNRECOGNIZED"))
    );
    assert_eq!(gw.call("GET", "/pushes?since=x", b"").0, 400);
    assert_eq!(gw.call("POST", "/control", b"[1]").0, 400);
    assert!(gw.pushes("").is_empty(), "nothing recorded");
    assert_eq!(gw.call("GET", "/health", b"").1, json!({ "ok": true }));
    gw.stop();
}
