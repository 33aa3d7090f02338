//! The API names of the arguments the engine checks, as
//! [`EngineError::InvalidArgument`](super::EngineError::InvalidArgument)
//! names them and as the JSON forms of the options spell them. Every layer
//! takes them from here.

/// The invitee's user id (`InviteOptions.participantId`).
pub const PARTICIPANT_ID: &str = "participantId";
/// The media mode of an invite (`mode`).
pub const MODE: &str = "mode";
/// Text sent with an invite or an accept (`userData`).
pub const USER_DATA: &str = "userData";
/// The SDP offer of an invite (`offer`).
pub const OFFER: &str = "offer";
/// How long an invite may ring (`lifetimeMs`).
pub const LIFETIME_MS: &str = "lifetimeMs";
/// The SDP answer of an accept (`answer`).
pub const ANSWER: &str = "answer";
/// An invite's own id (`inviteId`).
pub const INVITE_ID: &str = "inviteId";
/// A conversation's id (`conversationId`).
pub const CONVERSATION_ID: &str = "conversationId";
/// A conversation message's text, or the push payload an app hands over
/// (`payload`).
pub const PAYLOAD: &str = "payload";
/// The participant a conversation message is for (`to`).
pub const TO: &str = "to";
/// The push service of a push registration (`provider`).
pub const PROVIDER: &str = "provider";
/// The app id at the push gateway of a push registration (`appId`).
pub const APP_ID: &str = "appId";
/// The device's push token of a push registration (`pushKey`).
pub const PUSH_KEY: &str = "pushKey";
/// Extra fields of a push registration for the gateway (`data`).
pub const DATA: &str = "data";
