//! Purchase orders: stock asked of a product's supplier.
//!
//! - **Drafted** by the product itself, in the write that changes its stock or its backorders,
//!   when its projected stock (`available + incoming − backordered`) falls under its supplier's
//!   `reorder_point` and it has no open purchase order: `reorder_quantity` units, or the
//!   shortfall up to the reorder point when that is more.
//! - **Sent** by an operator (`POST /purchase-orders/{id}/send`): the supplier is emailed
//!   (`purchase_order.sent`), its units count as the product's `incoming`, expected after the
//!   supplier's lead time.
//! - **Received** when stock is received with the purchase order's id as `reference`: it is
//!   closed, and its units leave `incoming` (the receipt brings them on hand).
//! - **Canceled** by an operator while draft or sent; its units leave `incoming`.
//!
//! A product has at most one open purchase order, so a level that hovers under the reorder
//! point drafts one, not one per move.

use chrono::{DateTime, Duration, Utc};

use crate::events::{EventFacts, EventKind};
use crate::inventory::product::Product;
use crate::kernel::error::{BillingError, Refusal};
use crate::kernel::ids::{ProductId, PurchaseOrderId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseOrderStatus {
    Draft,
    Sent,
    Received,
    Canceled,
}

impl PurchaseOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseOrderStatus::Draft => "draft",
            PurchaseOrderStatus::Sent => "sent",
            PurchaseOrderStatus::Received => "received",
            PurchaseOrderStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PurchaseOrderStatus> {
        [
            PurchaseOrderStatus::Draft,
            PurchaseOrderStatus::Sent,
            PurchaseOrderStatus::Received,
            PurchaseOrderStatus::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// Draft or sent: the product's one open purchase order.
    pub fn is_open(self) -> bool {
        matches!(self, PurchaseOrderStatus::Draft | PurchaseOrderStatus::Sent)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseOrder {
    pub id: PurchaseOrderId,
    pub product_id: ProductId,
    /// Where it is sent (the product's supplier when it was drafted).
    pub supplier_email: crate::customers::Email,
    pub quantity: u64,
    pub status: PurchaseOrderStatus,
    /// Sent: when the stock is expected (after the supplier's lead time).
    pub expected_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Product {
    /// Drafts a purchase order when the projected stock (`available + incoming −
    /// backordered`) is under the supplier's reorder point and none is open; the product's
    /// next write stores it.
    pub fn plan_reorder(&mut self, now: DateTime<Utc>) {
        let Some(supplier) = &self.supplier else {
            return;
        };
        if self.open_purchase_order.is_some() || self.is_archived() {
            return;
        }
        let projected = i128::from(self.stock.available()) + i128::from(self.incoming)
            - i128::from(self.backordered);
        let point = i128::from(supplier.reorder_point);
        if projected >= point {
            return;
        }
        let shortfall = u64::try_from(point - projected).unwrap_or(u64::MAX);
        let quantity = supplier.reorder_quantity.max(shortfall).max(1);
        let order = PurchaseOrder {
            id: PurchaseOrderId::generate(),
            product_id: self.id.clone(),
            supplier_email: supplier.email.clone(),
            quantity,
            status: PurchaseOrderStatus::Draft,
            expected_at: None,
            sent_at: None,
            received_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.open_purchase_order = Some(order.id.clone());
        self.purchase_order_changes.push(order);
    }
}

impl Billing {
    /// `GET /purchase-orders`: newest first, of one product or all, with `status` if given.
    pub async fn list_purchase_orders(
        &self,
        product: Option<&ProductId>,
        status: Option<PurchaseOrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<PurchaseOrder>, BillingError> {
        Ok(self
            .products
            .list_purchase_orders(product, status, page)
            .await?)
    }

    pub async fn get_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<PurchaseOrder, BillingError> {
        self.products
            .get_purchase_order(id)
            .await?
            .ok_or(BillingError::NotFound("purchase order"))
    }

    /// `POST /purchase-orders/{id}/send`: the supplier is emailed (`purchase_order.sent`) and
    /// the units count as incoming, expected after the supplier's lead time. Sending again
    /// answers it as sent; a received or canceled one is 409 `purchase_order_closed`.
    pub async fn send_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<PurchaseOrder, BillingError> {
        self.change_purchase_order(id, |product, order, now| {
            match order.status {
                PurchaseOrderStatus::Sent => return Ok(false),
                PurchaseOrderStatus::Draft => {}
                _ => return Err(closed(order)),
            }
            let lead = product.supplier.as_ref().map_or(0, |s| s.lead_time_days);
            order.status = PurchaseOrderStatus::Sent;
            order.sent_at = Some(now);
            order.expected_at = now.checked_add_signed(Duration::days(i64::from(lead)));
            product.incoming = product.incoming.saturating_add(order.quantity);
            product.incoming_expected_at = order.expected_at;
            product.events.record(
                EventKind::PurchaseOrderSent,
                now,
                EventFacts {
                    product_id: Some(product.id.clone()),
                    purchase_order_id: Some(order.id.clone()),
                    quantity: u32::try_from(order.quantity).ok(),
                    ends_at: order.expected_at,
                    ..EventFacts::default()
                },
            );
            Ok(true)
        })
        .await
    }

    /// `POST /purchase-orders/{id}/cancel`: a draft or sent purchase order is canceled (its
    /// units leave `incoming`); again: answered as canceled; received: 409.
    pub async fn cancel_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<PurchaseOrder, BillingError> {
        self.change_purchase_order(id, |product, order, _| {
            match order.status {
                PurchaseOrderStatus::Canceled => return Ok(false),
                PurchaseOrderStatus::Received => return Err(closed(order)),
                PurchaseOrderStatus::Sent => {
                    product.incoming = product.incoming.saturating_sub(order.quantity)
                }
                PurchaseOrderStatus::Draft => {}
            }
            order.status = PurchaseOrderStatus::Canceled;
            if product.open_purchase_order.as_ref() == Some(&order.id) {
                product.open_purchase_order = None;
                product.incoming_expected_at = None;
            }
            Ok(true)
        })
        .await
    }

    /// Changes a purchase order and its product in one write conditional on both versions.
    async fn change_purchase_order(
        &self,
        id: &PurchaseOrderId,
        change: impl Fn(&mut Product, &mut PurchaseOrder, DateTime<Utc>) -> Result<bool, BillingError>
            + Send
            + Sync,
    ) -> Result<PurchaseOrder, BillingError> {
        retry_on_conflict!("purchase order", tries = STOCK_RETRIES, {
            let mut order = self.get_purchase_order(id).await?;
            let mut product = self.get_product(&order.product_id).await?;
            let now = self.now();
            if !change(&mut product, &mut order, now)? {
                return Ok(Written::Done(order));
            }
            order.updated_at = now;
            product.updated_at = now;
            product.purchase_order_changes.push(order.clone());
            let write = self.products.store_product_changes(&mut product).await;
            order.version += 1;
            written(write, order)
        })
    }

    /// A receipt that references an open purchase order of the product closes it: it is
    /// `received` and its units leave `incoming` (the receipt itself brings them on hand).
    pub(crate) async fn receive_purchase_order(
        &self,
        product: &mut Product,
        reference: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        let Some(id) = reference.and_then(|r| r.parse::<PurchaseOrderId>().ok()) else {
            return Ok(());
        };
        let Some(mut order) = self.products.get_purchase_order(&id).await? else {
            return Ok(());
        };
        if order.product_id != product.id || !order.status.is_open() {
            return Ok(());
        }
        if order.status == PurchaseOrderStatus::Sent {
            product.incoming = product.incoming.saturating_sub(order.quantity);
        }
        order.status = PurchaseOrderStatus::Received;
        order.received_at = Some(now);
        order.updated_at = now;
        if product.open_purchase_order.as_ref() == Some(&order.id) {
            product.open_purchase_order = None;
            product.incoming_expected_at = None;
        }
        product.purchase_order_changes.push(order);
        Ok(())
    }
}

fn closed(order: &PurchaseOrder) -> BillingError {
    Refusal::conflict(
        "purchase_order_closed",
        format!("the purchase order is {}", order.status.as_str()),
    )
    .with("status", order.status.as_str())
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::product::{NewPreorderTerms, NewProduct, Supplier};
    use crate::inventory::Stock;
    use crate::kernel::money::{Currency, Money};
    use crate::kernel::testing::t0;
    use rust_decimal_macros::dec;

    fn supplied(reorder_point: u64, reorder_quantity: u64) -> Product {
        Product::create(
            NewProduct {
                sku: "FLANGE-1".into(),
                name: "Flange".into(),
                description: None,
                category: None,
                price: Money::new(dec!(3.00), Currency::Usd).expect("price"),
                low_stock_threshold: 0,
                backorders_allowed: true,
                substitutes: vec![],
                supplier: Some(Supplier {
                    email: crate::customers::Email::parse("email", "orders@supplier.example")
                        .expect("email"),
                    reorder_point,
                    reorder_quantity,
                    lead_time_days: 7,
                }),
                preorder: NewPreorderTerms::default(),
            },
            t0(),
        )
        .expect("product")
    }

    #[test]
    fn projected_stock_under_the_reorder_point_drafts_one_order_of_at_least_the_shortfall() {
        let mut product = supplied(5, 20);
        product.stock = Stock {
            on_hand: 10,
            reserved: 5,
        };
        product.plan_reorder(t0());
        assert!(
            product.purchase_order_changes.is_empty(),
            "5 available is not under 5"
        );

        // 5 available, 30 backordered: projected −25, 30 short of the reorder point.
        product.backordered = 30;
        product.plan_reorder(t0());
        let drafted: Vec<u64> = product
            .purchase_order_changes
            .iter()
            .map(|o| o.quantity)
            .collect();
        assert_eq!(drafted, [30]);
        assert_eq!(
            product.open_purchase_order.as_ref(),
            Some(&product.purchase_order_changes[0].id)
        );
        // While it is open, nothing more is drafted.
        product.backordered = 100;
        product.plan_reorder(t0());
        assert_eq!(product.purchase_order_changes.len(), 1);
    }

    #[test]
    fn incoming_stock_counts_and_a_product_without_a_supplier_drafts_nothing() {
        let mut product = supplied(5, 20);
        product.incoming = 20;
        product.plan_reorder(t0());
        assert!(product.purchase_order_changes.is_empty());
        product.incoming = 0;
        product.supplier = None;
        product.plan_reorder(t0());
        assert!(product.purchase_order_changes.is_empty());
    }
}
