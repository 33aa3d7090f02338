//! Signed, expiring tokens that name a user.
//!
//! A token is `base64url(payload) "." base64url(mac)` (both without
//! padding), where `payload` is the JSON object `{"uid":"alice","exp":N}`
//! (`exp` in unix seconds) and `mac` is HMAC-SHA256 keyed with the server's
//! secret over the *encoded* payload bytes (the text before the dot).
//!
//! A token is accepted until [`CLOCK_SKEW_SECS`] seconds after its `exp`, to
//! tolerate clocks that disagree a little between the minting service and
//! the server.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Seconds a token stays valid past its `exp`, to tolerate clock skew.
pub const CLOCK_SKEW_SECS: u64 = 30;

/// Prefix of a development token (`dev:<uid>`), accepted only in dev mode.
pub const DEV_TOKEN_PREFIX: &str = "dev:";

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Not of the form `payload.mac`, not base64url, or the payload is not
    /// the expected JSON.
    Malformed,
    /// The MAC does not match: forged, or signed with another secret.
    BadSignature,
    /// The token expired (more than [`CLOCK_SKEW_SECS`] ago).
    Expired,
    /// The uid in the token is not a valid user id.
    InvalidUid,
    /// A `dev:` token was presented but the server is not in dev mode.
    DevTokenRefused,
    /// A signed token was presented but the server has no secret.
    NoSecret,
    /// The token's `exp` lies further in the future than the server's
    /// maximum token lifetime allows.
    LifetimeTooLong,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Malformed => "malformed token",
            AuthError::BadSignature => "token signature does not match",
            AuthError::Expired => "token expired",
            AuthError::InvalidUid => "token names an invalid uid",
            AuthError::DevTokenRefused => "dev tokens are accepted only in dev mode",
            AuthError::NoSecret => "server has no secret to check signed tokens",
            AuthError::LifetimeTooLong => "token lifetime exceeds the server's maximum",
        })
    }
}

impl std::error::Error for AuthError {}

#[derive(Serialize, Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    uid: std::borrow::Cow<'a, str>,
    exp: u64,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// Mints a token for `uid`, valid until `expires_at_unix` (unix seconds).
pub fn mint_token(secret: &[u8], uid: &str, expires_at_unix: u64) -> String {
    let payload = serde_json::to_vec(&Payload {
        uid: uid.into(),
        exp: expires_at_unix,
    })
    .expect("token payload always serializes");
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload);
    let mut m = mac(secret);
    m.update(payload_b64.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{payload_b64}.{sig}")
}

/// Checks `token` against `secret` at time `now_unix` (unix seconds) and
/// returns the uid it names.
///
/// The MAC is compared in constant time. A token is refused once `now_unix`
/// is more than [`CLOCK_SKEW_SECS`] past its `exp`.
pub fn verify_token(secret: &[u8], token: &str, now_unix: u64) -> Result<String, AuthError> {
    verify_token_within(secret, token, now_unix, None)
}

/// Like [`verify_token`], and also refuses a token whose `exp` lies more
/// than `max_lifetime_secs` after `now_unix` (checked after the MAC).
pub fn verify_token_within(
    secret: &[u8],
    token: &str,
    now_unix: u64,
    max_lifetime_secs: Option<u64>,
) -> Result<String, AuthError> {
    let (payload_b64, sig_b64) = token.split_once('.').ok_or(AuthError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| AuthError::Malformed)?;
    let mut m = mac(secret);
    m.update(payload_b64.as_bytes());
    m.verify_slice(&sig).map_err(|_| AuthError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| AuthError::Malformed)?;
    let payload: Payload<'_> =
        serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
    if now_unix > payload.exp.saturating_add(CLOCK_SKEW_SECS) {
        return Err(AuthError::Expired);
    }
    if let Some(max) = max_lifetime_secs {
        if payload.exp > now_unix.saturating_add(max).saturating_add(CLOCK_SKEW_SECS) {
            return Err(AuthError::LifetimeTooLong);
        }
    }
    wd_protocol::validate_uid(&payload.uid).map_err(|_| AuthError::InvalidUid)?;
    Ok(payload.uid.into_owned())
}

/// The current time in unix seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decides which user a connection's token names, per the server's
/// configuration (secret and dev mode).
#[derive(Clone)]
pub struct Authenticator {
    secret: Option<Vec<u8>>,
    dev: bool,
    max_lifetime_secs: Option<u64>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("dev", &self.dev)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish()
    }
}

impl Authenticator {
    /// An authenticator checking signed tokens with `secret` (if any) and,
    /// when `dev` is true, also accepting `dev:<uid>` tokens.
    pub fn new(secret: Option<Vec<u8>>, dev: bool) -> Self {
        Authenticator {
            secret,
            dev,
            max_lifetime_secs: None,
        }
    }

    /// Also refuses signed tokens whose `exp` lies more than `max` in the
    /// future (`None`: no maximum).
    pub fn with_max_lifetime(mut self, max: Option<std::time::Duration>) -> Self {
        self.max_lifetime_secs = max.map(|d| d.as_secs());
        self
    }

    /// Returns the uid `token` names, checked at time `now_unix`.
    pub fn authenticate(&self, token: &str, now_unix: u64) -> Result<String, AuthError> {
        if let Some(uid) = token.strip_prefix(DEV_TOKEN_PREFIX) {
            if !self.dev {
                return Err(AuthError::DevTokenRefused);
            }
            wd_protocol::validate_uid(uid).map_err(|_| AuthError::InvalidUid)?;
            return Ok(uid.to_owned());
        }
        match &self.secret {
            Some(secret) => verify_token_within(secret, token, now_unix, self.max_lifetime_secs),
            None => Err(AuthError::NoSecret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"s3cret";

    #[test]
    fn minted_token_verifies() {
        let t = mint_token(SECRET, "alice", 1_000);
        assert_eq!(verify_token(SECRET, &t, 999).unwrap(), "alice");
        assert_eq!(verify_token(SECRET, &t, 1_000).unwrap(), "alice");
        let payload = t.split('.').next().unwrap();
        let json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        assert_eq!(json, br#"{"uid":"alice","exp":1000}"#);
    }

    #[test]
    fn expiry_tolerates_skew_then_refuses() {
        let t = mint_token(SECRET, "alice", 1_000);
        assert!(verify_token(SECRET, &t, 1_000 + CLOCK_SKEW_SECS).is_ok());
        assert_eq!(
            verify_token(SECRET, &t, 1_001 + CLOCK_SKEW_SECS),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn forged_or_wrong_secret_is_refused() {
        let t = mint_token(SECRET, "alice", u64::MAX);
        assert_eq!(verify_token(b"other", &t, 0), Err(AuthError::BadSignature));
        // Swap in a payload naming someone else but keep the MAC.
        let (_, sig) = t.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"uid":"mallory","exp":99999999999}"#);
        let forged = format!("{forged_payload}.{sig}");
        assert_eq!(
            verify_token(SECRET, &forged, 0),
            Err(AuthError::BadSignature)
        );
        // Flip one character of the MAC.
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(verify_token(SECRET, &bad, 0), Err(AuthError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "abc", "a.b.c", "!!.??", "."] {
            assert!(verify_token(SECRET, t, 0).is_err(), "{t}");
        }
        // Validly signed, but the payload is not a token payload.
        let payload = URL_SAFE_NO_PAD.encode(b"[1,2]");
        let mut m = mac(SECRET);
        m.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert_eq!(
            verify_token(SECRET, &format!("{payload}.{sig}"), 0),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn lifetime_over_the_maximum_is_refused() {
        let now = 1_000_000;
        let ok = mint_token(SECRET, "alice", now + 3600);
        let far = mint_token(SECRET, "alice", u64::MAX);
        assert!(verify_token_within(SECRET, &ok, now, Some(3600)).is_ok());
        assert_eq!(
            verify_token_within(SECRET, &far, now, Some(3600)),
            Err(AuthError::LifetimeTooLong)
        );
        assert!(verify_token_within(SECRET, &far, now, None).is_ok());
        let auth = Authenticator::new(Some(SECRET.to_vec()), false)
            .with_max_lifetime(Some(std::time::Duration::from_secs(60)));
        assert_eq!(auth.authenticate(&ok, now), Err(AuthError::LifetimeTooLong));
    }

    #[test]
    fn invalid_uid_is_refused() {
        let t = mint_token(SECRET, "a b", u64::MAX);
        assert_eq!(verify_token(SECRET, &t, 0), Err(AuthError::InvalidUid));
    }

    #[test]
    fn dev_tokens_only_in_dev_mode() {
        let dev = Authenticator::new(None, true);
        assert_eq!(dev.authenticate("dev:bob", 0).unwrap(), "bob");
        assert_eq!(dev.authenticate("dev:", 0), Err(AuthError::InvalidUid));
        assert_eq!(dev.authenticate("x.y", 0), Err(AuthError::NoSecret));
        let prod = Authenticator::new(Some(SECRET.to_vec()), false);
        assert_eq!(
            prod.authenticate("dev:bob", 0),
            Err(AuthError::DevTokenRefused)
        );
        let t = mint_token(SECRET, "carol", u64::MAX);
        assert_eq!(prod.authenticate(&t, 0).unwrap(), "carol");
        let both = Authenticator::new(Some(SECRET.to_vec()), true);
        assert_eq!(both.authenticate(&t, 0).unwrap(), "carol");
        assert_eq!(both.authenticate("dev:bob", 0).unwrap(), "bob");
    }
}
