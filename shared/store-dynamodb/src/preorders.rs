//! Pre-orders and the counters their limits are enforced by.
//!
//! - `PREORDER#<id>` / `PREORDER`: the pre-order (list: gsi1 `SUB#<subscription>#PREORDERS`).
//! - `SUB#<subscription>` / `PREORDER_MONTH#<month start>`: the month's `count` and `value_minor`
//!   (the discounted totals in minor units) of pre-orders not canceled.
//! - `CUS#<customer>` / `PREORDER_UNITS#<product>`: the customer's `units` of the product on
//!   pre-orders not canceled.
//! - `PRODUCT#<product>` / `BACKORDER#<priority>#<tier rank>#<created_at>#<id>` and
//!   `RESERVED#…`: an open pre-order's place in the product's queue of backorders or of
//!   reservations to charge at release; a query of the product's partition reads a queue in
//!   allocation order.
//!
//! A placement is one transaction: the product (conditional on its version), the pre-order (new),
//! the month's counters (incremented only while the count stays within the tier's limit and the
//! value within its value limit), the customer's units (only while within `max_per_customer`)
//! and the reservation's stock move (new).

use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use billing_domain::catalogue::Tier;
use billing_domain::kernel::ids::{CustomerId, InvoiceId, PreorderId, ProductId, SubscriptionId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::period::Period;
use billing_domain::kernel::ports::StoreError;
use billing_domain::preorders::preorder::{Preorder, PreorderStatus};
use billing_domain::preorders::{
    BackorderAllocation, Cancellation, Placement, PlacementRefusal, PreorderCharge, PreorderPrice,
    PreorderRepo, PreorderUsage, ProductQueue,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::items::{
    corrupt, customer_pk, money, parse_opt_ts, parse_ts, subscription_pk, ts, EntityKeys,
};
use crate::products::product_pk;
use crate::{canceled, decode, encode, encode_entity, failed, key, n, s, unavailable, DynamoStore};

const PREORDER_SK: &str = "PREORDER";

fn preorder_pk(id: &PreorderId) -> String {
    format!("PREORDER#{id}")
}
fn subscription_preorders_gsi1pk(id: &SubscriptionId) -> String {
    format!("SUB#{id}#PREORDERS")
}
fn month_sk(start: DateTime<Utc>) -> String {
    format!("PREORDER_MONTH#{}", ts(start))
}
fn units_sk(product: &ProductId) -> String {
    format!("PREORDER_UNITS#{product}")
}
/// A pre-order's place in one of its product's queues: the key sorts as the allocation order
/// does.
fn queue_sk(queue: ProductQueue, p: &Preorder) -> String {
    format!("{}{}", queue_prefix(queue), p.rank().sort_key())
}
fn queue_prefix(queue: ProductQueue) -> &'static str {
    match queue {
        ProductQueue::Backordered => "BACKORDER#",
        ProductQueue::Reserved => "RESERVED#",
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct QueueItem {
    pk: String,
    sk: String,
    entity: String,
    preorder_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct PreorderItem {
    #[serde(flatten)]
    keys: EntityKeys,
    id: String,
    subscription_id: String,
    customer_id: String,
    product_id: String,
    quantity: u32,
    priority_level: u8,
    status: String,
    tier: Tier,
    currency: Currency,
    unit_price: String,
    discount_percent: String,
    subtotal: String,
    discount: String,
    total: String,
    month_start: String,
    month_end: String,
    release_at: Option<String>,
    invoice_id: Option<String>,
    #[serde(default)]
    retry_at: Option<String>,
    /// In the due index (partition `PREORDER_RETRIES`) while a declined charge waits for its
    /// retry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    due_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    due_at: Option<String>,
}

/// The due index's partition of pre-orders whose declined charge is retried.
pub(crate) const RETRIES_DUE_PK: &str = "PREORDER_RETRIES";

/// When a pre-order is due for a payment retry.
fn retry_due(p: &Preorder) -> Option<DateTime<Utc>> {
    p.retry_at
        .filter(|_| p.status == PreorderStatus::PaymentFailed)
}

impl From<&Preorder> for PreorderItem {
    fn from(p: &Preorder) -> Self {
        PreorderItem {
            keys: EntityKeys {
                pk: preorder_pk(&p.id),
                sk: PREORDER_SK.into(),
                gsi1pk: subscription_preorders_gsi1pk(&p.subscription_id),
                gsi1sk: format!("{}#{}", ts(p.created_at), p.id),
                entity: "preorder".into(),
                created_at: ts(p.created_at),
                updated_at: ts(p.updated_at),
                version: p.version,
            },
            id: p.id.to_string(),
            subscription_id: p.subscription_id.to_string(),
            customer_id: p.customer_id.to_string(),
            product_id: p.product_id.to_string(),
            quantity: p.quantity,
            priority_level: p.priority_level,
            status: p.status.as_str().into(),
            tier: p.tier,
            currency: p.price.total.currency(),
            unit_price: p.price.unit_price.amount().to_string(),
            discount_percent: p.price.discount_percent.to_string(),
            subtotal: p.price.subtotal.amount().to_string(),
            discount: p.price.discount.amount().to_string(),
            total: p.price.total.amount().to_string(),
            month_start: ts(p.month.start),
            month_end: ts(p.month.end),
            release_at: p.release_at.map(ts),
            invoice_id: p.invoice_id.as_ref().map(ToString::to_string),
            retry_at: p.retry_at.map(ts),
            due_pk: retry_due(p).map(|_| RETRIES_DUE_PK.into()),
            due_at: retry_due(p).map(|at| format!("{}#{}", ts(at), p.id)),
        }
    }
}

impl TryFrom<PreorderItem> for Preorder {
    type Error = StoreError;
    fn try_from(i: PreorderItem) -> Result<Self, Self::Error> {
        let c = i.currency;
        Ok(Preorder {
            id: PreorderId::from_str(&i.id).map_err(corrupt("id"))?,
            subscription_id: SubscriptionId::from_str(&i.subscription_id)
                .map_err(corrupt("subscription_id"))?,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            product_id: ProductId::from_str(&i.product_id).map_err(corrupt("product_id"))?,
            quantity: i.quantity,
            priority_level: i.priority_level,
            status: PreorderStatus::parse(&i.status)
                .ok_or_else(|| StoreError::Corrupt(format!("pre-order status {}", i.status)))?,
            tier: i.tier,
            price: PreorderPrice {
                unit_price: money("unit_price", &i.unit_price, c)?,
                quantity: i.quantity,
                discount_percent: Decimal::from_str(&i.discount_percent)
                    .map_err(corrupt("discount_percent"))?,
                subtotal: money("subtotal", &i.subtotal, c)?,
                discount: money("discount", &i.discount, c)?,
                total: money("total", &i.total, c)?,
            },
            month: Period {
                start: parse_ts("month_start", &i.month_start)?,
                end: parse_ts("month_end", &i.month_end)?,
            },
            release_at: parse_opt_ts("release_at", &i.release_at)?,
            retry_at: parse_opt_ts("retry_at", &i.retry_at)?,
            events: Default::default(),
            invoice_id: i
                .invoice_id
                .as_deref()
                .map(InvoiceId::from_str)
                .transpose()
                .map_err(corrupt("invoice_id"))?,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

#[derive(Debug, Deserialize)]
struct MonthItem {
    count: u32,
    value_minor: i64,
    currency: Currency,
}

#[derive(Debug, Deserialize)]
struct UnitsItem {
    units: u64,
}

fn minor(m: &Money) -> Result<i64, StoreError> {
    m.to_minor_units()
        .map_err(|e| StoreError::Corrupt(format!("amount: {e}")))
}

impl DynamoStore {
    /// The month's counters, counted only within the limits.
    fn count_month(&self, placement: &Placement) -> Result<TransactWriteItem, StoreError> {
        let p = &placement.preorder;
        let total = minor(&p.price.total)?;
        let mut conditions = Vec::new();
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(
                subscription_pk(&p.subscription_id),
                &month_sk(p.month.start),
            )))
            .update_expression(
                "SET #entity = :entity, #currency = :currency ADD #count :one, #value :total",
            )
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#currency", "currency")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#value", "value_minor")
            .expression_attribute_values(":entity", s("preorder_month"))
            .expression_attribute_values(":currency", s(p.price.total.currency().code()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(
                ":total",
                aws_sdk_dynamodb::types::AttributeValue::N(total.to_string()),
            );
        if let Some(limit) = placement.count_limit {
            // The domain refuses a limit of 0 before writing; within it, `count + 1 <= limit`.
            let before = limit.saturating_sub(1);
            conditions.push("(attribute_not_exists(#count) OR #count <= :max_count)");
            update = update.expression_attribute_values(":max_count", n(u64::from(before)));
        }
        if let Some(limit) = &placement.value_limit {
            let before = minor(limit)? - total;
            conditions.push("(attribute_not_exists(#value) OR #value <= :max_value)");
            update = update.expression_attribute_values(
                ":max_value",
                aws_sdk_dynamodb::types::AttributeValue::N(before.to_string()),
            );
        }
        if !conditions.is_empty() {
            update = update.condition_expression(conditions.join(" AND "));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(unavailable)?)
            .build())
    }

    /// The customer's units of the product, counted only within `max` when the product has one
    /// (always counted, so a maximum set later counts the pre-orders already made).
    fn count_units(&self, placement: &Placement) -> Result<TransactWriteItem, StoreError> {
        let p = &placement.preorder;
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(
                customer_pk(&p.customer_id),
                &units_sk(&p.product_id),
            )))
            .update_expression("SET #entity = :entity ADD #units :quantity")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#units", "units")
            .expression_attribute_values(":entity", s("preorder_units"))
            .expression_attribute_values(":quantity", n(u64::from(p.quantity)));
        if let Some(max) = placement.max_per_customer {
            let before = u64::from(max).saturating_sub(u64::from(p.quantity));
            update = update
                .condition_expression("attribute_not_exists(#units) OR #units <= :max")
                .expression_attribute_values(":max", n(before));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(unavailable)?)
            .build())
    }

    fn enqueue(&self, queue: ProductQueue, p: &Preorder) -> Result<TransactWriteItem, StoreError> {
        self.put_new(encode(&QueueItem {
            pk: product_pk(&p.product_id),
            sk: queue_sk(queue, p),
            entity: "product_queue".into(),
            preorder_id: p.id.to_string(),
        })?)
    }

    fn dequeue(&self, queue: ProductQueue, p: &Preorder) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(self.table())
                    .set_key(Some(key(product_pk(&p.product_id), &queue_sk(queue, p))))
                    .build()
                    .map_err(unavailable)?,
            )
            .build())
    }

    /// The pre-order's recorded events, stamped for the write that takes it to `sequence`.
    fn preorder_events(
        &self,
        p: &Preorder,
        sequence: u64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.event_writes(&p.events.stamped(
            p.id.as_str(),
            &p.customer_id,
            Some(&p.subscription_id),
            sequence,
        ))
    }

    /// Takes a canceled pre-order off a counter that exists (the month's, or the customer's
    /// units): `ADD` of the negative amounts.
    fn uncount(
        &self,
        pk: String,
        sk: &str,
        amounts: &[(&str, i64)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_exists(pk)");
        let mut adds = Vec::new();
        for (i, (name, amount)) in amounts.iter().enumerate() {
            adds.push(format!("#a{i} :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(
                    format!(":a{i}"),
                    aws_sdk_dynamodb::types::AttributeValue::N((-amount).to_string()),
                );
        }
        Ok(TransactWriteItem::builder()
            .update(
                update
                    .update_expression(format!("ADD {}", adds.join(", ")))
                    .build()
                    .map_err(unavailable)?,
            )
            .build())
    }
}

#[async_trait]
impl PreorderRepo for DynamoStore {
    async fn cancel_preorder(&self, c: &mut Cancellation) -> Result<(), StoreError> {
        let p = &c.preorder;
        let item = encode_entity::<_, Preorder>(&PreorderItem::from(p))?;
        let mut writes = vec![
            self.product_put(&c.product)?,
            TransactWriteItem::builder()
                .put(self.versioned_put(item, p.version)?)
                .build(),
            self.uncount(
                customer_pk(&p.customer_id),
                &units_sk(&p.product_id),
                &[("units", i64::from(p.quantity))],
            )?,
        ];
        if c.give_back_month {
            writes.push(self.uncount(
                subscription_pk(&p.subscription_id),
                &month_sk(p.month.start),
                &[("count", 1), ("value_minor", minor(&p.price.total)?)],
            )?);
        }
        if let Some(stock_move) = &c.stock_move {
            writes.push(self.move_put(&c.product.id, stock_move)?);
        }
        writes.push(self.dequeue(
            if c.was_backordered {
                ProductQueue::Backordered
            } else {
                ProductQueue::Reserved
            },
            p,
        )?);
        writes.extend(self.preorder_events(p, p.version + 1)?);
        writes.extend(self.product_events(&c.product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                c.product.version += 1;
                c.product.events.clear();
                c.preorder.version += 1;
                Ok(())
            }
            Err(codes)
                if failed(&codes, 0)
                    || failed(&codes, 1)
                    || codes.iter().any(|c| c == "TransactionConflict") =>
            {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn preorder_usage(
        &self,
        subscription: &SubscriptionId,
        month_start: DateTime<Utc>,
        currency: Currency,
    ) -> Result<PreorderUsage, StoreError> {
        let Some(item) = self
            .get::<MonthItem>(subscription_pk(subscription), &month_sk(month_start))
            .await?
        else {
            return Ok(PreorderUsage {
                count: 0,
                value: Money::zero(currency),
            });
        };
        if item.currency != currency {
            return Err(StoreError::Corrupt(format!(
                "pre-order month counted in {}, asked in {}",
                item.currency.code(),
                currency.code()
            )));
        }
        Ok(PreorderUsage {
            count: item.count,
            value: Money::from_minor_units(item.value_minor, currency),
        })
    }

    async fn customer_units(
        &self,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<u64, StoreError> {
        Ok(self
            .get::<UnitsItem>(customer_pk(customer), &units_sk(product))
            .await?
            .map_or(0, |i| i.units))
    }

    async fn place_preorder(
        &self,
        placement: &mut Placement,
    ) -> Result<Result<(), PlacementRefusal>, StoreError> {
        let product = self.product_put(&placement.product)?;
        let preorder = self.put_new(encode_entity::<_, Preorder>(&PreorderItem::from(
            &placement.preorder,
        ))?)?;
        let mut writes = vec![product, preorder, self.count_month(placement)?];
        writes.push(self.count_units(placement)?);
        let queue = match placement.preorder.status {
            PreorderStatus::Backordered => ProductQueue::Backordered,
            _ => ProductQueue::Reserved,
        };
        writes.push(self.enqueue(queue, &placement.preorder)?);
        writes.extend(self.preorder_events(&placement.preorder, placement.preorder.version)?);
        if let Some(stock_move) = &placement.stock_move {
            writes.push(self.move_put(&placement.product.id, stock_move)?);
        }
        writes.extend(self.product_events(&placement.product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                placement.product.version += 1;
                placement.product.events.clear();
                Ok(Ok(()))
            }
            Err(codes) if failed(&codes, 0) => Err(StoreError::VersionConflict),
            Err(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                Err(StoreError::VersionConflict)
            }
            Err(codes) if failed(&codes, 2) => Ok(Err(PlacementRefusal::Month)),
            Err(codes) if failed(&codes, 3) => Ok(Err(PlacementRefusal::PerCustomer)),
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn queued(
        &self,
        product: &ProductId,
        queue: ProductQueue,
        limit: usize,
    ) -> Result<Vec<PreorderId>, StoreError> {
        self.first_under(product_pk(product), queue_prefix(queue), limit)
            .await?
            .into_iter()
            .map(|item| {
                let entry: QueueItem = decode(item)?;
                PreorderId::from_str(&entry.preorder_id).map_err(corrupt("preorder_id"))
            })
            .collect()
    }

    async fn allocate_backorder(&self, a: &mut BackorderAllocation) -> Result<(), StoreError> {
        let p = &a.preorder;
        let item = encode_entity::<_, Preorder>(&PreorderItem::from(p))?;
        let writes = vec![
            self.product_put(&a.product)?,
            TransactWriteItem::builder()
                .put(self.versioned_put(item, p.version)?)
                .build(),
            self.dequeue(ProductQueue::Backordered, p)?,
            self.move_put(&a.product.id, &a.stock_move)?,
            self.enqueue(ProductQueue::Reserved, p)?,
        ];
        let mut writes = writes;
        writes.extend(self.preorder_events(p, p.version + 1)?);
        writes.extend(self.product_events(&a.product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                a.product.version += 1;
                a.product.events.clear();
                a.preorder.version += 1;
                Ok(())
            }
            Err(codes)
                if failed(&codes, 0)
                    || failed(&codes, 1)
                    || failed(&codes, 3)
                    || codes.iter().any(|c| c == "TransactionConflict") =>
            {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn record_charge(&self, c: &mut PreorderCharge) -> Result<(), StoreError> {
        let p = &c.preorder;
        let item = encode_entity::<_, Preorder>(&PreorderItem::from(p))?;
        let mut writes = vec![TransactWriteItem::builder()
            .put(self.versioned_put(item, p.version)?)
            .build()];
        if let Some((product, shipment)) = &c.shipped {
            writes.push(self.product_put(product)?);
            writes.push(self.move_put(&product.id, shipment)?);
            writes.push(self.dequeue(ProductQueue::Reserved, p)?);
        }
        writes.extend(self.preorder_events(p, p.version + 1)?);
        match self.transact(writes).await? {
            Ok(()) => {
                c.preorder.version += 1;
                if let Some((product, _)) = &mut c.shipped {
                    product.version += 1;
                }
                Ok(())
            }
            Err(codes)
                if (0..3).any(|i| failed(&codes, i))
                    || codes.iter().any(|c| c == "TransactionConflict") =>
            {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn get_preorder(&self, id: &PreorderId) -> Result<Option<Preorder>, StoreError> {
        self.load::<PreorderItem, _>(preorder_pk(id), PREORDER_SK)
            .await
    }

    async fn list_preorders(
        &self,
        subscription: &SubscriptionId,
        status: Option<PreorderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Preorder>, StoreError> {
        // A subscription's pre-orders are read whole and filtered by status here; the pages
        // follow the list convention.
        let selected = self
            .newest_first::<PreorderItem, Preorder>(&subscription_preorders_gsi1pk(subscription))
            .await?
            .into_iter()
            .filter(|p| status.is_none_or(|s| p.status == s));
        crate::page_of(selected, page, |p| p.id.as_str())
    }
}
