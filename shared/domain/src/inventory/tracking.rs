//! Tracked products: a customer follows products ("track up to 100 / 500 products") and is
//! emailed when one is back in stock. How many a customer may track is its tier's
//! `tracked_products_limit`: the most generous of the plans of its live (active, trialing,
//! past due or paused) subscriptions, or the Free tier's without one. The count is a counter
//! on the customer, raised in the transaction that stores the tracked product and only while
//! under the limit, so racing requests cannot pass it.

use chrono::{DateTime, Utc};

use crate::catalogue::{Limit, Tier};
use crate::kernel::access::Actor;
use crate::kernel::error::{BillingError, Refusal};
use crate::kernel::ids::{CustomerId, ProductId};
use crate::kernel::money::Currency;
use crate::kernel::page::{Page, PageRequest, MAX_LIMIT};
use crate::kernel::service::Billing;
use crate::subscriptions::SubscriptionStatus;

/// A product a customer follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedProduct {
    pub customer_id: CustomerId,
    pub product_id: ProductId,
    pub created_at: DateTime<Utc>,
}

/// What storing a tracked product came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// Stored, and counted.
    Tracked,
    /// The customer tracks it already: nothing changed.
    AlreadyTracked,
    /// The customer's count is at its limit: nothing was written.
    LimitReached,
}

impl Billing {
    /// `POST /customers/{id}/tracked-products`: the customer follows the product. Tracking it
    /// again answers the same; past the tier's limit is 409 `tracked_products_limit_reached`
    /// with `limit` and `used`.
    pub async fn track_product(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<TrackedProduct, BillingError> {
        let customer = self.get_customer(actor, customer).await?;
        match self.products.get_product(product).await? {
            Some(p) if !p.is_archived() => {}
            _ => {
                return Err(BillingError::field(
                    "product_id",
                    "no product with this id on sale",
                ))
            }
        }
        let limit = self.tracked_products_limit(&customer.id).await?;
        let tracked = TrackedProduct {
            customer_id: customer.id.clone(),
            product_id: product.clone(),
            created_at: self.now(),
        };
        match self
            .products
            .track_product(&tracked, limit.as_option().copied())
            .await?
        {
            Tracking::Tracked | Tracking::AlreadyTracked => Ok(tracked),
            Tracking::LimitReached => {
                let used = self.products.tracked_count(&customer.id).await?;
                let limit = limit.as_option().copied().unwrap_or_default();
                Err(Refusal::conflict(
                    "tracked_products_limit_reached",
                    format!("the tier tracks at most {limit} products"),
                )
                .at("product_id")
                .with("limit", limit)
                .with("used", used)
                .into())
            }
        }
    }

    /// `DELETE /customers/{id}/tracked-products/{product_id}`: stops following; not tracked is
    /// 404.
    pub async fn untrack_product(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<(), BillingError> {
        let customer = self.get_customer(actor, customer).await?;
        if self.products.untrack_product(&customer.id, product).await? {
            Ok(())
        } else {
            Err(BillingError::NotFound("tracked product"))
        }
    }

    /// `GET /customers/{id}/tracked-products`: newest first.
    pub async fn list_tracked_products(
        &self,
        actor: &Actor,
        customer: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<TrackedProduct>, BillingError> {
        let customer = self.get_customer(actor, customer).await?;
        Ok(self.products.tracked_products(&customer.id, page).await?)
    }

    /// The customer's tracking limit: the most generous of its live subscriptions' plans, or
    /// the Free tier's.
    pub async fn tracked_products_limit(
        &self,
        customer: &CustomerId,
    ) -> Result<Limit<u32>, BillingError> {
        let page = PageRequest {
            limit: MAX_LIMIT,
            starting_after: None,
        };
        let mut best = Tier::Free
            .standard_limits_in(Currency::Usd)
            .tracked_products_limit;
        for sub in self
            .subscriptions
            .list_subscriptions(customer, &page)
            .await?
            .data
        {
            if !matches!(
                sub.status,
                SubscriptionStatus::Active
                    | SubscriptionStatus::Trialing
                    | SubscriptionStatus::PastDue
                    | SubscriptionStatus::Paused
            ) {
                continue;
            }
            let plan = self.plan(&sub.plan_id).await?;
            best = match (best, plan.limits.tracked_products_limit) {
                (Limit::Unlimited, _) | (_, Limit::Unlimited) => Limit::Unlimited,
                (Limit::Limited(a), Limit::Limited(b)) => Limit::Limited(a.max(b)),
            };
        }
        Ok(best)
    }
}
