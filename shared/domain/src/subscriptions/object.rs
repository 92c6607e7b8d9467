//! A subscription as its readers see it: the body of `GET /subscriptions/{id}` and the
//! `subscription` every event of a subscription carries, so that a copy kept from events alone
//! equals what the API answers.
//!
//! `previous_attributes` (Stripe's name) are the values, before a write, of the top-level fields
//! that the write changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::discounts::coupon::{CouponDuration, CouponTerms, CouponValue, Discount};
use crate::kernel::money::Currency;
use crate::subscriptions::{CancellationReason, Subscription, SubscriptionStatus};

/// The old values of what a write changed, by field name.
pub type PreviousAttributes = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionObject {
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub billing_cycle_anchor: DateTime<Utc>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancellation: Option<CancellationObject>,
    pub pause: Option<PauseObject>,
    pub metadata: BTreeMap<String, String>,
    pub latest_invoice_id: Option<String>,
    pub next_payment_attempt: Option<DateTime<Utc>>,
    pub scheduled_plan_id: Option<String>,
    pub discount: Option<DiscountObject>,
    /// The products shipped each period.
    #[serde(default)]
    pub items: Vec<RecurringItemObject>,
    /// Whether usage takes promotional units before the included ones.
    #[serde(default = "yes")]
    pub promotional_first: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

/// A product shipped each period, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurringItemObject {
    pub product_id: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationObject {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseObject {
    pub paused_at: DateTime<Utc>,
    pub resumes_at: Option<DateTime<Utc>>,
}

/// A coupon applied to a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountObject {
    pub coupon: CouponTermsObject,
    pub promotion_code: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// What a coupon takes off and for how long: `percent_off`, or `amount_off` with `currency`
/// (decimal strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponTermsObject {
    pub id: String,
    pub name: String,
    pub percent_off: Option<String>,
    pub amount_off: Option<String>,
    pub currency: Option<Currency>,
    pub duration: DurationKind,
    pub duration_in_periods: Option<u32>,
    pub applies_to: AppliesToObject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationKind {
    Once,
    Repeating,
    Forever,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliesToObject {
    pub plans: Vec<String>,
}

impl From<&CouponTerms> for CouponTermsObject {
    fn from(t: &CouponTerms) -> Self {
        let (percent_off, amount_off, currency) = match t.value {
            CouponValue::PercentOff(p) => (Some(p.normalize().to_string()), None, None),
            CouponValue::AmountOff(m) => (None, Some(m.amount().to_string()), Some(m.currency())),
        };
        let (duration, duration_in_periods) = match t.duration {
            CouponDuration::Once => (DurationKind::Once, None),
            CouponDuration::Repeating { periods } => (DurationKind::Repeating, Some(periods)),
            CouponDuration::Forever => (DurationKind::Forever, None),
        };
        CouponTermsObject {
            id: t.id.to_string(),
            name: t.name.clone(),
            percent_off,
            amount_off,
            currency,
            duration,
            duration_in_periods,
            applies_to: AppliesToObject {
                plans: t.applies_to_plans.iter().map(ToString::to_string).collect(),
            },
        }
    }
}

impl From<&Discount> for DiscountObject {
    fn from(d: &Discount) -> Self {
        DiscountObject {
            coupon: CouponTermsObject::from(&d.coupon),
            promotion_code: d.promotion_code.clone(),
            start: d.start,
            end: d.end,
        }
    }
}

impl From<&Subscription> for SubscriptionObject {
    fn from(s: &Subscription) -> Self {
        SubscriptionObject {
            id: s.id.to_string(),
            customer_id: s.customer_id.to_string(),
            plan_id: s.plan_id.to_string(),
            status: s.status,
            auto_renew: s.auto_renew,
            payment_method_id: s.payment_method_id.clone(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            billing_cycle_anchor: s.billing_cycle_anchor,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at,
            ended_at: s.ended_at,
            cancellation: s.cancellation.as_ref().map(|c| CancellationObject {
                reason: c.reason,
                comment: c.comment.clone(),
            }),
            pause: s.pause.as_ref().map(|p| PauseObject {
                paused_at: p.paused_at,
                resumes_at: p.resumes_at,
            }),
            metadata: s.metadata.clone(),
            latest_invoice_id: s.latest_invoice_id.as_ref().map(ToString::to_string),
            next_payment_attempt: s.next_payment_attempt,
            scheduled_plan_id: s.scheduled_plan_id.as_ref().map(ToString::to_string),
            discount: s.discount.as_ref().map(DiscountObject::from),
            items: s
                .items
                .iter()
                .map(|i| RecurringItemObject {
                    product_id: i.product_id.to_string(),
                    quantity: i.quantity,
                })
                .collect(),
            promotional_first: s.promotional_first,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl SubscriptionObject {
    /// The values in `self` of the top-level fields whose values differ in `after`.
    pub fn changed_in(&self, after: &SubscriptionObject) -> PreviousAttributes {
        let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) =
            (serde_json::to_value(self), serde_json::to_value(after))
        else {
            return PreviousAttributes::new();
        };
        before
            .into_iter()
            .filter(|(field, value)| after.get(field) != Some(value))
            .collect()
    }
}
