//! The inventory's port: where products and their stock moves are stored.

use async_trait::async_trait;

use crate::inventory::product::Product;
use crate::inventory::purchasing::{PurchaseOrder, PurchaseOrderStatus};
use crate::inventory::recurring::{ItemBackorder, ItemBackorderFill, ItemDelivery};
use crate::inventory::tracking::{TrackedProduct, Tracking};
use crate::inventory::StockMove;
use crate::kernel::ids::{CustomerId, ProductId, PurchaseOrderId, SubscriptionId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;

/// Which products a list answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub category: Option<String>,
    /// `Some(true)`: only pre-order eligible products; `Some(false)`: only the others.
    pub preorder: Option<bool>,
    pub include_archived: bool,
}

#[async_trait]
pub trait ProductRepo: Send + Sync {
    /// Fails with [`StoreError::AlreadyExists`] when the SKU is taken.
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError>;
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;
    /// The products `filter` selects, newest first, a page at a time.
    async fn list_products(
        &self,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError>;
    /// Conditional on `product.version`; bumps it.
    async fn update_product(&self, product: &mut Product) -> Result<(), StoreError>;
    /// Stores `product` with its changed stock and the move that explains the change, in one
    /// write conditional on `product.version` (bumped; the move's sequence number is the new
    /// version).
    async fn move_stock(
        &self,
        product: &mut Product,
        stock_move: &StockMove,
    ) -> Result<(), StoreError>;
    /// A product's moves, newest first, a page at a time (`starting_after` a move's id).
    async fn list_stock_moves(
        &self,
        id: &ProductId,
        page: &PageRequest,
    ) -> Result<Page<StockMove>, StoreError>;
    /// Stores a period's item delivery. `Ok(false)`: that period's item was delivered before
    /// (nothing written); a stale product is [`StoreError::VersionConflict`].
    async fn deliver_item(&self, delivery: &mut ItemDelivery) -> Result<bool, StoreError>;
    /// The product's item backorders, oldest first, at most `limit`.
    async fn item_backorders(
        &self,
        id: &ProductId,
        limit: usize,
    ) -> Result<Vec<ItemBackorder>, StoreError>;
    /// Stores a filled item backorder. `Ok(false)`: it was filled before (nothing written); a
    /// stale product is [`StoreError::VersionConflict`].
    async fn fill_item_backorder(&self, fill: &mut ItemBackorderFill) -> Result<bool, StoreError>;
    /// Stores the product and its purchase order changes (and its events) in one write
    /// conditional on the product's version and each changed purchase order's.
    async fn store_product_changes(&self, product: &mut Product) -> Result<(), StoreError>;
    async fn get_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<Option<PurchaseOrder>, StoreError>;
    /// Newest first, of one product or all, with `status` if given.
    async fn list_purchase_orders(
        &self,
        product: Option<&ProductId>,
        status: Option<PurchaseOrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<PurchaseOrder>, StoreError>;
    /// Stores a tracked product and counts it, in one write; counted only while under `limit`
    /// (`None`: unlimited).
    async fn track_product(
        &self,
        tracked: &TrackedProduct,
        limit: Option<u32>,
    ) -> Result<Tracking, StoreError>;
    /// Removes a tracked product and uncounts it; `false` when it was not tracked.
    async fn untrack_product(
        &self,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<bool, StoreError>;
    /// How many products the customer tracks.
    async fn tracked_count(&self, customer: &CustomerId) -> Result<u32, StoreError>;
    /// The customer's tracked products, newest first.
    async fn tracked_products(
        &self,
        customer: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<TrackedProduct>, StoreError>;
    /// The customers who track a product.
    async fn trackers(&self, product: &ProductId) -> Result<Vec<CustomerId>, StoreError>;
    /// Records which products a subscription carries as items: links to the products of
    /// `after` that `before` did not have, and unlinks those it no longer has.
    async fn link_box_items(
        &self,
        subscription: &SubscriptionId,
        before: &[ProductId],
        after: &[ProductId],
    ) -> Result<(), StoreError>;
    /// The subscriptions linked to a product as carrying it (some may have ended or changed
    /// their items since: the caller reads each).
    async fn box_subscriptions(
        &self,
        product: &ProductId,
    ) -> Result<Vec<SubscriptionId>, StoreError>;
    /// Keeps the product's next pre-order opening in the due index (`None`: takes it out).
    async fn schedule_opening(
        &self,
        product: &ProductId,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StoreError>;
}
