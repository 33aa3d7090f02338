//! A Prometheus histogram whose observations take no lock.
//!
//! `prometheus_client`'s own `Histogram` keeps its buckets behind one
//! mutex, so every observation from every runtime thread meets on that
//! lock. [`AtomicHistogram`] keeps one atomic per bucket and the sum in an
//! atomic: an observation is two atomic adds. It is encoded exactly as the
//! library's classic histogram (`_sum`, `_count`, cumulative `_bucket`
//! lines with the same bounds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A classic histogram with fixed bucket bounds, updated with atomics.
/// Clones share the same buckets.
#[derive(Clone, Debug)]
pub(crate) struct AtomicHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds, ascending, the last one `+Inf`.
    bounds: Box<[f64]>,
    /// Observations per bucket (not cumulative), one per bound.
    counts: Box<[AtomicU64]>,
    /// The sum of the observations, as the bits of an `f64`.
    sum: AtomicU64,
}

impl AtomicHistogram {
    /// A histogram with these finite upper bounds, plus `+Inf`.
    pub(crate) fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let bounds: Box<[f64]> = bounds
            .into_iter()
            .filter(|b| b.is_finite())
            .chain(std::iter::once(f64::INFINITY))
            .collect();
        let counts = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            inner: Arc::new(Inner {
                bounds,
                counts,
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Records one observation of `v` (NaN counts in the last bucket, as
    /// in `prometheus_client`).
    pub(crate) fn observe(&self, v: f64) {
        let inner = &*self.inner;
        let last = inner.bounds.len() - 1;
        let i = inner.bounds.iter().position(|b| *b >= v).unwrap_or(last);
        inner.counts[i].fetch_add(1, Ordering::Relaxed);
        let _ = inner
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// (sum, count, per-bucket counts) at this moment. The count is the
    /// total of the buckets read, so that `_count` always equals the
    /// `+Inf` bucket even while observations go on.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .zip(inner.counts.iter())
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = f64::from_bits(inner.sum.load(Ordering::Relaxed));
        (sum, count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    /// The same observations give the same text as the library's
    /// histogram: bounds, cumulative counts, sum and count.
    #[test]
    fn encodes_like_the_library_histogram() {
        let bounds = [0.005, 0.01, 0.025, 0.5, 60.0];
        let values = [0.001, 0.005, 0.007, 0.3, 0.3, 59.0, 61.0, 1e9, f64::NAN];
        let ours = AtomicHistogram::new(bounds);
        let theirs = Histogram::new(bounds);
        for v in values.iter().filter(|v| !v.is_nan()) {
            ours.observe(*v);
            theirs.observe(*v);
        }
        let a = text(|r| r.register("h", "help", ours.clone()));
        let b = text(|r| r.register("h", "help", theirs.clone()));
        assert_eq!(a, b);
        assert!(a.contains("h_count 8\n"), "{a}");
        assert!(a.contains("h_bucket{le=\"0.005\"} 2\n"), "{a}");
        assert!(a.contains("h_bucket{le=\"+Inf\"} 8\n"), "{a}");
        // NaN goes to the last bucket, as in the library.
        ours.observe(f64::NAN);
        theirs.observe(f64::NAN);
        let (_, count, buckets) = ours.snapshot();
        assert_eq!(count, 9);
        assert_eq!(buckets.last().map(|b| b.1), Some(3));
    }

    /// Observations from many threads at once are all counted.
    #[test]
    fn counts_every_observation_from_every_thread() {
        let h = AtomicHistogram::new([0.01, 1.0]);
        std::thread::scope(|s| {
            for t in 0..4 {
                let h = h.clone();
                s.spawn(move || {
                    for i in 0..10_000 {
                        h.observe(if (i + t) % 2 == 0 { 0.005 } else { 0.5 });
                    }
                });
            }
        });
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 40_000);
        assert_eq!(buckets[0].1, 20_000);
        assert_eq!(buckets[1].1, 20_000);
        assert_eq!(buckets[2].1, 0);
        assert!((sum - 20_000.0 * 0.505).abs() < 1e-6, "{sum}");
    }
}
