//! The handle table: Kotlin's `Long` ids to SDK objects.
//!
//! The table owns one SDK clone per live id. Lookups clone it under the
//! lock and work on the clone after releasing it, so no SDK call and no
//! callback ever runs under the table lock, and a handle freed meanwhile
//! stays alive until that call ends (the last clone drops it). Removed
//! entries are dropped outside the lock too: dropping a client joins its
//! threads, and dropping a listener deletes a JNI global reference.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use jni::sys::jlong;
use wilddog_video::client::{Client, Conversation, IncomingInvite, OutgoingInvite};

use crate::Fail;

/// What an id names.
#[derive(Clone)]
pub(crate) enum Entry {
    Client(Client),
    Outgoing(OutgoingInvite),
    Incoming(IncomingInvite),
    Conversation(Conversation),
}

static NEXT_ID: AtomicI64 = AtomicI64::new(1);

fn table() -> MutexGuard<'static, HashMap<jlong, Entry>> {
    static TABLE: OnceLock<Mutex<HashMap<jlong, Entry>>> = OnceLock::new();
    TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Stores `entry` under a new id (never 0, never reused).
pub(crate) fn insert(entry: Entry) -> jlong {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    table().insert(id, entry);
    id
}

/// Removes `id`; the caller drops the entry after the lock is released.
/// `None` when it was not live (a second free is a no-op).
pub(crate) fn remove(id: jlong) -> Option<Entry> {
    table().remove(&id)
}

/// How many ids are live.
pub(crate) fn live() -> usize {
    table().len()
}

fn get(id: jlong) -> Option<Entry> {
    table().get(&id).cloned()
}

macro_rules! getter {
    ($name:ident, $variant:ident, $ty:ty, $what:literal) => {
        /// The live object behind `id`, or `HandleClosedException`.
        pub(crate) fn $name(id: jlong) -> Result<$ty, Fail> {
            match get(id) {
                Some(Entry::$variant(x)) => Ok(x),
                Some(_) => Err(Fail::Arg {
                    field: "handle".to_owned(),
                    message: concat!("not a ", $what).to_owned(),
                }),
                None => Err(Fail::Closed($what)),
            }
        }
    };
}

getter!(client, Client, Client, "WilddogVideoClient");
getter!(outgoing, Outgoing, OutgoingInvite, "OutgoingInvite");
getter!(incoming, Incoming, IncomingInvite, "IncomingInvite");
getter!(conversation, Conversation, Conversation, "Conversation");
