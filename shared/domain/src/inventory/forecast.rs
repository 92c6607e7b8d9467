//! Demand forecast: `GET /products/{id}/forecast?weeks=12`. Week by week from now, what is
//! committed against the product's stock and what comes in, and when `available` is projected
//! to reach zero. Read from what the product keeps, never by scanning every subscription:
//!
//! - `available` now (on hand less what is reserved for pre-orders);
//! - `backorders`: units owed now (backordered pre-orders and subscriptions' items), taken in
//!   the first week;
//! - `recurring`: units the renewals of the subscriptions that carry the product as an item will
//!   ship, in the week each renewal falls (the product keeps which subscriptions carry it; each
//!   is read for its quantity and renewal dates; a subscription that will not renew counts no
//!   more);
//! - `preorders`: reserved units that ship at the product's release, in its week (already held:
//!   they do not lower `available` again);
//! - `incoming`: units of sent purchase orders, in the week they are expected.
//!
//! `projected_available` is the level at the end of each week; `stockout_at` the first moment
//! it is projected to be zero or less (now, when it is already), `None` within the horizon
//! otherwise.

use chrono::{DateTime, Duration, Utc};

use crate::inventory::purchasing::PurchaseOrderStatus;
use crate::kernel::error::BillingError;
use crate::kernel::ids::ProductId;
use crate::kernel::page::{PageRequest, MAX_LIMIT};
use crate::kernel::service::Billing;
use crate::subscriptions::SubscriptionStatus;

/// The longest horizon, in weeks.
pub const MAX_WEEKS: u32 = 52;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastWeek {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub backorders: u64,
    pub recurring: u64,
    pub preorders: u64,
    pub incoming: u64,
    /// At the end of the week; negative when more is committed than there will be.
    pub projected_available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    pub product_id: ProductId,
    pub as_of: DateTime<Utc>,
    pub available: u64,
    pub weeks: Vec<ForecastWeek>,
    pub stockout_at: Option<DateTime<Utc>>,
}

/// A change of the projected level at a moment.
struct Movement {
    at: DateTime<Utc>,
    kind: Kind,
    units: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backorder,
    Recurring,
    Preorder,
    Incoming,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Billing {
    pub async fn forecast(&self, id: &ProductId, weeks: u32) -> Result<Forecast, BillingError> {
        if weeks == 0 || weeks > MAX_WEEKS {
            return Err(BillingError::field(
                "query.weeks",
                format!("must be from 1 to {MAX_WEEKS}"),
            ));
        }
        let product = self.get_product(id).await?;
        let now = self.now();
        let horizon = now + Duration::weeks(i64::from(weeks));
        let mut moves = Vec::new();
        if product.backordered > 0 {
            moves.push(Movement {
                at: now,
                kind: Kind::Backorder,
                units: product.backordered,
            });
        }
        if let Some(release_at) = product.release_due() {
            if product.stock.reserved > 0 {
                moves.push(Movement {
                    at: release_at.max(now),
                    kind: Kind::Preorder,
                    units: product.stock.reserved,
                });
            }
        }
        let page = PageRequest {
            limit: MAX_LIMIT,
            starting_after: None,
        };
        for order in self
            .products
            .list_purchase_orders(Some(id), Some(PurchaseOrderStatus::Sent), &page)
            .await?
            .data
        {
            moves.push(Movement {
                at: order.expected_at.unwrap_or(now).max(now),
                kind: Kind::Incoming,
                units: order.quantity,
            });
        }
        for sub_id in self.products.box_subscriptions(id).await? {
            let Some(sub) = self.subscriptions.get_subscription(&sub_id).await? else {
                continue;
            };
            let Some(item) = sub.items.iter().find(|i| &i.product_id == id) else {
                continue;
            };
            let live = matches!(
                sub.status,
                SubscriptionStatus::Active
                    | SubscriptionStatus::Trialing
                    | SubscriptionStatus::PastDue
            );
            if !live || !sub.will_renew() {
                continue;
            }
            let Ok((first, elapsed)) = sub.next_period() else {
                continue;
            };
            let mut at = first.start;
            let mut n = elapsed;
            while at < horizon {
                if at >= now {
                    moves.push(Movement {
                        at,
                        kind: Kind::Recurring,
                        units: u64::from(item.quantity),
                    });
                }
                n += 1;
                match sub.interval.nth_period_end(sub.billing_cycle_anchor, n) {
                    Some(next) if next > at => at = next,
                    _ => break,
                }
            }
        }
        moves.sort_by_key(|m| m.at);

        let available = product.stock.available();
        let mut level = signed(available);
        let mut stockout_at = (level <= 0).then_some(now);
        let mut weeks_out = Vec::new();
        let mut moves = moves.into_iter().peekable();
        for w in 0..weeks {
            let start = now + Duration::weeks(i64::from(w));
            let end = start + Duration::weeks(1);
            let mut week = ForecastWeek {
                start,
                end,
                backorders: 0,
                recurring: 0,
                preorders: 0,
                incoming: 0,
                projected_available: 0,
            };
            while let Some(m) = moves.next_if(|m| m.at < end) {
                match m.kind {
                    Kind::Backorder => {
                        week.backorders += m.units;
                        level -= signed(m.units);
                    }
                    Kind::Recurring => {
                        week.recurring += m.units;
                        level -= signed(m.units);
                    }
                    // Held already: shipping them does not lower what is available.
                    Kind::Preorder => week.preorders += m.units,
                    Kind::Incoming => {
                        week.incoming += m.units;
                        level += signed(m.units);
                    }
                }
                if level <= 0 && stockout_at.is_none() {
                    stockout_at = Some(m.at);
                }
            }
            week.projected_available = level;
            weeks_out.push(week);
        }
        Ok(Forecast {
            product_id: id.clone(),
            as_of: now,
            available,
            weeks: weeks_out,
            stockout_at,
        })
    }
}
