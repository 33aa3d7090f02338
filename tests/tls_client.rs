//! `wss://` from the SDK: a CA and certificates generated in the test
//! (rcgen), a `wd-signal` serving TLS with them. A good certificate
//! connects and carries an invite; a certificate for another host, an
//! expired one, and one from a CA the client does not trust are refused
//! with `Error::Tls`.

mod common;

use common::*;
use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use wd_signal::{ServerConfig, ServerHandle, TlsConfig};
use wilddog_video::client::{Client, ClientConfig, Error, IncomingEvent, OutgoingEvent};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `names` signed by `ca`; expired if asked.
fn leaf(ca: &Ca, names: &[&str], expired: bool) -> TlsConfig {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    TlsConfig::from_pem(cert.pem(), key.serialize_pem())
}

fn tls_server(tls: TlsConfig) -> ServerHandle {
    wd_signal::spawn(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::dev()
    })
    .expect("TLS server starts")
}

fn config(server: &ServerHandle, uid: &str, ca: &Ca) -> ClientConfig {
    let url = server.url();
    assert!(url.starts_with("wss://"), "{url}");
    let mut c = ClientConfig::new(url, format!("dev:{uid}"));
    c.ca_pem = Some(ca.pem.clone());
    c
}

fn refused(result: Result<Client, Error>, what: &str) -> String {
    match result {
        Err(Error::Tls(why)) => why,
        other => panic!("{what}: expected a TLS error, got {other:?}"),
    }
}

#[test]
fn good_certificate_connects_and_carries_an_invite() {
    let ca = new_ca("wd test CA");
    let srv = tls_server(leaf(&ca, &["127.0.0.1", "localhost"], false));
    let alice = Client::connect(config(&srv, "alice", &ca)).expect("alice connects over TLS");
    let bob = Client::connect(config(&srv, "bob", &ca)).expect("bob connects over TLS");
    let bob_invites = invites(&bob);
    let out = alice
        .invite_to_conversation(invite_opts("bob", 60_000))
        .unwrap();
    let out_rx = outgoing_events(&out);
    let inc = next(&bob_invites, "the invite over TLS");
    let inc_rx = incoming_events(&inc);
    inc.accept(Some("v=0 answer"), None).unwrap();
    assert!(matches!(
        until_terminal(&out_rx).last(),
        Some(OutgoingEvent::Accepted { .. })
    ));
    assert!(matches!(
        next(&inc_rx, "accepted"),
        IncomingEvent::Accepted { .. }
    ));
}

#[test]
fn a_ca_file_works_like_inline_pem() {
    let ca = new_ca("wd file CA");
    let srv = tls_server(leaf(&ca, &["127.0.0.1"], false));
    let dir = std::env::temp_dir().join(format!("wd-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    let mut c = config(&srv, "alice", &ca);
    c.ca_pem = None;
    c.ca_file = Some(path.to_string_lossy().into_owned());
    Client::connect(c).expect("connects with caFile");
    let mut missing = config(&srv, "alice", &ca);
    missing.ca_pem = None;
    missing.ca_file = Some(dir.join("nope.pem").to_string_lossy().into_owned());
    assert!(matches!(
        Client::connect(missing),
        Err(Error::InvalidArgument { ref field, .. }) if field == "caFile"
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn certificate_for_another_host_is_refused() {
    let ca = new_ca("wd test CA");
    let srv = tls_server(leaf(&ca, &["example.org"], false));
    let why = refused(Client::connect(config(&srv, "alice", &ca)), "wrong host");
    assert!(why.to_lowercase().contains("not valid for name"), "{why}");
}

#[test]
fn expired_certificate_is_refused() {
    let ca = new_ca("wd test CA");
    let srv = tls_server(leaf(&ca, &["127.0.0.1"], true));
    let why = refused(Client::connect(config(&srv, "alice", &ca)), "expired");
    assert!(why.to_lowercase().contains("expired"), "{why}");
}

#[test]
fn untrusted_ca_is_refused() {
    let ca = new_ca("wd test CA");
    let other = new_ca("some other CA");
    let srv = tls_server(leaf(&ca, &["127.0.0.1"], false));
    let why = refused(Client::connect(config(&srv, "alice", &other)), "untrusted");
    assert!(why.to_lowercase().contains("unknown"), "{why}");
    // Nor do the built-in web roots trust a private CA.
    let mut c = config(&srv, "alice", &ca);
    c.ca_pem = None;
    refused(Client::connect(c), "web roots");
}
