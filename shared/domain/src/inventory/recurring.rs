//! Recurring items: the products a subscription ships every period (the second document's
//! subscription boxes). A subscription may carry `items` (`[{product_id, quantity}]`), given
//! when subscribing or replaced with `PUT /subscriptions/{id}/items`:
//!
//! - subscribing (or setting items) checks each product: it exists, is not archived, is priced
//!   in the plan's currency and has the quantity available now, else 409 `out_of_stock` with
//!   `alternatives` (nobody subscribes to what is out of stock);
//! - each period's invoice carries one `product` line per item (its price when the invoice is
//!   drafted × quantity), so the coupon and the customer's credit apply to the whole box;
//! - the period's items ship when its invoice is paid (at once, after a dunning retry, or when
//!   the customer pays it): per item one write of the product, its `shipment` move (referenced
//!   `<subscription>/<period start>`) and a guard that makes it once per period, so a
//!   redelivered renewal ships nothing twice;
//! - an item the stock cannot cover is backordered for that period (the customer paid for it;
//!   a `subscription.item_backordered` event and a delay email), counted in the product's
//!   `backordered`, and shipped when stock comes in: after the product's backordered
//!   pre-orders, oldest first;
//! - items change only while no period's invoice is waiting for payment, so what a period
//!   ships is what its invoice charged.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::events::{EventFacts, EventKind, Outbox};
use crate::inventory::product::Product;
use crate::inventory::{StockChange, StockError, StockMove, StockMoveKind};
use crate::invoicing::{Invoice, InvoiceLine, InvoiceStatus, LineKind};
use crate::kernel::access::Actor;
use crate::kernel::error::{BillingError, Refusal};
use crate::kernel::ids::{CustomerId, ProductId, SubscriptionId};
use crate::kernel::money::Currency;
use crate::kernel::period::Period;
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;
use crate::subscriptions::{check_items, RecurringItem, Subscription, SubscriptionStatus};

/// A period's item a product owes a subscription: what identifies it (subscription and period)
/// and how many units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemBackorder {
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub period_start: DateTime<Utc>,
    pub quantity: u32,
    /// When it was backordered: item backorders are shipped oldest first.
    pub created_at: DateTime<Utc>,
}

impl ItemBackorder {
    /// What its moves reference: `<subscription>/<period start>`.
    pub fn reference(&self) -> String {
        format!(
            "{}/{}",
            self.subscription_id,
            self.period_start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// A period's item delivered, in one write: the product (conditional on its version) shipped
/// from or with the units added to `backordered`, the shipment move when it shipped, and the
/// period's guard (it must not exist: each period's item is delivered once), with the item's
/// events.
#[derive(Debug, Clone)]
pub struct ItemDelivery {
    pub product: Product,
    pub item: ItemBackorder,
    /// `Some`: shipped; `None`: backordered.
    pub shipment: Option<StockMove>,
    pub events: Outbox,
}

/// An item backorder shipped, in one write: the product (conditional on its version; units off
/// `on_hand` and `backordered`), the shipment move, the period's guard marked shipped and the
/// backorder out of the product's queue.
#[derive(Debug, Clone)]
pub struct ItemBackorderFill {
    pub product: Product,
    pub item: ItemBackorder,
    pub shipment: StockMove,
}

/// What filling one item backorder came to.
enum Fill {
    Shipped,
    /// The stock does not cover it: filling stops.
    Short,
    Gone,
}

/// How many item backorders are read at a time.
const BATCH: usize = 25;

impl Billing {
    /// Checks items a subscription would carry: each product exists, is not archived, is priced
    /// in `currency` and has the quantity available now (else `out_of_stock` with
    /// `alternatives`). Answers the products read, in the items' order.
    pub(crate) async fn check_recurring_items(
        &self,
        items: &[RecurringItem],
        currency: Currency,
    ) -> Result<Vec<Product>, BillingError> {
        check_items(items)?;
        let mut products = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let field = format!("items[{n}].product_id");
            let Some(product) = self.products.get_product(&item.product_id).await? else {
                return Err(BillingError::field(&field, "no product with this id"));
            };
            if product.is_archived() {
                return Err(BillingError::field(&field, "the product is archived"));
            }
            if product.price.currency() != currency {
                return Err(BillingError::field(
                    &field,
                    format!(
                        "the product is priced in {}, the plan in {}",
                        product.price.currency(),
                        currency
                    ),
                ));
            }
            let available = product.stock.available();
            if u64::from(item.quantity) > available {
                let refusal = Refusal::conflict(
                    "out_of_stock",
                    format!("{} requested, {available} available", item.quantity),
                )
                .at(field.as_str())
                .with("available", available);
                return Err(self.with_alternatives(refusal, &product.id).await?.into());
            }
            products.push(product);
        }
        Ok(products)
    }

    /// An `out_of_stock` refusal with the product's in-stock alternatives, each
    /// `{product_id, name, available}`.
    pub(crate) async fn with_alternatives(
        &self,
        refusal: Refusal,
        product: &ProductId,
    ) -> Result<Refusal, BillingError> {
        let alternatives: Vec<serde_json::Value> = self
            .alternatives(product)
            .await?
            .iter()
            .map(|p| json!({"product_id": p.id, "name": p.name, "available": p.stock.available()}))
            .collect();
        Ok(refusal.with("alternatives", alternatives))
    }

    /// The `product` lines of a period's invoice: one per item, at the product's price now.
    pub(crate) async fn item_lines(
        &self,
        sub: &Subscription,
        period: Period,
    ) -> Result<Vec<InvoiceLine>, BillingError> {
        let mut lines = Vec::with_capacity(sub.items.len());
        for item in &sub.items {
            let product = self.get_product(&item.product_id).await?;
            let amount = crate::preorders::PreorderPrice::quote(
                product.price,
                item.quantity,
                rust_decimal::Decimal::ZERO,
            )?
            .subtotal;
            lines.push(InvoiceLine {
                kind: LineKind::Product,
                description: format!("{} × {} ({})", item.quantity, product.name, product.sku),
                amount,
                period,
            });
        }
        Ok(lines)
    }

    /// Ships a paid period's items, each once (a second call finds them delivered and writes
    /// nothing); an item the stock cannot cover is backordered.
    pub(crate) async fn deliver_items(
        &self,
        sub: &Subscription,
        period: Period,
    ) -> Result<(), BillingError> {
        for item in &sub.items {
            let backorder = ItemBackorder {
                subscription_id: sub.id.clone(),
                customer_id: sub.customer_id.clone(),
                period_start: period.start,
                quantity: item.quantity,
                created_at: self.now(),
            };
            self.deliver_item(&item.product_id, backorder).await?;
        }
        Ok(())
    }

    /// Ships the items of the period a paid invoice billed (a period's invoice of a
    /// subscription with items; anything else ships nothing).
    pub(crate) async fn ship_paid_period(
        &self,
        sub: &Subscription,
        invoice: &Invoice,
    ) -> Result<(), BillingError> {
        if sub.items.is_empty()
            || invoice.status != InvoiceStatus::Paid
            || !invoice.billing_reason.is_period_invoice()
            || !invoice.lines.iter().any(|l| l.kind == LineKind::Product)
        {
            return Ok(());
        }
        self.deliver_items(sub, invoice.period).await
    }

    async fn deliver_item(
        &self,
        product_id: &ProductId,
        item: ItemBackorder,
    ) -> Result<(), BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(product_id).await?;
            let now = self.now();
            let quantity = u64::from(item.quantity);
            let shipment = match product.stock.apply(
                StockChange::ShipAvailable { quantity },
                Some("subscription item shipped".into()),
                Some(item.reference()),
                now,
            ) {
                Ok((stock, mut shipment)) => {
                    shipment.sequence = product.version + 1;
                    product.stock = stock;
                    product.observe_stock(now);
                    Some(shipment)
                }
                Err(StockError::InsufficientStock { .. }) => {
                    product.backordered = product.backordered.saturating_add(quantity);
                    product.plan_reorder(now);
                    None
                }
                Err(e) => return Err(e.into()),
            };
            product.updated_at = now;
            let mut events = Outbox::default();
            if shipment.is_none() {
                events.record(
                    EventKind::SubscriptionItemBackordered,
                    now,
                    EventFacts {
                        product_id: Some(product.id.clone()),
                        quantity: Some(item.quantity),
                        period_start: Some(item.period_start),
                        ..EventFacts::default()
                    },
                );
            }
            let mut delivery = ItemDelivery {
                product,
                item: item.clone(),
                shipment,
                events,
            };
            // `Ok(false)`: delivered before; nothing was written.
            let write = self.products.deliver_item(&mut delivery).await.map(|_| ());
            written(write, ())
        })
    }

    /// Ships the product's item backorders, oldest first, while the available stock covers
    /// them whole; answers how many shipped.
    pub async fn fill_item_backorders(&self, product_id: &ProductId) -> Result<u32, BillingError> {
        let mut shipped = 0;
        loop {
            let waiting = self.products.item_backorders(product_id, BATCH).await?;
            if waiting.is_empty() {
                return Ok(shipped);
            }
            for item in waiting {
                match self.fill_item_backorder(product_id, &item).await? {
                    Fill::Shipped => shipped += 1,
                    Fill::Short => return Ok(shipped),
                    // Another run filled it meanwhile.
                    Fill::Gone => {}
                }
            }
        }
    }

    /// Ships one item backorder.
    async fn fill_item_backorder(
        &self,
        product_id: &ProductId,
        item: &ItemBackorder,
    ) -> Result<Fill, BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(product_id).await?;
            let now = self.now();
            let quantity = u64::from(item.quantity);
            let (stock, mut shipment) = match product.stock.apply(
                StockChange::ShipAvailable { quantity },
                Some("subscription item backorder shipped".into()),
                Some(item.reference()),
                now,
            ) {
                Ok(applied) => applied,
                Err(StockError::InsufficientStock { .. }) => return Ok(Written::Done(Fill::Short)),
                Err(e) => return Err(e.into()),
            };
            shipment.kind = StockMoveKind::Shipment;
            shipment.sequence = product.version + 1;
            product.stock = stock;
            product.backordered = product.backordered.saturating_sub(quantity);
            product.observe_stock(now);
            product.updated_at = now;
            let mut fill = ItemBackorderFill {
                product,
                item: item.clone(),
                shipment,
            };
            match self.products.fill_item_backorder(&mut fill).await {
                Ok(true) => Ok(Written::Done(Fill::Shipped)),
                Ok(false) => Ok(Written::Done(Fill::Gone)),
                Err(e) => written(Err(e), Fill::Gone),
            }
        })
    }

    /// `PUT /subscriptions/{id}/items`: the items the subscription ships from its next
    /// invoice on. Refused while a period's invoice waits for payment (what a period ships is
    /// what its invoice charged) and once the subscription has ended.
    pub async fn set_items(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        items: Vec<RecurringItem>,
    ) -> Result<Subscription, BillingError> {
        let sub = self.get_subscription(actor, id).await?;
        match sub.status {
            SubscriptionStatus::Active
            | SubscriptionStatus::Trialing
            | SubscriptionStatus::Paused => {}
            SubscriptionStatus::Incomplete | SubscriptionStatus::PastDue => {
                return Err(Refusal::conflict(
                    "invoice_unpaid",
                    "items change once the open invoice is paid",
                )
                .with("status", sub.status.as_str())
                .into())
            }
            _ => {
                return Err(Refusal::conflict(
                    "subscription_not_active",
                    format!("the subscription is {}", sub.status.as_str()),
                )
                .with("status", sub.status.as_str())
                .into())
            }
        }
        let plan = self.plan(&sub.plan_id).await?;
        self.check_recurring_items(&items, plan.price.currency())
            .await?;
        let before: Vec<ProductId> = sub.items.iter().map(|i| i.product_id.clone()).collect();
        let now = self.now();
        self.update_subscription_with(id, |sub| {
            if sub.items == items {
                return false;
            }
            sub.items = items.clone();
            sub.updated_at = now;
            true
        })
        .await?;
        let after: Vec<ProductId> = items.iter().map(|i| i.product_id.clone()).collect();
        self.products.link_box_items(id, &before, &after).await?;
        self.get_subscription(actor, id).await
    }
}
