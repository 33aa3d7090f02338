//! Routing between several `wd-signal` nodes through a broker.
//!
//! One node routes in memory ([`crate::MemoryRouter`]); with
//! `--broker redis://HOST:PORT` every node uses a [`RedisRouter`] instead:
//! devices of the node itself are still served in-process, presence is
//! shared in Redis and frames for devices on other nodes go over a Redis
//! pub/sub channel per node. `docs/SCALING.md` describes the design, the
//! message flow and the failure modes.

mod redis;
mod scripts;

pub use self::redis::{RedisRouter, HEARTBEAT, NODE_TTL};
