//! The outbox: domain events stored in the same transaction as the change they describe.
//!
//! `EVENT#<id>` / `EVENT`, listed in gsi1 under `OUTBOX` (oldest first) until the relay has
//! published it; publishing removes the gsi1 keys (a sparse index), and the item expires after
//! [`EVENT_RETENTION_DAYS`].

use std::str::FromStr;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use billing_domain::customers::Email;
use billing_domain::events::{DomainEvent, EventFacts, EventKind, PublishedUsage, UsageFacts};
use billing_domain::kernel::ids::{
    CustomerId, InvoiceId, PlanId, PreorderId, ProductId, SubscriptionId,
};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::ports::StoreError;
#[cfg(doc)]
use billing_domain::subscriptions::object::SubscriptionObject;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, parse_opt_ts, parse_ts, ts};
use crate::{decode, encode_entity, key, s, unavailable, DynamoStore, GSI1};

const OUTBOX_GSI1PK: &str = "OUTBOX";

/// How long published events are kept.
pub const EVENT_RETENTION_DAYS: i64 = 90;

#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    gsi1pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    gsi1sk: Option<String>,
    entity: String,
    id: String,
    kind: EventKind,
    occurred_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    subscription_id: Option<String>,
    sequence: u64,
    plan_id: Option<String>,
    previous_plan_id: Option<String>,
    invoice_id: Option<String>,
    amount: Option<String>,
    currency: Option<Currency>,
    period_start: Option<String>,
    period_end: Option<String>,
    next_attempt_at: Option<String>,
    ends_at: Option<String>,
    reason: Option<String>,
    /// The subscription as its write left it, as JSON ([`SubscriptionObject`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    subscription: Option<String>,
    /// As JSON: the old values of what the write changed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    previous_attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    preorder_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purchase_order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    available: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    low_stock_threshold: Option<u64>,
    /// A usage alert's figures, as published.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    usage: Option<PublishedUsage>,
    expires_at: i64,
}

impl TryFrom<&DomainEvent> for EventItem {
    type Error = StoreError;
    fn try_from(e: &DomainEvent) -> Result<Self, StoreError> {
        let f = &e.facts;
        let json = |value: Result<String, serde_json::Error>| {
            value.map_err(|e| StoreError::Corrupt(format!("an event's subscription: {e}")))
        };
        Ok(EventItem {
            pk: format!("EVENT#{}", e.id),
            sk: "EVENT".into(),
            gsi1pk: Some(OUTBOX_GSI1PK.into()),
            gsi1sk: Some(format!("{}#{}", ts(e.occurred_at), e.id)),
            entity: "event".into(),
            id: e.id.clone(),
            kind: e.kind,
            occurred_at: ts(e.occurred_at),
            customer_id: e.customer_id.as_ref().map(ToString::to_string),
            subscription_id: e.subscription_id.as_ref().map(ToString::to_string),
            sequence: e.sequence,
            plan_id: f.plan_id.as_ref().map(ToString::to_string),
            previous_plan_id: f.previous_plan_id.as_ref().map(ToString::to_string),
            invoice_id: f.invoice_id.as_ref().map(ToString::to_string),
            amount: f.amount.map(|m| m.amount().to_string()),
            currency: f.amount.map(|m| m.currency()),
            period_start: f.period_start.map(ts),
            period_end: f.period_end.map(ts),
            next_attempt_at: f.next_attempt_at.map(ts),
            ends_at: f.ends_at.map(ts),
            reason: f.reason.clone(),
            subscription: f
                .subscription
                .as_ref()
                .map(|o| json(serde_json::to_string(o)))
                .transpose()?,
            previous_attributes: f
                .previous_attributes
                .as_ref()
                .map(|p| json(serde_json::to_string(p)))
                .transpose()?,
            address: f.address.as_ref().map(|a| a.as_str().to_owned()),
            preorder_id: f.preorder_id.as_ref().map(ToString::to_string),
            product_id: f.product_id.as_ref().map(ToString::to_string),
            quantity: f.quantity,
            purchase_order_id: f.purchase_order_id.as_ref().map(ToString::to_string),
            available: f.available,
            low_stock_threshold: f.low_stock_threshold,
            usage: f.usage.as_ref().map(PublishedUsage::from),
            expires_at: (e.occurred_at + Duration::days(EVENT_RETENTION_DAYS)).timestamp(),
        })
    }
}

impl TryFrom<EventItem> for DomainEvent {
    type Error = StoreError;
    fn try_from(i: EventItem) -> Result<Self, Self::Error> {
        let amount = match (i.amount, i.currency) {
            (Some(a), Some(c)) => Some(
                Money::new(Decimal::from_str(&a).map_err(corrupt("amount"))?, c)
                    .map_err(corrupt("amount"))?,
            ),
            _ => None,
        };
        let plan = |v: Option<String>, field: &'static str| {
            v.as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt(field))
        };
        Ok(DomainEvent {
            id: i.id,
            kind: i.kind,
            occurred_at: parse_ts("occurred_at", &i.occurred_at)?,
            customer_id: i
                .customer_id
                .as_deref()
                .map(CustomerId::from_str)
                .transpose()
                .map_err(corrupt("customer_id"))?,
            subscription_id: i
                .subscription_id
                .as_deref()
                .map(SubscriptionId::from_str)
                .transpose()
                .map_err(corrupt("subscription_id"))?,
            sequence: i.sequence,
            facts: EventFacts {
                plan_id: plan(i.plan_id, "plan_id")?,
                previous_plan_id: plan(i.previous_plan_id, "previous_plan_id")?,
                invoice_id: i
                    .invoice_id
                    .as_deref()
                    .map(InvoiceId::from_str)
                    .transpose()
                    .map_err(corrupt("invoice_id"))?,
                amount,
                period_start: parse_opt_ts("period_start", &i.period_start)?,
                period_end: parse_opt_ts("period_end", &i.period_end)?,
                next_attempt_at: parse_opt_ts("next_attempt_at", &i.next_attempt_at)?,
                ends_at: parse_opt_ts("ends_at", &i.ends_at)?,
                reason: i.reason,
                subscription: i
                    .subscription
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(corrupt("subscription"))?,
                previous_attributes: i
                    .previous_attributes
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(corrupt("previous_attributes"))?,
                address: i
                    .address
                    .as_deref()
                    .map(|a| Email::parse("address", a))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.message))?,
                preorder_id: i
                    .preorder_id
                    .as_deref()
                    .map(PreorderId::from_str)
                    .transpose()
                    .map_err(corrupt("preorder_id"))?,
                product_id: i
                    .product_id
                    .as_deref()
                    .map(ProductId::from_str)
                    .transpose()
                    .map_err(corrupt("product_id"))?,
                quantity: i.quantity,
                purchase_order_id: i
                    .purchase_order_id
                    .as_deref()
                    .map(billing_domain::kernel::ids::PurchaseOrderId::from_str)
                    .transpose()
                    .map_err(corrupt("purchase_order_id"))?,
                available: i.available,
                low_stock_threshold: i.low_stock_threshold,
                usage: i
                    .usage
                    .map(UsageFacts::try_from)
                    .transpose()
                    .map_err(StoreError::Corrupt)?,
            },
        })
    }
}

impl DynamoStore {
    /// The puts that store `events` in the outbox, for the transaction of their change.
    pub(crate) fn event_writes(
        &self,
        events: &[DomainEvent],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        events
            .iter()
            .map(|e| {
                let put = Put::builder()
                    .table_name(self.table())
                    .set_item(Some(encode_entity::<_, DomainEvent>(
                        &EventItem::try_from(e)?,
                    )?))
                    .build()
                    .map_err(unavailable)?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    /// Up to `limit` events not yet published, oldest first. An unreadable one is set aside
    /// (out of the outbox, marked `unreadable`), and the rest are published.
    pub async fn unpublished_events(&self, limit: i32) -> Result<Vec<DomainEvent>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(OUTBOX_GSI1PK))
            .limit(limit)
            .send()
            .await
            .map_err(unavailable)?;
        let mut events = Vec::new();
        for item in out.items.unwrap_or_default() {
            match decode::<EventItem>(item.clone()).and_then(DomainEvent::try_from) {
                Ok(event) => events.push(event),
                Err(e) => self.set_aside(&item, &["gsi1pk", "gsi1sk"], &e).await?,
            }
        }
        Ok(events)
    }

    /// Takes a published event out of the outbox.
    pub async fn mark_published(
        &self,
        id: &str,
        published_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(format!("EVENT#{id}"), "EVENT")))
            .update_expression("REMOVE gsi1pk, gsi1sk SET published_at = :at")
            .expression_attribute_values(":at", AttributeValue::S(ts(published_at)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// One stored event, published or not.
    pub async fn event(&self, id: &str) -> Result<Option<DomainEvent>, StoreError> {
        self.load::<EventItem, _>(format!("EVENT#{id}"), "EVENT")
            .await
    }
}
