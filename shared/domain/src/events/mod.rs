//! Domain events: what changed, recorded by the entity that changed and stored in the same
//! write as the change (an outbox), then published to the event bus by the relay. A change that
//! is not stored leaves no event; a stored change always has its events.
//!
//! Schema version 1 (`detail-type` on the bus is [`EventKind::as_str`]): every event has `id`,
//! `type`, `version` (1), `created` and `sequence` (the version of the object after the
//! change, growing per object, so receivers can drop a stale update that arrives late), plus the
//! ids and figures below that apply to it. Delivery is at least once: receivers dedupe by `id`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customers::Email;
use crate::kernel::ids::{CustomerId, InvoiceId, PlanId, PreorderId, ProductId, SubscriptionId};
use crate::kernel::money::Money;
use crate::subscriptions::object::{PreviousAttributes, SubscriptionObject};
use crate::usage::Unit;
use rust_decimal::Decimal;

/// The schema version of [`DomainEvent`].
pub const EVENT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    /// A new period began and was invoiced.
    #[serde(rename = "subscription.renewed")]
    SubscriptionRenewed,
    #[serde(rename = "subscription.paused")]
    SubscriptionPaused,
    #[serde(rename = "subscription.resumed")]
    SubscriptionResumed,
    /// Set to cancel at the end of the period.
    #[serde(rename = "subscription.cancel_scheduled")]
    SubscriptionCancelScheduled,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    /// Ended at its period end with auto-renew off, or never paid (incomplete).
    #[serde(rename = "subscription.expired")]
    SubscriptionExpired,
    #[serde(rename = "subscription.plan_changed")]
    SubscriptionPlanChanged,
    /// Any other change of what a reader of the subscription sees (auto-renew, metadata, payment
    /// method, discount, cancel-at-period-end undone, status after a payment...), with
    /// `previous_attributes`: as Stripe's `customer.subscription.updated`.
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    /// The trial ends in [`TRIAL_REMINDER_DAYS`] days.
    #[serde(rename = "subscription.trial_will_end")]
    SubscriptionTrialWillEnd,
    /// The period ends soon and the subscription ends with it (`ends_at`): the expiry warning.
    #[serde(rename = "subscription.expiring")]
    SubscriptionExpiring,
    /// The subscription renews soon (`period_end`) and will be charged `amount`: the renewal
    /// reminder, as Stripe's `invoice.upcoming`.
    #[serde(rename = "invoice.upcoming")]
    InvoiceUpcoming,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "invoice.payment_failed")]
    InvoicePaymentFailed,
    /// The customer must authenticate the payment (SCA).
    #[serde(rename = "invoice.payment_action_required")]
    InvoicePaymentActionRequired,
    /// Dunning gave up: the invoice is written off.
    #[serde(rename = "invoice.marked_uncollectible")]
    InvoiceMarkedUncollectible,
    #[serde(rename = "invoice.refunded")]
    InvoiceRefunded,
    /// The customer's bank disputes a payment (a chargeback); `reason` is the bank's.
    #[serde(rename = "invoice.dispute_opened")]
    InvoiceDisputeOpened,
    /// A dispute closed; `reason` is the outcome (`won`, `lost`, `warning_closed`...).
    #[serde(rename = "invoice.dispute_closed")]
    InvoiceDisputeClosed,
    /// A customer added an address to its notification preferences that must be confirmed
    /// before it gets email (`address`): the confirmation email goes to it.
    #[serde(rename = "customer.notification_address_added")]
    CustomerNotificationAddressAdded,
    /// A pre-order was placed and holds stock (`preorder_id`, `product_id`, `quantity`,
    /// `amount`: its total).
    #[serde(rename = "preorder.created")]
    PreorderCreated,
    /// A pre-order was placed and waits for stock.
    #[serde(rename = "preorder.backordered")]
    PreorderBackordered,
    /// A backordered pre-order was given stock.
    #[serde(rename = "preorder.allocated")]
    PreorderAllocated,
    /// A pre-order was paid (`invoice_id`) and shipped.
    #[serde(rename = "preorder.fulfilled")]
    PreorderFulfilled,
    /// A pre-order's charge was declined (`invoice_id`).
    #[serde(rename = "preorder.payment_failed")]
    PreorderPaymentFailed,
    #[serde(rename = "preorder.canceled")]
    PreorderCanceled,
    /// A product's available stock fell to or below its low-stock threshold (once per
    /// crossing; `product_id`, `available`, `low_stock_threshold`). The operators and the
    /// supplier are emailed. No customer: `customer_id` is absent.
    #[serde(rename = "product.low_stock")]
    ProductLowStock,
    /// A product's available stock rose above its low-stock threshold again.
    #[serde(rename = "product.restocked")]
    ProductRestocked,
    /// A subscription's recurring item could not be shipped with its paid period: it ships when
    /// stock comes in (`product_id`, `quantity`, `period_start`). The customer is emailed.
    #[serde(rename = "subscription_item.backordered")]
    SubscriptionItemBackordered,
    /// A purchase order was sent to the product's supplier (`purchase_order_id`, `product_id`,
    /// `quantity`, `ends_at`: when the stock is expected). The supplier is emailed. No
    /// customer.
    #[serde(rename = "purchase_order.sent")]
    PurchaseOrderSent,
    /// A product opened for pre-order to the tiers whose early access starts in
    /// (`period_start`, `period_end`]; the customers who track it and whose tier opens then
    /// are emailed. No customer.
    #[serde(rename = "product.preorder_opened")]
    ProductPreorderOpened,
    /// A subscription's usage of a unit reached 80, 90 or 100% of the period's included units
    /// (`usage`), each once per period, in ascending order.
    #[serde(rename = "usage.threshold_reached")]
    UsageThresholdReached,
}

impl EventKind {
    pub const ALL: [EventKind; 32] = [
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionRenewed,
        EventKind::SubscriptionPaused,
        EventKind::SubscriptionResumed,
        EventKind::SubscriptionCancelScheduled,
        EventKind::SubscriptionCanceled,
        EventKind::SubscriptionExpired,
        EventKind::SubscriptionPlanChanged,
        EventKind::SubscriptionUpdated,
        EventKind::SubscriptionTrialWillEnd,
        EventKind::SubscriptionExpiring,
        EventKind::InvoiceUpcoming,
        EventKind::InvoicePaid,
        EventKind::InvoicePaymentFailed,
        EventKind::InvoicePaymentActionRequired,
        EventKind::InvoiceMarkedUncollectible,
        EventKind::InvoiceRefunded,
        EventKind::InvoiceDisputeOpened,
        EventKind::InvoiceDisputeClosed,
        EventKind::CustomerNotificationAddressAdded,
        EventKind::PreorderCreated,
        EventKind::PreorderBackordered,
        EventKind::PreorderAllocated,
        EventKind::PreorderFulfilled,
        EventKind::PreorderPaymentFailed,
        EventKind::PreorderCanceled,
        EventKind::ProductLowStock,
        EventKind::ProductRestocked,
        EventKind::SubscriptionItemBackordered,
        EventKind::PurchaseOrderSent,
        EventKind::ProductPreorderOpened,
        EventKind::UsageThresholdReached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SubscriptionCreated => "subscription.created",
            EventKind::SubscriptionRenewed => "subscription.renewed",
            EventKind::SubscriptionPaused => "subscription.paused",
            EventKind::SubscriptionResumed => "subscription.resumed",
            EventKind::SubscriptionCancelScheduled => "subscription.cancel_scheduled",
            EventKind::SubscriptionCanceled => "subscription.canceled",
            EventKind::SubscriptionExpired => "subscription.expired",
            EventKind::SubscriptionPlanChanged => "subscription.plan_changed",
            EventKind::SubscriptionUpdated => "subscription.updated",
            EventKind::SubscriptionTrialWillEnd => "subscription.trial_will_end",
            EventKind::SubscriptionExpiring => "subscription.expiring",
            EventKind::InvoiceUpcoming => "invoice.upcoming",
            EventKind::InvoicePaid => "invoice.paid",
            EventKind::InvoicePaymentFailed => "invoice.payment_failed",
            EventKind::InvoicePaymentActionRequired => "invoice.payment_action_required",
            EventKind::InvoiceMarkedUncollectible => "invoice.marked_uncollectible",
            EventKind::InvoiceRefunded => "invoice.refunded",
            EventKind::InvoiceDisputeOpened => "invoice.dispute_opened",
            EventKind::InvoiceDisputeClosed => "invoice.dispute_closed",
            EventKind::CustomerNotificationAddressAdded => "customer.notification_address_added",
            EventKind::PreorderCreated => "preorder.created",
            EventKind::PreorderBackordered => "preorder.backordered",
            EventKind::PreorderAllocated => "preorder.allocated",
            EventKind::PreorderFulfilled => "preorder.fulfilled",
            EventKind::PreorderPaymentFailed => "preorder.payment_failed",
            EventKind::PreorderCanceled => "preorder.canceled",
            EventKind::ProductLowStock => "product.low_stock",
            EventKind::ProductRestocked => "product.restocked",
            EventKind::SubscriptionItemBackordered => "subscription_item.backordered",
            EventKind::PurchaseOrderSent => "purchase_order.sent",
            EventKind::ProductPreorderOpened => "product.preorder_opened",
            EventKind::UsageThresholdReached => "usage.threshold_reached",
        }
    }

    /// Whether it says how a subscription changed (the `subscription.*` types).
    pub fn is_subscription_change(self) -> bool {
        self.as_str().starts_with("subscription.")
    }
}

/// How many days before a trial ends its reminder event is due.
pub const TRIAL_REMINDER_DAYS: i64 = 3;

/// What happened, with the figures a receiver needs to act on it (an email, a webhook) without
/// reading anything else. Fields that do not apply are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFacts {
    pub plan_id: Option<PlanId>,
    pub previous_plan_id: Option<PlanId>,
    pub invoice_id: Option<InvoiceId>,
    /// The amount paid, due, failed or refunded.
    pub amount: Option<Money>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    /// When dunning tries again (`invoice.payment_failed`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the subscription ends or ended, or the trial ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// A decline code or cancellation reason.
    pub reason: Option<String>,
    /// Events a subscription's write records: the subscription as written.
    pub subscription: Option<Box<SubscriptionObject>>,
    /// With `subscription`: the old values of what the write changed.
    pub previous_attributes: Option<PreviousAttributes>,
    /// An email address the event is about (`customer.notification_address_added`).
    pub address: Option<Email>,
    /// The pre-order a `preorder.*` event is about, its product and its units.
    pub preorder_id: Option<PreorderId>,
    pub product_id: Option<ProductId>,
    pub quantity: Option<u32>,
    pub purchase_order_id: Option<crate::kernel::ids::PurchaseOrderId>,
    /// A product's available stock and its low-stock threshold (`product.*`).
    pub available: Option<u64>,
    pub low_stock_threshold: Option<u64>,
    /// A usage alert's unit, threshold and figures (`usage.threshold_reached`).
    pub usage: Option<UsageFacts>,
}

/// What a usage alert says: of the period's `allocated` included units of `unit`, `used` were
/// used when the usage reached `threshold` per cent; `remaining` included and promotional
/// units were left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageFacts {
    pub unit: Unit,
    pub threshold: u8,
    pub allocated: Decimal,
    pub used: Decimal,
    pub remaining: Decimal,
}

/// [`UsageFacts`] as published: units as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedUsage {
    pub unit: Unit,
    pub threshold: u8,
    pub allocated: String,
    pub used: String,
    pub remaining: String,
}

impl From<&UsageFacts> for PublishedUsage {
    fn from(u: &UsageFacts) -> Self {
        PublishedUsage {
            unit: u.unit,
            threshold: u.threshold,
            allocated: u.allocated.normalize().to_string(),
            used: u.used.normalize().to_string(),
            remaining: u.remaining.normalize().to_string(),
        }
    }
}

impl TryFrom<PublishedUsage> for UsageFacts {
    type Error = String;

    /// A figure that is not a decimal is an error naming it.
    fn try_from(u: PublishedUsage) -> Result<Self, String> {
        let units = |field: &str, raw: &str| {
            raw.parse::<Decimal>()
                .map_err(|_| format!("data.usage.{field}: not a decimal: {raw:?}"))
        };
        Ok(UsageFacts {
            unit: u.unit,
            threshold: u.threshold,
            allocated: units("allocated", &u.allocated)?,
            used: units("used", &u.used)?,
            remaining: units("remaining", &u.remaining)?,
        })
    }
}

/// An event recorded by an entity, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub facts: EventFacts,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    /// `evt_<object id>_<sequence>_<n>`: the same change always has the same id.
    pub id: String,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    /// Whose; `None` for a product's events (they concern the operators and the supplier).
    pub customer_id: Option<CustomerId>,
    /// The subscription it concerns; `None` for a customer's own events.
    pub subscription_id: Option<SubscriptionId>,
    /// The object's version after the change.
    pub sequence: u64,
    pub facts: EventFacts,
}

impl DomainEvent {
    /// Stamps `recorded` as the `n`-th event of the change that took `object_id` to `sequence`.
    pub fn stamp(
        recorded: RecordedEvent,
        object_id: &str,
        customer_id: &CustomerId,
        subscription_id: Option<&SubscriptionId>,
        sequence: u64,
        n: usize,
    ) -> DomainEvent {
        DomainEvent {
            id: format!("evt_{object_id}_{sequence}_{n}"),
            kind: recorded.kind,
            occurred_at: recorded.occurred_at,
            customer_id: Some(customer_id.clone()),
            subscription_id: subscription_id.cloned(),
            sequence,
            facts: recorded.facts,
        }
    }
}

/// Events an entity recorded and that its next stored write carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outbox(Vec<RecordedEvent>);

impl Outbox {
    pub fn record(&mut self, kind: EventKind, occurred_at: DateTime<Utc>, facts: EventFacts) {
        self.0.push(RecordedEvent {
            kind,
            occurred_at,
            facts,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.0.iter().map(|e| e.kind).collect()
    }

    pub fn recorded(&self) -> &[RecordedEvent] {
        &self.0
    }

    /// The events, stamped for the write that takes the object to `sequence`. The outbox keeps
    /// them until [`Outbox::clear`] (after that write succeeded).
    pub fn stamped(
        &self,
        object_id: &str,
        customer_id: &CustomerId,
        subscription_id: Option<&SubscriptionId>,
        sequence: u64,
    ) -> Vec<DomainEvent> {
        self.0
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, e)| {
                DomainEvent::stamp(e, object_id, customer_id, subscription_id, sequence, n)
            })
            .collect()
    }

    /// A product's events (no customer), stamped for the write that takes it to `sequence`.
    pub fn stamped_for_product(&self, product_id: &str, sequence: u64) -> Vec<DomainEvent> {
        self.0
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, e)| DomainEvent {
                id: format!("evt_{product_id}_{sequence}_{n}"),
                kind: e.kind,
                occurred_at: e.occurred_at,
                customer_id: None,
                subscription_id: None,
                sequence,
                facts: e.facts,
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// An event as published on the bus (schema version 1), the `detail` of its envelope: what the
/// relay writes and what the notifier and webhook receivers read. Absent facts are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub version: u32,
    pub created: DateTime<Utc>,
    pub sequence: u64,
    /// Absent for a product's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Absent for a customer's own events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub data: PublishedFacts,
}

/// [`EventFacts`] as published: ids as strings, amounts as decimal strings with their currency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublishedFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Box<SubscriptionObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<PreviousAttributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preorder_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_stock_threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<PublishedUsage>,
}

impl From<&DomainEvent> for PublishedEvent {
    fn from(e: &DomainEvent) -> Self {
        let f = &e.facts;
        PublishedEvent {
            id: e.id.clone(),
            kind: e.kind,
            version: EVENT_SCHEMA_VERSION,
            created: e.occurred_at,
            sequence: e.sequence,
            customer_id: e.customer_id.as_ref().map(ToString::to_string),
            subscription_id: e.subscription_id.as_ref().map(ToString::to_string),
            data: PublishedFacts {
                plan_id: f.plan_id.as_ref().map(ToString::to_string),
                previous_plan_id: f.previous_plan_id.as_ref().map(ToString::to_string),
                invoice_id: f.invoice_id.as_ref().map(ToString::to_string),
                amount: f.amount.map(|m| m.amount().to_string()),
                currency: f.amount.map(|m| m.currency().code().to_owned()),
                period_start: f.period_start,
                period_end: f.period_end,
                next_attempt_at: f.next_attempt_at,
                ends_at: f.ends_at,
                reason: f.reason.clone(),
                subscription: f.subscription.clone(),
                previous_attributes: f.previous_attributes.clone(),
                address: f.address.as_ref().map(|a| a.as_str().to_owned()),
                preorder_id: f.preorder_id.as_ref().map(ToString::to_string),
                product_id: f.product_id.as_ref().map(ToString::to_string),
                quantity: f.quantity,
                purchase_order_id: f.purchase_order_id.as_ref().map(ToString::to_string),
                available: f.available,
                low_stock_threshold: f.low_stock_threshold,
                usage: f.usage.as_ref().map(PublishedUsage::from),
            },
        }
    }
}

impl TryFrom<PublishedEvent> for DomainEvent {
    type Error = String;

    /// Reads a published event back (the notifier's input); a field that does not parse is an
    /// error naming it.
    fn try_from(p: PublishedEvent) -> Result<Self, String> {
        fn id<T: std::str::FromStr>(field: &str, raw: Option<String>) -> Result<Option<T>, String> {
            raw.map(|r| r.parse().map_err(|_| format!("{field}: not an id: {r:?}")))
                .transpose()
        }
        let d = p.data;
        let amount = match (d.amount, d.currency) {
            (Some(amount), Some(currency)) => {
                let currency: crate::kernel::money::Currency = currency
                    .parse()
                    .map_err(|e| format!("data.currency: {e}"))?;
                let amount: rust_decimal::Decimal = amount
                    .parse()
                    .map_err(|_| format!("data.amount: not a decimal: {amount:?}"))?;
                Some(Money::new(amount, currency).map_err(|e| format!("data.amount: {e}"))?)
            }
            (None, None) => None,
            _ => return Err("data.amount and data.currency go together".into()),
        };
        Ok(DomainEvent {
            id: p.id,
            kind: p.kind,
            occurred_at: p.created,
            customer_id: p
                .customer_id
                .map(|id| id.parse())
                .transpose()
                .map_err(|_| "customer_id: not an id".to_owned())?,
            subscription_id: p
                .subscription_id
                .map(|id| id.parse())
                .transpose()
                .map_err(|_| "subscription_id: not an id".to_owned())?,
            sequence: p.sequence,
            facts: EventFacts {
                plan_id: id("data.plan_id", d.plan_id)?,
                previous_plan_id: id("data.previous_plan_id", d.previous_plan_id)?,
                invoice_id: id("data.invoice_id", d.invoice_id)?,
                amount,
                period_start: d.period_start,
                period_end: d.period_end,
                next_attempt_at: d.next_attempt_at,
                ends_at: d.ends_at,
                reason: d.reason,
                subscription: d.subscription,
                previous_attributes: d.previous_attributes,
                address: d
                    .address
                    .map(|a| Email::parse("data.address", &a).map_err(|e| e.to_string()))
                    .transpose()?,
                preorder_id: id("data.preorder_id", d.preorder_id)?,
                product_id: id("data.product_id", d.product_id)?,
                quantity: d.quantity,
                purchase_order_id: id("data.purchase_order_id", d.purchase_order_id)?,
                available: d.available,
                low_stock_threshold: d.low_stock_threshold,
                usage: d.usage.map(UsageFacts::try_from).transpose()?,
            },
        })
    }
}
