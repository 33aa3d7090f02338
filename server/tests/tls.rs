//! `wss://`: a CA and a server certificate generated in the test, a raw
//! tungstenite client over rustls trusting that CA.

mod common;

use common::READ_TIMEOUT;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::TcpStream;
use std::sync::Arc;
use tungstenite::{Message, WebSocket};
use wd_protocol::{decode_server, encode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use wd_signal::{ServerConfig, ServerHandle, Settings, TlsConfig};

struct Pki {
    ca_der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn new_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wd-signal test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_der: ca_cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn tls_server(pki: &Pki) -> ServerHandle {
    wd_signal::spawn(ServerConfig {
        tls: Some(TlsConfig::from_pem(
            pki.cert_pem.clone(),
            pki.key_pem.clone(),
        )),
        // These tests are about the transport: any two users may talk.
        open_relay: true,
        ..ServerConfig::dev()
    })
    .expect("TLS server starts")
}

type TlsWs = WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

fn connect_tls(server: &ServerHandle, ca: &CertificateDer<'static>) -> TlsWs {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let url = format!("wss://localhost:{}", server.addr().port());
    let (ws, _) = tungstenite::client(url, stream).expect("TLS WebSocket handshake");
    ws
}

fn recv(ws: &mut TlsWs) -> ServerMessage {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return decode_server(&t).unwrap(),
            Message::Close(_) => panic!("closed"),
            _ => continue,
        }
    }
}

fn login(ws: &mut TlsWs, uid: &str) {
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: format!("dev:{uid}"),
    };
    ws.send(Message::text(encode(&hello))).unwrap();
    match recv(ws) {
        ServerMessage::Welcome { uid: u, .. } => assert_eq!(u, uid),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[test]
fn hello_and_routing_over_wss() {
    let pki = new_pki();
    let server = tls_server(&pki);
    assert!(server.url().starts_with("wss://"), "{}", server.url());
    let mut alice = connect_tls(&server, &pki.ca_der);
    let mut bob = connect_tls(&server, &pki.ca_der);
    login(&mut alice, "alice");
    login(&mut bob, "bob");
    let send = ClientMessage::Send {
        to: "bob".into(),
        device: None,
        body: common::ringing("over-tls"),
    };
    alice.send(Message::text(encode(&send))).unwrap();
    match recv(&mut bob) {
        ServerMessage::Deliver { from, body, .. } => {
            assert_eq!(from, "alice");
            assert_eq!(body, common::ringing("over-tls"));
        }
        other => panic!("expected deliver, got {other:?}"),
    }
}

#[test]
fn plain_ws_against_the_tls_port_fails_cleanly_and_others_go_on() {
    let pki = new_pki();
    let server = tls_server(&pki);
    let mut alice = connect_tls(&server, &pki.ca_der);
    login(&mut alice, "alice");
    let plain = format!("ws://{}", server.addr());
    for _ in 0..3 {
        match tungstenite::connect(&plain) {
            Ok(_) => panic!("a plain ws:// client got through to the TLS port"),
            Err(e) => assert!(
                matches!(
                    e,
                    tungstenite::Error::Io(_)
                        | tungstenite::Error::Protocol(_)
                        | tungstenite::Error::Http(_)
                        | tungstenite::Error::ConnectionClosed
                ),
                "{e:?}"
            ),
        }
    }
    // A TLS client that does not trust the CA fails its handshake.
    let other = new_pki();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other.ca_der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let url = format!("wss://localhost:{}", server.addr().port());
    assert!(tungstenite::client(url, stream).is_err());
    // The server keeps serving: existing and new clients.
    let mut bob = connect_tls(&server, &pki.ca_der);
    login(&mut bob, "bob");
    let send = ClientMessage::Send {
        to: "alice".into(),
        device: None,
        body: common::ringing("still"),
    };
    bob.send(Message::text(encode(&send))).unwrap();
    assert!(matches!(recv(&mut alice), ServerMessage::Deliver { .. }));
}

#[test]
fn bad_pem_is_refused_at_bind_and_settings_read_the_files() {
    let pki = new_pki();
    let err = wd_signal::spawn(ServerConfig {
        tls: Some(TlsConfig::from_pem("not a pem", pki.key_pem.clone())),
        ..ServerConfig::dev()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    // A key that does not belong to the certificate.
    let other = new_pki();
    let err = wd_signal::spawn(ServerConfig {
        tls: Some(TlsConfig::from_pem(pki.cert_pem.clone(), other.key_pem)),
        ..ServerConfig::dev()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");

    let dir = std::env::temp_dir().join(format!("wd-signal-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let resolved = Settings {
        dev: Some(true),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    assert!(resolved.server.tls.is_some());
    assert!(resolved.to_toml().contains("tls_cert"));
    assert!(!resolved.to_toml().contains("PRIVATE KEY"));
    let e = Settings {
        dev: Some(true),
        tls_cert: Some(cert),
        ..Settings::default()
    }
    .resolve()
    .unwrap_err();
    assert!(e.contains("tls_key"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
