// SPDX-License-Identifier: MPL-2.0

//! Event-level figures of `make eval`: false `violence-start` events per hour of
//! normal footage with an exact Poisson upper bound, event recall on fight clips and the
//! detection latency. Pure arithmetic, shared by the evaluate example and its test.

/// Summary of the false events in a stream of normal footage.
#[derive(Debug, Clone, PartialEq)]
pub struct FalseEventRate {
    pub events: u64,
    pub hours: f64,
    pub per_hour: f64,
    /// Exact (Garwood) 95 % two-sided upper bound of the rate.
    pub per_hour_upper95: f64,
}

/// `None` when no footage was played: a rate over zero hours means nothing.
pub fn false_event_rate(events: u64, seconds: f64) -> Option<FalseEventRate> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return None;
    }
    let hours = seconds / 3600.0;
    Some(FalseEventRate {
        events,
        hours,
        per_hour: events as f64 / hours,
        per_hour_upper95: poisson_upper_bound(events, 0.025) / hours,
    })
}

/// P(X ≤ k) for X ~ Poisson(mean), summed in log space so that large means do not
/// underflow `exp(-mean)`.
fn poisson_cdf(k: u64, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    let ln_mean = mean.ln();
    let mut ln_term = -mean; // ln P(X = 0)
    let mut ln_max = ln_term;
    let mut ln_terms = Vec::with_capacity(k as usize + 1);
    ln_terms.push(ln_term);
    for i in 1..=k {
        ln_term += ln_mean - (i as f64).ln();
        ln_max = ln_max.max(ln_term);
        ln_terms.push(ln_term);
    }
    let sum: f64 = ln_terms.iter().map(|t| (t - ln_max).exp()).sum();
    (ln_max + sum.ln()).exp().min(1.0)
}

/// The exact upper confidence bound on a Poisson mean after observing `k` events: the mean
/// at which P(X ≤ k) = `tail` (0.025 for a two-sided 95 % interval). It equals
/// chi2.ppf(1 - tail, 2k + 2) / 2; found by bisection because the CDF falls monotonically
/// with the mean.
pub fn poisson_upper_bound(k: u64, tail: f64) -> f64 {
    let tail = tail.clamp(f64::MIN_POSITIVE, 0.5);
    let (mut lo, mut hi) = (k as f64, k as f64 + 10.0);
    while poisson_cdf(k, hi) > tail {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if poisson_cdf(k, mid) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Median (mean of the two middle values for an even count) and maximum; `None` when empty.
pub fn median_and_max(values: &[f64]) -> Option<(f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    };
    Some((median, sorted[n - 1]))
}

/// Index of the clip that holds running time `at`, given the running time at which each
/// clip of a back-to-back stream starts (ascending).
pub fn clip_at(clip_starts: &[u64], at: u64) -> Option<usize> {
    clip_starts.iter().rposition(|&start| start <= at)
}

/// The first `violence-start` of one fight clip played on its own, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstStart {
    /// The event's `latency` field: from the first frame of the run that started the event
    /// to the decision.
    pub latency: u64,
    /// From the clip's start (running time 0) to the decision: the event's running time
    /// plus its latency.
    pub decided_after_clip_start: u64,
}

/// Event recall and latencies over fight clips; `None` entries are clips without an event
/// (or that failed).
#[derive(Debug, Clone, PartialEq)]
pub struct FightDetections {
    pub clips: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Seconds: (median, max) of the event's latency field.
    pub latency_s: Option<(f64, f64)>,
    /// Seconds: (median, max) of the decision time after the clip's start.
    pub decided_after_clip_start_s: Option<(f64, f64)>,
}

pub fn fight_detections(first_starts: &[Option<FirstStart>]) -> FightDetections {
    let found: Vec<FirstStart> = first_starts.iter().flatten().copied().collect();
    let seconds = |f: fn(&FirstStart) -> u64| -> Vec<f64> {
        found.iter().map(|s| f(s) as f64 / 1e9).collect()
    };
    FightDetections {
        clips: first_starts.len(),
        detected: found.len(),
        recall: (!first_starts.is_empty()).then(|| found.len() as f64 / first_starts.len() as f64),
        latency_s: median_and_max(&seconds(|s| s.latency)),
        decided_after_clip_start_s: median_and_max(&seconds(|s| s.decided_after_clip_start)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn poisson_upper_bound_matches_chi_square_tables() {
        // chi2.ppf(0.975, 2k+2) / 2, i.e. the mean whose regularized upper incomplete gamma
        // Q(k+1, mean) is 0.025 (computed independently with torch.special.gammaincc).
        for (k, expected) in [
            (0, 3.688879),
            (1, 5.571643),
            (2, 7.224688),
            (5, 11.668332),
            (10, 18.390356),
            (100, 121.626794),
        ] {
            let got = poisson_upper_bound(k, 0.025);
            assert!(close(got, expected, 1e-4), "k={k}: {got} vs {expected}");
        }
        // One-sided 95 %: chi2.ppf(0.95, 2) / 2 = -ln(0.05).
        assert!(close(poisson_upper_bound(0, 0.05), 2.995732, 1e-5));
        // Large counts do not underflow.
        let big = poisson_upper_bound(5000, 0.025);
        assert!(big > 5000.0 && big < 5200.0, "{big}");
    }

    #[test]
    fn rate_and_bound_per_hour() {
        assert_eq!(false_event_rate(3, 0.0), None);
        assert_eq!(false_event_rate(3, f64::NAN), None);
        let r = false_event_rate(0, 1800.0).unwrap();
        assert_eq!(r.per_hour, 0.0);
        assert!(close(r.hours, 0.5, 1e-12));
        assert!(close(r.per_hour_upper95, 2.0 * 3.688879, 1e-3));
        let r = false_event_rate(1, 3600.0).unwrap();
        assert!(close(r.per_hour, 1.0, 1e-12));
        assert!(close(r.per_hour_upper95, 5.571643, 1e-4));
    }

    #[test]
    fn median_max_and_clip_lookup() {
        assert_eq!(median_and_max(&[]), None);
        assert_eq!(median_and_max(&[3.0, 1.0, 2.0]), Some((2.0, 3.0)));
        assert_eq!(median_and_max(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 4.0)));
        assert_eq!(median_and_max(&[f64::NAN, 1.0]), Some((1.0, 1.0)));
        let starts = [0, 2_000, 5_000];
        assert_eq!(clip_at(&starts, 0), Some(0));
        assert_eq!(clip_at(&starts, 1_999), Some(0));
        assert_eq!(clip_at(&starts, 2_000), Some(1));
        assert_eq!(clip_at(&starts, 9_000), Some(2));
        assert_eq!(clip_at(&[10], 5), None);
        assert_eq!(clip_at(&[], 5), None);
    }

    #[test]
    fn recall_and_latencies_over_fight_clips() {
        let none = fight_detections(&[]);
        assert_eq!((none.clips, none.detected, none.recall), (0, 0, None));
        assert_eq!(none.latency_s, None);
        let s = |latency_ms: u64, after_ms: u64| {
            Some(FirstStart {
                latency: latency_ms * 1_000_000,
                decided_after_clip_start: after_ms * 1_000_000,
            })
        };
        let d = fight_detections(&[s(1280, 1280), None, s(1600, 2400), s(1280, 4000)]);
        assert_eq!((d.clips, d.detected), (4, 3));
        assert_eq!(d.recall, Some(0.75));
        assert_eq!(d.latency_s, Some((1.28, 1.6)));
        assert_eq!(d.decided_after_clip_start_s, Some((2.4, 4.0)));
    }
}
