//! Per-user invite rate limit: a token bucket per uid.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by uid, shared by all connections of the server.
///
/// Each uid may spend `burst` invites at once, refilled at `rate_per_sec`.
/// Buckets that have refilled completely are dropped now and then, so the
/// map holds only users that invited recently.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Size of the map above which full buckets are swept out.
const SWEEP_ABOVE: usize = 4096;

impl RateLimiter {
    /// Buckets of `burst` tokens refilled at `rate_per_sec` tokens a second.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        RateLimiter {
            rate_per_sec: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `uid`'s bucket; false if it is empty.
    pub fn allow(&self, uid: &str) -> bool {
        self.allow_at(uid, Instant::now())
    }

    fn allow_at(&self, uid: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > SWEEP_ABOVE && !buckets.contains_key(uid) {
            let (rate, burst) = (self.rate_per_sec, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        let bucket = match buckets.get_mut(uid) {
            Some(b) => b,
            None => buckets.entry(uid.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate_per_sec).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(10, 3);
        let t0 = Instant::now();
        assert!(rl.allow_at("a", t0));
        assert!(rl.allow_at("a", t0));
        assert!(rl.allow_at("a", t0));
        assert!(!rl.allow_at("a", t0));
        assert!(rl.allow_at("b", t0), "buckets are per uid");
        assert!(rl.allow_at("a", t0 + Duration::from_millis(100)));
        assert!(!rl.allow_at("a", t0 + Duration::from_millis(100)));
    }

    #[test]
    fn full_buckets_are_swept() {
        let rl = RateLimiter::new(1000, 1);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            rl.allow_at(&i.to_string(), t0);
        }
        rl.allow_at("late", t0 + Duration::from_secs(1));
        assert_eq!(rl.buckets.lock().unwrap().len(), 1);
    }
}
