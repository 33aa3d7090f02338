//! A push gateway on loopback for the push tests and the push benchmark:
//! a real HTTP server (hyper) that answers `POST /_matrix/push/v1/notify`
//! as the Matrix push gateway API says, records every notification, and
//! can reject push keys, hold its answers (a slow gateway) or answer with
//! an error status.

#![allow(dead_code)]

use crossbeam_channel::{unbounded, Receiver, Sender};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use wd_protocol::{decode_push, PushPayload};

/// Failure bound of one wait for a notification.
pub const WAIT: Duration = Duration::from_secs(20);

/// One notification the gateway received.
#[derive(Clone, Debug)]
pub struct Notification {
    /// The whole request body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

impl Notification {
    pub fn field(&self, name: &str) -> &Value {
        &self.body["notification"][name]
    }

    /// `wd.invite` or `wd.invite_ended`.
    pub fn kind(&self) -> &str {
        self.field("type").as_str().unwrap_or_default()
    }

    /// The push keys of its devices.
    pub fn keys(&self) -> Vec<String> {
        self.field("devices")
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|d| d["pushkey"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The payload as the SDK decodes it from the notification.
    pub fn payload(&self) -> PushPayload {
        decode_push(&self.body.to_string()).expect("the notification carries a payload")
    }

    /// The payload as the SDK decodes it from what a gateway builds for
    /// device `i` out of its `data.default_payload` (APNs, FCM).
    pub fn device_payload(&self, i: usize) -> PushPayload {
        let default = &self.field("devices")[i]["data"]["default_payload"];
        decode_push(&default.to_string()).expect("the device's default payload carries it")
    }
}

#[derive(Default)]
struct Behaviour {
    reject: HashSet<String>,
    status: Option<u16>,
}

/// The gateway; stopped when dropped.
pub struct Gateway {
    /// `http://127.0.0.1:PORT`, for `--push-gateway`.
    pub url: String,
    received: Receiver<Notification>,
    behaviour: Arc<Mutex<Behaviour>>,
    hold: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    /// Starts one on a free loopback port.
    pub fn start() -> Gateway {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, received) = unbounded();
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let (hold, hold_rx) = watch::channel(false);
        let (stop, stop_rx) = oneshot::channel();
        let b = behaviour.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, tx, b, hold_rx, stop_rx));
        });
        Gateway {
            url,
            received,
            behaviour,
            hold,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The next notification; panics if none comes within [`WAIT`].
    pub fn next(&self) -> Notification {
        self.received
            .recv_timeout(WAIT)
            .expect("a notification reaches the gateway")
    }

    /// The next notification of `kind` (`wd.invite`, `wd.invite_ended`)
    /// about `invite_id`, skipping others.
    pub fn next_about(&self, kind: &str, invite_id: &str) -> Notification {
        let deadline = Instant::now() + WAIT;
        loop {
            let n = self
                .received
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no {kind} notification about {invite_id}"));
            if n.kind() == kind && n.field("event_id") == invite_id {
                return n;
            }
        }
    }

    /// Notifications received and not yet taken.
    pub fn pending(&self) -> Vec<Notification> {
        self.received.try_iter().collect()
    }

    /// Answers that `key` is dead from now on.
    pub fn reject(&self, key: &str) {
        self.behaviour.lock().unwrap().reject.insert(key.to_owned());
    }

    /// Answers every notification with `status` (None: 200).
    pub fn set_status(&self, status: Option<u16>) {
        self.behaviour.lock().unwrap().status = status;
    }

    /// Holds every answer (a gateway that does not answer) until
    /// [`release`](Gateway::release); notifications are recorded when
    /// they are answered.
    pub fn hold(&self) {
        self.hold.send_replace(true);
    }

    pub fn release(&self) {
        self.hold.send_replace(false);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.release();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    tx: Sender<Notification>,
    behaviour: Arc<Mutex<Behaviour>>,
    hold: watch::Receiver<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let tcp = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        let (tx, behaviour, hold) = (tx.clone(), behaviour.clone(), hold.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (tx, behaviour, mut hold) = (tx.clone(), behaviour.clone(), hold.clone());
                async move { Ok::<_, Infallible>(answer(req, &tx, &behaviour, &mut hold).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    tx: &Sender<Notification>,
    behaviour: &Mutex<Behaviour>,
    hold: &mut watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    if req.method() != hyper::Method::POST || req.uri().path() != "/_matrix/push/v1/notify" {
        return respond(StatusCode::NOT_FOUND, "{}".into());
    }
    let Ok(body) = req.into_body().collect().await else {
        return respond(StatusCode::BAD_REQUEST, "{}".into());
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return respond(StatusCode::BAD_REQUEST, "{}".into());
    };
    let _ = hold.wait_for(|held| !*held).await;
    let (status, rejected) = {
        let b = behaviour.lock().unwrap();
        let keys: Vec<String> = body["notification"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["pushkey"].as_str())
            .filter(|k| b.reject.contains(*k))
            .map(str::to_owned)
            .collect();
        (b.status, keys)
    };
    if let Some(status) = status {
        return respond(StatusCode::from_u16(status).unwrap(), "{}".into());
    }
    let _ = tx.send(Notification {
        body,
        at: Instant::now(),
    });
    respond(
        StatusCode::OK,
        serde_json::json!({ "rejected": rejected }).to_string(),
    )
}
