//! A pre-order: a subscriber's order of a product before (or while) it is in stock, priced with
//! the tier's discount, counted in the subscription's pre-order month, and holding stock
//! (`reserved`) or waiting for it (`backordered`) until it is charged and shipped.

use chrono::{DateTime, Utc};

use crate::catalogue::Tier;
use crate::events::{EventFacts, EventKind, Outbox};
use crate::kernel::ids::{CustomerId, InvoiceId, PreorderId, ProductId, SubscriptionId};
use crate::kernel::period::Period;
use crate::preorders::PreorderPrice;

/// Where a pre-order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreorderStatus {
    /// Stock is held for it; charged at the product's release.
    Reserved,
    /// Nothing was available: it waits for stock, then is allocated in rank order.
    Backordered,
    /// Stock is assigned and it is being charged.
    Allocated,
    /// Paid and shipped.
    Fulfilled,
    /// The charge needs the customer to authenticate.
    RequiresAction,
    /// The charge was declined; retried on the dunning schedule.
    PaymentFailed,
    Canceled,
}

impl PreorderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PreorderStatus::Reserved => "reserved",
            PreorderStatus::Backordered => "backordered",
            PreorderStatus::Allocated => "allocated",
            PreorderStatus::Fulfilled => "fulfilled",
            PreorderStatus::RequiresAction => "requires_action",
            PreorderStatus::PaymentFailed => "payment_failed",
            PreorderStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PreorderStatus> {
        [
            PreorderStatus::Reserved,
            PreorderStatus::Backordered,
            PreorderStatus::Allocated,
            PreorderStatus::Fulfilled,
            PreorderStatus::RequiresAction,
            PreorderStatus::PaymentFailed,
            PreorderStatus::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// The priority a pre-order gets when none is given (1 is first, 5 last).
pub const DEFAULT_PRIORITY_LEVEL: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preorder {
    pub id: PreorderId,
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub product_id: ProductId,
    pub quantity: u32,
    /// 1 (first) to 5: the order backorders are allocated in, before the tier.
    pub priority_level: u8,
    pub status: PreorderStatus,
    /// The subscription's tier when it was placed (its rank among backorders).
    pub tier: Tier,
    pub price: PreorderPrice,
    /// The pre-order month it counts in.
    pub month: Period,
    pub release_at: Option<DateTime<Utc>>,
    pub invoice_id: Option<InvoiceId>,
    /// While `payment_failed`: when its charge is tried again (the dunning schedule's next
    /// attempt); `None` after the last.
    pub retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// Events recorded since the last stored write; the next write stores them with it.
    pub events: Outbox,
}

impl Preorder {
    /// Records a `preorder.*` event of this pre-order as it stands (its total as `amount`, its
    /// invoice once it has one), to be stored with its next write.
    pub fn record(&mut self, kind: EventKind, now: DateTime<Utc>) {
        self.record_because(kind, now, None);
    }

    /// [`Preorder::record`] with a reason (`reason` of the event).
    pub fn record_because(&mut self, kind: EventKind, now: DateTime<Utc>, reason: Option<&str>) {
        let facts = EventFacts {
            reason: reason.map(str::to_owned),
            preorder_id: Some(self.id.clone()),
            product_id: Some(self.product_id.clone()),
            quantity: Some(self.quantity),
            amount: Some(self.price.total),
            invoice_id: self.invoice_id.clone(),
            ..EventFacts::default()
        };
        self.events.record(kind, now, facts);
    }

    /// Its place among the product's backorders.
    pub fn rank(&self) -> crate::preorders::AllocationRank {
        crate::preorders::AllocationRank::new(
            self.priority_level,
            self.tier,
            self.created_at,
            self.id.as_str(),
        )
    }
}

/// A subscriber's request for a pre-order.
#[derive(Debug, Clone)]
pub struct NewPreorder {
    pub product_id: ProductId,
    pub quantity: u32,
    pub priority_level: Option<u8>,
}
