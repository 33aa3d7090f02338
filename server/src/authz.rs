//! Who may relay what: the server knows the parties of every invite and
//! the members of every conversation, and relays a peer message only
//! between them.
//!
//! - An `invite` records (caller, invite id) → invitee and conversation,
//!   until the invite's lifetime plus [`INVITE_GRACE`] has passed. Only
//!   the caller and the invitee may then send each other messages about
//!   that invite (`ringing`, `accept`, `reject`, `outcome`, `query`,
//!   `status`, and any later kind that names an invite).
//! - An `outcome accepted` makes the caller and the invitee members of the
//!   invite's conversation. Only a member may send `message`, `leave` or
//!   `joined` about a conversation, and only to another member; only a
//!   member may invite into a conversation that exists.
//!
//! Users are the unit: any device of a party may speak for it (devices
//! change when a client reconnects). [`Membership`] is one node's view;
//! a broker-backed router shares what a node records with the others
//! ([`crate::Router::share`]) and fetches what a node does not know
//! ([`crate::Router::fetch`]).

use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wd_protocol::{Outcome, PeerMessage};

/// How long an invite's parties may still talk about it after its
/// lifetime: the invitee's confirm timeout, and queries after a
/// reconnect.
pub const INVITE_GRACE: Duration = Duration::from_secs(120);

/// How long a conversation is remembered after the last message relayed
/// in it.
pub const CONVERSATION_IDLE: Duration = Duration::from_secs(24 * 3600);

/// Most undecided invites (no outcome relayed yet) one caller may have
/// recorded at once; the next invite is refused `rate_limited` until some
/// are decided or expire. (16 devices × 1024 pending invites each.)
pub const MAX_INVITES_PER_CALLER: usize = 16 * 1024;

/// Most decided invites remembered per caller (for the invitee's `query`
/// after a reconnect, which the caller answers for its last 1024
/// decided invites per device); the oldest is forgotten first.
pub const MAX_DECIDED_PER_CALLER: usize = 4096;

/// Most conversations one user may be a member of at once; when it joins
/// one more, the one idle longest is forgotten for it.
pub const MAX_CONVERSATIONS_PER_USER: usize = 4096;

/// A fact about an invite or a conversation, as one node records it and
/// shares it with the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// `caller` invited `invitee` with invite `invite_id` into
    /// `conversation`, valid for `ttl`.
    Invite {
        /// The caller's uid.
        caller: String,
        /// The invite id (chosen by the caller).
        invite_id: String,
        /// The invitee's uid.
        invitee: String,
        /// The conversation the invite is for.
        conversation: String,
        /// How long the fact stays true.
        ttl: Duration,
    },
    /// `members` are in `conversation`.
    Members {
        /// The conversation id.
        conversation: String,
        /// Its members' uids.
        members: Vec<String>,
    },
}

/// What a node asks the broker when it does not know the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    /// Every invite with id `invite_id` (of any caller).
    Invite {
        /// The invite id.
        invite_id: String,
    },
    /// Every member of `conversation`.
    Members {
        /// The conversation id.
        conversation: String,
    },
}

/// What a relayed message needs checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Anything goes (nothing is claimed about an invite or conversation).
    Free,
    /// A new invite: into a conversation that does not exist yet, or that
    /// the caller is a member of.
    Invite {
        /// The conversation the invite is for.
        conversation: String,
    },
    /// The sender and the recipient are the two parties of an invite.
    Parties {
        /// The invite id.
        invite_id: String,
    },
    /// The sender and the recipient are both members of the conversation.
    Members {
        /// The conversation id.
        conversation: String,
    },
}

impl Check {
    /// What relaying `body` requires.
    pub fn of(body: &PeerMessage) -> Check {
        match body {
            PeerMessage::Invite {
                conversation_id, ..
            } => Check::Invite {
                conversation: conversation_id.clone(),
            },
            PeerMessage::Leave { conversation_id }
            | PeerMessage::Message {
                conversation_id, ..
            }
            | PeerMessage::Joined {
                conversation_id, ..
            } => Check::Members {
                conversation: conversation_id.clone(),
            },
            other => match other.invite_id() {
                Some(id) => Check::Parties {
                    invite_id: id.to_owned(),
                },
                None => Check::Free,
            },
        }
    }

    /// What the broker must be asked before deciding, if this node does
    /// not know enough: `None` when it does.
    pub fn question(&self, m: &Membership, from: &str, to: &str) -> Option<Vec<Question>> {
        match self {
            Check::Free => None,
            Check::Invite { conversation } => (!m.knows_conversation(conversation)).then(|| {
                vec![Question::Members {
                    conversation: conversation.clone(),
                }]
            }),
            Check::Parties { invite_id } => (!m.parties(from, to, invite_id)).then(|| {
                vec![Question::Invite {
                    invite_id: invite_id.clone(),
                }]
            }),
            Check::Members { conversation } => {
                (!(m.is_member(conversation, from) && m.is_member(conversation, to))).then(|| {
                    vec![Question::Members {
                        conversation: conversation.clone(),
                    }]
                })
            }
        }
    }
}

/// Why a relay was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The sender has no part in the invite or conversation, or the
    /// recipient has none.
    Forbidden,
    /// The caller has [`MAX_INVITES_PER_CALLER`] invites recorded.
    TooManyInvites,
}

#[derive(Debug)]
struct InviteRecord {
    invitee: Box<str>,
    conversation: Box<str>,
    expires: Instant,
    decided: bool,
}

/// The invites one caller has recorded.
#[derive(Debug, Default)]
struct Book {
    undecided: usize,
    /// Decided invites, oldest first.
    decided: std::collections::VecDeque<Box<str>>,
}

#[derive(Debug)]
struct Conversation {
    members: Vec<Box<str>>,
    touched: Instant,
}

/// The conversations one user is a member of: how many, and a queue of
/// them by the time they were last active, so that the one idle longest
/// is found without scanning every conversation of the node.
///
/// The queue is lazy: an entry keeps the time its conversation had when
/// it was queued, and a conversation touched since (or forgotten, or left)
/// is put right (queued again, or dropped) only when it reaches the front.
#[derive(Debug, Default)]
struct Joined {
    count: usize,
    by_activity: BinaryHeap<Reverse<(Instant, Box<str>)>>,
}

impl Joined {
    /// Queues `conversation`, last active at `touched`. When stale entries
    /// make up most of the queue it is rebuilt from `conversations` (one
    /// entry per conversation `uid` is in, at its current time), so that
    /// it holds at most about twice the user's conversations.
    fn queue(
        &mut self,
        conversation: &str,
        touched: Instant,
        uid: &str,
        conversations: &FxHashMap<Box<str>, Conversation>,
    ) {
        self.by_activity
            .push(Reverse((touched, Box::from(conversation))));
        if self.by_activity.len() <= 2 * self.count + 16 {
            return;
        }
        let mut seen = FxHashSet::default();
        let stale = std::mem::take(&mut self.by_activity).into_vec();
        for Reverse((_, id)) in stale {
            let Some(c) = conversations.get(&id) else {
                continue;
            };
            if c.members.iter().any(|m| &**m == uid) && seen.insert(id.clone()) {
                self.by_activity.push(Reverse((c.touched, id)));
            }
        }
    }

    /// The conversation `uid` was active in least recently, other than
    /// `keep`, taken off the queue.
    fn pop_idlest(
        &mut self,
        uid: &str,
        keep: &str,
        conversations: &FxHashMap<Box<str>, Conversation>,
    ) -> Option<Box<str>> {
        let mut kept = None;
        let idlest = loop {
            let Some(Reverse((at, id))) = self.by_activity.pop() else {
                break None;
            };
            let Some(c) = conversations.get(&id) else {
                continue;
            };
            if !c.members.iter().any(|m| &**m == uid) {
                continue;
            }
            if &*id == keep {
                kept = Some(Reverse((at, id)));
            } else if c.touched > at {
                // Active since it was queued: back in line at its time.
                self.by_activity.push(Reverse((c.touched, id)));
            } else {
                break Some(id);
            }
        };
        if let Some(entry) = kept {
            self.by_activity.push(entry);
        }
        idlest
    }
}

#[derive(Debug, Default)]
struct State {
    invites: FxHashMap<(Box<str>, Box<str>), InviteRecord>,
    /// The callers that have an invite of each id (ids are chosen by
    /// callers, so several may share one).
    by_id: FxHashMap<Box<str>, Vec<Box<str>>>,
    /// Invites recorded per caller.
    per_caller: FxHashMap<Box<str>, Book>,
    conversations: FxHashMap<Box<str>, Conversation>,
    /// Conversations per member.
    per_user: FxHashMap<Box<str>, Joined>,
    /// When expired entries were last swept.
    swept: Option<Instant>,
}

/// How often expired invites and idle conversations are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// One node's record of invites and conversations.
#[derive(Debug, Default)]
pub struct Membership {
    state: Mutex<State>,
}

impl State {
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        let per_caller = &mut self.per_caller;
        let by_id = &mut self.by_id;
        self.invites.retain(|(caller, id), r| {
            let keep = r.expires > now;
            if !keep {
                unindex(by_id, caller, id);
                if let Some(book) = per_caller.get_mut(caller) {
                    if r.decided {
                        book.decided.retain(|d| d != id);
                    } else {
                        book.undecided = book.undecided.saturating_sub(1);
                    }
                    if book.undecided == 0 && book.decided.is_empty() {
                        per_caller.remove(caller);
                    }
                }
            }
            keep
        });
        let per_user = &mut self.per_user;
        self.conversations.retain(|_, c| {
            let keep = now.saturating_duration_since(c.touched) < CONVERSATION_IDLE;
            if !keep {
                for m in &c.members {
                    dec(per_user, m);
                }
            }
            keep
        });
    }

    fn invite(&self, caller: &str, invite_id: &str, now: Instant) -> Option<&InviteRecord> {
        self.invites
            .get(&(Box::from(caller), Box::from(invite_id)))
            .filter(|r| r.expires > now)
    }

    fn record_invite(
        &mut self,
        caller: &str,
        invite_id: &str,
        invitee: &str,
        conversation: &str,
        expires: Instant,
    ) -> bool {
        let key = (Box::from(caller), Box::from(invite_id));
        if let Some(r) = self.invites.get_mut(&key) {
            r.invitee = invitee.into();
            r.conversation = conversation.into();
            r.expires = expires;
            return true;
        }
        let book = self.per_caller.entry(caller.into()).or_default();
        if book.undecided >= MAX_INVITES_PER_CALLER {
            return false;
        }
        book.undecided += 1;
        let record = InviteRecord {
            invitee: invitee.into(),
            conversation: conversation.into(),
            expires,
            decided: false,
        };
        self.by_id
            .entry(key.1.clone())
            .or_default()
            .push(key.0.clone());
        self.invites.insert(key, record);
        true
    }

    /// Who is in the live invites with id `invite_id`: (caller, invitee).
    fn parties_of(&self, invite_id: &str, now: Instant) -> Vec<(&str, &str)> {
        let Some(callers) = self.by_id.get(invite_id) else {
            return Vec::new();
        };
        callers
            .iter()
            .filter_map(|c| self.invite(c, invite_id, now).map(|r| (&**c, &*r.invitee)))
            .collect()
    }

    /// Marks an invite decided (an outcome was relayed, or its caller is
    /// gone): it is remembered among the caller's last
    /// [`MAX_DECIDED_PER_CALLER`] decided invites.
    fn decide(&mut self, caller: &str, invite_id: &str) {
        let key = (Box::from(caller), Box::from(invite_id));
        let Some(r) = self.invites.get_mut(&key) else {
            return;
        };
        if r.decided {
            return;
        }
        r.decided = true;
        let book = self.per_caller.entry(caller.into()).or_default();
        book.undecided = book.undecided.saturating_sub(1);
        book.decided.push_back(key.1);
        if book.decided.len() > MAX_DECIDED_PER_CALLER {
            if let Some(oldest) = book.decided.pop_front() {
                unindex(&mut self.by_id, &key.0, &oldest);
                self.invites.remove(&(key.0, oldest));
            }
        }
    }

    /// Forgets an invite that reached nobody.
    fn forget(&mut self, caller: &str, invite_id: &str) {
        let key = (Box::from(caller), Box::from(invite_id));
        let Some(r) = self.invites.remove(&key) else {
            return;
        };
        unindex(&mut self.by_id, caller, invite_id);
        if let Some(book) = self.per_caller.get_mut(caller) {
            if r.decided {
                book.decided.retain(|d| *d != key.1);
            } else {
                book.undecided = book.undecided.saturating_sub(1);
            }
            if book.undecided == 0 && book.decided.is_empty() {
                self.per_caller.remove(caller);
            }
        }
    }

    fn add_member(&mut self, conversation: &str, uid: &str, now: Instant) {
        let c = self
            .conversations
            .entry(conversation.into())
            .or_insert_with(|| Conversation {
                members: Vec::new(),
                touched: now,
            });
        c.touched = now;
        if c.members.iter().any(|m| &**m == uid) {
            return;
        }
        c.members.push(uid.into());
        let joined = self.per_user.entry(uid.into()).or_default();
        joined.count += 1;
        joined.queue(conversation, now, uid, &self.conversations);
        if joined.count > MAX_CONVERSATIONS_PER_USER {
            self.forget_oldest(uid, conversation);
        }
    }

    /// Drops `uid` from the conversation it was active in least recently
    /// (other than `keep`).
    fn forget_oldest(&mut self, uid: &str, keep: &str) {
        let Some(joined) = self.per_user.get_mut(uid) else {
            return;
        };
        let Some(id) = joined.pop_idlest(uid, keep, &self.conversations) else {
            return;
        };
        if let Some(c) = self.conversations.get_mut(&id) {
            c.members.retain(|m| &**m != uid);
            if c.members.is_empty() {
                self.conversations.remove(&id);
            }
        }
        dec(&mut self.per_user, uid);
    }
}

fn unindex(by_id: &mut FxHashMap<Box<str>, Vec<Box<str>>>, caller: &str, invite_id: &str) {
    if let Some(callers) = by_id.get_mut(invite_id) {
        callers.retain(|c| &**c != caller);
        if callers.is_empty() {
            by_id.remove(invite_id);
        }
    }
}

/// Counts one conversation fewer for `uid`; forgets the user's queue
/// with its last conversation.
fn dec(per_user: &mut FxHashMap<Box<str>, Joined>, uid: &str) {
    if let Some(joined) = per_user.get_mut(uid) {
        joined.count = joined.count.saturating_sub(1);
        if joined.count == 0 {
            per_user.remove(uid);
        }
    }
}

impl Membership {
    /// Marks the invite `invite_id` of `caller` decided (its caller's
    /// connection ended without an outcome).
    pub fn decided(&self, caller: &str, invite_id: &str) {
        self.lock().decide(caller, invite_id);
    }

    /// Forgets the invite `invite_id` of `caller`: it reached no device.
    pub fn forget(&self, caller: &str, invite_id: &str) {
        self.lock().forget(caller, invite_id);
    }

    /// The conversation `caller`'s invite `invite_id` is for, if recorded.
    pub fn conversation_of(&self, caller: &str, invite_id: &str) -> Option<String> {
        let key = (Box::from(caller), Box::from(invite_id));
        self.lock()
            .invites
            .get(&key)
            .map(|r| r.conversation.to_string())
    }

    /// For each of `conversations` this node knows, its members other than
    /// `uid`.
    pub fn members_of(&self, conversations: &[String], uid: &str) -> Vec<(String, Vec<String>)> {
        let s = self.lock();
        conversations
            .iter()
            .filter_map(|id| {
                let c = s.conversations.get(id.as_str())?;
                let others = c
                    .members
                    .iter()
                    .filter(|m| &***m != uid)
                    .map(|m| m.to_string())
                    .collect();
                Some((id.clone(), others))
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn knows_conversation(&self, conversation: &str) -> bool {
        self.lock().conversations.contains_key(conversation)
    }

    fn is_member(&self, conversation: &str, uid: &str) -> bool {
        self.lock()
            .conversations
            .get(conversation)
            .is_some_and(|c| c.members.iter().any(|m| &**m == uid))
    }

    /// Whether `a` and `b` are the caller and invitee (either way round)
    /// of a live invite `invite_id`.
    fn parties(&self, a: &str, b: &str, invite_id: &str) -> bool {
        let now = Instant::now();
        let s = self.lock();
        s.parties_of(invite_id, now)
            .iter()
            .any(|&(c, i)| (c, i) == (a, b) || (c, i) == (b, a))
    }

    /// Learns a fact another node recorded (the broker's answer).
    pub fn learn(&self, fact: &Fact) {
        let now = Instant::now();
        let mut s = self.lock();
        match fact {
            Fact::Invite {
                caller,
                invite_id,
                invitee,
                conversation,
                ttl,
            } => {
                s.record_invite(caller, invite_id, invitee, conversation, now + *ttl);
            }
            Fact::Members {
                conversation,
                members,
            } => {
                for m in members {
                    s.add_member(conversation, m, now);
                }
            }
        }
    }

    /// Decides whether `from` may send `body` to `to`, and records what
    /// the message establishes (an invite, the members of an accepted
    /// invite's conversation). Returns the facts recorded, for the broker
    /// to share with the other nodes.
    pub fn admit(
        &self,
        check: &Check,
        from: &str,
        to: &str,
        body: &PeerMessage,
    ) -> Result<Vec<Fact>, Refusal> {
        let now = Instant::now();
        if from == to {
            // Nobody is in an invite or a conversation with itself.
            return Err(Refusal::Forbidden);
        }
        let mut s = self.lock();
        s.sweep(now);
        match check {
            Check::Free => Ok(Vec::new()),
            Check::Invite { conversation } => {
                if let Some(c) = s.conversations.get(conversation.as_str()) {
                    if !c.members.iter().any(|m| &**m == from) {
                        return Err(Refusal::Forbidden);
                    }
                }
                let (invite_id, lifetime_ms) = match body {
                    PeerMessage::Invite {
                        invite_id,
                        lifetime_ms,
                        ..
                    } => (invite_id, *lifetime_ms),
                    _ => return Err(Refusal::Forbidden),
                };
                let ttl = Duration::from_millis(lifetime_ms) + INVITE_GRACE;
                if !s.record_invite(from, invite_id, to, conversation, now + ttl) {
                    return Err(Refusal::TooManyInvites);
                }
                Ok(vec![Fact::Invite {
                    caller: from.to_owned(),
                    invite_id: invite_id.clone(),
                    invitee: to.to_owned(),
                    conversation: conversation.clone(),
                    ttl,
                }])
            }
            Check::Parties { invite_id } => {
                // `to` is the caller (ringing, accept, reject, query) or
                // `from` is (outcome, status).
                let parties = s.parties_of(invite_id, now);
                let as_invitee = parties.iter().any(|&(c, i)| (c, i) == (to, from));
                let as_caller = parties.iter().any(|&(c, i)| (c, i) == (from, to));
                if !as_invitee && !as_caller {
                    // An invite the server knows that involves either of
                    // them is someone else's. One it knows nothing about
                    // (made before a restart, or long expired) is
                    // relayed: the receiving engine checks it.
                    let involved = |u: &str| parties.iter().any(|&(c, i)| c == u || i == u);
                    if involved(from) || involved(to) {
                        return Err(Refusal::Forbidden);
                    }
                    return Ok(Vec::new());
                }
                let conversation = if as_caller {
                    s.invite(from, invite_id, now)
                        .map(|r| r.conversation.to_string())
                } else {
                    None
                };
                if let (PeerMessage::Outcome { .. }, Some(_)) = (body, &conversation) {
                    s.decide(from, invite_id);
                }
                match (body, conversation) {
                    (
                        PeerMessage::Outcome {
                            outcome: Outcome::Accepted { .. },
                            ..
                        },
                        Some(conversation),
                    ) => {
                        // The caller must still be in (or start) the
                        // conversation: checked when it invited.
                        s.add_member(&conversation, from, now);
                        s.add_member(&conversation, to, now);
                        Ok(vec![Fact::Members {
                            conversation,
                            members: vec![from.to_owned(), to.to_owned()],
                        }])
                    }
                    _ => Ok(Vec::new()),
                }
            }
            Check::Members { conversation } => {
                let Some(c) = s.conversations.get_mut(conversation.as_str()) else {
                    return Err(Refusal::Forbidden);
                };
                let has = |uid: &str| c.members.iter().any(|m| &**m == uid);
                if !(has(from) && has(to)) {
                    return Err(Refusal::Forbidden);
                }
                c.touched = now;
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wd_protocol::{Mode, RejectReason};

    fn invite(id: &str, conversation: &str) -> PeerMessage {
        PeerMessage::Invite {
            invite_id: id.into(),
            conversation_id: conversation.into(),
            mode: Mode::P2p,
            user_data: None,
            offer: None,
            lifetime_ms: 60_000,
        }
    }

    fn admit(m: &Membership, from: &str, to: &str, body: PeerMessage) -> Result<(), Refusal> {
        m.admit(&Check::of(&body), from, to, &body).map(|_| ())
    }

    fn message(conversation: &str) -> PeerMessage {
        PeerMessage::Message {
            conversation_id: conversation.into(),
            payload: "hi".into(),
        }
    }

    fn accepted(id: &str) -> PeerMessage {
        PeerMessage::Outcome {
            invite_id: id.into(),
            outcome: Outcome::Accepted {
                device: "n1.b".into(),
                participants: Vec::new(),
            },
        }
    }

    #[test]
    fn only_the_parties_talk_about_an_invite() {
        let m = Membership::default();
        let ringing = PeerMessage::Ringing {
            invite_id: "i".into(),
        };
        admit(&m, "alice", "bob", invite("i", "c")).unwrap();
        admit(&m, "bob", "alice", ringing.clone()).unwrap();
        let reject = PeerMessage::Reject {
            invite_id: "i".into(),
            reason: RejectReason::Busy,
        };
        admit(&m, "bob", "alice", reject.clone()).unwrap();
        assert_eq!(admit(&m, "eve", "alice", reject), Err(Refusal::Forbidden));
        assert_eq!(
            admit(&m, "eve", "bob", accepted("i")),
            Err(Refusal::Forbidden)
        );
        // The invitee cannot send the caller's outcome to a third party.
        assert_eq!(
            admit(&m, "bob", "eve", accepted("i")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            admit(&m, "alice", "eve", accepted("i")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            admit(&m, "alice", "bob", message("c")),
            Err(Refusal::Forbidden)
        );
        admit(&m, "alice", "bob", accepted("i")).unwrap();
        admit(&m, "alice", "bob", message("c")).unwrap();
        admit(&m, "bob", "alice", message("c")).unwrap();
        assert_eq!(
            admit(&m, "eve", "bob", message("c")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            admit(&m, "bob", "eve", message("c")),
            Err(Refusal::Forbidden)
        );
    }

    /// An invite the server knows nothing about (made before a restart)
    /// is the receiving engine's to judge; one it knows that involves
    /// the sender or the recipient is someone else's.
    #[test]
    fn unknown_invites_are_relayed_known_ones_only_between_their_parties() {
        let m = Membership::default();
        let ringing = |id: &str| PeerMessage::Ringing {
            invite_id: id.into(),
        };
        admit(&m, "bob", "alice", ringing("before-restart")).unwrap();
        assert_eq!(
            admit(&m, "bob", "bob", ringing("before-restart")),
            Err(Refusal::Forbidden),
            "nobody talks to itself"
        );
        admit(&m, "alice", "bob", invite("i", "c")).unwrap();
        assert_eq!(
            admit(&m, "eve", "bob", accepted("i")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            admit(&m, "eve", "alice", ringing("i")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            admit(&m, "bob", "eve", ringing("i")),
            Err(Refusal::Forbidden)
        );
        // Another caller's invite of the same id is its own.
        admit(&m, "carol", "dave", invite("i", "c2")).unwrap();
        admit(&m, "dave", "carol", ringing("i")).unwrap();
        admit(&m, "bob", "alice", ringing("i")).unwrap();
    }

    #[test]
    fn only_members_invite_into_a_conversation() {
        let m = Membership::default();
        admit(&m, "alice", "bob", invite("i", "c")).unwrap();
        admit(&m, "alice", "bob", accepted("i")).unwrap();
        assert_eq!(
            admit(&m, "eve", "mallory", invite("j", "c")),
            Err(Refusal::Forbidden)
        );
        admit(&m, "bob", "carol", invite("k", "c")).unwrap();
        admit(&m, "bob", "carol", accepted("k")).unwrap();
        let joined = PeerMessage::Joined {
            conversation_id: "c".into(),
            uid: "carol".into(),
            device: "n1.c".into(),
        };
        admit(&m, "bob", "alice", joined).unwrap();
        admit(&m, "carol", "alice", message("c")).unwrap();
    }

    #[test]
    fn members_of_conversations_name_the_other_members() {
        let m = Membership::default();
        let both = ["b".to_owned(), "c".to_owned()];
        assert!(m.members_of(&both, "bob").is_empty());
        admit(&m, "alice", "bob", invite("i", "c")).unwrap();
        assert_eq!(m.conversation_of("alice", "i").as_deref(), Some("c"));
        assert_eq!(m.conversation_of("bob", "i"), None, "bob is not its caller");
        assert!(m.members_of(&both, "bob").is_empty(), "not accepted yet");
        admit(&m, "alice", "bob", accepted("i")).unwrap();
        admit(&m, "bob", "carol", invite("k", "c")).unwrap();
        admit(&m, "bob", "carol", accepted("k")).unwrap();
        m.learn(&Fact::Members {
            conversation: "b".into(),
            members: vec!["dave".into(), "bob".into()],
        });
        assert_eq!(
            m.members_of(&both, "bob"),
            vec![
                ("b".to_owned(), vec!["dave".to_owned()]),
                ("c".to_owned(), vec!["alice".to_owned(), "carol".to_owned()]),
            ]
        );
        assert_eq!(
            m.members_of(&["c".to_owned()], "carol"),
            vec![("c".to_owned(), vec!["alice".to_owned(), "bob".to_owned()])]
        );
        assert!(m.members_of(&["x".to_owned()], "eve").is_empty());
    }

    #[test]
    fn invites_per_caller_are_bounded_and_learned_facts_count() {
        let m = Membership::default();
        for i in 0..MAX_INVITES_PER_CALLER {
            admit(&m, "alice", "bob", invite(&format!("i{i}"), "c")).unwrap();
        }
        assert_eq!(
            admit(&m, "alice", "bob", invite("one-more", "c")),
            Err(Refusal::TooManyInvites)
        );
        // Deciding makes room; decided invites are remembered up to a
        // bound, the oldest forgotten first.
        let canceled = |id: &str| PeerMessage::Outcome {
            invite_id: id.into(),
            outcome: Outcome::Canceled { reason: None },
        };
        for i in 0..MAX_INVITES_PER_CALLER {
            admit(&m, "alice", "bob", canceled(&format!("i{i}"))).unwrap();
        }
        admit(&m, "alice", "bob", invite("one-more", "c")).unwrap();
        let ringing = |id: &str| PeerMessage::Ringing {
            invite_id: id.into(),
        };
        let last = format!("i{}", MAX_INVITES_PER_CALLER - 1);
        assert!(!m.parties("bob", "alice", "i0"), "the oldest is forgotten");
        assert!(m.parties("bob", "alice", &last));
        admit(&m, "bob", "alice", ringing(&last)).unwrap();
        assert_eq!(
            admit(&m, "eve", "alice", ringing(&last)),
            Err(Refusal::Forbidden)
        );
        assert!(m.parties("bob", "alice", "one-more"));
        m.forget("alice", "one-more");
        assert!(!m.parties("bob", "alice", "one-more"));
        let other = Membership::default();
        other.learn(&Fact::Invite {
            caller: "alice".into(),
            invite_id: "i".into(),
            invitee: "bob".into(),
            conversation: "c".into(),
            ttl: Duration::from_secs(60),
        });
        let check = Check::Parties {
            invite_id: "i".into(),
        };
        assert_eq!(check.question(&other, "bob", "alice"), None);
        assert!(check.question(&other, "eve", "alice").is_some());
    }

    /// A user joining one conversation over the cap is dropped from the
    /// one it was active in least recently, not from one active since it
    /// joined, nor from the one it joins.
    #[test]
    fn over_the_cap_the_conversation_idle_longest_is_forgotten() {
        let mut s = State::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for i in 0..MAX_CONVERSATIONS_PER_USER {
            s.add_member(&format!("c{i}"), "alice", at(i as u64));
            s.add_member(&format!("c{i}"), "bob", at(i as u64));
        }
        let member = |s: &State, c: &str, uid: &str| {
            s.conversations
                .get(c)
                .is_some_and(|c| c.members.iter().any(|m| &**m == uid))
        };
        // c0 is active again: c1 is now the idlest of alice's.
        let later = 3_600_000;
        s.add_member("c0", "alice", at(later));
        s.add_member("new", "alice", at(later + 1));
        assert!(member(&s, "c0", "alice"));
        assert!(!member(&s, "c1", "alice"));
        assert!(member(&s, "c1", "bob"), "only alice is dropped from c1");
        assert!(member(&s, "new", "alice"));
        assert_eq!(s.per_user["alice"].count, MAX_CONVERSATIONS_PER_USER);
        // The next join drops c2, the idlest now; c0 stays.
        s.add_member("newer", "alice", at(later + 2));
        assert!(!member(&s, "c2", "alice"));
        assert!(member(&s, "c0", "alice") && member(&s, "c3", "alice"));
        // A conversation with no member left is forgotten.
        s.add_member("solo", "carol", at(0));
        for i in 0..MAX_CONVERSATIONS_PER_USER {
            s.add_member(&format!("d{i}"), "carol", at(later + 10 + i as u64));
        }
        assert!(!s.conversations.contains_key("solo"));
        // Joining and being dropped over and over keeps the queue small.
        for i in 0..3 * MAX_CONVERSATIONS_PER_USER {
            s.add_member(&format!("e{i}"), "alice", at(2 * later + i as u64));
        }
        assert_eq!(s.per_user["alice"].count, MAX_CONVERSATIONS_PER_USER);
        assert!(s.per_user["alice"].by_activity.len() <= 2 * MAX_CONVERSATIONS_PER_USER + 16);
    }
}
