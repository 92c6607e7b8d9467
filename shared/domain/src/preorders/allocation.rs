//! Backorders given stock: whenever a product's available stock grows (a receipt, an adjustment
//! or a count upwards), its backordered pre-orders are allocated in rank order (priority level,
//! then tier, then age), each as far as the stock goes. Allocation stops at the first backorder
//! the stock cannot cover whole, so a large early order is not passed by smaller later ones.
//! An allocated backorder holds its units (`reserved`) until the product's release charges it;
//! at or after the release it is charged at once.

use crate::events::EventKind;
use crate::inventory::{StockChange, StockError, StockMoveKind};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{PreorderId, ProductId};
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;
use crate::preorders::preorder::PreorderStatus;
use crate::preorders::{BackorderAllocation, ProductQueue};

/// How many backorders are read at a time.
const BATCH: usize = 25;

/// What allocating one backorder came to.
enum Step {
    Allocated,
    /// The stock does not cover it: allocation stops.
    Short,
    /// It is no longer backordered (canceled meanwhile).
    Gone,
}

impl Billing {
    /// Allocates the product's backorders in rank order while the stock covers them; answers how
    /// many were allocated.
    pub async fn allocate_backorders(&self, product_id: &ProductId) -> Result<u32, BillingError> {
        let mut allocated = 0;
        loop {
            let ids = self
                .preorders
                .queued(product_id, ProductQueue::Backordered, BATCH)
                .await?;
            if ids.is_empty() {
                return Ok(allocated);
            }
            let mut progressed = false;
            for id in ids {
                match self.allocate_one(product_id, &id).await? {
                    Step::Allocated => {
                        allocated += 1;
                        progressed = true;
                        // At or after the release, an allocated backorder is charged at once.
                        let product = self.get_product(product_id).await?;
                        if product.released
                            || product
                                .preorder
                                .release_at
                                .is_some_and(|at| at <= self.now())
                        {
                            self.charge_preorder(&id).await?;
                        }
                    }
                    Step::Short => return Ok(allocated),
                    Step::Gone => {}
                }
            }
            if !progressed {
                return Ok(allocated);
            }
        }
    }

    async fn allocate_one(
        &self,
        product_id: &ProductId,
        id: &PreorderId,
    ) -> Result<Step, BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let Some(mut preorder) = self.preorders.get_preorder(id).await? else {
                return Ok(Written::Done(Step::Gone));
            };
            if preorder.status != PreorderStatus::Backordered {
                return Ok(Written::Done(Step::Gone));
            }
            let mut product = self.get_product(product_id).await?;
            let now = self.now();
            let quantity = u64::from(preorder.quantity);
            let (stock, mut stock_move) = match product.stock.apply(
                StockChange::Reserve { quantity },
                Some("backorder allocated".into()),
                Some(preorder.id.to_string()),
                now,
            ) {
                Ok(applied) => applied,
                Err(StockError::InsufficientStock { .. }) => return Ok(Written::Done(Step::Short)),
                Err(e) => return Err(e.into()),
            };
            stock_move.kind = StockMoveKind::Allocation;
            stock_move.sequence = product.version + 1;
            product.stock = stock;
            product.backordered = product.backordered.saturating_sub(quantity);
            product.observe_stock(now);
            product.updated_at = now;
            preorder.status = PreorderStatus::Reserved;
            preorder.updated_at = now;
            preorder.record(EventKind::PreorderAllocated, now);
            let mut allocation = BackorderAllocation {
                preorder,
                product,
                stock_move,
            };
            let write = self.preorders.allocate_backorder(&mut allocation).await;
            written(write, Step::Allocated)
        })
    }
}
