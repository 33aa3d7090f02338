//! TLS for the client listener (`wss://`), with rustls and its `ring`
//! provider. The metrics endpoint stays plain HTTP.

use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its private key, both PEM.
///
/// Set [`ServerConfig::tls`](crate::ServerConfig::tls) to one to serve
/// `wss://`. Tests can build it from PEM generated in memory (e.g. with
/// `rcgen`):
///
/// ```no_run
/// # let (cert_pem, key_pem) = (String::new(), String::new());
/// let config = wd_signal::ServerConfig {
///     tls: Some(wd_signal::TlsConfig::from_pem(cert_pem, key_pem)),
///     ..wd_signal::ServerConfig::dev()
/// };
/// let server = wd_signal::spawn(config).unwrap();
/// assert!(server.url().starts_with("wss://"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server certificate, then any intermediates, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsConfig {
    /// From PEM text or bytes.
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        TlsConfig {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    /// Reads the two PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
        let config = TlsConfig::from_pem(read(cert)?, read(key)?);
        config.check()?;
        Ok(config)
    }

    /// Checks that the PEM parses and the key fits the certificate.
    pub fn check(&self) -> Result<(), String> {
        self.rustls_config().map(|_| ())
    }

    fn rustls_config(&self) -> Result<rustls::ServerConfig, String> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("TLS certificate: {e}"))?;
        if certs.is_empty() {
            return Err("TLS certificate: no certificate in the PEM".to_owned());
        }
        let key =
            PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| format!("TLS key: {e}"))?;
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))
    }

    /// The acceptor the listener wraps connections with.
    pub(crate) fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let config = self
            .rustls_config()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
