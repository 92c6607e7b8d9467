//! Subscriptions and their lifecycle.
//!
//! ```text
//!  create ──► trialing ──┐            pause            resume
//!     │                  ├──► active ───────► paused ────────► active
//!     └──────────────────┘      │  ▲
//!                               │  └── (payment recovered)
//!                       (payment failed) ► past_due
//!  cancel(immediately) from any live status ─► canceled
//!  cancel(at period end) sets cancel_at_period_end; reactivate clears it before the period ends
//!  period end with auto_renew off or cancel_at_period_end ─► expired / canceled
//! ```
//! `incomplete` is a subscription whose first payment is pending.

pub mod object;
pub mod plan_change;
pub mod proration;
mod repo;
pub use repo::SubscriptionRepo;

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{Plan, MAX_TRIAL_DAYS};
use crate::customers::{merge_metadata, Metadata};
use crate::discounts::coupon::{Discount, DiscountRequest};
use crate::events::{
    DomainEvent, EventFacts, EventKind, Outbox, RecordedEvent, TRIAL_REMINDER_DAYS,
};
use crate::invoicing::InvoiceLine;
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use crate::kernel::money::Money;
use crate::kernel::period::Interval;
use crate::kernel::period::Period;
use crate::kernel::validation::{self, FieldError};
use crate::subscriptions::object::SubscriptionObject;
use crate::usage::AllowancePeriod;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    Paused,
    PastDue,
    Canceled,
    Expired,
    Incomplete,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 7] = [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::Paused,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Canceled,
        SubscriptionStatus::Expired,
        SubscriptionStatus::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Expired => "expired",
            SubscriptionStatus::Incomplete => "incomplete",
        }
    }

    /// Active or trialing: the customer is served (pre-orders are placed, usage recorded,
    /// units topped up).
    pub fn is_in_service(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing
        )
    }

    /// Ended subscriptions never change again.
    pub fn is_ended(self) -> bool {
        match self {
            SubscriptionStatus::Canceled | SubscriptionStatus::Expired => true,
            SubscriptionStatus::Trialing
            | SubscriptionStatus::Active
            | SubscriptionStatus::Paused
            | SubscriptionStatus::PastDue
            | SubscriptionStatus::Incomplete => false,
        }
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a customer canceled (Stripe's `cancellation_details.feedback` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    TooExpensive,
    MissingFeatures,
    SwitchedService,
    Unused,
    CustomerService,
    TooComplex,
    LowQuality,
    Other,
}

impl CancellationReason {
    pub const ALL: [CancellationReason; 8] = [
        CancellationReason::TooExpensive,
        CancellationReason::MissingFeatures,
        CancellationReason::SwitchedService,
        CancellationReason::Unused,
        CancellationReason::CustomerService,
        CancellationReason::TooComplex,
        CancellationReason::LowQuality,
        CancellationReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CancellationReason::TooExpensive => "too_expensive",
            CancellationReason::MissingFeatures => "missing_features",
            CancellationReason::SwitchedService => "switched_service",
            CancellationReason::Unused => "unused",
            CancellationReason::CustomerService => "customer_service",
            CancellationReason::TooComplex => "too_complex",
            CancellationReason::LowQuality => "low_quality",
            CancellationReason::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub paused_at: DateTime<Utc>,
    /// When the subscription resumes by itself; `None` = until resumed.
    pub resumes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub plan_id: PlanId,
    pub interval: Interval,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    /// Periods are counted from this instant (see [`crate::kernel::period`]).
    pub billing_cycle_anchor: DateTime<Utc>,
    /// How many whole periods lie between the anchor and `current_period_start`.
    pub periods_elapsed: u32,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancellation: Option<Cancellation>,
    pub pause: Option<Pause>,
    pub metadata: Metadata,
    /// Whether this subscription takes the customer's one slot for single-subscription plans.
    pub exclusive: bool,
    /// The newest invoice (the first period's, then each renewal's).
    pub latest_invoice_id: Option<InvoiceId>,
    /// While past due: when dunning next retries the open invoice (`None`: no more retries).
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// A plan change that takes effect at the end of the current period (downgrades).
    pub scheduled_plan_id: Option<PlanId>,
    /// Lines for the next invoice (credits of an immediate downgrade), as Stripe's pending
    /// invoice items.
    pub pending_lines: Vec<InvoiceLine>,
    /// Ended at its period end on a plan with a fallback: the plan the customer moves to. Cleared
    /// once that subscription exists.
    pub successor_plan_id: Option<PlanId>,
    /// A coupon applied to this subscription's invoices.
    pub discount: Option<Discount>,
    /// Whether the trial's reminder event was recorded.
    pub trial_reminder_sent: bool,
    /// The products shipped each period (a subscription box), invoiced and shipped by each
    /// period's invoice ([`crate::inventory::recurring`]).
    pub items: Vec<RecurringItem>,
    /// Days before each period end the renewal (or expiry) reminder is due, taken from the plan
    /// when subscribing or changing plans ([`Plan::reminder_days`]); 0: none.
    pub renewal_reminder_days: u32,
    /// The period end whose reminder was recorded (each period is reminded once).
    pub reminded_period_end: Option<DateTime<Utc>>,
    /// Whether usage takes promotional units before the included ones ([`crate::usage`]).
    pub promotional_first: bool,
    /// Whether the current period has an allowance period (its plan includes units).
    pub metered: bool,
    /// A one-off bundle's subscription: never renews.
    pub one_off: bool,
    /// The allowance period of a period just entered, stored with the next write.
    pub new_allowance_period: Option<Box<AllowancePeriod>>,
    /// Events recorded since the last stored write; the next write stores them with it.
    pub events: Outbox,
    /// What readers saw after the last stored write (`None` before the first): a write's events
    /// say what changed since ([`Subscription::outgoing_events`]).
    pub as_stored: Option<Box<SubscriptionObject>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: every stored update must match it and bumps it.
    pub version: u64,
}

/// The request to subscribe a customer to a plan.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub customer_id: CustomerId,
    pub plan_id: PlanId,
    pub payment_method_id: Option<String>,
    pub auto_renew: bool,
    pub metadata: Metadata,
    /// Trial days for this subscription instead of the plan's (0: no trial).
    pub trial_days: Option<u32>,
    /// A coupon or promotion code to redeem.
    pub discount: DiscountRequest,
    /// Products shipped each period (a subscription box).
    pub items: Vec<RecurringItem>,
    /// Whether usage takes promotional units before the included ones.
    pub promotional_first: bool,
}

/// A product a subscription ships every period, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringItem {
    pub product_id: crate::kernel::ids::ProductId,
    pub quantity: u32,
}

/// Most items one subscription carries.
pub const MAX_ITEMS: usize = 20;
/// Most units of one item per period.
pub const MAX_ITEM_QUANTITY: u32 = 1000;

/// Checks a subscription's items: at most [`MAX_ITEMS`], each product once, quantities from 1
/// to [`MAX_ITEM_QUANTITY`].
pub fn check_items(items: &[RecurringItem]) -> Result<(), BillingError> {
    if items.len() > MAX_ITEMS {
        return Err(BillingError::field(
            "items",
            format!("at most {MAX_ITEMS} items"),
        ));
    }
    for (n, item) in items.iter().enumerate() {
        if item.quantity == 0 || item.quantity > MAX_ITEM_QUANTITY {
            return Err(BillingError::field(
                &format!("items[{n}].quantity"),
                format!("must be from 1 to {MAX_ITEM_QUANTITY}"),
            ));
        }
        if items[..n].iter().any(|i| i.product_id == item.product_id) {
            return Err(BillingError::field(
                &format!("items[{n}].product_id"),
                "each product once; raise its quantity instead",
            ));
        }
    }
    Ok(())
}

/// The request to cancel.
#[derive(Debug, Clone, Default)]
pub struct CancelRequest {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
    pub immediately: bool,
}

/// A change to a subscription's settings (PATCH).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub auto_renew: Option<bool>,
    pub metadata: Option<Metadata>,
    /// `Some(false)` reactivates a subscription set to cancel at period end.
    pub cancel_at_period_end: Option<bool>,
    pub promotional_first: Option<bool>,
}

fn out_of_range(field: &str) -> BillingError {
    BillingError::field(field, "date out of range")
}

fn illegal(status: SubscriptionStatus, action: &str) -> BillingError {
    BillingError::Conflict(format!("cannot {action} a {status} subscription"))
}

impl Subscription {
    /// Starts a subscription: trialing when it has trial days (its own or the plan's), active
    /// otherwise.
    pub fn start(
        new: NewSubscription,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> Result<Subscription, BillingError> {
        if !plan.is_active() {
            return Err(BillingError::field(
                "subscription_plan_id",
                "the plan is archived and takes no new subscriptions",
            ));
        }
        if let Some(pm) = &new.payment_method_id {
            validation::text("payment_method_id", pm, 255)?;
        }
        let metadata = merge_metadata(&Metadata::new(), &new.metadata)?;
        let trial_days = new.trial_days.unwrap_or(plan.trial_days);
        if trial_days > MAX_TRIAL_DAYS {
            return Err(BillingError::field(
                "trial_days",
                format!("must be at most {MAX_TRIAL_DAYS}"),
            ));
        }
        let bundle_end = plan
            .duration_days
            .map(|days| {
                now.checked_add_signed(Duration::days(i64::from(days)))
                    .ok_or_else(|| out_of_range("duration_days"))
            })
            .transpose()?;
        let (status, trial_end, period_end) = if let Some(end) = bundle_end {
            (SubscriptionStatus::Active, None, end)
        } else if trial_days > 0 {
            let end = now
                .checked_add_signed(Duration::days(i64::from(trial_days)))
                .ok_or_else(|| out_of_range("trial_days"))?;
            (SubscriptionStatus::Trialing, Some(end), end)
        } else {
            let end = plan
                .interval
                .nth_period_end(now, 1)
                .ok_or_else(|| out_of_range("interval"))?;
            (SubscriptionStatus::Active, None, end)
        };
        let id = SubscriptionId::generate();
        let new_allowance_period = AllowancePeriod::allocate(
            &id,
            &new.customer_id,
            plan,
            Period {
                start: now,
                end: period_end,
            },
            None,
        )
        .map(Box::new);
        Ok(Subscription {
            id,
            customer_id: new.customer_id,
            plan_id: plan.id.clone(),
            interval: plan.interval,
            status,
            auto_renew: new.auto_renew && plan.is_recurring(),
            payment_method_id: new.payment_method_id,
            // With a trial, billing is anchored at the trial's end, as in Stripe.
            billing_cycle_anchor: trial_end.unwrap_or(now),
            periods_elapsed: 0,
            current_period_start: now,
            current_period_end: period_end,
            trial_end,
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            cancellation: None,
            pause: None,
            metadata,
            exclusive: !plan.allow_multiple,
            latest_invoice_id: None,
            next_payment_attempt: None,
            scheduled_plan_id: None,
            pending_lines: Vec::new(),
            successor_plan_id: None,
            discount: None,
            trial_reminder_sent: false,
            items: new.items,
            renewal_reminder_days: plan.reminder_days(),
            reminded_period_end: None,
            promotional_first: new.promotional_first,
            metered: new_allowance_period.is_some(),
            one_off: !plan.is_recurring(),
            new_allowance_period,
            events: Outbox::default(),
            as_stored: None,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    /// Stops billing until `resumes_at` (or until resumed). The current period is kept.
    pub fn pause(
        &mut self,
        now: DateTime<Utc>,
        resumes_at: Option<DateTime<Utc>>,
    ) -> Result<(), BillingError> {
        match self.status {
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => {}
            SubscriptionStatus::Paused => {
                return Err(BillingError::Conflict(
                    "the subscription is already paused".into(),
                ))
            }
            SubscriptionStatus::PastDue
            | SubscriptionStatus::Canceled
            | SubscriptionStatus::Expired
            | SubscriptionStatus::Incomplete => return Err(illegal(self.status, "pause")),
        }
        if let Some(at) = resumes_at {
            crate::kernel::validation::future_time("resumes_at", at, now)?;
        }
        self.status = SubscriptionStatus::Paused;
        self.pause = Some(Pause {
            paused_at: now,
            resumes_at,
        });
        self.updated_at = now;
        self.record(
            EventKind::SubscriptionPaused,
            now,
            EventFacts {
                ends_at: resumes_at,
                ..EventFacts::default()
            },
        );
        Ok(())
    }

    /// Resumes a paused subscription. If the period ran out while paused, a new period starts
    /// now and becomes the new billing anchor (as Stripe does when a paused subscription resumes).
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        match self.status {
            SubscriptionStatus::Paused => {}
            SubscriptionStatus::Trialing
            | SubscriptionStatus::Active
            | SubscriptionStatus::PastDue
            | SubscriptionStatus::Canceled
            | SubscriptionStatus::Expired
            | SubscriptionStatus::Incomplete => return Err(illegal(self.status, "resume")),
        }
        let trial_running = self.trial_end.is_some_and(|end| end > now);
        self.status = if trial_running {
            SubscriptionStatus::Trialing
        } else {
            SubscriptionStatus::Active
        };
        if !trial_running && now >= self.current_period_end {
            self.restart_periods_at(now)?;
        }
        self.pause = None;
        self.updated_at = now;
        self.record(EventKind::SubscriptionResumed, now, EventFacts::default());
        Ok(())
    }

    fn restart_periods_at(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        self.billing_cycle_anchor = now;
        self.periods_elapsed = 0;
        self.current_period_start = now;
        self.current_period_end = self
            .interval
            .nth_period_end(now, 1)
            .ok_or_else(|| out_of_range("interval"))?;
        Ok(())
    }

    /// Cancels now, or at the end of the current period (the default).
    pub fn cancel(
        &mut self,
        request: CancelRequest,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        if self.status.is_ended() {
            return Err(illegal(self.status, "cancel"));
        }
        let comment = validation::optional_text("comment", request.comment.as_deref(), 1000)?;
        self.cancellation = Some(Cancellation {
            reason: request.reason,
            comment,
        });
        self.canceled_at = Some(now);
        // An incomplete subscription has no paid period to run out.
        let reason = request.reason.map(|r| r.as_str().to_owned());
        if request.immediately || self.status == SubscriptionStatus::Incomplete {
            self.status = SubscriptionStatus::Canceled;
            self.ended_at = Some(now);
            self.cancel_at_period_end = false;
            self.pause = None;
            self.record(
                EventKind::SubscriptionCanceled,
                now,
                EventFacts {
                    ends_at: Some(now),
                    reason,
                    ..EventFacts::default()
                },
            );
        } else {
            self.cancel_at_period_end = true;
            self.record(
                EventKind::SubscriptionCancelScheduled,
                now,
                EventFacts {
                    ends_at: Some(self.current_period_end),
                    reason,
                    ..EventFacts::default()
                },
            );
        }
        self.updated_at = now;
        Ok(())
    }

    /// Undoes a cancellation at period end, while the period has not ended.
    pub fn reactivate(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        if self.status.is_ended() {
            return Err(illegal(self.status, "reactivate"));
        }
        if !self.cancel_at_period_end {
            return Err(BillingError::Conflict(
                "the subscription is not set to cancel".into(),
            ));
        }
        if now >= self.current_period_end {
            return Err(BillingError::Conflict(
                "the period has ended; subscribe again instead".into(),
            ));
        }
        self.cancel_at_period_end = false;
        self.canceled_at = None;
        self.cancellation = None;
        self.updated_at = now;
        Ok(())
    }

    /// Applies a settings change (auto-renew, metadata, reactivation).
    pub fn apply(
        &mut self,
        patch: SubscriptionPatch,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        if self.status.is_ended() {
            return Err(illegal(self.status, "update"));
        }
        let metadata = patch
            .metadata
            .as_ref()
            .map(|m| merge_metadata(&self.metadata, m))
            .transpose()?;
        match patch.cancel_at_period_end {
            Some(false) if self.cancel_at_period_end => self.reactivate(now)?,
            Some(true) if !self.cancel_at_period_end => {
                self.cancel(CancelRequest::default(), now)?
            }
            Some(_) | None => {}
        }
        if self.one_off && patch.auto_renew == Some(true) {
            return Err(BillingError::field(
                "auto_renew",
                "a one-off bundle never renews",
            ));
        }
        let mut changed = false;
        if let Some(first) = patch
            .promotional_first
            .filter(|f| *f != self.promotional_first)
        {
            self.promotional_first = first;
            changed = true;
        }
        if let Some(auto_renew) = patch.auto_renew.filter(|a| *a != self.auto_renew) {
            self.auto_renew = auto_renew;
            changed = true;
        }
        if let Some(metadata) = metadata.filter(|m| *m != self.metadata) {
            self.metadata = metadata;
            changed = true;
        }
        // `updated_at` is when something a reader sees last changed.
        if changed {
            self.updated_at = now;
        }
        Ok(())
    }

    /// When this subscription next needs the scheduler: the period end of a live subscription
    /// (or the dunning retry before it), the automatic resume date of a paused one, the end of
    /// an incomplete one's window to pay. `None` when nothing is due ever again.
    pub fn next_due_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            SubscriptionStatus::Trialing | SubscriptionStatus::Active => Some(
                [self.trial_reminder_at(), self.renewal_reminder_at()]
                    .into_iter()
                    .flatten()
                    .fold(self.current_period_end, DateTime::min),
            ),
            SubscriptionStatus::PastDue => Some(
                self.next_payment_attempt
                    .map_or(self.current_period_end, |at| {
                        at.min(self.current_period_end)
                    }),
            ),
            SubscriptionStatus::Incomplete => self
                .created_at
                .checked_add_signed(Duration::hours(INCOMPLETE_EXPIRES_AFTER_HOURS)),
            SubscriptionStatus::Paused => self.pause.as_ref().and_then(|p| p.resumes_at),
            SubscriptionStatus::Canceled | SubscriptionStatus::Expired => self
                .successor_plan_id
                .as_ref()
                .map(|_| self.ended_at.unwrap_or(self.updated_at)),
        }
    }

    /// What the scheduler must do for this subscription at `now`, if anything.
    pub fn due_step(&self, now: DateTime<Utc>) -> Option<DueStep> {
        match self.status {
            SubscriptionStatus::Canceled | SubscriptionStatus::Expired => self
                .successor_plan_id
                .clone()
                .filter(|_| self.next_due_at().is_some_and(|at| at <= now))
                .map(DueStep::StartSuccessor),
            SubscriptionStatus::Paused => self
                .pause
                .as_ref()
                .and_then(|p| p.resumes_at)
                .filter(|at| *at <= now)
                .map(|_| DueStep::Resume),
            SubscriptionStatus::Incomplete => self
                .next_due_at()
                .filter(|at| *at <= now)
                .map(|_| DueStep::ExpireIncomplete),
            SubscriptionStatus::PastDue
                if self.next_payment_attempt.is_some_and(|at| at <= now) =>
            {
                self.latest_invoice_id.clone().map(DueStep::RetryPayment)
            }
            SubscriptionStatus::Trialing
            | SubscriptionStatus::Active
            | SubscriptionStatus::PastDue => {
                if self.current_period_end > now {
                    if self.trial_reminder_at().is_some_and(|at| at <= now) {
                        Some(DueStep::RemindTrialEnd)
                    } else {
                        self.renewal_reminder_at()
                            .filter(|at| *at <= now)
                            .map(|_| DueStep::RemindRenewal)
                    }
                } else if self.cancel_at_period_end {
                    Some(DueStep::End(SubscriptionStatus::Canceled))
                } else if !self.auto_renew {
                    Some(DueStep::End(SubscriptionStatus::Expired))
                } else {
                    Some(DueStep::Renew)
                }
            }
        }
    }

    /// The period after the current one, and the `periods_elapsed` it will have. After a trial
    /// the first paid period starts at the anchor (the trial's end).
    pub fn next_period(&self) -> Result<(Period, u32), BillingError> {
        // During a trial (or before a new interval's anchor) the period runs up to the anchor,
        // where the next period starts.
        let in_trial = self.current_period_start < self.billing_cycle_anchor;
        let elapsed = if in_trial {
            0
        } else {
            self.periods_elapsed
                .checked_add(1)
                .ok_or_else(|| out_of_range("periods_elapsed"))?
        };
        let start = self
            .interval
            .nth_period_end(self.billing_cycle_anchor, elapsed)
            .ok_or_else(|| out_of_range("interval"))?;
        let end = self
            .interval
            .nth_period_end(self.billing_cycle_anchor, elapsed + 1)
            .ok_or_else(|| out_of_range("interval"))?;
        Ok((Period { start, end }, elapsed))
    }

    /// The current period as a [`Period`].
    pub fn current_period(&self) -> Period {
        Period {
            start: self.current_period_start,
            end: self.current_period_end,
        }
    }

    /// Moves into the next period, invoiced by `invoice_id`. The status is left to the payment.
    pub fn enter_next_period(
        &mut self,
        invoice_id: InvoiceId,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        let (period, elapsed) = self.next_period()?;
        self.current_period_start = period.start;
        self.current_period_end = period.end;
        self.periods_elapsed = elapsed;
        self.latest_invoice_id = Some(invoice_id.clone());
        if self.status == SubscriptionStatus::Trialing {
            self.status = SubscriptionStatus::Active;
        }
        self.updated_at = now;
        self.record(
            EventKind::SubscriptionRenewed,
            now,
            EventFacts {
                invoice_id: Some(invoice_id),
                period_start: Some(period.start),
                period_end: Some(period.end),
                ..EventFacts::default()
            },
        );
        Ok(())
    }

    /// The latest invoice is paid: an incomplete or past-due subscription becomes active.
    pub fn payment_succeeded(&mut self, now: DateTime<Utc>) {
        if self.status == SubscriptionStatus::Incomplete {
            self.record_created(now);
        }
        if matches!(
            self.status,
            SubscriptionStatus::Incomplete | SubscriptionStatus::PastDue
        ) {
            self.status = SubscriptionStatus::Active;
        }
        self.next_payment_attempt = None;
        self.updated_at = now;
    }

    /// A renewal or retry failed: past due until `next_attempt` (`None`: no more retries).
    pub fn payment_failed(&mut self, next_attempt: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        if !self.status.is_ended() && self.status != SubscriptionStatus::Incomplete {
            self.status = SubscriptionStatus::PastDue;
        }
        self.next_payment_attempt = next_attempt;
        self.updated_at = now;
    }

    /// Ends the subscription (`Canceled` or `Expired`) at `at`, e.g. at the period end.
    pub fn end(&mut self, status: SubscriptionStatus, at: DateTime<Utc>, now: DateTime<Utc>) {
        if self.status.is_ended() {
            return;
        }
        self.status = status;
        self.ended_at = Some(at);
        if status == SubscriptionStatus::Canceled && self.canceled_at.is_none() {
            self.canceled_at = Some(at);
        }
        self.cancel_at_period_end = false;
        self.next_payment_attempt = None;
        self.pause = None;
        self.updated_at = now;
        let kind = if status == SubscriptionStatus::Expired {
            EventKind::SubscriptionExpired
        } else {
            EventKind::SubscriptionCanceled
        };
        self.record(
            kind,
            now,
            EventFacts {
                ends_at: Some(at),
                ..EventFacts::default()
            },
        );
    }

    /// Records that the subscription is live: its first payment went through, or it needs none
    /// yet (a trial, a free plan).
    pub fn record_created(&mut self, now: DateTime<Utc>) {
        self.record(
            EventKind::SubscriptionCreated,
            now,
            EventFacts {
                period_start: Some(self.current_period_start),
                period_end: Some(self.current_period_end),
                ends_at: self.trial_end,
                ..EventFacts::default()
            },
        );
    }

    /// Records `kind` for this subscription (stored with its next write).
    pub fn record(&mut self, kind: EventKind, at: DateTime<Utc>, facts: EventFacts) {
        self.events.record(
            kind,
            at,
            EventFacts {
                plan_id: facts.plan_id.or_else(|| Some(self.plan_id.clone())),
                ..facts
            },
        );
    }

    /// The events the write that takes this subscription to `sequence` stores: those it
    /// recorded, and `subscription.updated` when what readers see changed without a
    /// `subscription.*` event of its own. Each carries the subscription as written and, after
    /// the first write, `previous_attributes`: the old values of what changed. `updated_at` is
    /// one of the fields, so a copy kept from events alone is always equal to the stored one.
    pub fn outgoing_events(&self, sequence: u64) -> Vec<DomainEvent> {
        let object = SubscriptionObject::from(self);
        let previous = self
            .as_stored
            .as_deref()
            .map(|before| before.changed_in(&object));
        let mut recorded = self.events.recorded().to_vec();
        let changed = previous.as_ref().is_some_and(|p| !p.is_empty());
        if changed && !recorded.iter().any(|e| e.kind.is_subscription_change()) {
            recorded.push(RecordedEvent {
                kind: EventKind::SubscriptionUpdated,
                occurred_at: self.updated_at,
                facts: EventFacts {
                    plan_id: Some(self.plan_id.clone()),
                    ..EventFacts::default()
                },
            });
        }
        let previous = previous.filter(|p| !p.is_empty());
        recorded
            .into_iter()
            .enumerate()
            .map(|(n, mut event)| {
                event.facts.subscription = Some(Box::new(object.clone()));
                event.facts.previous_attributes = previous.clone();
                DomainEvent::stamp(
                    event,
                    self.id.as_str(),
                    &self.customer_id,
                    Some(&self.id),
                    sequence,
                    n,
                )
            })
            .collect()
    }

    /// After a stored write: its events are stored, and what readers see now is what the next
    /// write compares with.
    pub fn mark_stored(&mut self) {
        self.new_allowance_period = None;
        self.events.clear();
        self.as_stored = Some(Box::new(SubscriptionObject::from(&*self)));
    }

    /// When the trial's reminder is due: [`TRIAL_REMINDER_DAYS`] before it ends, once.
    pub fn trial_reminder_at(&self) -> Option<DateTime<Utc>> {
        if self.status != SubscriptionStatus::Trialing || self.trial_reminder_sent {
            return None;
        }
        self.trial_end
            .and_then(|end| end.checked_sub_signed(Duration::days(TRIAL_REMINDER_DAYS)))
    }

    /// Whether the subscription goes on after this period (it renews, rather than ending).
    pub fn will_renew(&self) -> bool {
        self.auto_renew && !self.cancel_at_period_end
    }

    /// When this period's reminder is due, once per period, for an active subscription: a
    /// renewal reminder [`Subscription::renewal_reminder_days`] before a renewal, an expiry
    /// warning at least [`EXPIRY_WARNING_DAYS`] before a period end it will not renew past. A
    /// reminder never goes before the period it is about has begun.
    pub fn renewal_reminder_at(&self) -> Option<DateTime<Utc>> {
        if self.status != SubscriptionStatus::Active
            || self.reminded_period_end == Some(self.current_period_end)
        {
            return None;
        }
        let days = if self.will_renew() {
            self.renewal_reminder_days
        } else {
            self.renewal_reminder_days.max(EXPIRY_WARNING_DAYS)
        };
        if days == 0 {
            return None;
        }
        self.current_period_end
            .checked_sub_signed(Duration::days(i64::from(days)))
            .filter(|at| *at > self.current_period_start)
    }

    /// Records this period's reminder (once): `invoice.upcoming` with what the next invoice
    /// will ask (`upcoming`) when the subscription renews, `subscription.expiring` when it ends
    /// at the period's end.
    pub fn remind_renewal(&mut self, upcoming: Option<Money>, now: DateTime<Utc>) {
        if self.renewal_reminder_at().is_none() {
            return;
        }
        // Bookkeeping only: `updated_at` (when something a reader sees changed) stays.
        self.reminded_period_end = Some(self.current_period_end);
        let (kind, amount) = if self.will_renew() {
            (EventKind::InvoiceUpcoming, upcoming)
        } else {
            (EventKind::SubscriptionExpiring, None)
        };
        self.record(
            kind,
            now,
            EventFacts {
                amount,
                period_end: Some(self.current_period_end),
                ends_at: (!self.will_renew()).then_some(self.current_period_end),
                ..EventFacts::default()
            },
        );
    }

    /// Records the trial's reminder (once).
    pub fn remind_trial_end(&mut self, now: DateTime<Utc>) {
        if self.trial_reminder_at().is_none() {
            return;
        }
        self.trial_reminder_sent = true;
        self.record(
            EventKind::SubscriptionTrialWillEnd,
            now,
            EventFacts {
                ends_at: self.trial_end,
                ..EventFacts::default()
            },
        );
    }
}

impl Subscription {
    /// The id of the subscription that follows this one (the fallback plan's): derived, so a
    /// repeated attempt finds it instead of making another.
    pub fn successor_id(&self) -> Result<SubscriptionId, BillingError> {
        format!("{}_next", self.id)
            .parse()
            .map_err(|_| BillingError::Conflict("the subscription id is too long to follow".into()))
    }

    /// Whether the plan may change now: only a live subscription in good standing.
    pub fn ensure_plan_can_change(&self, to: &Plan) -> Result<(), BillingError> {
        match self.status {
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => {}
            other => return Err(illegal(other, "change the plan of")),
        }
        if self.cancel_at_period_end {
            return Err(BillingError::Conflict(
                "the subscription is set to cancel; reactivate it first".into(),
            ));
        }
        if to.id == self.plan_id {
            return Err(BillingError::field(
                "plan_id",
                "the subscription is on this plan already",
            ));
        }
        if !to.is_active() {
            return Err(BillingError::field("plan_id", "the plan is archived"));
        }
        // A bundle is bought on its own (a subscription that never renews) or as a top-up.
        if self.one_off || !to.is_recurring() {
            return Err(BillingError::field(
                "plan_id",
                "a one-off bundle neither changes plan nor is changed to: buy it as its own subscription or as a top-up",
            ));
        }
        Ok(())
    }

    /// Moves to `plan` now. A new interval restarts the periods now (a new billing anchor), as
    /// Stripe does; the same interval keeps the current period.
    pub fn switch_plan(&mut self, plan: &Plan, now: DateTime<Utc>) -> Result<(), BillingError> {
        let interval_changed = plan.interval != self.interval;
        let previous = std::mem::replace(&mut self.plan_id, plan.id.clone());
        self.record(
            EventKind::SubscriptionPlanChanged,
            now,
            EventFacts {
                previous_plan_id: Some(previous),
                ..EventFacts::default()
            },
        );
        self.interval = plan.interval;
        self.renewal_reminder_days = plan.reminder_days();
        self.scheduled_plan_id = None;
        if interval_changed && self.status != SubscriptionStatus::Trialing {
            self.restart_periods_at(now)?;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Takes the scheduled plan at the period's end, before the next period is invoiced. A new
    /// interval anchors the periods at this boundary.
    pub fn take_scheduled_plan(&mut self, plan: &Plan, now: DateTime<Utc>) {
        if plan.interval != self.interval {
            self.interval = plan.interval;
            self.billing_cycle_anchor = self.current_period_end;
            self.periods_elapsed = 0;
        }
        let previous = std::mem::replace(&mut self.plan_id, plan.id.clone());
        self.renewal_reminder_days = plan.reminder_days();
        self.scheduled_plan_id = None;
        self.record(
            EventKind::SubscriptionPlanChanged,
            now,
            EventFacts {
                previous_plan_id: Some(previous),
                ..EventFacts::default()
            },
        );
    }
}

/// How many days before a subscription ends at its period end (auto-renew off, or canceled at
/// the period end) the customer is warned, at least.
pub const EXPIRY_WARNING_DAYS: u32 = 3;

/// Stripe gives an incomplete subscription 23 hours to complete its first payment.
pub const INCOMPLETE_EXPIRES_AFTER_HOURS: i64 = 23;

/// The next step the scheduler finds due for a subscription (`process_due` takes one per turn
/// of its loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueStep {
    /// The period has ended: invoice and charge the next one.
    Renew,
    /// The period has ended and the subscription ends with it (canceled at period end, or
    /// auto-renew off: expired).
    End(SubscriptionStatus),
    /// Dunning: charge the open invoice again.
    RetryPayment(InvoiceId),
    /// A pause with an end date is over.
    Resume,
    /// The first payment was never completed.
    ExpireIncomplete,
    /// Ended on a plan with a fallback: subscribe the customer to it.
    StartSuccessor(PlanId),
    /// The trial ends soon: record its reminder.
    RemindTrialEnd,
    /// The period ends soon: record its renewal (or expiry) reminder.
    RemindRenewal,
}

/// Checks a cancellation comment, for callers that validate before loading the subscription.
pub fn validate_comment(comment: Option<&str>) -> Result<(), FieldError> {
    validation::optional_text("comment", comment, 1000).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::{days, monthly_plan, new_subscription, t0};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn active() -> Subscription {
        Subscription::start(new_subscription(), &monthly_plan(), t0()).expect("starts")
    }

    /// The subscription as stored: what its next write's events compare with.
    fn stored() -> Subscription {
        let mut sub = active();
        sub.record_created(t0());
        sub.mark_stored();
        sub
    }

    #[test]
    fn a_change_without_an_event_of_its_own_is_published_as_updated_with_the_old_values() {
        let mut sub = stored();
        let patch = SubscriptionPatch {
            promotional_first: None,
            auto_renew: Some(false),
            metadata: Some([("po".to_owned(), "PO-7".to_owned())].into()),
            cancel_at_period_end: None,
        };
        sub.apply(patch, t0() + days(1)).expect("applies");
        let events = sub.outgoing_events(sub.version + 1);
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.kind, EventKind::SubscriptionUpdated);
        assert_eq!(event.occurred_at, t0() + days(1));
        assert_eq!(event.sequence, 1);
        let previous = event.facts.previous_attributes.as_ref().expect("previous");
        assert_eq!(
            previous.keys().map(String::as_str).collect::<Vec<_>>(),
            ["auto_renew", "metadata", "updated_at"]
        );
        assert_eq!(previous["auto_renew"], serde_json::json!(true));
        assert_eq!(previous["metadata"], serde_json::json!({}));
        let object = event.facts.subscription.as_ref().expect("object");
        assert_eq!(**object, SubscriptionObject::from(&sub));
        assert!(!object.auto_renew);
    }

    #[test]
    fn a_change_with_its_own_event_is_not_published_twice_and_carries_the_old_values() {
        let mut sub = stored();
        sub.pause(t0() + days(2), Some(t0() + days(40)))
            .expect("pauses");
        let events = sub.outgoing_events(1);
        assert_eq!(
            events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::SubscriptionPaused]
        );
        let previous = events[0]
            .facts
            .previous_attributes
            .as_ref()
            .expect("previous");
        assert_eq!(previous["status"], serde_json::json!("active"));
        assert_eq!(previous["pause"], serde_json::Value::Null);
        assert_eq!(
            events[0].facts.subscription.as_ref().map(|s| s.status),
            Some(SubscriptionStatus::Paused)
        );
    }

    #[test]
    fn a_write_that_changes_nothing_a_reader_sees_publishes_nothing() {
        let mut sub = stored();
        let unchanged = SubscriptionPatch {
            promotional_first: None,
            auto_renew: Some(true),
            metadata: None,
            cancel_at_period_end: None,
        };
        sub.apply(unchanged, t0() + days(1)).expect("applies");
        assert!(sub.outgoing_events(1).is_empty());
        // The first write has no old values to give.
        let new = active();
        let created = {
            let mut s = new.clone();
            s.record_created(t0());
            s.outgoing_events(0)
        };
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].facts.previous_attributes, None);
        assert!(created[0].facts.subscription.is_some());
    }

    #[test]
    fn a_plan_without_trial_starts_active_for_one_period() {
        let sub = active();
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert_eq!(sub.current_period_start, t0());
        assert_eq!(
            sub.current_period_end,
            Interval::Month.nth_period_end(t0(), 1).expect("ok")
        );
        assert!(sub.exclusive);
        // Due first for the renewal reminder, a week before the period ends.
        assert_eq!(sub.next_due_at(), Some(sub.current_period_end - days(7)));
    }

    #[test]
    fn a_plan_with_trial_starts_trialing_until_the_trial_ends() {
        let mut plan = monthly_plan();
        plan.trial_days = 14;
        let sub = Subscription::start(new_subscription(), &plan, t0()).expect("starts");
        assert_eq!(sub.status, SubscriptionStatus::Trialing);
        assert_eq!(sub.trial_end, Some(t0() + days(14)));
        assert_eq!(sub.current_period_end, t0() + days(14));
        assert_eq!(sub.billing_cycle_anchor, t0() + days(14));
    }

    #[test]
    fn an_archived_plan_takes_no_new_subscriptions() {
        let mut plan = monthly_plan();
        plan.archive(t0());
        let err = Subscription::start(new_subscription(), &plan, t0()).expect_err("archived");
        assert!(
            matches!(err, BillingError::Validation(ref e) if e[0].field == "subscription_plan_id")
        );
    }

    #[test]
    fn pause_then_resume_within_the_period_keeps_the_period() {
        let mut sub = active();
        let end = sub.current_period_end;
        sub.pause(t0() + days(3), Some(t0() + days(10)))
            .expect("pause");
        assert_eq!(sub.status, SubscriptionStatus::Paused);
        assert_eq!(sub.next_due_at(), Some(t0() + days(10)));
        sub.resume(t0() + days(5)).expect("resume");
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert_eq!(sub.current_period_end, end);
        assert_eq!(sub.pause, None);
    }

    #[test]
    fn resuming_after_the_period_ran_out_starts_a_new_period() {
        let mut sub = active();
        sub.pause(t0() + days(3), None).expect("pause");
        assert_eq!(sub.next_due_at(), None);
        let later = t0() + days(45);
        sub.resume(later).expect("resume");
        assert_eq!(sub.current_period_start, later);
        assert_eq!(sub.billing_cycle_anchor, later);
        assert_eq!(
            sub.current_period_end,
            Interval::Month.nth_period_end(later, 1).expect("ok")
        );
    }

    #[test]
    fn illegal_transitions_are_conflicts() {
        let mut sub = active();
        assert!(matches!(sub.resume(t0()), Err(BillingError::Conflict(_))));
        sub.pause(t0(), None).expect("pause");
        assert!(matches!(
            sub.pause(t0(), None),
            Err(BillingError::Conflict(_))
        ));
        sub.cancel(
            CancelRequest {
                immediately: true,
                ..CancelRequest::default()
            },
            t0(),
        )
        .expect("cancel");
        assert!(matches!(
            sub.cancel(CancelRequest::default(), t0()),
            Err(BillingError::Conflict(_))
        ));
        assert!(matches!(
            sub.pause(t0(), None),
            Err(BillingError::Conflict(_))
        ));
        assert!(matches!(sub.resume(t0()), Err(BillingError::Conflict(_))));
        assert!(matches!(
            sub.apply(
                SubscriptionPatch {
                    promotional_first: None,
                    auto_renew: Some(false),
                    ..Default::default()
                },
                t0()
            ),
            Err(BillingError::Conflict(_))
        ));
    }

    #[test]
    fn pause_until_a_past_date_is_a_validation_error() {
        let mut sub = active();
        let err = sub
            .pause(t0() + days(2), Some(t0() + days(1)))
            .expect_err("past");
        assert!(matches!(err, BillingError::Validation(ref e) if e[0].field == "resumes_at"));
        assert_eq!(sub.status, SubscriptionStatus::Active);
    }

    #[test]
    fn cancel_at_period_end_keeps_the_subscription_live_until_then() {
        let mut sub = active();
        sub.cancel(
            CancelRequest {
                reason: Some(CancellationReason::TooExpensive),
                comment: Some("budget cuts".into()),
                immediately: false,
            },
            t0() + days(1),
        )
        .expect("cancel");
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert!(sub.cancel_at_period_end);
        assert_eq!(sub.canceled_at, Some(t0() + days(1)));
        assert_eq!(
            sub.cancellation,
            Some(Cancellation {
                reason: Some(CancellationReason::TooExpensive),
                comment: Some("budget cuts".into())
            })
        );
        assert_eq!(sub.ended_at, None);
    }

    #[test]
    fn cancel_immediately_ends_it_now() {
        let mut sub = active();
        sub.pause(t0(), None).expect("pause");
        sub.cancel(
            CancelRequest {
                immediately: true,
                ..CancelRequest::default()
            },
            t0() + days(2),
        )
        .expect("cancel");
        assert_eq!(sub.status, SubscriptionStatus::Canceled);
        assert_eq!(sub.ended_at, Some(t0() + days(2)));
        assert_eq!(sub.pause, None);
        assert_eq!(sub.next_due_at(), None);
    }

    #[test]
    fn reactivation_works_only_before_the_period_ends() {
        let mut sub = active();
        sub.cancel(CancelRequest::default(), t0()).expect("cancel");
        let mut late = sub.clone();
        sub.apply(
            SubscriptionPatch {
                promotional_first: None,
                cancel_at_period_end: Some(false),
                ..Default::default()
            },
            t0() + days(3),
        )
        .expect("reactivate");
        assert!(!sub.cancel_at_period_end);
        assert_eq!(sub.canceled_at, None);
        assert_eq!(sub.cancellation, None);
        let end = late.current_period_end;
        assert!(matches!(
            late.reactivate(end),
            Err(BillingError::Conflict(_))
        ));
    }

    #[test]
    fn auto_renew_and_metadata_change_with_a_patch() {
        let mut sub = active();
        sub.apply(
            SubscriptionPatch {
                promotional_first: None,
                auto_renew: Some(false),
                metadata: Some([("po".into(), "4711".into())].into()),
                cancel_at_period_end: None,
            },
            t0(),
        )
        .expect("patch");
        assert!(!sub.auto_renew);
        assert_eq!(sub.metadata.get("po").map(String::as_str), Some("4711"));
    }

    fn annual() -> Subscription {
        let mut plan = monthly_plan();
        plan.interval = Interval::Year;
        Subscription::start(new_subscription(), &plan, t0()).expect("starts")
    }

    #[test]
    fn an_annual_subscription_is_reminded_a_week_before_each_renewal_once() {
        let mut sub = annual();
        let end = sub.current_period_end;
        let reminder = end - days(7);
        assert_eq!(sub.next_due_at(), Some(reminder));
        assert_eq!(sub.due_step(reminder - days(1)), None);
        assert_eq!(sub.due_step(reminder), Some(DueStep::RemindRenewal));
        let upcoming = Money::new(
            rust_decimal_macros::dec!(799.90),
            crate::kernel::money::Currency::Usd,
        )
        .expect("usd");
        sub.remind_renewal(Some(upcoming), reminder);
        assert_eq!(sub.events.kinds(), [EventKind::InvoiceUpcoming]);
        assert_eq!(sub.next_due_at(), Some(end));
        assert_eq!(sub.due_step(reminder + days(1)), None);
        // A second reminder for the same period records nothing.
        sub.remind_renewal(Some(upcoming), reminder + days(1));
        assert_eq!(sub.events.kinds().len(), 1);
    }

    #[test]
    fn a_subscription_that_will_not_renew_gets_an_expiry_warning_instead() {
        let mut sub = annual();
        sub.auto_renew = false;
        let end = sub.current_period_end;
        sub.remind_renewal(None, end - days(7));
        assert_eq!(sub.events.kinds(), [EventKind::SubscriptionExpiring]);
    }

    #[test]
    fn a_subscription_that_will_not_renew_is_warned_at_least_three_days_before_it_ends() {
        let mut plan = monthly_plan();
        plan.renewal_reminder_days = Some(0);
        let mut sub = Subscription::start(new_subscription(), &plan, t0()).expect("starts");
        sub.auto_renew = false;
        let end = sub.current_period_end;
        assert_eq!(sub.renewal_reminder_at(), Some(end - days(3)));
        assert_eq!(sub.next_due_at(), Some(end - days(3)));
        sub.remind_renewal(None, end - days(3));
        assert_eq!(sub.events.kinds(), [EventKind::SubscriptionExpiring]);
        assert_eq!(sub.next_due_at(), Some(end));
    }

    #[test]
    fn plans_remind_a_week_before_unless_they_say_otherwise() {
        let sub = active();
        assert_eq!(
            sub.renewal_reminder_at(),
            Some(sub.current_period_end - days(7))
        );
        let mut plan = monthly_plan();
        plan.renewal_reminder_days = Some(3);
        let sub = Subscription::start(new_subscription(), &plan, t0()).expect("starts");
        assert_eq!(
            sub.renewal_reminder_at(),
            Some(sub.current_period_end - days(3))
        );
        plan.renewal_reminder_days = Some(0);
        let sub = Subscription::start(new_subscription(), &plan, t0()).expect("starts");
        assert_eq!(sub.renewal_reminder_at(), None);
        // A reminder longer than the period would come before it began: none (weekly plans).
        plan.renewal_reminder_days = None;
        plan.interval = Interval::Week;
        let sub = Subscription::start(new_subscription(), &plan, t0()).expect("starts");
        assert_eq!(sub.renewal_reminder_at(), None);
    }

    #[test]
    fn started_on_the_31st_of_january_the_first_period_ends_on_the_last_of_february() {
        let jan31 = Utc
            .with_ymd_and_hms(2027, 1, 31, 9, 30, 0)
            .single()
            .expect("date");
        let sub = Subscription::start(new_subscription(), &monthly_plan(), jan31).expect("starts");
        assert_eq!(
            sub.current_period_end,
            Utc.with_ymd_and_hms(2027, 2, 28, 9, 30, 0)
                .single()
                .expect("date")
        );
    }

    #[derive(Debug, Clone)]
    enum Action {
        Pause(i64),
        Resume,
        CancelAtEnd,
        CancelNow,
        Reactivate,
        AutoRenew(bool),
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            (0i64..40).prop_map(Action::Pause),
            Just(Action::Resume),
            Just(Action::CancelAtEnd),
            Just(Action::CancelNow),
            Just(Action::Reactivate),
            any::<bool>().prop_map(Action::AutoRenew),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_actions_breaks_the_invariants(actions in proptest::collection::vec((action(), 0i64..5), 0..30)) {
            let mut sub = active();
            let mut now = t0();
            for (action, step) in actions {
                now += days(step);
                let before = sub.clone();
                let result = match action {
                    Action::Pause(d) => sub.pause(now, (d > 0).then(|| now + days(d))),
                    Action::Resume => sub.resume(now),
                    Action::CancelAtEnd => sub.cancel(CancelRequest::default(), now),
                    Action::CancelNow => sub.cancel(CancelRequest { immediately: true, ..Default::default() }, now),
                    Action::Reactivate => sub.reactivate(now),
                    Action::AutoRenew(on) => sub.apply(SubscriptionPatch { auto_renew: Some(on), ..Default::default() }, now),
                };
                if result.is_err() {
                    // a refused action changes nothing
                    prop_assert_eq!(&sub, &before);
                }
                // once ended, always ended
                if before.status.is_ended() {
                    prop_assert_eq!(sub.status, before.status);
                }
                prop_assert!(sub.current_period_start < sub.current_period_end);
                prop_assert_eq!(sub.status == SubscriptionStatus::Paused, sub.pause.is_some());
                prop_assert_eq!(sub.ended_at.is_some(), sub.status.is_ended());
                if sub.status.is_ended() { prop_assert!(!sub.cancel_at_period_end); }
            }
        }
    }

    #[test]
    fn a_one_off_bundle_is_neither_changed_to_nor_changed_from() {
        let mut bundle = crate::kernel::testing::monthly_plan();
        bundle.id = "plan_tokens_1000_30d".parse().expect("id");
        bundle.duration_days = Some(30);
        let mut sub =
            Subscription::start(new_subscription(), &monthly_plan(), t0()).expect("starts");
        let refused = sub.ensure_plan_can_change(&bundle).expect_err("a bundle");
        assert!(matches!(refused, BillingError::Validation(ref e) if e[0].field == "plan_id"));
        sub.one_off = true;
        let mut other = monthly_plan();
        other.id = "plan_basic_month".parse().expect("id");
        assert!(sub.ensure_plan_can_change(&other).is_err());
    }
}
