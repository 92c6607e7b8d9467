//! The allowances' operations: recording and voiding usage, granting promotional units, the
//! summary and the entitlement check.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::events::{DomainEvent, EventFacts, EventKind, UsageFacts};
use crate::kernel::access::Actor;
use crate::kernel::error::{BillingError, Refusal, RefusalKind};
use crate::kernel::ids::{SubscriptionId, UnitGrantId, UsageRecordId};
use crate::kernel::service::Billing;
use crate::kernel::validation::{self, FieldError};
use crate::subscriptions::{Subscription, SubscriptionStatus};
use crate::usage::period::{AllowancePeriod, GrantBalance};
use crate::usage::record::{Breakdown, Consumption, UsageRecord, UsageRecordStatus, UsageRequest};
use crate::usage::repo::{ConsumptionRefusal, DailyUsage};
use crate::usage::{check_units, AllowanceLimit, Unit};

/// How far ahead of the clock a record's `occurred_at` may be (clocks drift).
pub const MAX_FUTURE_SKEW_MINUTES: i64 = 5;
/// How long after its period ends a record's idempotency key is remembered.
pub const KEY_GRACE_DAYS: i64 = 30;
/// How many times a record is computed again when concurrent records changed its period.
const CONSUME_ATTEMPTS: usize = 25;

/// An operator's grant of promotional units.
#[derive(Debug, Clone)]
pub struct UnitGrantRequest {
    pub unit: Unit,
    pub units: Decimal,
    pub expires_at: DateTime<Utc>,
    pub description: Option<String>,
}

/// A subscription's allowance periods, oldest first, as at `at`, with its daily usage when asked.
#[derive(Debug, Clone)]
pub struct UsageSummary {
    pub subscription_id: SubscriptionId,
    pub periods: Vec<AllowancePeriod>,
    pub at: DateTime<Utc>,
    pub daily: Vec<DailyUsage>,
}

/// Whether a subscription may use a unit now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub unit: Unit,
    pub has_access: bool,
    pub remaining: Decimal,
    pub limit: AllowanceLimit,
}

/// A request's units (more than 0) and description (at most 500 characters), checked.
fn checked(
    units: Decimal,
    description: Option<&str>,
) -> Result<(Decimal, Option<String>), BillingError> {
    let units = check_units("units", units, true)?;
    let description = description
        .map(|d| validation::text("description", d, 500))
        .transpose()?;
    Ok((units, description))
}

/// The subscription is not in service (active or trialing); `needs` says for what.
pub(super) fn not_active(status: SubscriptionStatus, needs: &str) -> Refusal {
    Refusal::conflict(
        "subscription_not_active",
        format!("the subscription is {status}; {needs}"),
    )
}

const RECORDING_NEEDS: &str = "usage is recorded while it is active or trialing";

/// An idempotency key that answered another request (another body or subscription).
pub(super) fn key_reused() -> Refusal {
    Refusal::new(
        RefusalKind::Unprocessable,
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request; use a new key",
    )
}

fn period_closed() -> Refusal {
    Refusal::conflict(
        "period_closed",
        "the allowance period this usage falls in is invoiced (or being invoiced) and takes no more usage",
    )
}

fn no_units() -> Refusal {
    Refusal::new(
        RefusalKind::Unprocessable,
        "unit_not_included",
        "this subscription's plan includes no units",
    )
}

impl Billing {
    /// Records usage against the subscription's current allowance period: one conditional
    /// write (computed again when concurrent records changed the period). With an idempotency
    /// key, the record's id comes from the key: the same key and request answers the first
    /// record for as long as its period lasts and [`KEY_GRACE_DAYS`] after; the same key with
    /// another request is refused. Answers the record and whether it is a replay.
    pub async fn record_usage(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        request: UsageRequest,
    ) -> Result<(UsageRecord, bool), BillingError> {
        let now = self.now();
        let (units, description) = checked(request.units, request.description.as_deref())?;
        let occurred_at = request.occurred_at.unwrap_or(now);
        if occurred_at > now + Duration::minutes(MAX_FUTURE_SKEW_MINUTES) {
            return Err(FieldError::new(
                "occurred_at",
                format!("must not be more than {MAX_FUTURE_SKEW_MINUTES} minutes ahead"),
            )
            .into());
        }
        let (id, fingerprint) = match &request.idempotency {
            Some((key, fingerprint)) => (
                format!("ur_{key}")
                    .parse::<UsageRecordId>()
                    .map_err(|e| BillingError::field("header.Idempotency-Key", e.to_string()))?,
                Some(fingerprint.clone()),
            ),
            None => (UsageRecordId::generate(), None),
        };
        let sub = self.get_subscription(actor, subscription_id).await?;
        let draft = UsageRecord {
            id,
            subscription_id: sub.id.clone(),
            customer_id: sub.customer_id.clone(),
            unit: request.unit,
            units,
            description,
            occurred_at,
            period_start: sub.current_period_start,
            period_end: sub.current_period_end,
            breakdown: Breakdown::default(),
            grants_taken: Vec::new(),
            in_plan: false,
            remaining: Decimal::ZERO,
            status: UsageRecordStatus::Recorded,
            fingerprint,
            created_at: now,
            voided_at: None,
        };
        match self.consume(&sub, draft.clone(), now).await {
            Ok(record) => Ok((record, false)),
            // A refusal or a duplicate: a key used before answers its first record.
            Err(e) if draft.fingerprint.is_some() => {
                match self.usage.usage_record(&draft.id).await? {
                    Some(first)
                        if first.subscription_id == draft.subscription_id
                            && first.fingerprint == draft.fingerprint =>
                    {
                        Ok((first, true))
                    }
                    // The key answered another request (another body or subscription).
                    Some(_) => Err(key_reused().into()),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn consume(
        &self,
        sub: &Subscription,
        draft: UsageRecord,
        now: DateTime<Utc>,
    ) -> Result<UsageRecord, BillingError> {
        if !sub.status.is_in_service() {
            return Err(not_active(sub.status, RECORDING_NEEDS).into());
        }
        if draft.occurred_at < sub.current_period_start {
            return Err(period_closed().into());
        }
        let remember_until = sub.current_period_end + Duration::days(KEY_GRACE_DAYS);
        for _ in 0..CONSUME_ATTEMPTS {
            let period = self
                .usage
                .allowance_period(&sub.id, sub.current_period_start)
                .await?
                .ok_or_else(no_units)?;
            if period.closed {
                return Err(period_closed().into());
            }
            let consumption = period.consume(draft.clone(), sub.promotional_first, now)?;
            let events = self.threshold_events(&period, &consumption);
            match self
                .usage
                .record_usage(&consumption, remember_until, &events)
                .await?
            {
                Ok(()) => return Ok(consumption.record),
                Err(ConsumptionRefusal::Stale) => continue,
                Err(ConsumptionRefusal::Duplicate) => {
                    return Err(BillingError::Conflict(
                        "a record with this key exists".into(),
                    ))
                }
            }
        }
        Err(BillingError::StaleVersion("allowance period"))
    }

    /// The `usage.threshold_reached` events a consumption announces, one per threshold it
    /// crosses, in ascending order (their ids sort so: the outbox publishes in id order).
    fn threshold_events(&self, period: &AllowancePeriod, c: &Consumption) -> Vec<DomainEvent> {
        let r = &c.record;
        let Some(balance) = period.units.get(&r.unit) else {
            return Vec::new();
        };
        let used = balance.included_used() + r.breakdown.included;
        c.thresholds
            .iter()
            .map(|t| DomainEvent {
                id: format!(
                    "evt_{}_usage_{}_{}_{t:03}",
                    r.subscription_id,
                    period.start.timestamp(),
                    r.unit
                ),
                kind: EventKind::UsageThresholdReached,
                occurred_at: r.created_at,
                customer_id: Some(r.customer_id.clone()),
                subscription_id: Some(r.subscription_id.clone()),
                // Grows per subscription: later periods, and higher thresholds within one.
                sequence: u64::try_from(period.start.timestamp()).unwrap_or(0) * 1000
                    + u64::from(*t),
                facts: EventFacts {
                    plan_id: Some(period.plan_id.clone()),
                    period_start: Some(period.start),
                    period_end: Some(period.end),
                    usage: Some(UsageFacts {
                        unit: r.unit,
                        threshold: *t,
                        allocated: balance.allocated,
                        used,
                        remaining: r.remaining,
                    }),
                    ..EventFacts::default()
                },
            })
            .collect()
    }

    /// A subscription's usage records, newest first: what was used, when, and what for.
    pub async fn list_usage_records(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        page: &crate::kernel::page::PageRequest,
    ) -> Result<crate::kernel::page::Page<UsageRecord>, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        match self.usage.list_usage_records(&sub.id, page).await {
            Err(crate::kernel::ports::StoreError::UnknownCursor) => Err(BillingError::field(
                "starting_after",
                "names no usage record of this subscription",
            )),
            other => Ok(other?),
        }
    }

    /// A subscription's unit ledger, oldest first.
    pub async fn unit_ledger(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
    ) -> Result<Vec<crate::usage::LedgerEntry>, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        Ok(self.usage.unit_ledger(&sub.id).await?)
    }

    /// Voids a record of an open period: its units go back to where they came from.
    pub async fn void_usage_record(&self, id: &UsageRecordId) -> Result<UsageRecord, BillingError> {
        let mut record = self
            .usage
            .usage_record(id)
            .await?
            .ok_or(BillingError::NotFound("usage record"))?;
        if record.status == UsageRecordStatus::Voided {
            return Ok(record);
        }
        record.status = UsageRecordStatus::Voided;
        record.voided_at = Some(self.now());
        match self.usage.void_usage(&record).await? {
            Ok(()) => Ok(record),
            Err(_) => match self.usage.usage_record(id).await? {
                Some(now) if now.status == UsageRecordStatus::Voided => Ok(now),
                _ => Err(Refusal::conflict(
                    "period_invoiced",
                    "the record's period is invoiced; its usage can no longer be voided",
                )
                .into()),
            },
        }
    }

    /// Grants promotional units to a subscription until `expires_at` (across periods).
    pub async fn grant_units(
        &self,
        subscription_id: &SubscriptionId,
        request: UnitGrantRequest,
    ) -> Result<(UnitGrantId, GrantBalance), BillingError> {
        let now = self.now();
        let (units, description) = checked(request.units, request.description.as_deref())?;
        if request.expires_at <= now {
            return Err(BillingError::field("expires_at", "must be in the future"));
        }
        let sub = self
            .get_subscription(&Actor::Operator, subscription_id)
            .await?;
        if sub.status.is_ended() {
            return Err(not_active(sub.status, RECORDING_NEEDS).into());
        }
        let id = UnitGrantId::generate();
        let grant = GrantBalance {
            unit: request.unit,
            units,
            left: units,
            expires_at: request.expires_at,
            description,
            granted_at: now,
        };
        if self
            .usage
            .add_grant(&sub.id, sub.current_period_start, &id, &grant)
            .await?
        {
            Ok((id, grant))
        } else {
            match self
                .usage
                .allowance_period(&sub.id, sub.current_period_start)
                .await?
            {
                None => Err(no_units().into()),
                Some(_) => Err(period_closed().into()),
            }
        }
    }

    /// Every allowance period of a subscription, with its daily usage from `since` when asked.
    pub async fn usage_summary(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        since: Option<NaiveDate>,
    ) -> Result<UsageSummary, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        let now = self.now();
        let periods = self.usage.allowance_periods(&sub.id).await?;
        let daily = match since {
            Some(from) => {
                self.usage
                    .daily_usage(&sub.id, from, now.date_naive())
                    .await?
            }
            None => Vec::new(),
        };
        Ok(UsageSummary {
            subscription_id: sub.id,
            periods,
            at: now,
            daily,
        })
    }

    /// Whether the subscription may use `unit` now, read from the stored counters.
    pub async fn entitlement(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        unit: Unit,
    ) -> Result<Entitlement, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        let now = self.now();
        let period = self
            .usage
            .allowance_period(&sub.id, sub.current_period_start)
            .await?;
        let live = sub.status.is_in_service();
        let (remaining, limit) = match &period {
            Some(p)
                if p.units.contains_key(&unit) || p.promotional_left(unit, now) > Decimal::ZERO =>
            {
                (
                    p.remaining(unit, now),
                    p.units.get(&unit).map_or(AllowanceLimit::Hard, |b| b.limit),
                )
            }
            _ => (Decimal::ZERO, AllowanceLimit::Hard),
        };
        let open = period.as_ref().is_some_and(|p| !p.closed);
        Ok(Entitlement {
            unit,
            has_access: live
                && open
                && (remaining > Decimal::ZERO
                    || (limit == AllowanceLimit::Soft
                        && period.as_ref().is_some_and(|p| p.units.contains_key(&unit)))),
            remaining,
            limit,
        })
    }
}
