//! Dunning: when failed renewal payments are retried, and what happens after the last failure.

use chrono::{DateTime, Duration, Utc};

/// What to do when the last retry has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAction {
    /// Cancel the subscription.
    Cancel,
    /// Leave it past_due with the invoice marked uncollectible.
    LeaveUnpaid,
}

/// Retries at these offsets (days after the first failure), then the final action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DunningPolicy {
    pub retry_after_days: Vec<u32>,
    pub final_action: FinalAction,
}

impl Default for DunningPolicy {
    /// 3, 5 and 7 days after the first failure, then cancel.
    fn default() -> Self {
        Self {
            retry_after_days: vec![3, 5, 7],
            final_action: FinalAction::Cancel,
        }
    }
}

impl DunningPolicy {
    /// When to try again after `failed_attempts` failed attempts (the first charge counts as
    /// attempt 1), or `None` when the retries are exhausted.
    pub fn next_attempt(
        &self,
        first_failure_at: DateTime<Utc>,
        failed_attempts: u32,
    ) -> Option<DateTime<Utc>> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let days = *self.retry_after_days.get(index)?;
        first_failure_at.checked_add_signed(Duration::days(i64::from(days)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::t0;

    #[test]
    fn default_retries_are_3_5_and_7_days_after_the_first_failure_then_stop() {
        let policy = DunningPolicy::default();
        assert_eq!(policy.next_attempt(t0(), 1), Some(t0() + Duration::days(3)));
        assert_eq!(policy.next_attempt(t0(), 2), Some(t0() + Duration::days(5)));
        assert_eq!(policy.next_attempt(t0(), 3), Some(t0() + Duration::days(7)));
        assert_eq!(policy.next_attempt(t0(), 4), None);
        assert_eq!(policy.next_attempt(t0(), 0), None);
        assert_eq!(policy.final_action, FinalAction::Cancel);
    }
}
