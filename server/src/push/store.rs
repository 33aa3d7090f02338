//! Where push registrations and pushed invites are kept: in memory for one
//! node, in Redis when several nodes share a broker (so that any node
//! pushes to a registration made on another, and any node answers a fetch
//! for an invite another pushed).
//!
//! Redis keys (all under the `wd:` prefix, next to the router's):
//! - `wd:push:<uid>`: hash `"<app_id>\n<push_key>"` → the registration
//!   (JSON), expiring with the retention;
//! - `wd:pushz:<uid>`: sorted set of the same fields by registration time
//!   (unix ms), for the cap per user and the expiry of each registration;
//! - `wd:pushkey:<sha1 of the field>`: the uid that holds a push key, so
//!   that a key another user registers moves to that user;
//! - `wd:pinv:<invite_id>:<caller>`: hash with `rec` (the pushed invite,
//!   JSON) and, once it ended, `outcome` (JSON), expiring 10 minutes
//!   after the invite ends.

use super::{Ended, PushedInvite, Registration, FETCH_AFTER_END};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Script};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use wd_protocol::Outcome;

/// Bound of one Redis command of the store.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Most pushed invites one node keeps in memory; past it an invite is not
/// pushed (and the drop counted) until older ones expire.
const MAX_MEMORY_INVITES: usize = 100_000;

/// A store operation failed (Redis unreachable, a reply that does not
/// decode, the memory store full).
#[derive(Debug)]
pub(crate) struct StoreError(pub(crate) String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "push store: {}", self.0)
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// The field a registration is stored under: its app id and push key
/// (neither may hold a control character, so the newline separates them).
fn field(app_id: &str, push_key: &str) -> String {
    format!("{app_id}\n{push_key}")
}

/// The push store of a server.
pub(crate) enum Store {
    /// One node: everything in this process.
    Memory(MemoryStore),
    /// Several nodes: everything in Redis.
    Redis(Box<RedisStore>),
}

impl Store {
    /// Stores `reg` for `uid` (replacing its earlier registration of the
    /// same key, moving the key away from another user that held it,
    /// dropping registrations older than `retention` and the least recent
    /// beyond `max`).
    pub(crate) async fn register(
        &self,
        uid: &str,
        reg: &Registration,
        max: usize,
        retention: Duration,
    ) -> Result<()> {
        match self {
            Store::Memory(m) => {
                m.register(uid, reg, max, retention);
                Ok(())
            }
            Store::Redis(r) => r.register(uid, reg, max, retention).await,
        }
    }

    /// Removes `uid`'s registration of this key; whether there was one.
    pub(crate) async fn unregister(&self, uid: &str, app_id: &str, push_key: &str) -> Result<bool> {
        match self {
            Store::Memory(m) => Ok(m.unregister(uid, app_id, push_key)),
            Store::Redis(r) => r.unregister(uid, app_id, push_key).await,
        }
    }

    /// Removes the registration of this key, whoever holds it; returns
    /// the uid that held it.
    pub(crate) async fn remove_key(&self, app_id: &str, push_key: &str) -> Result<Option<String>> {
        match self {
            Store::Memory(m) => Ok(m.remove_key(app_id, push_key)),
            Store::Redis(r) => r.remove_key(app_id, push_key).await,
        }
    }

    /// The registrations of `uid` made within `retention`.
    pub(crate) async fn registrations(
        &self,
        uid: &str,
        retention: Duration,
        now_ms: u64,
    ) -> Result<Vec<Registration>> {
        let all = match self {
            Store::Memory(m) => m.registrations(uid),
            Store::Redis(r) => r.registrations(uid).await?,
        };
        let oldest = now_ms.saturating_sub(retention.as_millis() as u64);
        Ok(all
            .into_iter()
            .filter(|r| r.registered_ms >= oldest)
            .collect())
    }

    /// Keeps `rec` until `ttl` has passed (or [`FETCH_AFTER_END`] after it
    /// ends, if sooner).
    pub(crate) async fn save_invite(
        &self,
        rec: &PushedInvite,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<()> {
        match self {
            Store::Memory(m) => m.save_invite(rec, ttl, now_ms),
            Store::Redis(r) => r.save_invite(rec, ttl).await,
        }
    }

    /// Records that the invite ended with `outcome`, if it is stored and
    /// had not ended yet; then returns it (the caller of this sends the
    /// `invite_ended` push, exactly once whatever node ends it).
    pub(crate) async fn end_invite(
        &self,
        caller: &str,
        invite_id: &str,
        outcome: &Outcome,
        now_ms: u64,
    ) -> Result<Option<PushedInvite>> {
        let ended = Ended {
            outcome: outcome.clone(),
            at_ms: now_ms,
        };
        match self {
            Store::Memory(m) => Ok(m.end_invite(caller, invite_id, ended, now_ms)),
            Store::Redis(r) => r.end_invite(caller, invite_id, &ended).await,
        }
    }

    /// The stored invite and how it ended, if it did.
    pub(crate) async fn invite(
        &self,
        caller: &str,
        invite_id: &str,
        now_ms: u64,
    ) -> Result<Option<(PushedInvite, Option<Ended>)>> {
        match self {
            Store::Memory(m) => Ok(m.invite(caller, invite_id, now_ms)),
            Store::Redis(r) => r.invite(caller, invite_id).await,
        }
    }
}

struct StoredInvite {
    rec: PushedInvite,
    ended: Option<Ended>,
    /// Unix ms after which it is forgotten.
    expires_ms: u64,
}

#[derive(Default)]
struct MemoryState {
    /// Registrations per user, least recently registered first.
    regs: HashMap<String, Vec<Registration>>,
    /// Who holds each (app id, push key).
    owner: HashMap<String, String>,
    invites: HashMap<(String, String), StoredInvite>,
    /// When expired invites were last swept (unix ms).
    swept_ms: u64,
}

/// The store of one node.
#[derive(Default)]
pub(crate) struct MemoryStore {
    state: Mutex<MemoryState>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, uid: &str, reg: &Registration, max: usize, retention: Duration) {
        let mut s = self.lock();
        let key = field(&reg.app_id, &reg.push_key);
        if let Some(old) = s.owner.get(&key).cloned() {
            if old != uid {
                if let Some(list) = s.regs.get_mut(&old) {
                    list.retain(|r| field(&r.app_id, &r.push_key) != key);
                    if list.is_empty() {
                        s.regs.remove(&old);
                    }
                }
            }
        }
        let oldest = reg
            .registered_ms
            .saturating_sub(retention.as_millis() as u64);
        let mut dropped = Vec::new();
        let list = s.regs.entry(uid.to_owned()).or_default();
        list.retain(|r| {
            let keep = field(&r.app_id, &r.push_key) != key && r.registered_ms >= oldest;
            if !keep {
                dropped.push(field(&r.app_id, &r.push_key));
            }
            keep
        });
        list.push(reg.clone());
        while list.len() > max {
            let r = list.remove(0);
            dropped.push(field(&r.app_id, &r.push_key));
        }
        for f in dropped {
            if f != key && s.owner.get(&f).is_some_and(|o| o == uid) {
                s.owner.remove(&f);
            }
        }
        s.owner.insert(key, uid.to_owned());
    }

    fn unregister(&self, uid: &str, app_id: &str, push_key: &str) -> bool {
        let mut s = self.lock();
        let key = field(app_id, push_key);
        let Some(list) = s.regs.get_mut(uid) else {
            return false;
        };
        let before = list.len();
        list.retain(|r| field(&r.app_id, &r.push_key) != key);
        let removed = list.len() != before;
        if list.is_empty() {
            s.regs.remove(uid);
        }
        if removed && s.owner.get(&key).is_some_and(|o| o == uid) {
            s.owner.remove(&key);
        }
        removed
    }

    fn remove_key(&self, app_id: &str, push_key: &str) -> Option<String> {
        let owner = self.lock().owner.get(&field(app_id, push_key)).cloned()?;
        self.unregister(&owner, app_id, push_key).then_some(owner)
    }

    fn registrations(&self, uid: &str) -> Vec<Registration> {
        self.lock().regs.get(uid).cloned().unwrap_or_default()
    }

    fn save_invite(&self, rec: &PushedInvite, ttl: Duration, now_ms: u64) -> Result<()> {
        let mut s = self.lock();
        if now_ms.saturating_sub(s.swept_ms) >= 1000 || s.invites.len() >= MAX_MEMORY_INVITES {
            s.swept_ms = now_ms;
            s.invites.retain(|_, i| i.expires_ms > now_ms);
        }
        let key = (rec.invite_id().to_owned(), rec.caller.clone());
        if s.invites.len() >= MAX_MEMORY_INVITES && !s.invites.contains_key(&key) {
            return Err(StoreError(format!(
                "{MAX_MEMORY_INVITES} pushed invites kept already"
            )));
        }
        s.invites.insert(
            key,
            StoredInvite {
                rec: rec.clone(),
                ended: None,
                expires_ms: now_ms + ttl.as_millis() as u64,
            },
        );
        Ok(())
    }

    fn end_invite(
        &self,
        caller: &str,
        invite_id: &str,
        ended: Ended,
        now_ms: u64,
    ) -> Option<PushedInvite> {
        let mut s = self.lock();
        let stored = s
            .invites
            .get_mut(&(invite_id.to_owned(), caller.to_owned()))
            .filter(|i| i.expires_ms > now_ms && i.ended.is_none())?;
        stored.ended = Some(ended);
        stored.expires_ms = now_ms + FETCH_AFTER_END.as_millis() as u64;
        Some(stored.rec.clone())
    }

    fn invite(
        &self,
        caller: &str,
        invite_id: &str,
        now_ms: u64,
    ) -> Option<(PushedInvite, Option<Ended>)> {
        let s = self.lock();
        s.invites
            .get(&(invite_id.to_owned(), caller.to_owned()))
            .filter(|i| i.expires_ms > now_ms)
            .map(|i| (i.rec.clone(), i.ended.clone()))
    }
}

/// Stores `"<field>"` for a user, keeping the key index and the cap.
/// KEYS[1] `wd:push:<uid>`, KEYS[2] `wd:pushz:<uid>`; ARGV uid, field,
/// registration JSON, now (ms), most per user, retention (ms).
const REGISTER: &str = r#"
local uid, f, now, most, keep = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function forget(owner, g)
  redis.call('HDEL', 'wd:push:' .. owner, g)
  redis.call('ZREM', 'wd:pushz:' .. owner, g)
  local ix = 'wd:pushkey:' .. redis.sha1hex(g)
  if redis.call('GET', ix) == owner then redis.call('DEL', ix) end
end
local ix = 'wd:pushkey:' .. redis.sha1hex(f)
local old = redis.call('GET', ix)
if old and old ~= uid then forget(old, f) end
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', now - keep))) do
  forget(uid, g)
end
redis.call('HSET', KEYS[1], f, ARGV[3])
redis.call('ZADD', KEYS[2], now, f)
redis.call('SET', ix, uid, 'PX', keep)
local n = redis.call('ZCARD', KEYS[2])
if n > most then
  for _, g in ipairs(redis.call('ZRANGE', KEYS[2], 0, n - most - 1)) do forget(uid, g) end
end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return 1
"#;

/// Removes one registration. KEYS[1] `wd:push:<uid>`, KEYS[2]
/// `wd:pushz:<uid>`; ARGV uid, field. Returns 1 if there was one.
const UNREGISTER: &str = r#"
local n = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
local ix = 'wd:pushkey:' .. redis.sha1hex(ARGV[2])
if redis.call('GET', ix) == ARGV[1] then redis.call('DEL', ix) end
return n
"#;

/// Removes the registration of a key, whoever holds it. ARGV field.
/// Returns the uid that held it, or false.
const REMOVE_KEY: &str = r#"
local ix = 'wd:pushkey:' .. redis.sha1hex(ARGV[1])
local owner = redis.call('GET', ix)
if not owner then return false end
redis.call('HDEL', 'wd:push:' .. owner, ARGV[1])
redis.call('ZREM', 'wd:pushz:' .. owner, ARGV[1])
redis.call('DEL', ix)
return owner
"#;

/// Ends a stored invite once. KEYS[1] `wd:pinv:…`; ARGV the end (JSON),
/// how long it stays fetchable (ms). Returns the invite if this ended it.
const END_INVITE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HSETNX', KEYS[1], 'outcome', ARGV[1]) == 0 then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[1], 'rec')
"#;

/// The store shared by the nodes of a broker.
pub(crate) struct RedisStore {
    client: redis::Client,
    conn: RwLock<Option<MultiplexedConnection>>,
    register: Script,
    unregister: Script,
    remove_key: Script,
    end_invite: Script,
}

fn push_key(uid: &str) -> String {
    format!("wd:push:{uid}")
}

fn pushz_key(uid: &str) -> String {
    format!("wd:pushz:{uid}")
}

fn invite_key(caller: &str, invite_id: &str) -> String {
    format!("wd:pinv:{invite_id}:{caller}")
}

impl RedisStore {
    /// A store on the Redis at `url`; it connects on first use (and again
    /// after a failure).
    pub(crate) fn new(url: &str) -> std::io::Result<RedisStore> {
        let client = redis::Client::open(url).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("broker {url}: {e}"),
            )
        })?;
        Ok(RedisStore {
            client,
            conn: RwLock::new(None),
            register: Script::new(REGISTER),
            unregister: Script::new(UNREGISTER),
            remove_key: Script::new(REMOVE_KEY),
            end_invite: Script::new(END_INVITE),
        })
    }

    async fn conn(&self) -> Result<MultiplexedConnection> {
        if let Some(conn) = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `op` on the connection; a failure drops the connection, so
    /// that the next operation opens a new one.
    async fn with<T>(
        &self,
        op: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> Result<T> {
        let mut conn = self.conn().await?;
        match op(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    *self.conn.write().unwrap_or_else(|e| e.into_inner()) = None;
                }
                Err(e.into())
            }
        }
    }

    async fn register(
        &self,
        uid: &str,
        reg: &Registration,
        max: usize,
        retention: Duration,
    ) -> Result<()> {
        let json = serde_json::to_string(reg)?;
        let f = field(&reg.app_id, &reg.push_key);
        self.with(async |conn| {
            self.register
                .key(push_key(uid))
                .key(pushz_key(uid))
                .arg(uid)
                .arg(&f)
                .arg(&json)
                .arg(reg.registered_ms)
                .arg(max)
                .arg(retention.as_millis().max(1) as u64)
                .invoke_async::<i64>(conn)
                .await
        })
        .await?;
        Ok(())
    }

    async fn unregister(&self, uid: &str, app_id: &str, push_key_: &str) -> Result<bool> {
        let f = field(app_id, push_key_);
        let n: i64 = self
            .with(async |conn| {
                self.unregister
                    .key(push_key(uid))
                    .key(pushz_key(uid))
                    .arg(uid)
                    .arg(&f)
                    .invoke_async(conn)
                    .await
            })
            .await?;
        Ok(n > 0)
    }

    async fn remove_key(&self, app_id: &str, push_key_: &str) -> Result<Option<String>> {
        let f = field(app_id, push_key_);
        self.with(async |conn| self.remove_key.arg(&f).invoke_async(conn).await)
            .await
    }

    async fn registrations(&self, uid: &str) -> Result<Vec<Registration>> {
        let all: HashMap<String, String> = self
            .with(async |conn| {
                redis::cmd("HGETALL")
                    .arg(push_key(uid))
                    .query_async(conn)
                    .await
            })
            .await?;
        let mut regs: Vec<Registration> = all
            .values()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        regs.sort_by_key(|r| r.registered_ms);
        Ok(regs)
    }

    async fn save_invite(&self, rec: &PushedInvite, ttl: Duration) -> Result<()> {
        let json = serde_json::to_string(rec)?;
        let key = invite_key(&rec.caller, rec.invite_id());
        self.with(async |conn| {
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(&key)
                .ignore()
                .cmd("HSET")
                .arg(&key)
                .arg("rec")
                .arg(&json)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl.as_millis().max(1) as u64)
                .ignore()
                .query_async::<()>(conn)
                .await
        })
        .await
    }

    async fn end_invite(
        &self,
        caller: &str,
        invite_id: &str,
        ended: &Ended,
    ) -> Result<Option<PushedInvite>> {
        let json = serde_json::to_string(ended)?;
        let rec: Option<String> = self
            .with(async |conn| {
                self.end_invite
                    .key(invite_key(caller, invite_id))
                    .arg(&json)
                    .arg(FETCH_AFTER_END.as_millis() as u64)
                    .invoke_async(conn)
                    .await
            })
            .await?;
        rec.map(|json| serde_json::from_str(&json).map_err(StoreError::from))
            .transpose()
    }

    async fn invite(
        &self,
        caller: &str,
        invite_id: &str,
    ) -> Result<Option<(PushedInvite, Option<Ended>)>> {
        let (rec, outcome): (Option<String>, Option<String>) = self
            .with(async |conn| {
                redis::cmd("HMGET")
                    .arg(invite_key(caller, invite_id))
                    .arg("rec")
                    .arg("outcome")
                    .query_async(conn)
                    .await
            })
            .await?;
        let Some(rec) = rec else {
            return Ok(None);
        };
        let rec: PushedInvite = serde_json::from_str(&rec)?;
        let ended = outcome
            .map(|json| serde_json::from_str::<Ended>(&json))
            .transpose()?;
        Ok(Some((rec, ended)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wd_protocol::{FailureReason, Mode, PeerMessage, PushProvider};

    fn reg(app: &str, key: &str, at: u64) -> Registration {
        Registration {
            provider: PushProvider::Fcm,
            app_id: app.into(),
            push_key: key.into(),
            data: None,
            device: "n1.1".into(),
            registered_ms: at,
        }
    }

    fn keys(m: &MemoryStore, uid: &str) -> Vec<String> {
        m.registrations(uid)
            .into_iter()
            .map(|r| r.push_key)
            .collect()
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn registrations_refresh_move_expire_and_are_capped() {
        let m = MemoryStore::default();
        m.register("bob", &reg("a", "k1", 1_000), 2, DAY);
        m.register("bob", &reg("a", "k2", 2_000), 2, DAY);
        m.register("bob", &reg("a", "k1", 3_000), 2, DAY);
        assert_eq!(keys(&m, "bob"), ["k2", "k1"], "a refresh moves it last");
        m.register("bob", &reg("a", "k3", 4_000), 2, DAY);
        assert_eq!(keys(&m, "bob"), ["k1", "k3"], "the least recent goes");
        assert_eq!(m.remove_key("a", "k2"), None, "k2 is gone for good");
        m.register("carol", &reg("a", "k1", 5_000), 2, DAY);
        assert_eq!(keys(&m, "bob"), ["k3"], "a key belongs to one user");
        assert_eq!(keys(&m, "carol"), ["k1"]);
        assert!(!m.unregister("bob", "a", "k1"), "not bob's any more");
        assert!(m.unregister("carol", "a", "k1"));
        assert!(keys(&m, "carol").is_empty());
        assert_eq!(m.remove_key("a", "k3").as_deref(), Some("bob"));
        assert_eq!(m.remove_key("a", "k3"), None);
        // Expiry: a registration older than the retention is dropped on
        // the next registration.
        m.register("dave", &reg("a", "old", 0), 4, DAY);
        m.register("dave", &reg("a", "new", DAY.as_millis() as u64 + 1), 4, DAY);
        assert_eq!(keys(&m, "dave"), ["new"]);
    }

    #[test]
    fn an_invite_ends_once_and_is_forgotten_later() {
        let m = MemoryStore::default();
        let rec = PushedInvite {
            caller: "alice".into(),
            caller_device: "n1.1".into(),
            invitee: "bob".into(),
            invite: PeerMessage::Invite {
                invite_id: "i1".into(),
                conversation_id: "c1".into(),
                mode: Mode::P2p,
                user_data: None,
                offer: None,
                lifetime_ms: 1000,
            },
            deadline_ms: 2_000,
            pushed: vec![],
        };
        m.save_invite(&rec, Duration::from_secs(60), 1_000).unwrap();
        assert!(m.invite("alice", "i1", 1_500).unwrap().1.is_none());
        assert!(m.invite("mallory", "i1", 1_500).is_none());
        let failed = Ended {
            outcome: Outcome::Failed {
                reason: FailureReason::Timeout,
            },
            at_ms: 2_000,
        };
        assert!(m.end_invite("alice", "i1", failed.clone(), 2_000).is_some());
        assert!(m.end_invite("alice", "i1", failed, 2_001).is_none());
        let after = 2_000 + FETCH_AFTER_END.as_millis() as u64;
        assert!(m.invite("alice", "i1", after - 1).unwrap().1.is_some());
        assert!(m.invite("alice", "i1", after).is_none());
    }
}
