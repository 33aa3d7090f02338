//! The `webrtc_call` example as a test: a real WebRTC data channel
//! (str0m on both sides) set up through an invite, its answer and
//! candidates relayed as conversation messages, echoing 100 messages.

#[path = "../examples/webrtc_call.rs"]
mod call;

#[test]
fn a_webrtc_data_channel_opens_through_an_invite_and_echoes() {
    let report = call::run().expect("the call succeeds");
    assert_eq!(report.echoed, call::ECHOES);
    assert!(report.invite_to_accepted <= report.invite_to_open);
    eprintln!("{report:?}");
}
