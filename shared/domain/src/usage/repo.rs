//! The allowances' port: allowance periods, usage records and the per-day totals.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::events::DomainEvent;
use crate::kernel::ids::{SubscriptionId, UnitGrantId, UsageRecordId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::usage::ledger::LedgerEntry;
use crate::usage::period::{AllowancePeriod, GrantBalance};
use crate::usage::record::{Consumption, UsageRecord};
use crate::usage::Unit;

/// One day's usage of a unit by a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyUsage {
    pub day: NaiveDate,
    pub unit: Unit,
    /// Included and promotional units.
    pub used: Decimal,
    pub overage: Decimal,
}

/// Why a usage write was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumptionRefusal {
    /// The period changed since it was read (its guard no longer holds), or it is closed.
    Stale,
    /// A record with this id exists (the same idempotency key).
    Duplicate,
}

#[async_trait]
pub trait UsageRepo: Send + Sync {
    async fn allowance_period(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
    ) -> Result<Option<AllowancePeriod>, StoreError>;
    /// A subscription's allowance periods, oldest first.
    async fn allowance_periods(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Vec<AllowancePeriod>, StoreError>;
    /// Stores a record with what it takes from its period, the day's total and `events`, in one
    /// transaction, on the condition that the period is open and its guards hold and that no
    /// record has the record's id (unless that one's remembrance expired).
    async fn record_usage(
        &self,
        consumption: &Consumption,
        remember_until: DateTime<Utc>,
        events: &[DomainEvent],
    ) -> Result<Result<(), ConsumptionRefusal>, StoreError>;
    async fn usage_record(&self, id: &UsageRecordId) -> Result<Option<UsageRecord>, StoreError>;
    /// A subscription's usage records, newest first ([`StoreError::UnknownCursor`] when
    /// `starting_after` names no record of it).
    async fn list_usage_records(
        &self,
        subscription: &SubscriptionId,
        page: &PageRequest,
    ) -> Result<Page<UsageRecord>, StoreError>;
    /// Marks `record` voided and gives its units back to its period and the day's total, in one
    /// transaction, on the condition that it was recorded and its period is open.
    async fn void_usage(
        &self,
        record: &UsageRecord,
    ) -> Result<Result<(), ConsumptionRefusal>, StoreError>;
    /// Closes a period (no usage after) and answers it as closed; `None` when there is none.
    /// Closing a closed period answers it again.
    async fn close_allowance_period(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
    ) -> Result<Option<AllowancePeriod>, StoreError>;
    /// Adds a grant to an open period, with its ledger entry, in one transaction; `false` when
    /// the period is closed or absent, or has a grant with this id already (it is never
    /// replaced).
    async fn add_grant(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
        id: &UnitGrantId,
        grant: &GrantBalance,
    ) -> Result<bool, StoreError>;
    /// A subscription's unit ledger (grants, and what lapsed when they expired), oldest first.
    async fn unit_ledger(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
    /// A subscription's used units per day from `from` to `to` (inclusive), by unit; days
    /// without usage are left out.
    async fn daily_usage(
        &self,
        subscription: &SubscriptionId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyUsage>, StoreError>;
    /// Every subscription's daily usage of `unit` from `from` to `to` (inclusive), from the
    /// daily totals (the operators' report).
    async fn usage_by_day(
        &self,
        unit: Unit,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(SubscriptionId, DailyUsage)>, StoreError>;
}
