//! Charging a pre-order and shipping it. At its product's release every reserved pre-order is
//! charged once, off-session, through the billing engine: an invoice of its own
//! (`billing_reason: "preorder"`, a `product` line and the tier's `discount` line) whose id is
//! derived from the pre-order, so a redelivered message finds it and charges nothing twice; the
//! charge's idempotency key is the invoice's attempt key. Paid: the pre-order is `fulfilled` and
//! its units leave the warehouse with a `shipment` move, in one write. Authentication required:
//! `requires_action`. Declined: `payment_failed`, and the invoice keeps the dunning schedule's
//! next attempt, which the pre-order keeps too (`retry_at`, in the due index): the scheduler
//! sends it to be charged again then; a redelivery before that time charges nothing. After the
//! last retry fails the invoice is voided and the pre-order canceled, its stock released.

use std::str::FromStr;

use crate::events::EventKind;
use crate::inventory::{StockChange, StockMoveKind};
use crate::invoicing::{
    BillingReason, Invoice, InvoiceLine, InvoiceStatus, LineKind, PaymentStatus,
};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{InvoiceId, PreorderId, ProductId};
use crate::kernel::ports::StoreError;
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;
use crate::preorders::preorder::{Preorder, PreorderStatus};
use crate::preorders::{PreorderCharge, ProductQueue};

/// The invoice of a pre-order: its id is the pre-order's, prefixed (`in_po_…`).
pub fn preorder_invoice_id(id: &PreorderId) -> Result<InvoiceId, BillingError> {
    InvoiceId::from_str(&format!("{}{}", InvoiceId::PREFIX, id.as_str()))
        .map_err(|e| BillingError::Conflict(format!("pre-order {id}: {e}")))
}

/// The pre-order an invoice was opened for, if it is a pre-order's (`in_po_…`).
pub fn preorder_of_invoice(id: &InvoiceId) -> Option<PreorderId> {
    id.as_str()
        .strip_prefix(InvoiceId::PREFIX)
        .and_then(|rest| PreorderId::from_str(rest).ok())
}

/// The most reserved pre-orders one release run sends to be charged; a product with more is
/// released over several runs (those charged leave the queue).
pub const RELEASE_BATCH: usize = 1000;

impl Billing {
    /// The reserved pre-orders a product's release sends to be charged, in allocation order, and
    /// whether that is all of them.
    pub async fn release_queue(
        &self,
        product: &ProductId,
    ) -> Result<(Vec<PreorderId>, bool), BillingError> {
        let ids = self
            .preorders
            .queued(product, ProductQueue::Reserved, RELEASE_BATCH)
            .await?;
        let complete = ids.len() < RELEASE_BATCH;
        Ok((ids, complete))
    }

    /// Records that a product's release has been run: it leaves the due index. The first time,
    /// each pre-order still backordered is told it is delayed (`preorder.backordered` again:
    /// the delay email, with the date stock is expected when a purchase order is out).
    pub async fn mark_released(&self, id: &ProductId) -> Result<(), BillingError> {
        let newly = retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(id).await?;
            if product.released {
                return Ok(Written::Done(false));
            }
            product.released = true;
            product.updated_at = self.now();
            let write = self.products.update_product(&mut product).await;
            written(write, true)
        })?;
        if newly {
            for waiting in self
                .preorders
                .queued(id, ProductQueue::Backordered, RELEASE_BATCH)
                .await?
            {
                self.tell_delayed(&waiting).await?;
            }
        }
        Ok(())
    }

    /// Records `preorder.backordered` again on a pre-order still waiting at its release.
    async fn tell_delayed(&self, id: &PreorderId) -> Result<(), BillingError> {
        retry_on_conflict!("pre-order", tries = STOCK_RETRIES, {
            let Some(mut preorder) = self.preorders.get_preorder(id).await? else {
                return Ok(Written::Done(()));
            };
            if preorder.status != PreorderStatus::Backordered {
                return Ok(Written::Done(()));
            }
            let now = self.now();
            preorder.updated_at = now;
            preorder.record(EventKind::PreorderBackordered, now);
            let mut charge = PreorderCharge {
                preorder,
                shipped: None,
            };
            let write = self.preorders.record_charge(&mut charge).await;
            written(write, ())
        })
    }

    /// Charges a reserved pre-order (once), then ships it or records why not. A pre-order that
    /// is not waiting for its charge is answered as it is.
    pub async fn charge_preorder(&self, id: &PreorderId) -> Result<Preorder, BillingError> {
        let preorder = self
            .preorders
            .get_preorder(id)
            .await?
            .ok_or(BillingError::NotFound("pre-order"))?;
        if !matches!(
            preorder.status,
            PreorderStatus::Reserved
                | PreorderStatus::Allocated
                | PreorderStatus::RequiresAction
                | PreorderStatus::PaymentFailed
        ) {
            return Ok(preorder);
        }
        let sub = self
            .subscriptions
            .get_subscription(&preorder.subscription_id)
            .await?
            .ok_or(BillingError::NotFound("subscription"))?;
        let customer = self.customer_of(&sub).await?;
        let mut invoice = self.preorder_invoice(&preorder).await?;
        let now = self.now();
        let retry_due = invoice.next_attempt_at.is_none_or(|at| at <= now);
        if invoice.status == InvoiceStatus::Open && (invoice.attempt_count == 0 || retry_due) {
            self.collect(&mut invoice, &sub, &customer, true, None)
                .await?;
        }
        let status = match invoice.status {
            InvoiceStatus::Paid => PreorderStatus::Fulfilled,
            InvoiceStatus::Open
                if invoice
                    .payments
                    .last()
                    .is_some_and(|p| p.status == PaymentStatus::RequiresAction) =>
            {
                PreorderStatus::RequiresAction
            }
            InvoiceStatus::Open
                if invoice
                    .payments
                    .last()
                    .is_some_and(|p| p.status == PaymentStatus::Processing) =>
            {
                PreorderStatus::Allocated
            }
            _ => PreorderStatus::PaymentFailed,
        };
        if status == PreorderStatus::PaymentFailed
            && invoice.status == InvoiceStatus::Open
            && invoice.next_attempt_at.is_none()
        {
            // The last retry failed: nothing is owed, and the stock goes back.
            invoice.void(self.now())?;
            self.store_invoice(&mut invoice).await?;
            return self.cancel_unpaid_preorder(id).await;
        }
        let retry_at = match status {
            PreorderStatus::PaymentFailed => invoice.next_attempt_at,
            _ => None,
        };
        self.record_preorder_charge(id, status, &invoice.id, retry_at)
            .await
    }

    /// The pre-order's invoice, opened the first time it is asked for.
    async fn preorder_invoice(&self, preorder: &Preorder) -> Result<Invoice, BillingError> {
        let id = preorder_invoice_id(&preorder.id)?;
        if let Some(existing) = self.invoices.get_invoice(&id).await? {
            return Ok(existing);
        }
        let price = &preorder.price;
        let mut lines = vec![InvoiceLine {
            kind: LineKind::Product,
            description: format!(
                "{} × pre-order {} of {}",
                preorder.quantity, preorder.id, preorder.product_id
            ),
            amount: price.subtotal,
            period: preorder.month,
        }];
        if !price.discount.amount().is_zero() {
            lines.push(InvoiceLine {
                kind: LineKind::Discount,
                description: format!(
                    "{} tier pre-order discount ({}%)",
                    preorder.tier.display_name(),
                    price.discount_percent.normalize()
                ),
                amount: crate::kernel::money::Money::zero(price.discount.currency())
                    .checked_sub(&price.discount)?,
                period: preorder.month,
            });
        }
        let mut draft = Invoice::draft(
            preorder.subscription_id.clone(),
            preorder.customer_id.clone(),
            price.total.currency(),
            preorder.month,
            lines,
            self.now(),
        )?
        .because(BillingReason::Preorder);
        draft.id = id.clone();
        match self.open_invoice(draft).await {
            Ok(invoice) => Ok(invoice),
            Err(BillingError::Store(StoreError::AlreadyExists)) => self
                .invoices
                .get_invoice(&id)
                .await?
                .ok_or(BillingError::NotFound("invoice")),
            Err(e) => Err(e),
        }
    }

    /// Stores the pre-order's status after its charge; a fulfilled one ships its units.
    async fn record_preorder_charge(
        &self,
        id: &PreorderId,
        status: PreorderStatus,
        invoice_id: &InvoiceId,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Preorder, BillingError> {
        retry_on_conflict!("pre-order", tries = STOCK_RETRIES, {
            let mut preorder = self
                .preorders
                .get_preorder(id)
                .await?
                .ok_or(BillingError::NotFound("pre-order"))?;
            if (preorder.status == status && preorder.retry_at == retry_at)
                || matches!(
                    preorder.status,
                    PreorderStatus::Fulfilled | PreorderStatus::Canceled
                )
            {
                return Ok(Written::Done(preorder));
            }
            let now = self.now();
            let shipped = if status == PreorderStatus::Fulfilled {
                let mut product = self.get_product(&preorder.product_id).await?;
                let (stock, mut shipment) = product.stock.apply(
                    StockChange::Ship {
                        quantity: u64::from(preorder.quantity),
                    },
                    Some("pre-order fulfilled".into()),
                    Some(preorder.id.to_string()),
                    now,
                )?;
                shipment.kind = StockMoveKind::Shipment;
                shipment.sequence = product.version + 1;
                product.stock = stock;
                product.updated_at = now;
                Some((product, shipment))
            } else {
                None
            };
            let newly = preorder.status != status;
            preorder.status = status;
            preorder.invoice_id = Some(invoice_id.clone());
            preorder.retry_at = retry_at;
            preorder.updated_at = now;
            match status {
                PreorderStatus::Fulfilled => preorder.record(EventKind::PreorderFulfilled, now),
                PreorderStatus::PaymentFailed if newly => {
                    preorder.record(EventKind::PreorderPaymentFailed, now)
                }
                _ => {}
            }
            let mut charge = PreorderCharge { preorder, shipped };
            let write = self.preorders.record_charge(&mut charge).await;
            charge.preorder.events.clear();
            written(write, charge.preorder)
        })
    }
}
