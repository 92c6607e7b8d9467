//! The operators' revenue report: what paid invoices took and refunds gave back, per day,
//! currency and plan, kept as daily totals in the transactions that store the payments and
//! refunds (never by reading invoices).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::kernel::error::BillingError;
use crate::kernel::ids::PlanId;
use crate::kernel::money::Currency;
use crate::kernel::service::Billing;
use crate::usage::MAX_REPORT_DAYS;

/// One day's revenue of a plan in a currency (`plan_id` `None`: pre-orders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueDay {
    pub day: NaiveDate,
    pub currency: Currency,
    pub plan_id: Option<PlanId>,
    /// What `invoice.paid` events recorded (card payments and customer credit spent).
    pub paid: Decimal,
    /// What `invoice.refunded` events recorded.
    pub refunded: Decimal,
}

impl RevenueDay {
    pub fn net(&self) -> Decimal {
        self.paid - self.refunded
    }
}

impl Billing {
    /// The revenue per day from `from` to `to` (inclusive, at most [`MAX_REPORT_DAYS`]).
    pub async fn revenue_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<RevenueDay>, BillingError> {
        if from > to {
            return Err(BillingError::field("query.from", "must not be after to"));
        }
        if (to - from).num_days() >= MAX_REPORT_DAYS {
            return Err(BillingError::field(
                "query.from",
                format!("a report covers at most {MAX_REPORT_DAYS} days"),
            ));
        }
        Ok(self.invoices.revenue_by_day(from, to).await?)
    }
}
