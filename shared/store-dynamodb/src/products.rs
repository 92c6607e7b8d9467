//! Products, their stock and the ledger of stock moves.
//!
//! - `PRODUCT#<id>` / `PRODUCT`: the product with its stock levels (`on_hand`, `reserved`,
//!   `available`, `backordered`, `incoming`) and its `version` (list: gsi1 `PRODUCTS`).
//! - `PRODUCT#<id>` / `MOVE#<sequence>`: one stock move; the sequence is the product's version
//!   after the move, zero-padded so the moves sort in order under the product.
//! - `SKU#<SKU>` / `SKU`: the guard that makes a SKU unique (upper-cased).
//!
//! A stock change is one transaction: the product put on condition of the version read, and the
//! move put on condition that its sequence is new. Two changes made from the same read cannot
//! both be stored, so the levels never go negative and the moves add up to them.

use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use billing_domain::customers::Email;
use billing_domain::inventory::product::{
    sku_key, PreorderTerms, Product, ProductStatus, Supplier,
};
use billing_domain::inventory::purchasing::{PurchaseOrder, PurchaseOrderStatus};
use billing_domain::inventory::recurring::{ItemBackorder, ItemBackorderFill, ItemDelivery};
use billing_domain::inventory::tracking::{TrackedProduct, Tracking};
use billing_domain::inventory::{
    parse_stock_move_id, LowStockAlarm, ProductFilter, ProductRepo, Stock, StockMove, StockMoveKind,
};
use billing_domain::kernel::ids::{CustomerId, ProductId, PurchaseOrderId, SubscriptionId};
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use billing_domain::preorders::PreorderWindow;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, money, parse_opt_ts, parse_ts, ts, EntityKeys};
use crate::{canceled, decode, encode, encode_entity, failed, s, unavailable, DynamoStore};

const PRODUCTS_GSI1PK: &str = "PRODUCTS";
const PRODUCT_SK: &str = "PRODUCT";

pub(crate) fn product_pk(id: &ProductId) -> String {
    format!("PRODUCT#{id}")
}
fn move_sk(sequence: u64) -> String {
    format!("MOVE#{sequence:020}")
}
fn sku_guard_pk(sku: &str) -> String {
    format!("SKU#{}", sku_key(sku))
}

#[derive(Debug, Serialize, Deserialize)]
struct SupplierItem {
    email: String,
    reorder_point: u64,
    reorder_quantity: u64,
    lead_time_days: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct PreorderItem {
    eligible: bool,
    opens_at: Option<String>,
    closes_at: Option<String>,
    release_at: Option<String>,
    max_per_customer: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProductItem {
    #[serde(flatten)]
    keys: EntityKeys,
    id: String,
    sku: String,
    name: String,
    description: Option<String>,
    category: Option<String>,
    price: String,
    currency: Currency,
    low_stock_threshold: u64,
    backorders_allowed: bool,
    substitutes: Vec<String>,
    supplier: Option<SupplierItem>,
    preorder: PreorderItem,
    on_hand: u64,
    reserved: u64,
    /// `on_hand - reserved`, kept so a condition can compare it.
    available: u64,
    backordered: u64,
    incoming: u64,
    low_stock_armed: bool,
    status: String,
    #[serde(default)]
    released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_purchase_order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incoming_expected_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    openings_announced_through: Option<String>,
    /// In the due index (partition `RELEASES`) while its release is to be run.
    #[serde(skip_serializing_if = "Option::is_none")]
    due_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<String>,
}

/// The due index's partition of product releases (few: one per pre-orderable product).
pub(crate) const RELEASES_DUE_PK: &str = "RELEASES";
/// The due index's partition of pre-order openings (`PRODUCT#<id>` / `OPENING`).
pub(crate) const OPENINGS_DUE_PK: &str = "OPENINGS";

/// A product's next pre-order opening, in the due index.
#[derive(Debug, Serialize, Deserialize)]
struct OpeningItem {
    pk: String,
    sk: String,
    entity: String,
    id: String,
    due_pk: String,
    due_at: String,
}

impl From<&Product> for ProductItem {
    fn from(p: &Product) -> Self {
        ProductItem {
            keys: EntityKeys {
                pk: product_pk(&p.id),
                sk: PRODUCT_SK.into(),
                gsi1pk: PRODUCTS_GSI1PK.into(),
                gsi1sk: format!("{}#{}", ts(p.created_at), p.id),
                entity: "product".into(),
                created_at: ts(p.created_at),
                updated_at: ts(p.updated_at),
                version: p.version,
            },
            id: p.id.to_string(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            price: p.price.amount().to_string(),
            currency: p.price.currency(),
            low_stock_threshold: p.low_stock_threshold,
            backorders_allowed: p.backorders_allowed,
            substitutes: p.substitutes.iter().map(ToString::to_string).collect(),
            supplier: p.supplier.as_ref().map(|s| SupplierItem {
                email: s.email.to_string(),
                reorder_point: s.reorder_point,
                reorder_quantity: s.reorder_quantity,
                lead_time_days: s.lead_time_days,
            }),
            preorder: PreorderItem {
                eligible: p.preorder.eligible,
                opens_at: p.preorder.window.as_ref().map(|w| ts(w.opens_at)),
                closes_at: p.preorder.window.as_ref().map(|w| ts(w.closes_at)),
                release_at: p.preorder.release_at.map(ts),
                max_per_customer: p.preorder.max_per_customer,
            },
            on_hand: p.stock.on_hand,
            reserved: p.stock.reserved,
            available: p.stock.available(),
            backordered: p.backordered,
            incoming: p.incoming,
            low_stock_armed: p.low_stock_alarm.armed,
            status: p.status.as_str().into(),
            released: p.released,
            open_purchase_order: p.open_purchase_order.as_ref().map(ToString::to_string),
            incoming_expected_at: p.incoming_expected_at.map(ts),
            openings_announced_through: p.openings_announced_through.map(ts),
            due_pk: p.release_due().map(|_| RELEASES_DUE_PK.into()),
            due_at: p.release_due().map(|at| format!("{}#{}", ts(at), p.id)),
        }
    }
}

impl TryFrom<ProductItem> for Product {
    type Error = StoreError;
    fn try_from(i: ProductItem) -> Result<Self, Self::Error> {
        let window = match (&i.preorder.opens_at, &i.preorder.closes_at) {
            (Some(opens_at), Some(closes_at)) => Some(PreorderWindow {
                opens_at: parse_ts("preorder.opens_at", opens_at)?,
                closes_at: parse_ts("preorder.closes_at", closes_at)?,
            }),
            (None, None) => None,
            _ => return Err(StoreError::Corrupt("preorder window".into())),
        };
        if i.reserved > i.on_hand {
            return Err(StoreError::Corrupt("reserved exceeds on_hand".into()));
        }
        Ok(Product {
            id: ProductId::from_str(&i.id).map_err(corrupt("id"))?,
            sku: i.sku,
            name: i.name,
            description: i.description,
            category: i.category,
            price: money("price", &i.price, i.currency)?,
            low_stock_threshold: i.low_stock_threshold,
            backorders_allowed: i.backorders_allowed,
            substitutes: i
                .substitutes
                .iter()
                .map(|s| ProductId::from_str(s))
                .collect::<Result<_, _>>()
                .map_err(corrupt("substitutes"))?,
            supplier: i
                .supplier
                .map(|s| {
                    Ok::<_, StoreError>(Supplier {
                        email: Email::parse("supplier.email", &s.email)
                            .map_err(corrupt("supplier.email"))?,
                        reorder_point: s.reorder_point,
                        reorder_quantity: s.reorder_quantity,
                        lead_time_days: s.lead_time_days,
                    })
                })
                .transpose()?,
            preorder: PreorderTerms {
                eligible: i.preorder.eligible,
                window,
                release_at: parse_opt_ts("preorder.release_at", &i.preorder.release_at)?,
                max_per_customer: i.preorder.max_per_customer,
            },
            stock: Stock {
                on_hand: i.on_hand,
                reserved: i.reserved,
            },
            backordered: i.backordered,
            incoming: i.incoming,
            incoming_expected_at: parse_opt_ts("incoming_expected_at", &i.incoming_expected_at)?,
            openings_announced_through: parse_opt_ts(
                "openings_announced_through",
                &i.openings_announced_through,
            )?,
            low_stock_alarm: LowStockAlarm {
                armed: i.low_stock_armed,
            },
            status: match i.status.as_str() {
                "active" => ProductStatus::Active,
                "archived" => ProductStatus::Archived,
                other => return Err(StoreError::Corrupt(format!("product status {other}"))),
            },
            released: i.released,
            events: Default::default(),
            open_purchase_order: i
                .open_purchase_order
                .as_deref()
                .map(PurchaseOrderId::from_str)
                .transpose()
                .map_err(corrupt("open_purchase_order"))?,
            purchase_order_changes: Vec::new(),
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SkuGuardItem {
    pk: String,
    sk: String,
    entity: String,
    product_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StockMoveItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(rename = "type")]
    kind: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    on_hand_after: u64,
    available_after: u64,
    reason: Option<String>,
    reference: Option<String>,
    at: String,
    sequence: u64,
}

impl StockMoveItem {
    fn new(product: &ProductId, m: &StockMove) -> Self {
        StockMoveItem {
            pk: product_pk(product),
            sk: move_sk(m.sequence),
            entity: "stock_move".into(),
            kind: m.kind.as_str().into(),
            on_hand_delta: m.on_hand_delta,
            reserved_delta: m.reserved_delta,
            on_hand_after: m.on_hand_after,
            available_after: m.available_after,
            reason: m.reason.clone(),
            reference: m.reference.clone(),
            at: ts(m.at),
            sequence: m.sequence,
        }
    }
}

impl TryFrom<StockMoveItem> for StockMove {
    type Error = StoreError;
    fn try_from(i: StockMoveItem) -> Result<Self, Self::Error> {
        let kind = match i.kind.as_str() {
            "receipt" => StockMoveKind::Receipt,
            "adjustment" => StockMoveKind::Adjustment,
            "reservation" => StockMoveKind::Reservation,
            "release" => StockMoveKind::Release,
            "shipment" => StockMoveKind::Shipment,
            "allocation" => StockMoveKind::Allocation,
            other => return Err(StoreError::Corrupt(format!("stock move type {other}"))),
        };
        Ok(StockMove {
            kind,
            on_hand_delta: i.on_hand_delta,
            reserved_delta: i.reserved_delta,
            on_hand_after: i.on_hand_after,
            available_after: i.available_after,
            reason: i.reason,
            reference: i.reference,
            at: parse_ts("at", &i.at)?,
            sequence: i.sequence,
        })
    }
}

impl DynamoStore {
    /// The product's item, put on condition of the version it was read at.
    pub(crate) fn product_put(&self, product: &Product) -> Result<TransactWriteItem, StoreError> {
        let item = encode_entity::<_, Product>(&ProductItem::from(product))?;
        Ok(TransactWriteItem::builder()
            .put(self.versioned_put(item, product.version)?)
            .build())
    }

    /// The product's recorded events, stamped for the write that takes it to its next version,
    /// and its purchase order changes.
    pub(crate) fn product_events(
        &self,
        product: &Product,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = self.event_writes(
            &product
                .events
                .stamped_for_product(product.id.as_str(), product.version + 1),
        )?;
        writes.extend(self.purchase_order_writes(product)?);
        Ok(writes)
    }

    /// A stock move of `product`, put on condition that its sequence is new.
    pub(crate) fn move_put(
        &self,
        product: &ProductId,
        stock_move: &StockMove,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put_new(encode(&StockMoveItem::new(product, stock_move))?)
    }

    pub(crate) fn put_new(&self, item: crate::Item) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(unavailable)?,
            )
            .build())
    }
}

impl DynamoStore {
    /// Products whose release is due at or before `now`, earliest first; at most `limit`.
    pub async fn due_releases(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<ProductId>, StoreError> {
        self.due_in(RELEASES_DUE_PK, now, limit).await
    }

    /// Products whose next pre-order opening is due at or before `now`, earliest first.
    pub async fn due_openings(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<ProductId>, StoreError> {
        self.due_in(OPENINGS_DUE_PK, now, limit).await
    }

    /// Pre-orders whose declined charge is due to be tried again at or before `now`, earliest
    /// first; at most `limit`.
    pub async fn due_preorder_retries(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<billing_domain::kernel::ids::PreorderId>, StoreError> {
        self.due_in(crate::preorders::RETRIES_DUE_PK, now, limit)
            .await
    }

    /// The ids due at or before `now` in one partition of the due index, earliest first.
    async fn due_in<Id>(
        &self,
        partition: &str,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Id>, StoreError>
    where
        Id: FromStr,
        Id::Err: std::fmt::Display,
    {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(crate::GSI_DUE)
            .key_condition_expression("due_pk = :pk AND due_at <= :now")
            .expression_attribute_values(":pk", s(partition))
            // '~' sorts after every id character, so what is due exactly at `now` is included.
            .expression_attribute_values(":now", s(format!("{}~", ts(now))))
            .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(unavailable)?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            match crate::due_entry::<Id>(&item) {
                Ok((id, _)) => due.push(id),
                Err(e) => self.set_aside(&item, crate::DUE_INDEX_KEYS, &e).await?,
            }
        }
        Ok(due)
    }
}

#[async_trait]
impl ProductRepo for DynamoStore {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        let guard = encode(&SkuGuardItem {
            pk: sku_guard_pk(&product.sku),
            sk: "SKU".into(),
            entity: "product_sku".into(),
            product_id: product.id.to_string(),
        })?;
        let item = encode_entity::<_, Product>(&ProductItem::from(product))?;
        match self
            .transact(vec![self.put_new(item)?, self.put_new(guard)?])
            .await?
        {
            Ok(()) => Ok(()),
            Err(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::AlreadyExists)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.load::<ProductItem, _>(product_pk(id), PRODUCT_SK)
            .await
    }

    async fn list_products(
        &self,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        // The catalogue is read whole and filtered here; pages follow the list convention.
        let selected = self
            .newest_first::<ProductItem, Product>(PRODUCTS_GSI1PK)
            .await?
            .into_iter()
            .filter(|p| filter.include_archived || !p.is_archived())
            .filter(|p| {
                filter
                    .category
                    .as_ref()
                    .is_none_or(|c| p.category.as_ref() == Some(c))
            })
            .filter(|p| filter.preorder.is_none_or(|e| p.preorder.eligible == e));
        crate::page_of(selected, page, |p| p.id.as_str())
    }

    async fn update_product(&self, product: &mut Product) -> Result<(), StoreError> {
        self.replace::<_, Product>(&ProductItem::from(&*product), &mut product.version)
            .await
    }

    async fn store_product_changes(&self, product: &mut Product) -> Result<(), StoreError> {
        self.store_product_changes(product).await
    }

    async fn get_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<Option<PurchaseOrder>, StoreError> {
        self.read_purchase_order(id).await
    }

    async fn list_purchase_orders(
        &self,
        product: Option<&ProductId>,
        status: Option<PurchaseOrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<PurchaseOrder>, StoreError> {
        self.read_purchase_orders(product, status, page).await
    }

    async fn track_product(
        &self,
        tracked: &TrackedProduct,
        limit: Option<u32>,
    ) -> Result<Tracking, StoreError> {
        self.store_tracked(tracked, limit).await
    }

    async fn untrack_product(
        &self,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<bool, StoreError> {
        self.remove_tracked(customer, product).await
    }

    async fn tracked_count(&self, customer: &CustomerId) -> Result<u32, StoreError> {
        self.read_tracked_count(customer).await
    }

    async fn tracked_products(
        &self,
        customer: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<TrackedProduct>, StoreError> {
        self.read_tracked(customer, page).await
    }

    async fn trackers(&self, product: &ProductId) -> Result<Vec<CustomerId>, StoreError> {
        self.read_trackers(product).await
    }

    async fn link_box_items(
        &self,
        subscription: &SubscriptionId,
        before: &[ProductId],
        after: &[ProductId],
    ) -> Result<(), StoreError> {
        self.store_box_links(subscription, before, after).await
    }

    async fn box_subscriptions(
        &self,
        product: &ProductId,
    ) -> Result<Vec<SubscriptionId>, StoreError> {
        self.read_box_links(product).await
    }

    async fn schedule_opening(
        &self,
        product: &ProductId,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StoreError> {
        match at {
            Some(at) => {
                let item = encode(&OpeningItem {
                    pk: product_pk(product),
                    sk: "OPENING".into(),
                    entity: "product_opening".into(),
                    id: product.to_string(),
                    due_pk: OPENINGS_DUE_PK.into(),
                    due_at: format!("{}#{}", ts(at), product),
                })?;
                self.client()
                    .put_item()
                    .table_name(self.table())
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
            None => {
                self.client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(crate::key(product_pk(product), "OPENING")))
                    .send()
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(())
    }

    async fn deliver_item(&self, delivery: &mut ItemDelivery) -> Result<bool, StoreError> {
        self.store_item_delivery(delivery).await
    }

    async fn item_backorders(
        &self,
        id: &ProductId,
        limit: usize,
    ) -> Result<Vec<ItemBackorder>, StoreError> {
        self.read_item_backorders(id, limit).await
    }

    async fn fill_item_backorder(&self, fill: &mut ItemBackorderFill) -> Result<bool, StoreError> {
        self.store_item_fill(fill).await
    }

    async fn move_stock(
        &self,
        product: &mut Product,
        stock_move: &StockMove,
    ) -> Result<(), StoreError> {
        if stock_move.sequence != product.version + 1 {
            return Err(StoreError::Corrupt(format!(
                "stock move {} does not follow version {}",
                stock_move.sequence, product.version
            )));
        }
        let mut writes = vec![
            self.product_put(product)?,
            self.move_put(&product.id, stock_move)?,
        ];
        writes.extend(self.product_events(product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                product.version += 1;
                product.events.clear();
                Ok(())
            }
            Err(codes) if failed(&codes, 0) || failed(&codes, 1) => {
                Err(StoreError::VersionConflict)
            }
            Err(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn list_stock_moves(
        &self,
        id: &ProductId,
        page: &PageRequest,
    ) -> Result<Page<StockMove>, StoreError> {
        let start = match &page.starting_after {
            None => None,
            Some(after) => match parse_stock_move_id(after) {
                Some((product, sequence)) if product == *id => Some(
                    [
                        ("pk".to_owned(), s(product_pk(id))),
                        ("sk".to_owned(), s(move_sk(sequence))),
                    ]
                    .into_iter()
                    .collect(),
                ),
                _ => return Err(StoreError::UnknownCursor),
            },
        };
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :moves)")
            .expression_attribute_values(":pk", s(product_pk(id)))
            .expression_attribute_values(":moves", s("MOVE#"))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let mut rows = out.items.unwrap_or_default();
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let data = rows
            .into_iter()
            .map(|row| decode::<StockMoveItem>(row).and_then(StockMove::try_from))
            .collect::<Result<_, _>>()?;
        Ok(Page { data, has_more })
    }
}
