//! The table's item shapes and their conversion to and from domain types.
//! Every item has `pk`, `sk`, `entity` and `version`; list and due indexes add their keys.

use std::collections::BTreeSet;
use std::str::FromStr;

use billing_domain::catalogue::{Feature, Limit, Plan, PlanStatus, Tier, TierLimits};
use billing_domain::customers::{Address, Company, Customer, Email, Metadata, PaymentTerms};
use billing_domain::invoicing::{
    BillingReason, DisputeRecord, DisputeStatus, Invoice, InvoiceLine, InvoiceStatus, LineKind,
    PaymentRecord, PaymentStatus, RefundDestination, RefundReason, RefundRecord, RefundStatus,
};
use billing_domain::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::period::Interval;
use billing_domain::kernel::period::Period;
use billing_domain::kernel::ports::StoreError;
use billing_domain::subscriptions::{
    Cancellation, CancellationReason, Pause, Subscription, SubscriptionStatus,
};
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Number of partitions of the due index; the scheduler queries each.
pub const DUE_SHARDS: u32 = 16;

/// Timestamps as fixed-width RFC 3339 strings, so they sort as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts(field: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))
}

pub(crate) fn parse_opt_ts(
    field: &str,
    s: &Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.as_deref().map(|s| parse_ts(field, s)).transpose()
}

pub(crate) fn corrupt<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{field}: {e}"))
}

fn money(field: &'static str, amount: &str, currency: Currency) -> Result<Money, StoreError> {
    let amount = Decimal::from_str(amount).map_err(corrupt(field))?;
    Money::new(amount, currency).map_err(corrupt(field))
}

pub fn plan_pk(id: &PlanId) -> String {
    format!("PLAN#{id}")
}
pub fn customer_pk(id: &CustomerId) -> String {
    format!("CUS#{id}")
}
pub fn subscription_pk(id: &SubscriptionId) -> String {
    format!("SUB#{id}")
}
pub fn customer_subscriptions_gsi1pk(id: &CustomerId) -> String {
    format!("CUS#{id}#SUBS")
}
pub const PLANS_GSI1PK: &str = "PLANS";
pub const CUSTOMERS_GSI1PK: &str = "CUSTOMERS";
pub const SINGLE_SLOT_SK: &str = "SLOT#SINGLE";

/// The due-index partition of a subscription: a stable hash of its id.
pub fn due_shard(id: &SubscriptionId) -> u32 {
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.as_str().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

pub fn due_pk(shard: u32) -> String {
    format!("DUE#{shard:02}")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LimitsItem {
    monthly_preorder_limit: Option<u32>,
    monthly_preorder_value_limit: Option<String>,
    early_access_days: u32,
    preorder_discount_percent: String,
    tracked_products_limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub entity: String,
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    pub price: String,
    pub currency: Currency,
    pub trial_days: u32,
    pub features: Vec<Feature>,
    pub limits: LimitsItem,
    pub allow_multiple: bool,
    #[serde(default)]
    pub fallback_plan_id: Option<String>,
    #[serde(default)]
    pub renewal_reminder_days: Option<u32>,
    pub status: PlanStatus,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&Plan> for PlanItem {
    fn from(p: &Plan) -> Self {
        PlanItem {
            pk: plan_pk(&p.id),
            sk: "PLAN".into(),
            gsi1pk: PLANS_GSI1PK.into(),
            gsi1sk: format!("{}#{}#{}", p.tier as u8, p.interval as u8, p.id),
            entity: "plan".into(),
            id: p.id.to_string(),
            name: p.name.clone(),
            tier: p.tier,
            interval: p.interval,
            price: p.price.amount().to_string(),
            currency: p.price.currency(),
            trial_days: p.trial_days,
            features: p.features.iter().copied().collect(),
            limits: LimitsItem {
                monthly_preorder_limit: p.limits.monthly_preorder_limit.as_option().copied(),
                monthly_preorder_value_limit: p
                    .limits
                    .monthly_preorder_value_limit
                    .as_option()
                    .map(|m| m.amount().to_string()),
                early_access_days: p.limits.early_access_days,
                preorder_discount_percent: p.limits.preorder_discount_percent.to_string(),
                tracked_products_limit: p.limits.tracked_products_limit.as_option().copied(),
            },
            allow_multiple: p.allow_multiple,
            fallback_plan_id: p.fallback_plan_id.as_ref().map(ToString::to_string),
            renewal_reminder_days: p.renewal_reminder_days,
            status: p.status,
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            version: p.version,
        }
    }
}

impl TryFrom<PlanItem> for Plan {
    type Error = StoreError;
    fn try_from(i: PlanItem) -> Result<Self, Self::Error> {
        let value_limit = i
            .limits
            .monthly_preorder_value_limit
            .as_deref()
            .map(|v| money("limits.monthly_preorder_value_limit", v, i.currency))
            .transpose()?;
        Ok(Plan {
            id: PlanId::from_str(&i.id).map_err(corrupt("id"))?,
            name: i.name,
            tier: i.tier,
            interval: i.interval,
            price: money("price", &i.price, i.currency)?,
            trial_days: i.trial_days,
            features: i.features.into_iter().collect::<BTreeSet<_>>(),
            limits: TierLimits {
                monthly_preorder_limit: Limit::from_option(i.limits.monthly_preorder_limit),
                monthly_preorder_value_limit: Limit::from_option(value_limit),
                early_access_days: i.limits.early_access_days,
                preorder_discount_percent: Decimal::from_str(&i.limits.preorder_discount_percent)
                    .map_err(corrupt("limits.preorder_discount_percent"))?,
                tracked_products_limit: Limit::from_option(i.limits.tracked_products_limit),
            },
            allow_multiple: i.allow_multiple,
            fallback_plan_id: i
                .fallback_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("fallback_plan_id"))?,
            renewal_reminder_days: i.renewal_reminder_days,
            status: i.status,
            created_at: parse_ts("created_at", &i.created_at)?,
            updated_at: parse_ts("updated_at", &i.updated_at)?,
            version: i.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub entity: String,
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: Option<Company>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub payment_terms: PaymentTerms,
    pub metadata: Metadata,
    #[serde(default)]
    pub processor_customer_id: Option<String>,
    #[serde(default)]
    pub default_payment_method_id: Option<String>,
    /// Absent: the customer never had a trial.
    #[serde(default)]
    pub trial_used_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&Customer> for CustomerItem {
    fn from(c: &Customer) -> Self {
        CustomerItem {
            pk: customer_pk(&c.id),
            sk: "CUSTOMER".into(),
            gsi1pk: CUSTOMERS_GSI1PK.into(),
            gsi1sk: format!("{}#{}", ts(c.created_at), c.id),
            entity: "customer".into(),
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.to_string(),
            company: c.company.clone(),
            billing_address: c.billing_address.clone(),
            shipping_address: c.shipping_address.clone(),
            payment_terms: c.payment_terms,
            metadata: c.metadata.clone(),
            processor_customer_id: c.processor_customer_id.clone(),
            default_payment_method_id: c.default_payment_method_id.clone(),
            trial_used_at: c.trial_used_at.map(ts),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            version: c.version,
        }
    }
}

impl TryFrom<CustomerItem> for Customer {
    type Error = StoreError;
    fn try_from(i: CustomerItem) -> Result<Self, Self::Error> {
        Ok(Customer {
            id: CustomerId::from_str(&i.id).map_err(corrupt("id"))?,
            name: i.name,
            email: Email::parse("email", &i.email).map_err(corrupt("email"))?,
            company: i.company,
            billing_address: i.billing_address,
            shipping_address: i.shipping_address,
            payment_terms: i.payment_terms,
            metadata: i.metadata,
            processor_customer_id: i.processor_customer_id,
            default_payment_method_id: i.default_payment_method_id,
            trial_used_at: parse_opt_ts("trial_used_at", &i.trial_used_at)?,
            created_at: parse_ts("created_at", &i.created_at)?,
            updated_at: parse_ts("updated_at", &i.updated_at)?,
            version: i.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SubscriptionItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    /// Due index: present only while something is due (a sparse index).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_at: Option<String>,
    pub entity: String,
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub interval: Interval,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    pub billing_cycle_anchor: String,
    pub periods_elapsed: u32,
    pub current_period_start: String,
    pub current_period_end: String,
    pub trial_end: Option<String>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<String>,
    pub ended_at: Option<String>,
    pub cancellation_reason: Option<CancellationReason>,
    pub cancellation_comment: Option<String>,
    pub canceled: bool,
    pub paused_at: Option<String>,
    pub resumes_at: Option<String>,
    pub metadata: Metadata,
    pub exclusive: bool,
    #[serde(default)]
    pub latest_invoice_id: Option<String>,
    #[serde(default)]
    pub next_payment_attempt: Option<String>,
    #[serde(default)]
    pub scheduled_plan_id: Option<String>,
    #[serde(default)]
    pub pending_lines: Vec<PendingLineItem>,
    #[serde(default)]
    pub successor_plan_id: Option<String>,
    #[serde(default)]
    pub discount: Option<crate::coupons::DiscountItem>,
    #[serde(default)]
    pub trial_reminder_sent: bool,
    #[serde(default)]
    pub renewal_reminder_days: u32,
    #[serde(default)]
    pub reminded_period_end: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&Subscription> for SubscriptionItem {
    fn from(s: &Subscription) -> Self {
        let due = s.next_due_at();
        SubscriptionItem {
            pk: subscription_pk(&s.id),
            sk: "SUBSCRIPTION".into(),
            gsi1pk: customer_subscriptions_gsi1pk(&s.customer_id),
            gsi1sk: format!("{}#{}", ts(s.created_at), s.id),
            due_pk: due.map(|_| due_pk(due_shard(&s.id))),
            due_at: due.map(|t| format!("{}#{}", ts(t), s.id)),
            entity: "subscription".into(),
            id: s.id.to_string(),
            customer_id: s.customer_id.to_string(),
            plan_id: s.plan_id.to_string(),
            interval: s.interval,
            status: s.status,
            auto_renew: s.auto_renew,
            payment_method_id: s.payment_method_id.clone(),
            billing_cycle_anchor: ts(s.billing_cycle_anchor),
            periods_elapsed: s.periods_elapsed,
            current_period_start: ts(s.current_period_start),
            current_period_end: ts(s.current_period_end),
            trial_end: s.trial_end.map(ts),
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at.map(ts),
            ended_at: s.ended_at.map(ts),
            cancellation_reason: s.cancellation.as_ref().and_then(|c| c.reason),
            cancellation_comment: s.cancellation.as_ref().and_then(|c| c.comment.clone()),
            canceled: s.cancellation.is_some(),
            paused_at: s.pause.as_ref().map(|p| ts(p.paused_at)),
            resumes_at: s.pause.as_ref().and_then(|p| p.resumes_at).map(ts),
            metadata: s.metadata.clone(),
            exclusive: s.exclusive,
            latest_invoice_id: s.latest_invoice_id.as_ref().map(ToString::to_string),
            next_payment_attempt: s.next_payment_attempt.map(ts),
            scheduled_plan_id: s.scheduled_plan_id.as_ref().map(ToString::to_string),
            pending_lines: s
                .pending_lines
                .iter()
                .map(|l| PendingLineItem {
                    currency: l.amount.currency(),
                    line: InvoiceLineItem::from(l),
                })
                .collect(),
            successor_plan_id: s.successor_plan_id.as_ref().map(ToString::to_string),
            discount: s.discount.as_ref().map(crate::coupons::DiscountItem::from),
            trial_reminder_sent: s.trial_reminder_sent,
            renewal_reminder_days: s.renewal_reminder_days,
            reminded_period_end: s.reminded_period_end.map(ts),
            created_at: ts(s.created_at),
            updated_at: ts(s.updated_at),
            version: s.version,
        }
    }
}

impl TryFrom<SubscriptionItem> for Subscription {
    type Error = StoreError;
    fn try_from(i: SubscriptionItem) -> Result<Self, Self::Error> {
        let pause = match &i.paused_at {
            Some(at) => Some(Pause {
                paused_at: parse_ts("paused_at", at)?,
                resumes_at: parse_opt_ts("resumes_at", &i.resumes_at)?,
            }),
            None => None,
        };
        let mut subscription = Subscription {
            id: SubscriptionId::from_str(&i.id).map_err(corrupt("id"))?,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            plan_id: PlanId::from_str(&i.plan_id).map_err(corrupt("plan_id"))?,
            interval: i.interval,
            status: i.status,
            auto_renew: i.auto_renew,
            payment_method_id: i.payment_method_id,
            billing_cycle_anchor: parse_ts("billing_cycle_anchor", &i.billing_cycle_anchor)?,
            periods_elapsed: i.periods_elapsed,
            current_period_start: parse_ts("current_period_start", &i.current_period_start)?,
            current_period_end: parse_ts("current_period_end", &i.current_period_end)?,
            trial_end: parse_opt_ts("trial_end", &i.trial_end)?,
            cancel_at_period_end: i.cancel_at_period_end,
            canceled_at: parse_opt_ts("canceled_at", &i.canceled_at)?,
            ended_at: parse_opt_ts("ended_at", &i.ended_at)?,
            cancellation: i.canceled.then_some(Cancellation {
                reason: i.cancellation_reason,
                comment: i.cancellation_comment,
            }),
            pause,
            metadata: i.metadata,
            exclusive: i.exclusive,
            latest_invoice_id: i
                .latest_invoice_id
                .as_deref()
                .map(InvoiceId::from_str)
                .transpose()
                .map_err(corrupt("latest_invoice_id"))?,
            next_payment_attempt: parse_opt_ts("next_payment_attempt", &i.next_payment_attempt)?,
            scheduled_plan_id: i
                .scheduled_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("scheduled_plan_id"))?,
            pending_lines: i
                .pending_lines
                .into_iter()
                .map(|p| p.line.into_line(p.currency))
                .collect::<Result<_, _>>()?,
            successor_plan_id: i
                .successor_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("successor_plan_id"))?,
            discount: i
                .discount
                .map(billing_domain::discounts::coupon::Discount::try_from)
                .transpose()?,
            trial_reminder_sent: i.trial_reminder_sent,
            renewal_reminder_days: i.renewal_reminder_days,
            reminded_period_end: parse_opt_ts("reminded_period_end", &i.reminded_period_end)?,
            events: Default::default(),
            as_stored: None,
            created_at: parse_ts("created_at", &i.created_at)?,
            updated_at: parse_ts("updated_at", &i.updated_at)?,
            version: i.version,
        };
        subscription.mark_stored();
        Ok(subscription)
    }
}

pub fn invoice_pk(id: &InvoiceId) -> String {
    format!("IN#{id}")
}
pub fn subscription_invoices_gsi1pk(id: &SubscriptionId) -> String {
    format!("SUB#{id}#INVOICES")
}
/// The guard item that makes a period's invoice unique: `pk = SUB#<id>`, this `sk`.
pub fn period_invoice_sk(period_start: DateTime<Utc>) -> String {
    format!("INVOICE_PERIOD#{}", ts(period_start))
}
/// A plan change's invoice: at most one per version of the subscription it changes.
pub fn update_invoice_sk(subscription_version: u64) -> String {
    format!("INVOICE_UPDATE#v{subscription_version}")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InvoiceLineItem {
    kind: LineKind,
    description: String,
    amount: String,
    period_start: String,
    period_end: String,
}

impl From<&InvoiceLine> for InvoiceLineItem {
    fn from(l: &InvoiceLine) -> Self {
        InvoiceLineItem {
            kind: l.kind,
            description: l.description.clone(),
            amount: l.amount.amount().to_string(),
            period_start: ts(l.period.start),
            period_end: ts(l.period.end),
        }
    }
}

impl InvoiceLineItem {
    fn into_line(self, currency: Currency) -> Result<InvoiceLine, StoreError> {
        Ok(InvoiceLine {
            kind: self.kind,
            description: self.description,
            amount: money("lines.amount", &self.amount, currency)?,
            period: Period {
                start: parse_ts("lines.period_start", &self.period_start)?,
                end: parse_ts("lines.period_end", &self.period_end)?,
            },
        })
    }
}

/// A subscription's pending invoice line, with its currency (the subscription has none).
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLineItem {
    currency: Currency,
    #[serde(flatten)]
    line: InvoiceLineItem,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PaymentItem {
    processor_payment_id: Option<String>,
    attempt: u32,
    amount: String,
    status: PaymentStatus,
    failure_code: Option<String>,
    failure_message: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundItem {
    processor_refund_id: Option<String>,
    #[serde(default)]
    destination: RefundDestination,
    processor_payment_id: String,
    amount: String,
    reason: Option<RefundReason>,
    status: RefundStatus,
    #[serde(default)]
    key: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DisputeItem {
    processor_dispute_id: String,
    processor_payment_id: String,
    amount: String,
    reason: String,
    status: DisputeStatus,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub entity: String,
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub currency: Currency,
    pub status: InvoiceStatus,
    #[serde(default)]
    pub billing_reason: BillingReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_version: Option<u64>,
    pub lines: Vec<InvoiceLineItem>,
    pub amount_paid: String,
    pub period_start: String,
    pub period_end: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub payments: Vec<PaymentItem>,
    #[serde(default)]
    pub refunds: Vec<RefundItem>,
    #[serde(default)]
    pub disputes: Vec<DisputeItem>,
    /// Signed: credit spent on the invoice, or (negative) credit it issued.
    #[serde(default)]
    pub credit_applied: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&Invoice> for InvoiceItem {
    fn from(i: &Invoice) -> Self {
        InvoiceItem {
            pk: invoice_pk(&i.id),
            sk: "INVOICE".into(),
            gsi1pk: subscription_invoices_gsi1pk(&i.subscription_id),
            gsi1sk: format!("{}#{}", ts(i.created_at), i.id),
            entity: "invoice".into(),
            id: i.id.to_string(),
            subscription_id: i.subscription_id.to_string(),
            customer_id: i.customer_id.to_string(),
            currency: i.currency,
            status: i.status,
            billing_reason: i.billing_reason,
            subscription_version: i.subscription_version,
            lines: i.lines.iter().map(InvoiceLineItem::from).collect(),
            amount_paid: i.amount_paid.amount().to_string(),
            period_start: ts(i.period.start),
            period_end: ts(i.period.end),
            attempt_count: i.attempt_count,
            next_attempt_at: i.next_attempt_at.map(ts),
            payments: i
                .payments
                .iter()
                .map(|p| PaymentItem {
                    processor_payment_id: p.processor_payment_id.clone(),
                    attempt: p.attempt,
                    amount: p.amount.amount().to_string(),
                    status: p.status,
                    failure_code: p.failure_code.clone(),
                    failure_message: p.failure_message.clone(),
                    created_at: ts(p.created_at),
                })
                .collect(),
            refunds: i
                .refunds
                .iter()
                .map(|r| RefundItem {
                    processor_refund_id: r.processor_refund_id.clone(),
                    destination: r.destination,
                    processor_payment_id: r.processor_payment_id.clone(),
                    amount: r.amount.amount().to_string(),
                    reason: r.reason,
                    status: r.status,
                    key: r.key.clone(),
                    created_at: ts(r.created_at),
                })
                .collect(),
            disputes: i
                .disputes
                .iter()
                .map(|d| DisputeItem {
                    processor_dispute_id: d.processor_dispute_id.clone(),
                    processor_payment_id: d.processor_payment_id.clone(),
                    amount: d.amount.amount().to_string(),
                    reason: d.reason.clone(),
                    status: d.status,
                    created_at: ts(d.created_at),
                    updated_at: ts(d.updated_at),
                })
                .collect(),
            credit_applied: (!i.credit_applied.amount().is_zero())
                .then(|| i.credit_applied.amount().to_string()),
            created_at: ts(i.created_at),
            updated_at: ts(i.updated_at),
            version: i.version,
        }
    }
}

impl TryFrom<InvoiceItem> for Invoice {
    type Error = StoreError;
    fn try_from(i: InvoiceItem) -> Result<Self, Self::Error> {
        let lines = i
            .lines
            .into_iter()
            .map(|l| l.into_line(i.currency))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let payments = i
            .payments
            .into_iter()
            .map(|p| {
                Ok(PaymentRecord {
                    processor_payment_id: p.processor_payment_id,
                    attempt: p.attempt,
                    amount: money("payments.amount", &p.amount, i.currency)?,
                    status: p.status,
                    failure_code: p.failure_code,
                    failure_message: p.failure_message,
                    created_at: parse_ts("payments.created_at", &p.created_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refunds = i
            .refunds
            .into_iter()
            .map(|r| {
                Ok(RefundRecord {
                    processor_refund_id: r.processor_refund_id,
                    destination: r.destination,
                    processor_payment_id: r.processor_payment_id,
                    amount: money("refunds.amount", &r.amount, i.currency)?,
                    reason: r.reason,
                    status: r.status,
                    key: r.key,
                    created_at: parse_ts("refunds.created_at", &r.created_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let disputes = i
            .disputes
            .into_iter()
            .map(|d| {
                Ok(DisputeRecord {
                    processor_dispute_id: d.processor_dispute_id,
                    processor_payment_id: d.processor_payment_id,
                    amount: money("disputes.amount", &d.amount, i.currency)?,
                    reason: d.reason,
                    status: d.status,
                    created_at: parse_ts("disputes.created_at", &d.created_at)?,
                    updated_at: parse_ts("disputes.updated_at", &d.updated_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Invoice {
            id: InvoiceId::from_str(&i.id).map_err(corrupt("id"))?,
            subscription_id: SubscriptionId::from_str(&i.subscription_id)
                .map_err(corrupt("subscription_id"))?,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            currency: i.currency,
            status: i.status,
            billing_reason: i.billing_reason,
            subscription_version: i.subscription_version,
            lines,
            amount_paid: money("amount_paid", &i.amount_paid, i.currency)?,
            period: Period {
                start: parse_ts("period_start", &i.period_start)?,
                end: parse_ts("period_end", &i.period_end)?,
            },
            attempt_count: i.attempt_count,
            next_attempt_at: parse_opt_ts("next_attempt_at", &i.next_attempt_at)?,
            payments,
            refunds,
            disputes,
            credit_applied: match &i.credit_applied {
                Some(amount) => money("credit_applied", amount, i.currency)?,
                None => Money::zero(i.currency),
            },
            credit_changes: Vec::new(),
            events: Default::default(),
            created_at: parse_ts("created_at", &i.created_at)?,
            updated_at: parse_ts("updated_at", &i.updated_at)?,
            version: i.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_shards_are_stable_and_in_range() {
        let id = SubscriptionId::from_str("sub_abc").expect("id");
        assert_eq!(due_shard(&id), due_shard(&id));
        for _ in 0..100 {
            assert!(due_shard(&SubscriptionId::generate()) < DUE_SHARDS);
        }
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("ts")
            .with_timezone(&Utc);
        let b = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.5Z")
            .expect("ts")
            .with_timezone(&Utc);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a).len(), ts(b).len());
    }
}
