//! What operators and customers do with products and their stock, on the ports.

use crate::inventory::product::{NewProduct, Product, ProductPatch};
use crate::inventory::{ProductFilter, StockChange, StockMove};
use crate::kernel::error::{BillingError, Refusal};
use crate::kernel::ids::ProductId;
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::kernel::retry::{retry_on_conflict, written, Written, STOCK_RETRIES};
use crate::kernel::service::{stale_on_conflict, Billing};

/// A stock change as an operator asks it (`POST /products/{id}/stock`).
#[derive(Debug, Clone)]
pub struct StockRequest {
    pub change: StockChange,
    pub reason: Option<String>,
    /// What the change belongs to: a purchase order, a count sheet, a delivery note.
    pub reference: Option<String>,
}

/// A stock move, stored, with the product as it stands after it.
#[derive(Debug, Clone)]
pub struct MovedStock {
    pub product: Product,
    pub stock_move: StockMove,
}

impl Billing {
    /// Every substitute must be a product that exists.
    async fn check_substitutes(&self, substitutes: &[ProductId]) -> Result<(), BillingError> {
        for id in substitutes {
            if self.products.get_product(id).await?.is_none() {
                return Err(BillingError::field(
                    "substitutes",
                    format!("no product with id {id}"),
                ));
            }
        }
        Ok(())
    }

    pub async fn create_product(&self, new: NewProduct) -> Result<Product, BillingError> {
        let mut product = Product::create(new, self.now())?;
        self.check_substitutes(&product.substitutes).await?;
        product.skip_past_openings(self.now());
        match self.products.insert_product(&product).await {
            Ok(()) => {
                self.schedule_opening(&product.id).await?;
                Ok(product)
            }
            Err(StoreError::AlreadyExists) => Err(Refusal::conflict(
                "sku_taken",
                format!("another product has the SKU {}", product.sku),
            )
            .at("sku")
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_product(&self, id: &ProductId) -> Result<Product, BillingError> {
        self.products
            .get_product(id)
            .await?
            .ok_or(BillingError::NotFound("product"))
    }

    pub async fn list_products(
        &self,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Page<Product>, BillingError> {
        Ok(self.products.list_products(filter, page).await?)
    }

    /// An admin's change, conditional on the version read (`If-Match`) when one is given.
    pub async fn update_product(
        &self,
        id: &ProductId,
        patch: ProductPatch,
        expected_version: Option<u64>,
    ) -> Result<Product, BillingError> {
        if let Some(substitutes) = &patch.substitutes {
            self.check_substitutes(substitutes).await?;
        }
        let mut product = self.get_product(id).await?;
        if expected_version.is_some_and(|v| v != product.version) {
            return Err(BillingError::StaleVersion("product"));
        }
        product.apply(patch, self.now())?;
        product.skip_past_openings(self.now());
        self.products
            .update_product(&mut product)
            .await
            .map_err(stale_on_conflict("product"))?;
        self.schedule_opening(&product.id).await?;
        Ok(product)
    }

    /// No new pre-orders; stock can still be counted and moved, and pre-orders already made
    /// are fulfilled.
    pub async fn archive_product(&self, id: &ProductId) -> Result<Product, BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(id).await?;
            if product.is_archived() {
                return Ok(Written::Done(product));
            }
            product.archive(self.now());
            let write = self.products.update_product(&mut product).await;
            written(write, product)
        })
    }

    /// Applies an operator's stock change to the stock as it stands, storing the product and
    /// its move in one conditional write; a concurrent change is read and decided again. Stock
    /// that came in is then allocated to the product's backorders, in their order.
    pub async fn move_stock(
        &self,
        id: &ProductId,
        request: StockRequest,
    ) -> Result<MovedStock, BillingError> {
        let moved = self.store_stock_change(id, request).await?;
        if moved.stock_move.on_hand_delta > 0 && moved.product.backordered > 0 {
            self.stock_freed(id).await?;
        }
        Ok(moved)
    }

    /// Stock that came in (or was given back) goes to the backorders first: the pre-orders in
    /// their order, then the subscriptions' items, oldest first.
    pub(crate) async fn stock_freed(&self, id: &ProductId) -> Result<(), BillingError> {
        self.allocate_backorders(id).await?;
        self.fill_item_backorders(id).await?;
        Ok(())
    }

    async fn store_stock_change(
        &self,
        id: &ProductId,
        request: StockRequest,
    ) -> Result<MovedStock, BillingError> {
        retry_on_conflict!("product", tries = STOCK_RETRIES, {
            let mut product = self.get_product(id).await?;
            let now = self.now();
            let (stock, mut stock_move) = product.stock.apply(
                request.change,
                request.reason.clone(),
                request.reference.clone(),
                now,
            )?;
            stock_move.sequence = product.version + 1;
            product.stock = stock;
            if matches!(request.change, StockChange::Receipt { .. }) {
                self.receive_purchase_order(&mut product, request.reference.as_deref(), now)
                    .await?;
            }
            product.observe_stock(now);
            product.updated_at = now;
            let write = self.products.move_stock(&mut product, &stock_move).await;
            written(
                write,
                MovedStock {
                    product,
                    stock_move,
                },
            )
        })
    }

    /// A product's stock moves, newest first.
    pub async fn list_stock_moves(
        &self,
        id: &ProductId,
        page: &PageRequest,
    ) -> Result<Page<StockMove>, BillingError> {
        self.get_product(id).await?;
        Ok(self.products.list_stock_moves(id, page).await?)
    }
}
