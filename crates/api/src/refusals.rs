//! A budget for refused calls: each source address and each claimed access key id may be
//! refused at authentication so often (a burst, then a steady rate); beyond it the caller is
//! throttled without an audit event, so unauthenticated traffic cannot grow the trail faster
//! than the budget allows. Memory is bounded: at most `MAX_TRACKED` callers are remembered,
//! and the stalest are forgotten first.

use std::collections::HashMap;
use std::sync::Mutex;

/// Refusals a caller may have at once.
const BURST: f64 = 200.0;
/// Refusals a caller regains per second.
const PER_SECOND: f64 = 50.0;
/// Callers remembered at most.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub struct RefusalBudget {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

impl RefusalBudget {
    /// Spends one refusal of each of `callers` at `now_ms`; false when any has none left.
    pub fn spend(&self, callers: &[&str], now_ms: i64) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED {
            forget_stalest(&mut buckets);
        }
        let mut admitted = true;
        for caller in callers.iter().filter(|c| !c.is_empty()) {
            let bucket = buckets.entry(caller.to_string()).or_insert(Bucket {
                tokens: BURST,
                updated_ms: now_ms,
            });
            let elapsed = (now_ms - bucket.updated_ms).max(0) as f64 / 1000.0;
            bucket.tokens = (bucket.tokens + elapsed * PER_SECOND).min(BURST);
            bucket.updated_ms = now_ms;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
            } else {
                admitted = false;
            }
        }
        admitted
    }
}

/// Drops the least recently refused half.
fn forget_stalest(buckets: &mut HashMap<String, Bucket>) {
    let mut times: Vec<i64> = buckets.values().map(|b| b.updated_ms).collect();
    times.sort_unstable();
    let cutoff = times[times.len() / 2];
    buckets.retain(|_, b| b.updated_ms > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_past_its_burst_is_throttled_until_the_budget_refills() {
        let budget = RefusalBudget::default();
        for _ in 0..200 {
            assert!(budget.spend(&["10.0.0.1"], 0));
        }
        assert!(!budget.spend(&["10.0.0.1"], 0));
        assert!(budget.spend(&["10.0.0.2"], 0), "others are not affected");
        assert!(budget.spend(&["10.0.0.1"], 1000), "50 a second come back");
    }

    #[test]
    fn the_budget_remembers_a_bounded_number_of_callers() {
        let budget = RefusalBudget::default();
        for i in 0..(MAX_TRACKED as i64 * 3) {
            budget.spend(&[&format!("10.{i}")], i);
        }
        let tracked = budget.buckets.lock().expect("lock").len();
        assert!(tracked <= MAX_TRACKED, "{tracked}");
    }
}
