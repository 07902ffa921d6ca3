//! A budget of log lines per second for one place that clients or tenants can make log
//! (refused requests, refused hooks, failed chains, dropped messages, a policy's dropped log
//! lines): past it, lines are held back and counted, and the next line let through says how
//! many (`held_back`), so a flood of bad requests cannot flood the log and no line is lost
//! without a trace.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines a second for one kind of log line: a burst of that many, then one line each
/// 1/`per_second` of a second (governor's GCRA), so a line held back is reported soon after.
pub struct LogBudget {
    lines: DefaultDirectRateLimiter,
    /// Events held back since the last line let through.
    pub(crate) held: AtomicU64,
}

impl LogBudget {
    /// A budget of `per_second` lines a second (at least one).
    pub fn new(per_second: u32) -> LogBudget {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN));
        LogBudget { lines: RateLimiter::direct(quota), held: AtomicU64::new(0) }
    }

    /// `Some(lines held back since the last line let through)` if a line may be written now.
    pub fn take(&self) -> Option<u64> {
        self.take_for(1)
    }

    /// [`LogBudget::take`] for a line that stands for `count` events (lines a policy dropped in
    /// one evaluation): held back, it adds `count` to the held-back count.
    pub fn take_for(&self, count: u64) -> Option<u64> {
        if self.lines.check().is_ok() {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(count, Ordering::Relaxed);
            None
        }
    }

    /// Whether a line may be written now, without counting a held-back one.
    pub(crate) fn allows(&self) -> bool {
        self.lines.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn a_log_budget_holds_back_and_counts_past_its_rate() {
        let budget = LogBudget::new(2);
        let taken: Vec<_> = (0..5).map(|_| budget.take()).collect();
        assert_eq!(taken, [Some(0), Some(0), None, None, None]);
        // Half a second later one line is let through, with the count of the three.
        std::thread::sleep(std::time::Duration::from_millis(550));
        assert_eq!(budget.take(), Some(3));
    }
}
