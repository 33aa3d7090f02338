//! Waking devices that hold no connection: push registrations, the
//! pushes themselves, and the pushed invites a woken device fetches.
//!
//! With a push gateway configured ([`ServerConfig::push_gateway`]):
//!
//! - `register_push` stores a registration for the authenticated user
//!   ([`store`]: in memory, or in Redis for a cluster), remembering the
//!   device that made it; `unregister_push` removes it, and so does a
//!   gateway that rejects its key.
//! - An invite to a user goes to its connected devices as usual and, for
//!   each registration whose device is not connected (on any node), to the
//!   gateway as one notification ([`gateway`]). The invite is stored as
//!   pushed (caller, invitee, the invite body, its deadline, the
//!   registrations pushed) and counts as delivered.
//! - The invite's end — an `outcome` the caller relays, the caller's
//!   connection ending while it is pending (`caller_gone`), or its
//!   deadline passing unanswered (`timeout`) — is recorded once, and a
//!   second push (`invite_ended`) goes to the registrations pushed, except
//!   one whose device answered it.
//! - `fetch_invite` from a device of the invitee, on any node, reads the
//!   stored invite until 10 minutes after it ended.
//!
//! `docs/PROTOCOL.md` (Push) and `docs/push.md` describe it for users.
//!
//! [`ServerConfig::push_gateway`]: crate::ServerConfig::push_gateway

pub(crate) mod gateway;
pub(crate) mod store;

pub use gateway::{GatewayUrl, NOTIFY_PATH};

use crate::metrics::Metrics;
use crate::router::{Frame, Router};
use crate::ServerConfig;
use gateway::{Gateway, Job};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use store::{MemoryStore, RedisStore, Store};
use tokio::sync::mpsc;
use wd_protocol::push::{MAX_PUSH_PAYLOAD_LEN, PUSH_PAYLOAD_VERSION};
use wd_protocol::{
    encode, ErrorCode, FailureReason, Outcome, PeerMessage, PushPayload, PushProvider,
    ServerMessage, UnregisterReason,
};

/// How long an ended invite can still be fetched.
pub const FETCH_AFTER_END: Duration = Duration::from_secs(600);

/// How long after an invite's deadline the server records it as timed
/// out (and sends `invite_ended`) if the caller has not relayed an
/// outcome: the caller's own timer started before the server's, so its
/// outcome (an accept that reached it just in time) normally comes first.
pub const TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// Rejected-key batches waiting to be handled.
const REJECTED_QUEUE: usize = 1024;

/// A device's push registration, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Registration {
    pub(crate) provider: PushProvider,
    pub(crate) app_id: String,
    pub(crate) push_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Map<String, Value>>,
    /// The device (connection) that registered it last: while that device
    /// is connected, invites reach it over its connection, not by push.
    pub(crate) device: String,
    /// When it was registered last, unix ms.
    pub(crate) registered_ms: u64,
}

/// A registration an invite was pushed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) app_id: String,
    pub(crate) push_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Map<String, Value>>,
    pub(crate) registered_ms: u64,
}

/// An invite the server pushed, as stored until it can no longer be
/// fetched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PushedInvite {
    pub(crate) caller: String,
    pub(crate) caller_device: String,
    pub(crate) invitee: String,
    /// The invite as the caller sent it (a [`PeerMessage::Invite`]).
    pub(crate) invite: PeerMessage,
    /// When its lifetime ends, unix ms.
    pub(crate) deadline_ms: u64,
    pub(crate) pushed: Vec<Target>,
}

impl PushedInvite {
    pub(crate) fn invite_id(&self) -> &str {
        self.invite.invite_id().unwrap_or_default()
    }

    fn conversation_id(&self) -> &str {
        match &self.invite {
            PeerMessage::Invite {
                conversation_id, ..
            } => conversation_id,
            _ => "",
        }
    }
}

/// How a pushed invite ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ended {
    pub(crate) outcome: Outcome,
    /// When, unix ms.
    pub(crate) at_ms: u64,
}

/// Milliseconds since the Unix epoch, by this server's clock.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The push side of a server: present only with a push gateway.
pub(crate) struct Push {
    store: Store,
    gateway: Gateway,
    router: Arc<dyn Router>,
    metrics: Arc<Metrics>,
    retention: Duration,
    max_registrations: usize,
}

impl Push {
    /// Starts pushing as `config` says (on the current tokio runtime):
    /// `None` without a push gateway.
    pub(crate) fn start(
        config: &ServerConfig,
        router: Arc<dyn Router>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Option<Arc<Push>>> {
        let Some(url) = &config.push_gateway else {
            return Ok(None);
        };
        let url = GatewayUrl::parse(url)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let store = match &config.broker {
            Some(broker) => Store::Redis(Box::new(RedisStore::new(broker)?)),
            None => Store::Memory(MemoryStore::default()),
        };
        let (rejected_tx, rejected) = mpsc::channel(REJECTED_QUEUE);
        tracing::info!(gateway = %url.authority, path = %url.path, "pushing to sleeping devices through the push gateway");
        let gateway = Gateway::start(
            url,
            config.push_queue,
            config.push_attempts,
            metrics.clone(),
            rejected_tx,
        );
        let push = Arc::new(Push {
            store,
            gateway,
            router,
            metrics,
            retention: config.push_retention,
            max_registrations: config.push_max_registrations,
        });
        tokio::spawn(push.clone().remove_rejected(rejected));
        Ok(Some(push))
    }

    /// Stores a registration of `uid` made from `device`; the answer.
    pub(crate) async fn register(
        &self,
        uid: &str,
        device: &str,
        provider: PushProvider,
        app_id: String,
        push_key: String,
        data: Option<Map<String, Value>>,
    ) -> ServerMessage {
        let reg = Registration {
            provider,
            app_id,
            push_key,
            data,
            device: device.to_owned(),
            registered_ms: unix_ms(),
        };
        match self
            .store
            .register(uid, &reg, self.max_registrations, self.retention)
            .await
        {
            Ok(()) => {
                self.metrics.push_request("registered");
                ServerMessage::PushRegistered {
                    app_id: reg.app_id,
                    push_key: reg.push_key,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, uid, "could not store a push registration");
                self.metrics.push_request("failed");
                ServerMessage::PushRegistrationFailed {
                    app_id: reg.app_id,
                    push_key: reg.push_key,
                    code: ErrorCode::Internal,
                    message: "the server could not store the registration".into(),
                }
            }
        }
    }

    /// Removes a registration of `uid`; the answer.
    pub(crate) async fn unregister(
        &self,
        uid: &str,
        app_id: String,
        push_key: String,
    ) -> ServerMessage {
        match self.store.unregister(uid, &app_id, &push_key).await {
            Ok(_) => {
                self.metrics.push_request("unregistered");
                ServerMessage::PushUnregistered {
                    app_id,
                    push_key,
                    reason: UnregisterReason::Requested,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, uid, "could not remove a push registration");
                self.metrics.push_request("failed");
                ServerMessage::Error {
                    code: ErrorCode::Internal,
                    message: "the server could not remove the registration; try again".into(),
                }
            }
        }
    }

    /// Pushes `invite` (sent by `caller` from `caller_device`) to every
    /// registration of `to` whose device is not connected, and stores it
    /// for fetching. Returns whether it pushed to any. Never waits for the
    /// gateway.
    pub(crate) async fn invite(
        self: &Arc<Self>,
        caller: &str,
        caller_device: &str,
        to: &str,
        invite: &PeerMessage,
    ) -> bool {
        let PeerMessage::Invite { lifetime_ms, .. } = invite else {
            return false;
        };
        let now = unix_ms();
        let regs = match self.store.registrations(to, self.retention, now).await {
            Ok(regs) => regs,
            Err(e) => {
                tracing::warn!(error = %e, to, "could not read push registrations: invite not pushed");
                self.metrics.push_dropped("store");
                return false;
            }
        };
        if regs.is_empty() {
            return false;
        }
        // Without an answer about presence, push to all: a device that
        // gets the invite both ways shows it once.
        let live = match self.router.live_devices(to).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, to, "could not tell which devices are connected: pushing to all");
                Vec::new()
            }
        };
        let pushed: Vec<Target> = regs
            .into_iter()
            .filter(|r| !live.contains(&r.device))
            .map(|r| Target {
                app_id: r.app_id,
                push_key: r.push_key,
                data: r.data,
                registered_ms: r.registered_ms,
            })
            .collect();
        if pushed.is_empty() {
            return false;
        }
        let rec = PushedInvite {
            caller: caller.to_owned(),
            caller_device: caller_device.to_owned(),
            invitee: to.to_owned(),
            invite: invite.clone(),
            deadline_ms: now + lifetime_ms,
            pushed,
        };
        let lifetime = Duration::from_millis(*lifetime_ms);
        let keep = lifetime + TIMEOUT_GRACE + FETCH_AFTER_END;
        if let Err(e) = self.store.save_invite(&rec, keep, now).await {
            tracing::warn!(error = %e, to, "could not store a pushed invite: invite not pushed");
            self.metrics.push_dropped("store");
            return false;
        }
        let payload = invite_payload(&rec, now);
        self.gateway
            .send(notification(&rec, &payload, &rec.pushed, "invite"));
        // Unanswered at its deadline (and no outcome from the caller):
        // timed out.
        let push = self.clone();
        let invite_id = rec.invite_id().to_owned();
        let caller = rec.caller;
        tokio::spawn(async move {
            tokio::time::sleep(lifetime + TIMEOUT_GRACE).await;
            push.end(
                &caller,
                &invite_id,
                Outcome::Failed {
                    reason: FailureReason::Timeout,
                },
            )
            .await;
        });
        true
    }

    /// Records the end of a pushed invite in the background (see
    /// [`end`](Push::end)).
    pub(crate) fn ended(self: &Arc<Self>, caller: &str, invite_id: &str, outcome: Outcome) {
        let push = self.clone();
        let (caller, invite_id) = (caller.to_owned(), invite_id.to_owned());
        tokio::spawn(async move { push.end(&caller, &invite_id, outcome).await });
    }

    /// Records the end of a pushed invite (the first end recorded wins)
    /// and, in the background, pushes `invite_ended` to the registrations
    /// it was pushed to. Once this returns, a fetch sees it ended.
    pub(crate) async fn end(self: &Arc<Self>, caller: &str, invite_id: &str, outcome: Outcome) {
        let now = unix_ms();
        let rec = match self
            .store
            .end_invite(caller, invite_id, &outcome, now)
            .await
        {
            Ok(Some(rec)) => rec,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, caller, invite_id, "could not record the end of a pushed invite");
                self.metrics.push_dropped("store");
                return;
            }
        };
        let push = self.clone();
        tokio::spawn(async move { push.tell_ended(rec, outcome, now).await });
    }

    /// Pushes `invite_ended` for `rec`, which ended with `outcome`.
    async fn tell_ended(&self, rec: PushedInvite, outcome: Outcome, now: u64) {
        // Not to a device that answered it (it knows), nor to a
        // registration removed since.
        let answered = match &outcome {
            Outcome::Accepted { device, .. } | Outcome::Rejected { device, .. } => {
                Some(device.as_str())
            }
            _ => None,
        };
        let targets: Vec<Target> = match self
            .store
            .registrations(&rec.invitee, self.retention, now)
            .await
        {
            Ok(now_registered) => rec
                .pushed
                .iter()
                .filter(|t| {
                    now_registered.iter().any(|r| {
                        r.app_id == t.app_id
                            && r.push_key == t.push_key
                            && Some(r.device.as_str()) != answered
                    })
                })
                .cloned()
                .collect(),
            Err(_) => rec.pushed.clone(),
        };
        if targets.is_empty() {
            return;
        }
        let payload = PushPayload::InviteEnded {
            wd: PUSH_PAYLOAD_VERSION,
            invite_id: rec.invite_id().to_owned(),
            conversation_id: rec.conversation_id().to_owned(),
            from: rec.caller.clone(),
            outcome,
        };
        self.gateway
            .send(notification(&rec, &payload, &targets, "invite_ended"));
    }

    /// The answer to `fetch_invite` from a device of `uid`.
    pub(crate) async fn fetch(&self, uid: &str, from: &str, invite_id: String) -> ServerMessage {
        let now = unix_ms();
        let not_found = |code| ServerMessage::FetchFailed {
            invite_id: invite_id.clone(),
            code,
        };
        let (rec, ended) = match self.store.invite(from, &invite_id, now).await {
            Ok(Some((rec, ended))) if rec.invitee == uid => (rec, ended),
            Ok(_) => {
                self.metrics.push_request("not_found");
                return not_found(ErrorCode::NotFound);
            }
            Err(e) => {
                tracing::warn!(error = %e, uid, "could not read a pushed invite");
                self.metrics.push_request("failed");
                return not_found(ErrorCode::Internal);
            }
        };
        self.metrics.push_request("fetched");
        let (outcome, time_left_ms) = match ended {
            Some(ended) => (Some(ended.outcome), 0),
            None if now >= rec.deadline_ms => (
                Some(Outcome::Failed {
                    reason: FailureReason::Timeout,
                }),
                0,
            ),
            None => (None, rec.deadline_ms - now),
        };
        ServerMessage::InviteState {
            invite_id,
            from: rec.caller,
            device: rec.caller_device,
            invite: Box::new(rec.invite),
            time_left_ms,
            outcome,
        }
    }

    /// Removes the registrations whose keys the gateway rejected and tells
    /// their users' connected devices (`push_unregistered rejected`).
    async fn remove_rejected(self: Arc<Self>, mut rejected: mpsc::Receiver<Vec<(String, String)>>) {
        while let Some(keys) = rejected.recv().await {
            for (app_id, push_key) in keys {
                let owner = match self.store.remove_key(&app_id, &push_key).await {
                    Ok(Some(owner)) => owner,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not remove a rejected push key");
                        continue;
                    }
                };
                self.metrics.push_rejected_keys(1);
                tracing::info!(uid = %owner, app_id, "push gateway rejected a key: registration removed");
                let frame = Frame::from(encode(&ServerMessage::PushUnregistered {
                    app_id,
                    push_key,
                    reason: UnregisterReason::Rejected,
                }));
                if let Err(e) = self.router.deliver(&owner, None, &frame).await {
                    tracing::warn!(error = %e, uid = %owner, "could not tell a user its push key was rejected");
                }
            }
        }
    }
}

/// The `invite` payload of `rec` at `now`: its user data only when the
/// whole payload fits in [`MAX_PUSH_PAYLOAD_LEN`].
fn invite_payload(rec: &PushedInvite, now: u64) -> PushPayload {
    let PeerMessage::Invite {
        invite_id,
        conversation_id,
        mode,
        user_data,
        ..
    } = &rec.invite
    else {
        unreachable!("a pushed invite holds an invite body")
    };
    let mut payload = PushPayload::Invite {
        wd: PUSH_PAYLOAD_VERSION,
        invite_id: invite_id.clone(),
        conversation_id: conversation_id.clone(),
        from: rec.caller.clone(),
        device: rec.caller_device.clone(),
        mode: *mode,
        time_left_ms: rec.deadline_ms.saturating_sub(now),
        sent_at_ms: now,
        user_data: user_data.clone(),
        user_data_omitted: false,
    };
    if encode(&payload).len() > MAX_PUSH_PAYLOAD_LEN {
        if let PushPayload::Invite {
            user_data,
            user_data_omitted,
            ..
        } = &mut payload
        {
            *user_data = None;
            *user_data_omitted = true;
        }
    }
    payload
}

/// The Matrix push gateway notification of `payload` for `targets`: the
/// payload is its `content`, and also each device's
/// `data.default_payload.wd_push` (as a JSON string), which Sygnal merges
/// into what it sends to APNs, FCM and Web Push, where `content` does not
/// always travel.
fn notification(
    rec: &PushedInvite,
    payload: &PushPayload,
    targets: &[Target],
    kind: &'static str,
) -> Job {
    let text = encode(payload);
    let devices: Vec<Value> = targets
        .iter()
        .map(|t| {
            let mut data = t.data.clone().unwrap_or_default();
            match data.get_mut("default_payload") {
                Some(Value::Object(default)) => {
                    default.insert("wd_push".into(), Value::from(text.clone()));
                }
                // The app's own, not an object: left as it gave it.
                Some(_) => {}
                None => {
                    data.insert("default_payload".into(), json!({ "wd_push": text }));
                }
            }
            json!({
                "app_id": t.app_id,
                "pushkey": t.push_key,
                "pushkey_ts": t.registered_ms / 1000,
                "data": data,
            })
        })
        .collect();
    let unread = u32::from(kind == "invite");
    let body = json!({
        "notification": {
            "event_id": rec.invite_id(),
            "room_id": rec.conversation_id(),
            "type": format!("wd.{kind}"),
            "sender": rec.caller,
            "prio": "high",
            "content": payload,
            "counts": { "unread": unread },
            "devices": devices,
        }
    });
    Job {
        kind,
        body: body.to_string().into(),
        keys: targets
            .iter()
            .map(|t| (t.app_id.clone(), t.push_key.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wd_protocol::{decode_push, Mode};

    fn rec(user_data: Option<String>) -> PushedInvite {
        PushedInvite {
            caller: "alice".into(),
            caller_device: "n1.4".into(),
            invitee: "bob".into(),
            invite: PeerMessage::Invite {
                invite_id: "i1".into(),
                conversation_id: "c1".into(),
                mode: Mode::Server,
                user_data,
                offer: Some("v=0".into()),
                lifetime_ms: 60_000,
            },
            deadline_ms: 1_000_060_000,
            pushed: vec![Target {
                app_id: "com.example.voip".into(),
                push_key: "k1".into(),
                data: Some(
                    json!({"format": "event_id_only", "default_payload": {"aps": {}}})
                        .as_object()
                        .cloned()
                        .unwrap(),
                ),
                registered_ms: 5_000,
            }],
        }
    }

    #[test]
    fn the_payload_carries_user_data_only_when_it_fits() {
        let small = invite_payload(&rec(Some("hi".into())), 1_000_000_000);
        let PushPayload::Invite {
            user_data,
            user_data_omitted,
            time_left_ms,
            mode,
            ..
        } = &small
        else {
            panic!("an invite payload")
        };
        assert_eq!(user_data.as_deref(), Some("hi"));
        assert!(!user_data_omitted);
        assert_eq!((*time_left_ms, *mode), (60_000, Mode::Server));
        let big = invite_payload(&rec(Some("x".repeat(3000))), 1_000_000_000);
        assert!(encode(&big).len() <= MAX_PUSH_PAYLOAD_LEN);
        assert!(matches!(
            big,
            PushPayload::Invite {
                user_data: None,
                user_data_omitted: true,
                ..
            }
        ));
        assert!(!encode(&big).contains("offer"), "the offer never travels");
    }

    #[test]
    fn the_notification_speaks_the_matrix_push_gateway_api() {
        let r = rec(None);
        let payload = invite_payload(&r, 1_000_000_000);
        let job = notification(&r, &payload, &r.pushed, "invite");
        assert_eq!(job.keys, [("com.example.voip".into(), "k1".into())]);
        let body: Value = serde_json::from_slice(&job.body).unwrap();
        let n = &body["notification"];
        assert_eq!(n["event_id"], "i1");
        assert_eq!(n["room_id"], "c1");
        assert_eq!(n["type"], "wd.invite");
        assert_eq!(n["sender"], "alice");
        assert_eq!(n["prio"], "high");
        assert_eq!(n["counts"]["unread"], 1);
        let device = &n["devices"][0];
        assert_eq!(device["app_id"], "com.example.voip");
        assert_eq!(device["pushkey"], "k1");
        assert_eq!(device["pushkey_ts"], 5);
        assert_eq!(device["data"]["format"], "event_id_only");
        assert!(device["data"]["default_payload"]["aps"].is_object());
        // The SDK finds the payload in the notification, and in what a
        // gateway builds from the device's default payload.
        assert_eq!(decode_push(&body.to_string()).unwrap(), payload);
        let apns = json!({"aps": {}, "wd_push": device["data"]["default_payload"]["wd_push"]});
        assert_eq!(decode_push(&apns.to_string()).unwrap(), payload);
    }
}
