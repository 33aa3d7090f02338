//! The SDK's error type.

use std::fmt;

use crate::engine::EngineError;

/// Why an SDK call failed. Every variant maps to one `wd_result` code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument broke a rule; `field` names it by its API name
    /// (`participantId`, `userData`, `lifetimeMs`, `url`, …).
    InvalidArgument {
        /// The argument's name.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The call is not valid in the current status (e.g. `cancel` after
    /// `accepted`); nothing changed.
    InvalidState {
        /// The status the object is in, by its API name.
        status: &'static str,
    },
    /// The client has no connection to the server.
    NotConnected,
    /// The server refused the client's token.
    Unauthorized(String),
    /// The server could not be reached, or the connection broke.
    Network(String),
    /// The server answered something this SDK does not understand.
    Protocol(String),
    /// The TLS handshake failed: the server's certificate is not trusted,
    /// has expired, or does not name the server's host (or the CA
    /// configuration could not be read).
    Tls(String),
}

impl Error {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument { field, message } => write!(f, "{field}: {message}"),
            Error::InvalidState { status } => {
                write!(f, "not valid while the status is {status}")
            }
            Error::NotConnected => f.write_str("not connected to the server"),
            Error::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Error::Network(m) => write!(f, "network: {m}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
            Error::Tls(m) => write!(f, "tls: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidState { status } => Error::InvalidState { status },
            EngineError::NotConnected => Error::NotConnected,
            EngineError::InvalidArgument { field, problem } => Error::invalid(field, problem),
            // Callers map this to the handle's own terminal status before
            // it gets here; a bare one means the object is finished.
            EngineError::UnknownKey => Error::InvalidState { status: "finished" },
        }
    }
}
