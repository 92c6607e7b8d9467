//! Pre-order openings: a pre-orderable product opens to each tier `early_access_days` before
//! its `opens_at` (Enterprise 14, Premium 7, Basic 3, Free 0: the standard tiers). At each of
//! those instants the scheduler (through the due index, partition `OPENINGS`, never a scan)
//! records `product.preorder_opened` with the span of openings it announces (`period_start`
//! exclusive, `period_end` inclusive), and the notifier emails each customer who tracks the
//! product and whose own opening (its best live plan's early access) falls in that span: once,
//! on the day pre-orders open for it.

use chrono::{DateTime, Duration, Utc};

use crate::catalogue::Tier;
use crate::events::{EventFacts, EventKind};
use crate::inventory::product::Product;
use crate::kernel::error::BillingError;
use crate::kernel::ids::ProductId;
use crate::kernel::money::Currency;
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;

impl Product {
    /// The instants the product opens to the standard tiers, earliest first (none unless it is
    /// pre-orderable with a window, and not archived).
    pub fn openings(&self) -> Vec<DateTime<Utc>> {
        let Some(window) = &self.preorder.window else {
            return Vec::new();
        };
        if !self.preorder.eligible || self.is_archived() {
            return Vec::new();
        }
        let mut days: Vec<u32> = [Tier::Enterprise, Tier::Premium, Tier::Basic, Tier::Free]
            .iter()
            .map(|t| t.standard_limits_in(Currency::Usd).early_access_days)
            .collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        days.iter()
            .filter_map(|d| {
                window
                    .opens_at
                    .checked_sub_signed(Duration::days(i64::from(*d)))
            })
            .filter(|at| *at < window.closes_at)
            .collect()
    }

    /// Openings already past when the window is set are not announced (nobody could act on
    /// them in time): only those still ahead are.
    pub fn skip_past_openings(&mut self, now: DateTime<Utc>) {
        if let Some(past) = self.openings().into_iter().rfind(|at| *at <= now) {
            if self.openings_announced_through.is_none_or(|t| t < past) {
                self.openings_announced_through = Some(past);
            }
        }
    }

    /// The next opening to announce: the first after the last announced.
    pub fn next_opening(&self) -> Option<DateTime<Utc>> {
        self.openings()
            .into_iter()
            .find(|at| self.openings_announced_through.is_none_or(|t| *at > t))
    }
}

impl Billing {
    /// Announces a product's openings due at the clock's time (`product.preorder_opened`, one
    /// per opening instant, stored with the product), then keeps the next in the due index.
    pub async fn announce_openings(&self, id: &ProductId) -> Result<(), BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(id).await?;
            let now = self.now();
            let mut announced = false;
            while let Some(at) = product.next_opening().filter(|at| *at <= now) {
                let from = product.openings_announced_through;
                product.events.record(
                    EventKind::ProductPreorderOpened,
                    now,
                    EventFacts {
                        product_id: Some(product.id.clone()),
                        period_start: from,
                        period_end: Some(at),
                        ..EventFacts::default()
                    },
                );
                product.openings_announced_through = Some(at);
                announced = true;
            }
            if !announced {
                return Ok(Written::Done(()));
            }
            product.updated_at = now;
            let write = self.products.store_product_changes(&mut product).await;
            written(write, ())
        })?;
        self.schedule_opening(id).await
    }

    /// Keeps the product's next opening in the due index (or none).
    pub(crate) async fn schedule_opening(&self, id: &ProductId) -> Result<(), BillingError> {
        let product = self.get_product(id).await?;
        Ok(self
            .products
            .schedule_opening(id, product.next_opening())
            .await?)
    }
}
