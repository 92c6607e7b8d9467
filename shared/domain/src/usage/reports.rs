//! The operators' usage report: every subscription's daily totals of a unit over a range of
//! days, read from the per-day aggregates (never from the records).

use chrono::NaiveDate;

use crate::kernel::error::BillingError;
use crate::kernel::ids::SubscriptionId;
use crate::kernel::service::Billing;
use crate::usage::repo::DailyUsage;
use crate::usage::Unit;

/// The longest range a report covers, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

impl Billing {
    /// Each subscription's usage per day from `from` to `to` (inclusive), of `unit` or of
    /// every unit.
    pub async fn usage_report(
        &self,
        unit: Option<Unit>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(SubscriptionId, DailyUsage)>, BillingError> {
        if from > to {
            return Err(BillingError::field("query.from", "must not be after to"));
        }
        if (to - from).num_days() >= MAX_REPORT_DAYS {
            return Err(BillingError::field(
                "query.from",
                format!("a report covers at most {MAX_REPORT_DAYS} days"),
            ));
        }
        let units = match unit {
            Some(u) => vec![u],
            None => Unit::ALL.to_vec(),
        };
        let mut rows = Vec::new();
        for unit in units {
            rows.extend(self.usage.usage_by_day(unit, from, to).await?);
        }
        Ok(rows)
    }
}
