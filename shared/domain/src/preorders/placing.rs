//! Placing a pre-order: the checks in the order the first source document gives them, each
//! refused with its own code, and one write for the pre-order, its stock and its counters.
//!
//! 1. the subscription is active or trialing (`subscription_not_active`);
//! 2. the product is pre-order eligible and not archived (`not_preorderable`);
//! 3. the window is open to the tier (`preorder_window_not_open` with the tier's `opens_at`,
//!    `preorder_window_closed`);
//! 4. stock: `quantity` is reserved from what is available; short, the whole pre-order is
//!    backordered when the product allows it, else `out_of_stock` with `alternatives`;
//! 5. the tier's monthly count, then value (`preorder_limit_reached`,
//!    `preorder_value_limit_reached`), then the product's `max_per_customer`
//!    (`max_per_customer_reached`);
//! 6. the price, with the tier's discount rounded once.
//!
//! The limits are enforced by the write itself (each counter is incremented only while under
//! its limit, in the transaction that stores the pre-order and its reservation), so a placement
//! reads the subscription, its plan and the product, and writes once; the counters are read only
//! to explain a refusal.

use serde_json::json;

use crate::catalogue::{Limit, Plan};
use crate::events::EventKind;
use crate::inventory::product::Product;
use crate::inventory::{ProductFilter, StockChange, StockError};
use crate::kernel::access::Actor;
use crate::kernel::error::{BillingError, Refusal, RefusalKind};
use crate::kernel::ids::{PreorderId, SubscriptionId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::period::Period;
use crate::kernel::ports::StoreError;
use crate::kernel::retry::{retry_on_conflict, Written, STOCK_RETRIES};
use crate::kernel::service::Billing;
use crate::kernel::validation::{FieldError, Validator};
use crate::preorders::preorder::{NewPreorder, Preorder, PreorderStatus, DEFAULT_PRIORITY_LEVEL};
use crate::preorders::repo::{Cancellation, Placement, PlacementRefusal};
use crate::preorders::{
    check_limits, preorder_month, PreorderLimitError, PreorderPrice, PreorderUsage, WindowError,
};
use crate::subscriptions::Subscription;

/// The reason a pre-order canceled with its subscription carries (its email is the
/// cancellation's).
pub const SUBSCRIPTION_ENDED: &str = "subscription_ended";

/// The most units one pre-order may ask for.
pub const MAX_PREORDER_QUANTITY: u32 = 10_000;
/// How many alternatives an `out_of_stock` refusal offers at most.
pub const MAX_ALTERNATIVES: usize = 5;

/// A subscription's pre-order month: what it has used against its tier's limits.
#[derive(Debug, Clone)]
pub struct PreorderUsageReport {
    pub subscription_id: SubscriptionId,
    pub month: Period,
    pub used: PreorderUsage,
    pub plan: Plan,
}

impl From<WindowError> for Refusal {
    fn from(e: WindowError) -> Self {
        let refusal = Refusal::conflict(e.code(), e.to_string()).at("product_id");
        match e {
            WindowError::NotOpen { opens_at } => refusal.with("opens_at", rfc3339(opens_at)),
            WindowError::Closed { closes_at } => refusal.with("closes_at", rfc3339(closes_at)),
        }
    }
}

/// A time as the API writes times (RFC 3339, UTC, `Z`).
fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn limit_refusal(e: PreorderLimitError) -> BillingError {
    let message = e.to_string();
    match e {
        PreorderLimitError::CountReached {
            limit,
            used,
            resets_at,
        } => Refusal::conflict("preorder_limit_reached", message)
            .with("limit", limit)
            .with("used", used)
            .with("resets_at", rfc3339(resets_at))
            .into(),
        PreorderLimitError::ValueReached {
            limit,
            used,
            resets_at,
        } => Refusal::conflict("preorder_value_limit_reached", message)
            .with("limit", limit.amount().to_string())
            .with("used", used.amount().to_string())
            .with("currency", limit.currency().code())
            .with("resets_at", rfc3339(resets_at))
            .into(),
        PreorderLimitError::Money(e) => e.into(),
    }
}

impl NewPreorder {
    fn check(&self) -> Result<u8, Vec<FieldError>> {
        let mut v = Validator::new();
        if !(1..=MAX_PREORDER_QUANTITY).contains(&self.quantity) {
            v.push(FieldError::new(
                "quantity",
                format!("must be from 1 to {MAX_PREORDER_QUANTITY}"),
            ));
        }
        let priority = self.priority_level.unwrap_or(DEFAULT_PRIORITY_LEVEL);
        if !(1..=5).contains(&priority) {
            v.push(FieldError::new("priority_level", "must be from 1 to 5"));
        }
        v.finish()?;
        Ok(priority)
    }
}

impl Billing {
    /// Places a pre-order for a subscription's owner or an operator (see the module's rules).
    pub async fn place_preorder(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        new: NewPreorder,
    ) -> Result<Preorder, BillingError> {
        let priority_level = new.check()?;
        let sub = self.get_subscription(actor, subscription_id).await?;
        if !sub.status.is_in_service() {
            return Err(Refusal::conflict(
                "subscription_not_active",
                format!("a {} subscription cannot pre-order", sub.status),
            )
            .with("status", sub.status.as_str())
            .into());
        }
        let plan = self.plan(&sub.plan_id).await?;
        let id = PreorderId::generate();
        let placed = retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let product = match self.products.get_product(&new.product_id).await? {
                Some(product) => product,
                None => return Err(BillingError::field("product_id", "no product with this id")),
            };
            let mut placement = self.placement(&id, &sub, &plan, product, &new, priority_level)?;
            let placed = match self.preorders.place_preorder(&mut placement).await {
                Err(StoreError::VersionConflict) => return Ok(Written::Conflict),
                other => other?,
            };
            match placed {
                Ok(()) => {
                    placement.preorder.events.clear();
                    Ok(Written::Done(placement.preorder))
                }
                // A counter refused it: explain with what the counters hold now (if they no
                // longer refuse, a cancellation freed room meanwhile: try again).
                Err(PlacementRefusal::Month) => {
                    let used = self
                        .preorders
                        .preorder_usage(
                            &sub.id,
                            placement.preorder.month.start,
                            placement.preorder.price.total.currency(),
                        )
                        .await?;
                    check_limits(
                        &plan.limits,
                        &used,
                        &placement.preorder.price.total,
                        &placement.preorder.month,
                    )
                    .map_err(limit_refusal)?;
                    Ok(Written::Conflict)
                }
                Err(PlacementRefusal::PerCustomer) => {
                    self.check_per_customer(&placement).await?;
                    Ok(Written::Conflict)
                }
            }
        });
        match placed {
            Err(BillingError::Refused(refusal)) if refusal.code == "out_of_stock" => {
                let alternatives: Vec<serde_json::Value> = self
                    .alternatives(&new.product_id)
                    .await?
                    .iter()
                    .map(|p| {
                        json!({"product_id": p.id, "name": p.name,
                               "available": p.stock.available()})
                    })
                    .collect();
                Err(refusal.with("alternatives", alternatives).into())
            }
            other => other,
        }
    }

    /// Checks 2 to 6 against the product as read, and the pre-order with all it changes.
    fn placement(
        &self,
        id: &PreorderId,
        sub: &Subscription,
        plan: &Plan,
        mut product: Product,
        new: &NewPreorder,
        priority_level: u8,
    ) -> Result<Placement, BillingError> {
        let now = self.now();
        if !product.preorder.eligible || product.is_archived() {
            return Err(Refusal::new(
                RefusalKind::Unprocessable,
                "not_preorderable",
                "this product cannot be pre-ordered",
            )
            .at("product_id")
            .into());
        }
        let window = product.preorder.window.ok_or_else(|| {
            Refusal::new(
                RefusalKind::Unprocessable,
                "not_preorderable",
                "this product has no pre-order window",
            )
            .at("product_id")
        })?;
        window
            .check(plan.limits.early_access_days, now)
            .map_err(Refusal::from)?;
        if product.price.currency() != plan.price.currency() {
            return Err(Refusal::new(
                RefusalKind::Unprocessable,
                "currency_mismatch",
                format!(
                    "the product is priced in {} and the subscription billed in {}",
                    product.price.currency().code(),
                    plan.price.currency().code()
                ),
            )
            .at("product_id")
            .into());
        }
        let quantity = u64::from(new.quantity);
        let (status, stock_move) = match product.stock.apply(
            StockChange::Reserve { quantity },
            None,
            Some(id.to_string()),
            now,
        ) {
            Ok((stock, mut stock_move)) => {
                stock_move.sequence = product.version + 1;
                product.stock = stock;
                product.observe_stock(now);
                (PreorderStatus::Reserved, Some(stock_move))
            }
            Err(StockError::InsufficientStock { .. }) if product.backorders_allowed => {
                product.backordered = product.backordered.saturating_add(quantity);
                product.plan_reorder(now);
                (PreorderStatus::Backordered, None)
            }
            Err(StockError::InsufficientStock { available, .. }) => {
                return Err(Refusal::conflict(
                    "out_of_stock",
                    format!("{quantity} requested, {available} available"),
                )
                .at("quantity")
                .with("available", available)
                // Filled in by the caller, which can read other products.
                .with("alternatives", json!([]))
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        let price = PreorderPrice::quote(
            product.price,
            new.quantity,
            plan.limits.preorder_discount_percent,
        )?;
        let month = preorder_month(sub.billing_cycle_anchor, now).ok_or_else(|| {
            BillingError::Conflict("the subscription's pre-order month cannot be told".into())
        })?;
        if let Some(max) = product.preorder.max_per_customer {
            if new.quantity > max {
                return Err(Refusal::conflict(
                    "max_per_customer_reached",
                    format!("at most {max} units of this product per customer"),
                )
                .at("quantity")
                .with("limit", max)
                .with("used", 0)
                .into());
            }
        }
        product.updated_at = now;
        let mut preorder = Preorder {
            id: id.clone(),
            subscription_id: sub.id.clone(),
            customer_id: sub.customer_id.clone(),
            product_id: product.id.clone(),
            quantity: new.quantity,
            priority_level,
            status,
            tier: plan.tier,
            price,
            month,
            release_at: product.preorder.release_at,
            invoice_id: None,
            retry_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
            events: Default::default(),
        };
        preorder.record(
            match status {
                PreorderStatus::Backordered => EventKind::PreorderBackordered,
                _ => EventKind::PreorderCreated,
            },
            now,
        );
        Ok(Placement {
            max_per_customer: product.preorder.max_per_customer,
            preorder,
            product,
            stock_move,
            count_limit: match plan.limits.monthly_preorder_limit {
                Limit::Limited(n) => Some(n),
                Limit::Unlimited => None,
            },
            value_limit: match plan.limits.monthly_preorder_value_limit {
                Limit::Limited(m) => Some(m),
                Limit::Unlimited => None,
            },
        })
    }

    async fn check_per_customer(&self, placement: &Placement) -> Result<(), BillingError> {
        let Some(max) = placement.max_per_customer else {
            return Ok(());
        };
        let used = self
            .preorders
            .customer_units(
                &placement.preorder.customer_id,
                &placement.preorder.product_id,
            )
            .await?;
        if used + u64::from(placement.preorder.quantity) > u64::from(max) {
            return Err(Refusal::conflict(
                "max_per_customer_reached",
                format!("at most {max} units of this product per customer; {used} on pre-order"),
            )
            .at("quantity")
            .with("limit", max)
            .with("used", used)
            .into());
        }
        Ok(())
    }

    /// In-stock substitutes of `product`, then in-stock products of its category, each once.
    pub async fn alternatives(
        &self,
        product: &crate::kernel::ids::ProductId,
    ) -> Result<Vec<Product>, BillingError> {
        let Some(product) = self.products.get_product(product).await? else {
            return Ok(Vec::new());
        };
        let mut found: Vec<Product> = Vec::new();
        let offered = |p: &Product, found: &[Product]| {
            p.id != product.id
                && !p.is_archived()
                && p.stock.available() > 0
                && !found.iter().any(|f| f.id == p.id)
        };
        for id in &product.substitutes {
            if let Some(p) = self.products.get_product(id).await? {
                if offered(&p, &found) {
                    found.push(p);
                }
            }
        }
        if let Some(category) = &product.category {
            let filter = ProductFilter {
                category: Some(category.clone()),
                preorder: None,
                include_archived: false,
            };
            let page = PageRequest {
                limit: crate::kernel::page::MAX_LIMIT,
                starting_after: None,
            };
            for p in self.products.list_products(&filter, &page).await?.data {
                if offered(&p, &found) {
                    found.push(p);
                }
            }
        }
        found.truncate(MAX_ALTERNATIVES);
        Ok(found)
    }

    /// Cancels a pre-order (its owner or an operator): its reservation is released (or its
    /// backorder taken off), the customer's units of the product given back, and the month's
    /// count and value too when the month it counted in is still the current one. Canceling again
    /// answers the canceled pre-order and gives back nothing twice; a pre-order being charged or
    /// fulfilled is 409 `preorder_not_cancelable`.
    pub async fn cancel_preorder(
        &self,
        actor: &Actor,
        id: &PreorderId,
    ) -> Result<Preorder, BillingError> {
        let canceled = self.store_cancellation(Some(actor), id, None).await?;
        self.after_cancellation(canceled).await
    }

    /// Cancels a pre-order whose charge failed after its last retry: as a cancellation by an
    /// operator (the month's count and value are given back if it is still that month).
    pub(crate) async fn cancel_unpaid_preorder(
        &self,
        id: &PreorderId,
    ) -> Result<Preorder, BillingError> {
        let canceled = self
            .store_cancellation(None, id, Some("payment_failed"))
            .await?;
        self.after_cancellation(canceled).await
    }

    /// When a subscription has ended: its open pre-orders are canceled if its plan says so
    /// (`open_preorders_at_end: cancel`; stock released, nothing charged), else kept. The
    /// customer hears of it once, in the cancellation email; the cancellations carry the reason
    /// `subscription_ended` and send no email of their own. Safe to call again.
    pub(crate) async fn end_open_preorders(&self, sub: &Subscription) -> Result<(), BillingError> {
        if !sub.status.is_ended() {
            return Ok(());
        }
        let plan = self.plan(&sub.plan_id).await?;
        if plan.open_preorders_at_end != crate::catalogue::OpenPreorders::Cancel {
            return Ok(());
        }
        let page = PageRequest {
            limit: crate::kernel::page::MAX_LIMIT,
            starting_after: None,
        };
        for status in [
            PreorderStatus::Reserved,
            PreorderStatus::Backordered,
            PreorderStatus::RequiresAction,
            PreorderStatus::PaymentFailed,
        ] {
            for open in self
                .preorders
                .list_preorders(&sub.id, Some(status), &page)
                .await?
                .data
            {
                let canceled = self
                    .store_cancellation(None, &open.id, Some(SUBSCRIPTION_ENDED))
                    .await?;
                self.after_cancellation(canceled).await?;
            }
        }
        Ok(())
    }

    async fn after_cancellation(&self, canceled: Preorder) -> Result<Preorder, BillingError> {
        // Units given back go to whoever waits for them.
        let product = self.get_product(&canceled.product_id).await?;
        if product.backordered > 0 && product.stock.available() > 0 {
            // Boxed: freeing stock may charge a backorder, whose last failure cancels it.
            Box::pin(self.stock_freed(&product.id)).await?;
        }
        Ok(canceled)
    }

    /// Stores a pre-order's cancellation, by `actor` (`None`: the billing engine itself, which
    /// may also cancel one whose charge is under way).
    async fn store_cancellation(
        &self,
        actor: Option<&Actor>,
        id: &PreorderId,
        reason: Option<&str>,
    ) -> Result<Preorder, BillingError> {
        retry_on_conflict!("pre-order", tries = STOCK_RETRIES, {
            let mut preorder = match actor {
                Some(actor) => self.get_preorder(actor, id).await?,
                None => self.get_preorder(&Actor::Operator, id).await?,
            };
            let holds_stock = match preorder.status {
                PreorderStatus::Canceled => return Ok(Written::Done(preorder)),
                PreorderStatus::Allocated | PreorderStatus::Fulfilled => {
                    return Err(Refusal::conflict(
                        "preorder_not_cancelable",
                        format!(
                            "a {} pre-order cannot be canceled",
                            preorder.status.as_str()
                        ),
                    )
                    .with("status", preorder.status.as_str())
                    .into())
                }
                PreorderStatus::Backordered => false,
                PreorderStatus::Reserved
                | PreorderStatus::RequiresAction
                | PreorderStatus::PaymentFailed => true,
            };
            let mut product = self.get_product(&preorder.product_id).await?;
            let now = self.now();
            let quantity = u64::from(preorder.quantity);
            let stock_move = if holds_stock {
                let (stock, mut stock_move) = product.stock.apply(
                    StockChange::Release { quantity },
                    Some("pre-order canceled".into()),
                    Some(preorder.id.to_string()),
                    now,
                )?;
                stock_move.sequence = product.version + 1;
                product.stock = stock;
                product.observe_stock(now);
                Some(stock_move)
            } else {
                product.backordered = product.backordered.saturating_sub(quantity);
                None
            };
            product.updated_at = now;
            preorder.status = PreorderStatus::Canceled;
            preorder.updated_at = now;
            preorder.record_because(EventKind::PreorderCanceled, now, reason);
            let mut cancellation = Cancellation {
                was_backordered: !holds_stock,
                give_back_month: preorder.month.start <= now && now < preorder.month.end,
                preorder,
                product,
                stock_move,
            };
            let write = self.preorders.cancel_preorder(&mut cancellation).await;
            cancellation.preorder.events.clear();
            crate::kernel::retry::written(write, cancellation.preorder)
        })
    }

    pub async fn get_preorder(
        &self,
        actor: &Actor,
        id: &PreorderId,
    ) -> Result<Preorder, BillingError> {
        match self.preorders.get_preorder(id).await? {
            Some(p) if actor.can_access(&p.customer_id) => Ok(p),
            _ => Err(BillingError::NotFound("pre-order")),
        }
    }

    pub async fn list_preorders(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        status: Option<PreorderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Preorder>, BillingError> {
        self.get_subscription(actor, subscription_id).await?;
        Ok(self
            .preorders
            .list_preorders(subscription_id, status, page)
            .await?)
    }

    /// What the subscription's current pre-order month has used against its tier's limits.
    pub async fn preorder_usage_report(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
    ) -> Result<PreorderUsageReport, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        let plan = self.plan(&sub.plan_id).await?;
        let now = self.now();
        let month = preorder_month(sub.billing_cycle_anchor, now).ok_or_else(|| {
            BillingError::Conflict("the subscription's pre-order month has not begun".into())
        })?;
        let used = self
            .preorders
            .preorder_usage(&sub.id, month.start, plan.price.currency())
            .await?;
        Ok(PreorderUsageReport {
            subscription_id: sub.id,
            month,
            used,
            plan,
        })
    }
}
