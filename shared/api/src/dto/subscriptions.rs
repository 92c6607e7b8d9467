//! The JSON of subscriptions: subscribing, pausing, canceling, changing plan.

use super::*;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    #[schema(example = "cus_8f14e45fceea167a5a36dedd")]
    pub customer_id: String,
    #[schema(example = "plan_premium_month")]
    pub subscription_plan_id: String,
    /// A Stripe payment method id (`pm_...`).
    #[schema(example = "pm_card_visa")]
    pub payment_method_id: Option<String>,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub auto_renew: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Operators: trial days for this subscription instead of the plan's (0: no trial). Sent by
    /// a customer, 422: a customer gets the plan's trial, once.
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: Option<u32>,
    /// Operators: a coupon id to apply.
    #[schema(example = "coupon_spring25")]
    pub coupon: Option<String>,
    /// A promotion code to redeem (case-insensitive).
    #[schema(example = "SPRING25")]
    pub promotion_code: Option<String>,
    /// Products shipped and invoiced each period (a subscription box); each must be in stock.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub items: Vec<RecurringItemDto>,
    /// Whether usage takes promotional units before the included ones (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub promotional_first: bool,
}

/// A product shipped each period, and how many.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringItemDto {
    #[schema(example = "prod_8f14e45fceea167a5a36dedd")]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: u32,
}

/// `PUT /subscriptions/{id}/items`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetItemsRequest {
    #[schema(max_items = 20)]
    pub items: Vec<RecurringItemDto>,
}

/// The items of a request, each product id read.
pub fn recurring_items(
    items: Vec<RecurringItemDto>,
) -> Result<Vec<subscription::RecurringItem>, Vec<FieldError>> {
    let mut v = Validator::new();
    let read: Vec<_> = items
        .into_iter()
        .enumerate()
        .map(|(n, item)| {
            v.check(
                item.product_id
                    .parse()
                    .map(|product_id| subscription::RecurringItem {
                        product_id,
                        quantity: item.quantity,
                    })
                    .map_err(|e: billing_domain::kernel::ids::IdError| {
                        FieldError::new(format!("items[{n}].product_id"), e.to_string())
                    }),
            )
        })
        .collect();
    v.finish()?;
    Ok(read.into_iter().flatten().collect())
}

fn yes() -> bool {
    true
}

impl TryFrom<CreateSubscriptionRequest> for subscription::NewSubscription {
    type Error = Vec<FieldError>;
    fn try_from(r: CreateSubscriptionRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let customer_id = v.check(r.customer_id.parse().map_err(
            |e: billing_domain::kernel::ids::IdError| FieldError::new("customer_id", e.to_string()),
        ));
        let plan_id = v.check(r.subscription_plan_id.parse().map_err(
            |e: billing_domain::kernel::ids::IdError| {
                FieldError::new("subscription_plan_id", e.to_string())
            },
        ));
        let discount = v.check(coupons::discount_request(
            r.coupon.as_deref(),
            r.promotion_code,
        ));
        v.finish()?;
        let items = recurring_items(r.items)?;
        match (customer_id, plan_id) {
            (Some(customer_id), Some(plan_id)) => Ok(subscription::NewSubscription {
                customer_id,
                plan_id,
                payment_method_id: r.payment_method_id,
                auto_renew: r.auto_renew,
                metadata: r.metadata,
                trial_days: r.trial_days,
                discount: discount.unwrap_or_default(),
                items,
                promotional_first: r.promotional_first,
            }),
            _ => Err(vec![FieldError::new("body", "invalid subscription")]),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Resume automatically at this time (RFC 3339, at most ten years ahead); absent = until
    /// resumed.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub resumes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscriptionRequest {
    pub reason: Option<CancellationReason>,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
    /// Cancel now instead of at the end of the current period.
    #[serde(default)]
    pub immediately: bool,
}

impl From<CancelSubscriptionRequest> for subscription::CancelRequest {
    fn from(r: CancelSubscriptionRequest) -> Self {
        subscription::CancelRequest {
            reason: r.reason.map(Into::into),
            comment: r.comment,
            immediately: r.immediately,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionRequest {
    pub auto_renew: Option<bool>,
    /// Merged into the current metadata; an empty value removes a key.
    pub metadata: Option<BTreeMap<String, String>>,
    /// `false` reactivates a subscription set to cancel at period end.
    pub cancel_at_period_end: Option<bool>,
    /// Whether usage takes promotional units before the included ones.
    pub promotional_first: Option<bool>,
}

impl From<UpdateSubscriptionRequest> for subscription::SubscriptionPatch {
    fn from(r: UpdateSubscriptionRequest) -> Self {
        subscription::SubscriptionPatch {
            auto_renew: r.auto_renew,
            metadata: r.metadata,
            cancel_at_period_end: r.cancel_at_period_end,
            promotional_first: r.promotional_first,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancellationDto {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PauseDto {
    pub paused_at: DateTime<Utc>,
    pub resumes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(example = "sub_1f0e3dad99908345f7439f8f")]
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
    pub cancellation: Option<CancellationDto>,
    pub pause: Option<PauseDto>,
    pub metadata: BTreeMap<String, String>,
    /// The newest invoice: the first period's, then each renewal's.
    pub latest_invoice_id: Option<String>,
    /// While past due: when the open invoice is charged again (`null`: no more retries).
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// A downgrade waiting for the end of the period.
    pub scheduled_plan_id: Option<String>,
    /// The coupon applied to its invoices.
    pub discount: Option<coupons::DiscountDto>,
    /// The products shipped and invoiced each period.
    pub items: Vec<RecurringItemDto>,
    /// Whether usage takes promotional units before the included ones.
    pub promotional_first: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionResponse {
    fn from(s: &Subscription) -> Self {
        SubscriptionResponse::from(SubscriptionObject::from(s))
    }
}

/// The same fields as the events' `subscription` ([`SubscriptionObject`]), described for the
/// OpenAPI document; a test keeps the two equal.
impl From<SubscriptionObject> for SubscriptionResponse {
    fn from(s: SubscriptionObject) -> Self {
        SubscriptionResponse {
            id: s.id,
            customer_id: s.customer_id,
            plan_id: s.plan_id,
            status: s.status.into(),
            auto_renew: s.auto_renew,
            payment_method_id: s.payment_method_id,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            billing_cycle_anchor: s.billing_cycle_anchor,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at,
            ended_at: s.ended_at,
            cancellation: s.cancellation.map(|c| CancellationDto {
                reason: c.reason.map(Into::into),
                comment: c.comment,
            }),
            pause: s.pause.map(|p| PauseDto {
                paused_at: p.paused_at,
                resumes_at: p.resumes_at,
            }),
            metadata: s.metadata,
            latest_invoice_id: s.latest_invoice_id,
            next_payment_attempt: s.next_payment_attempt,
            scheduled_plan_id: s.scheduled_plan_id,
            discount: s.discount.map(coupons::DiscountDto::from),
            items: s
                .items
                .into_iter()
                .map(|i| RecurringItemDto {
                    product_id: i.product_id,
                    quantity: i.quantity,
                })
                .collect(),
            promotional_first: s.promotional_first,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// `POST /subscriptions/{id}/change-plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    #[schema(example = "plan_premium_month")]
    pub plan_id: String,
    /// Operators: prorate an immediate change by the second (default true). A customer's
    /// immediate change is always prorated; sent by a customer, 422.
    pub prorate: Option<bool>,
    /// Default: upgrades at once, downgrades at the end of the period. A customer's immediate
    /// change that would leave credit (a downgrade now) is a 422: only operators apply those.
    pub at_period_end: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::discounts::coupon::{CouponDuration, CouponTerms, CouponValue, Discount};
    use billing_domain::kernel::money::{Currency as Cur, Money};
    use billing_domain::subscriptions::{Cancellation, Pause};
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    /// The API's answer and the events' `subscription` are the same JSON, field for field, with
    /// every optional part present and absent.
    #[test]
    fn the_api_shows_a_subscription_as_its_events_carry_it() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 7, 10, 0, 0)
            .single()
            .expect("time");
        let plan: billing_domain::kernel::ids::PlanId = "plan_premium_month".parse().expect("id");
        let full = Subscription {
            id: "sub_1f0e3dad99908345f7439f8f".parse().expect("id"),
            customer_id: "cus_979769ed49fc4069843eb071".parse().expect("id"),
            plan_id: plan.clone(),
            interval: period::Interval::Month,
            status: DStatus::PastDue,
            auto_renew: false,
            payment_method_id: Some("pm_card_visa".into()),
            billing_cycle_anchor: at,
            periods_elapsed: 2,
            current_period_start: at,
            current_period_end: at + chrono::Duration::days(31),
            trial_end: Some(at),
            cancel_at_period_end: true,
            canceled_at: Some(at),
            ended_at: Some(at),
            cancellation: Some(Cancellation {
                reason: Some(DReason::TooExpensive),
                comment: Some("later".into()),
            }),
            pause: Some(Pause {
                paused_at: at,
                resumes_at: Some(at),
            }),
            metadata: [("po".to_owned(), "PO-7".to_owned())].into(),
            exclusive: true,
            latest_invoice_id: Some("in_1def0af669964d5897006083".parse().expect("id")),
            next_payment_attempt: Some(at),
            scheduled_plan_id: Some(plan.clone()),
            pending_lines: Vec::new(),
            successor_plan_id: None,
            discount: Some(Discount {
                coupon: CouponTerms {
                    id: "coupon_spring25".parse().expect("id"),
                    name: "Spring".into(),
                    value: CouponValue::AmountOff(
                        Money::new(Decimal::new(500, 2), Cur::Usd).expect("money"),
                    ),
                    duration: CouponDuration::Repeating { periods: 3 },
                    applies_to_plans: [plan].into(),
                },
                promotion_code: Some("SPRING25".into()),
                start: at,
                end: Some(at),
            }),
            trial_reminder_sent: false,
            items: vec![billing_domain::subscriptions::RecurringItem {
                product_id: "prod_8f14e45fceea167a5a36dedd".parse().expect("id"),
                quantity: 2,
            }],
            renewal_reminder_days: 7,
            reminded_period_end: None,
            promotional_first: false,
            metered: false,
            one_off: false,
            new_allowance_period: None,
            events: Default::default(),
            as_stored: None,
            created_at: at,
            updated_at: at,
            version: 3,
        };
        let mut sparse = full.clone();
        sparse.payment_method_id = None;
        sparse.trial_end = None;
        sparse.canceled_at = None;
        sparse.ended_at = None;
        sparse.cancellation = None;
        sparse.pause = None;
        sparse.latest_invoice_id = None;
        sparse.next_payment_attempt = None;
        sparse.scheduled_plan_id = None;
        sparse.discount = None;
        for sub in [full, sparse] {
            let api = serde_json::to_value(SubscriptionResponse::from(&sub)).expect("json");
            let event = serde_json::to_value(SubscriptionObject::from(&sub)).expect("json");
            assert_eq!(api, event);
        }
    }
}
