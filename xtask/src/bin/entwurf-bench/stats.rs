//! Latency samples and their percentiles.

use std::time::{Duration, Instant};

use xtask::report::Summary;

/// A set of latency samples (one per operation).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    durations: Vec<Duration>,
}

impl Samples {
    pub fn first(&self) -> Option<Duration> {
        self.durations.first().copied()
    }

    pub fn push(&mut self, d: Duration) {
        self.durations.push(d);
    }

    pub fn len(&self) -> usize {
        self.durations.len()
    }

    /// Nearest-rank percentile in milliseconds (`p` in 0..=100).
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.durations.is_empty() {
            return f64::NAN;
        }
        let mut v = self.durations.clone();
        v.sort();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, v.len()) - 1;
        ms(v[idx])
    }

    pub fn mean_ms(&self) -> f64 {
        if self.durations.is_empty() {
            return f64::NAN;
        }
        let total: Duration = self.durations.iter().sum();
        ms(total) / self.durations.len() as f64
    }

    /// Count, percentiles and mean, rounded; no figures without samples.
    pub fn summary(&self) -> Summary {
        let figure = |x: f64| x.is_finite().then(|| round(x));
        Summary {
            n: self.len(),
            p50_ms: figure(self.pct_ms(50.0)),
            p90_ms: figure(self.pct_ms(90.0)),
            p99_ms: figure(self.pct_ms(99.0)),
            mean_ms: figure(self.mean_ms()),
            max_ms: figure(self.pct_ms(100.0)),
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Four significant decimals are plenty for milliseconds.
pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Times one call.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_samples_give_no_figures_and_samples_give_nearest_rank_ones() {
        let empty = Samples::default().summary();
        assert_eq!(empty.n, 0);
        assert_eq!(
            (empty.p50_ms, empty.mean_ms, empty.max_ms),
            (None, None, None)
        );
        let mut s = Samples::default();
        for ms in [4, 1, 3, 2] {
            s.push(Duration::from_millis(ms));
        }
        let sum = s.summary();
        assert_eq!(sum.n, 4);
        assert_eq!(sum.p50_ms, Some(2.0));
        assert_eq!(sum.p99_ms, Some(4.0));
        assert_eq!(sum.mean_ms, Some(2.5));
    }
}
