//! A fixed-size log-linear latency histogram (constant memory, ~3% resolution).

/// Sub-buckets per power of two.
const SUB: usize = 32;
/// Powers of two covered (microseconds up to 2^40).
const MAJOR: usize = 41;

/// Latencies in microseconds, bucketed.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; MAJOR * SUB],
            total: 0,
            max_us: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let major = 63 - us.leading_zeros() as usize; // floor(log2), ≥ 5
    let shift = major - SUB.trailing_zeros() as usize;
    let sub = ((us >> shift) as usize) & (SUB - 1);
    ((major - SUB.trailing_zeros() as usize + 1) * SUB + sub).min(MAJOR * SUB - 1)
}

fn bucket_floor(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let row = index / SUB;
    let sub = (index % SUB) as u64;
    let shift = row - 1;
    (SUB as u64 + sub) << shift
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, us: u64) {
        let b = bucket_of(us);
        if let Some(c) = self.counts.get_mut(b) {
            *c += 1;
        }
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0.0..=1.0) in milliseconds (lower bucket bound); 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_floor(i).min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            100,
            1000,
            12_345,
            1_000_000,
            1 << 39,
        ] {
            let b = bucket_of(us);
            assert!(b >= last, "{us}");
            last = b;
            let floor = bucket_floor(b);
            assert!(floor <= us, "{us} floor {floor}");
            assert!(us - floor <= us / 16 + 1, "{us} floor {floor}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), 0.0);
        for us in 1..=1000u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile_ms(0.5);
        let p99 = h.quantile_ms(0.99);
        assert!((470.0..=500.0).contains(&p50), "{p50}");
        assert!((960.0..=990.0).contains(&p99), "{p99}");
        assert!(h.quantile_ms(1.0) <= 1000.0);
    }
}
