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

use crate::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use crate::money::Money;

/// The schema version of [`DomainEvent`].
pub const EVENT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The trial ends in [`TRIAL_REMINDER_DAYS`] days.
    #[serde(rename = "subscription.trial_will_end")]
    SubscriptionTrialWillEnd,
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
}

impl EventKind {
    pub const ALL: [EventKind; 16] = [
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionRenewed,
        EventKind::SubscriptionPaused,
        EventKind::SubscriptionResumed,
        EventKind::SubscriptionCancelScheduled,
        EventKind::SubscriptionCanceled,
        EventKind::SubscriptionExpired,
        EventKind::SubscriptionPlanChanged,
        EventKind::SubscriptionTrialWillEnd,
        EventKind::InvoicePaid,
        EventKind::InvoicePaymentFailed,
        EventKind::InvoicePaymentActionRequired,
        EventKind::InvoiceMarkedUncollectible,
        EventKind::InvoiceRefunded,
        EventKind::InvoiceDisputeOpened,
        EventKind::InvoiceDisputeClosed,
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
            EventKind::SubscriptionTrialWillEnd => "subscription.trial_will_end",
            EventKind::InvoicePaid => "invoice.paid",
            EventKind::InvoicePaymentFailed => "invoice.payment_failed",
            EventKind::InvoicePaymentActionRequired => "invoice.payment_action_required",
            EventKind::InvoiceMarkedUncollectible => "invoice.marked_uncollectible",
            EventKind::InvoiceRefunded => "invoice.refunded",
            EventKind::InvoiceDisputeOpened => "invoice.dispute_opened",
            EventKind::InvoiceDisputeClosed => "invoice.dispute_closed",
        }
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
    pub customer_id: CustomerId,
    pub subscription_id: SubscriptionId,
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
        subscription_id: &SubscriptionId,
        sequence: u64,
        n: usize,
    ) -> DomainEvent {
        DomainEvent {
            id: format!("evt_{object_id}_{sequence}_{n}"),
            kind: recorded.kind,
            occurred_at: recorded.occurred_at,
            customer_id: customer_id.clone(),
            subscription_id: subscription_id.clone(),
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

    /// The events, stamped for the write that takes the object to `sequence`. The outbox keeps
    /// them until [`Outbox::clear`] (after that write succeeded).
    pub fn stamped(
        &self,
        object_id: &str,
        customer_id: &CustomerId,
        subscription_id: &SubscriptionId,
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

    pub fn clear(&mut self) {
        self.0.clear();
    }
}
