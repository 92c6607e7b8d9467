//! The pre-orders' port: where pre-orders and their counters are stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::inventory::product::Product;
use crate::inventory::StockMove;
use crate::kernel::ids::{CustomerId, PreorderId, ProductId, SubscriptionId};
use crate::kernel::money::{Currency, Money};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::preorders::preorder::{Preorder, PreorderStatus};
use crate::preorders::PreorderUsage;

/// A pre-order to store with everything it changes, in one write: the product as changed
/// (stock reserved, or units backordered; conditional on the version read), the move of a
/// reservation, the month's counters (counted only while under the tier's limits) and the
/// customer's units of the product (counted only while under `max_per_customer`).
#[derive(Debug, Clone)]
pub struct Placement {
    pub preorder: Preorder,
    pub product: Product,
    pub stock_move: Option<StockMove>,
    pub count_limit: Option<u32>,
    pub value_limit: Option<Money>,
    pub max_per_customer: Option<u32>,
}

/// A pre-order canceled, with everything it gives back, to store in one write: the pre-order
/// (conditional on its version, so it is canceled once), the product (its reservation released
/// or its backorder taken off; conditional on its version), the release's move, the customer's
/// units, and the month's count and value when the month it counted in is still the current one.
#[derive(Debug, Clone)]
pub struct Cancellation {
    pub preorder: Preorder,
    pub product: Product,
    pub stock_move: Option<StockMove>,
    pub give_back_month: bool,
    /// It was waiting for stock: it leaves the product's backorders.
    pub was_backordered: bool,
}

/// A backordered pre-order given stock, in one write: the pre-order (conditional on its version,
/// now `reserved`), the product (units reserved and taken off `backordered`; conditional on its
/// version), the `allocation` move, and its place among the backorders removed.
#[derive(Debug, Clone)]
pub struct BackorderAllocation {
    pub preorder: Preorder,
    pub product: Product,
    pub stock_move: StockMove,
}

/// The queues a product keeps of its open pre-orders, each in allocation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductQueue {
    /// Waiting for stock.
    Backordered,
    /// Holding stock, to be charged at the release.
    Reserved,
}

/// A pre-order after its charge: with the product shipped from (and the shipment move) when it
/// was paid.
#[derive(Debug, Clone)]
pub struct PreorderCharge {
    pub preorder: Preorder,
    pub shipped: Option<(Product, StockMove)>,
}

/// Which counted limit refused a placement; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementRefusal {
    /// The month's count or value.
    Month,
    /// The customer's units of the product.
    PerCustomer,
}

#[async_trait]
pub trait PreorderRepo: Send + Sync {
    /// What a subscription has pre-ordered in the month starting at `month_start`.
    async fn preorder_usage(
        &self,
        subscription: &SubscriptionId,
        month_start: DateTime<Utc>,
        currency: Currency,
    ) -> Result<PreorderUsage, StoreError>;
    /// Units of `product` on the customer's pre-orders that are not canceled.
    async fn customer_units(
        &self,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<u64, StoreError>;
    /// Stores the placement. A stale product is [`StoreError::VersionConflict`]; a counted
    /// limit that refused it is `Ok(Err(..))`.
    async fn place_preorder(
        &self,
        placement: &mut Placement,
    ) -> Result<Result<(), PlacementRefusal>, StoreError>;
    /// Stores the cancellation; a stale pre-order or product is [`StoreError::VersionConflict`].
    async fn cancel_preorder(&self, cancellation: &mut Cancellation) -> Result<(), StoreError>;
    /// The product's pre-orders in `queue`, in allocation order (priority, tier, age), at most
    /// `limit`.
    async fn queued(
        &self,
        product: &ProductId,
        queue: ProductQueue,
        limit: usize,
    ) -> Result<Vec<PreorderId>, StoreError>;
    /// Stores a charged pre-order: `fulfilled` with its product and shipment move (and out of
    /// the product's reserved queue), or its new status alone; conditional on the versions read.
    async fn record_charge(&self, charge: &mut PreorderCharge) -> Result<(), StoreError>;
    /// Stores the allocation; a stale pre-order or product is [`StoreError::VersionConflict`].
    async fn allocate_backorder(
        &self,
        allocation: &mut BackorderAllocation,
    ) -> Result<(), StoreError>;
    async fn get_preorder(&self, id: &PreorderId) -> Result<Option<Preorder>, StoreError>;
    /// A subscription's pre-orders, newest first, with `status` if given.
    async fn list_preorders(
        &self,
        subscription: &SubscriptionId,
        status: Option<PreorderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Preorder>, StoreError>;
}
