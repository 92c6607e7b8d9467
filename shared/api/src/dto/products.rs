//! Products, their stock levels and their stock moves.

use billing_domain::customers::Email;
use billing_domain::inventory::forecast::Forecast;
use billing_domain::inventory::product::{
    NewPreorderTerms, NewProduct, Product, ProductPatch, ProductStatus as DProductStatus, Supplier,
};
use billing_domain::inventory::products::StockRequest;
use billing_domain::inventory::purchasing::{PurchaseOrder, PurchaseOrderStatus};
use billing_domain::inventory::tracking::TrackedProduct;
use billing_domain::inventory::{stock_move_id, StockChange, StockMove, StockMoveKind as DKind};
use billing_domain::kernel::ids::{IdError, ProductId};
use billing_domain::kernel::money::Money;
use billing_domain::kernel::validation::{self, FieldError, Validator};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{double_option, money_in, Currency};

api_enum!(ProductStatus => DProductStatus { Active = "active", Archived = "archived" });
api_enum!(
    /// What a stock move did.
    StockMoveType => DKind {
    Receipt = "receipt", Adjustment = "adjustment", Reservation = "reservation",
    Release = "release", Shipment = "shipment", Allocation = "allocation",
});

/// Who supplies the product, and when and how much to reorder.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierDto {
    #[schema(example = "orders@supplier.example")]
    pub email: String,
    /// A purchase order is drafted when projected `available` falls under this.
    #[schema(minimum = 0)]
    pub reorder_point: u64,
    #[schema(minimum = 1)]
    pub reorder_quantity: u64,
    #[schema(minimum = 0, maximum = 365)]
    pub lead_time_days: u32,
}

impl SupplierDto {
    fn into_domain(self) -> Result<Supplier, FieldError> {
        Ok(Supplier {
            email: Email::parse("supplier.email", &self.email)?,
            reorder_point: self.reorder_point,
            reorder_quantity: self.reorder_quantity,
            lead_time_days: self.lead_time_days,
        })
    }
}

impl From<&Supplier> for SupplierDto {
    fn from(s: &Supplier) -> Self {
        SupplierDto {
            email: s.email.to_string(),
            reorder_point: s.reorder_point,
            reorder_quantity: s.reorder_quantity,
            lead_time_days: s.lead_time_days,
        }
    }
}

/// Whether and when the product can be pre-ordered. Tiers with early access may pre-order
/// that many days before `opens_at`; every tier until `closes_at`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreorderTermsDto {
    #[serde(default)]
    pub eligible: bool,
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub opens_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub closes_at: Option<DateTime<Utc>>,
    /// When reserved pre-orders are allocated and charged.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub release_at: Option<DateTime<Utc>>,
    /// The most units one customer may have on open pre-orders of this product.
    #[schema(minimum = 1)]
    pub max_per_customer: Option<u32>,
}

impl From<PreorderTermsDto> for NewPreorderTerms {
    fn from(p: PreorderTermsDto) -> Self {
        NewPreorderTerms {
            eligible: p.eligible,
            opens_at: p.opens_at,
            closes_at: p.closes_at,
            release_at: p.release_at,
            max_per_customer: p.max_per_customer,
        }
    }
}

/// Stock levels, in units. `available = on_hand - reserved`, never negative.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockLevels {
    /// In the warehouse.
    pub on_hand: u64,
    /// Held for pre-orders, not yet shipped.
    pub reserved: u64,
    pub available: u64,
    /// On backordered pre-orders, waiting for stock.
    pub backordered: u64,
    /// On purchase orders sent and not yet received.
    pub incoming: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    #[schema(example = "prod_3f9a1c2b4d5e6f708192a3b4")]
    pub id: String,
    #[schema(example = "WIDGET-1")]
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// The unit price, a decimal string.
    #[schema(example = "19.99")]
    pub price: String,
    pub currency: Currency,
    pub low_stock_threshold: u64,
    pub backorders_allowed: bool,
    pub substitutes: Vec<String>,
    pub supplier: Option<SupplierDto>,
    pub preorder: PreorderTermsDto,
    pub stock: StockLevels,
    pub status: ProductStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Product> for ProductResponse {
    fn from(p: &Product) -> Self {
        ProductResponse {
            id: p.id.to_string(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            price: p.price.amount().to_string(),
            currency: p.price.currency().into(),
            low_stock_threshold: p.low_stock_threshold,
            backorders_allowed: p.backorders_allowed,
            substitutes: p.substitutes.iter().map(ToString::to_string).collect(),
            supplier: p.supplier.as_ref().map(SupplierDto::from),
            preorder: PreorderTermsDto {
                eligible: p.preorder.eligible,
                opens_at: p.preorder.window.as_ref().map(|w| w.opens_at),
                closes_at: p.preorder.window.as_ref().map(|w| w.closes_at),
                release_at: p.preorder.release_at,
                max_per_customer: p.preorder.max_per_customer,
            },
            stock: StockLevels {
                on_hand: p.stock.on_hand,
                reserved: p.stock.reserved,
                available: p.stock.available(),
                backordered: p.backordered,
                incoming: p.incoming,
            },
            status: p.status.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn product_ids(field: &str, raw: &[String]) -> Result<Vec<ProductId>, FieldError> {
    raw.iter()
        .map(|s| s.parse())
        .collect::<Result<_, IdError>>()
        .map_err(|e| FieldError::new(field, e.to_string()))
}

/// `POST /products` (admins).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// Unique (without regard to case); fixed once created.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "WIDGET-1")]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200, example = "Widget")]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[schema(max_length = 100, example = "widgets")]
    pub category: Option<String>,
    /// The unit price, a decimal string in `currency`.
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$", example = "19.99")]
    pub price: String,
    pub currency: Currency,
    /// `product.low_stock` when `available` falls to or below this (default 0: sold out).
    #[serde(default)]
    pub low_stock_threshold: u64,
    /// Whether pre-orders beyond what is available wait for stock (default false: refused).
    #[serde(default)]
    pub backorders_allowed: bool,
    /// Products offered, in this order, when this one is out of stock (at most 10).
    #[serde(default)]
    pub substitutes: Vec<String>,
    pub supplier: Option<SupplierDto>,
    pub preorder: Option<PreorderTermsDto>,
}

impl TryFrom<CreateProductRequest> for NewProduct {
    type Error = Vec<FieldError>;
    fn try_from(r: CreateProductRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let price = v.check(money_in("price", &r.price, r.currency.into()));
        let substitutes = v.check(product_ids("substitutes", &r.substitutes));
        let supplier = r.supplier.map(|s| v.check(s.into_domain()));
        v.finish()?;
        Ok(NewProduct {
            sku: r.sku,
            name: r.name,
            description: r.description,
            category: r.category,
            price: price.unwrap_or_else(|| Money::zero(r.currency.into())),
            low_stock_threshold: r.low_stock_threshold,
            backorders_allowed: r.backorders_allowed,
            substitutes: substitutes.unwrap_or_default(),
            supplier: supplier.flatten(),
            preorder: r.preorder.unwrap_or_default().into(),
        })
    }
}

/// `PATCH /products/{id}` (admins): what is given changes; `null` removes an optional field.
/// The SKU and currency are fixed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 100)]
    pub category: Option<Option<String>>,
    /// In the product's currency.
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$")]
    pub price: Option<String>,
    pub low_stock_threshold: Option<u64>,
    pub backorders_allowed: Option<bool>,
    pub substitutes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub supplier: Option<Option<SupplierDto>>,
    /// Replaces the pre-order terms whole.
    pub preorder: Option<PreorderTermsDto>,
}

impl UpdateProductRequest {
    pub fn into_patch(self, current: &Product) -> Result<ProductPatch, Vec<FieldError>> {
        let mut v = Validator::new();
        let price = self
            .price
            .as_deref()
            .and_then(|raw| v.check(money_in("price", raw, current.price.currency())));
        let substitutes = self
            .substitutes
            .as_deref()
            .and_then(|raw| v.check(product_ids("substitutes", raw)));
        let supplier = match self.supplier {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => v.check(s.into_domain()).map(Some),
        };
        v.finish()?;
        Ok(ProductPatch {
            name: self.name,
            description: self.description,
            category: self.category,
            price,
            low_stock_threshold: self.low_stock_threshold,
            backorders_allowed: self.backorders_allowed,
            substitutes,
            supplier,
            preorder: self.preorder.map(Into::into),
        })
    }
}

/// The kinds of change an operator makes to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockChangeType {
    /// `quantity` units received (positive).
    Receipt,
    /// `on_hand` moves by `quantity` (signed, not 0).
    Adjustment,
    /// `on_hand` becomes `quantity` (a count), if it still is `expected_on_hand` when given.
    SetOnHand,
}

/// `POST /products/{id}/stock` (admins and support).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockChangeRequest {
    #[serde(rename = "type")]
    pub kind: StockChangeType,
    #[schema(example = 20)]
    pub quantity: i64,
    #[schema(max_length = 500, example = "delivery from the supplier")]
    pub reason: Option<String>,
    /// What it belongs to: a purchase order, a count sheet, a delivery note.
    #[schema(max_length = 200, example = "PO-1042")]
    pub reference: Option<String>,
    /// With `set_on_hand`: the level the count was taken against; another level is 409
    /// `stale_quantity` and nothing changes.
    #[schema(minimum = 0)]
    pub expected_on_hand: Option<u64>,
}

impl TryFrom<StockChangeRequest> for StockRequest {
    type Error = Vec<FieldError>;
    fn try_from(r: StockChangeRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let reason = v.check(validation::optional_text(
            "reason",
            r.reason.as_deref(),
            500,
        ));
        let reference = v.check(validation::optional_text(
            "reference",
            r.reference.as_deref(),
            200,
        ));
        let unsigned = |v: &mut Validator, what: &str| {
            v.check(u64::try_from(r.quantity).map_err(|_| {
                FieldError::new("quantity", format!("must not be negative for {what}"))
            }))
        };
        let change = match r.kind {
            StockChangeType::Receipt => {
                unsigned(&mut v, "a receipt").map(|quantity| StockChange::Receipt { quantity })
            }
            StockChangeType::Adjustment => Some(StockChange::Adjustment { delta: r.quantity }),
            StockChangeType::SetOnHand => {
                unsigned(&mut v, "set_on_hand").map(|quantity| StockChange::SetOnHand {
                    quantity,
                    expected_on_hand: r.expected_on_hand,
                })
            }
        };
        if r.expected_on_hand.is_some() && r.kind != StockChangeType::SetOnHand {
            v.push(FieldError::new(
                "expected_on_hand",
                "is only taken with set_on_hand",
            ));
        }
        v.finish()?;
        Ok(StockRequest {
            change: change.ok_or_else(|| vec![FieldError::new("quantity", "is invalid")])?,
            reason: reason.flatten(),
            reference: reference.flatten(),
        })
    }
}

/// One line of a product's stock ledger: the signed deltas of all moves add up to the stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockMoveResponse {
    #[schema(example = "smv_3f9a1c2b4d5e6f708192a3b4_7")]
    pub id: String,
    pub product_id: String,
    #[serde(rename = "type")]
    pub kind: StockMoveType,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub on_hand_after: u64,
    pub available_after: u64,
    pub reason: Option<String>,
    /// The pre-order, subscription period or purchase order it belongs to.
    pub reference: Option<String>,
    pub at: DateTime<Utc>,
}

impl StockMoveResponse {
    pub fn new(product: &ProductId, m: &StockMove) -> Self {
        StockMoveResponse {
            id: stock_move_id(product, m.sequence),
            product_id: product.to_string(),
            kind: m.kind.into(),
            on_hand_delta: m.on_hand_delta,
            reserved_delta: m.reserved_delta,
            on_hand_after: m.on_hand_after,
            available_after: m.available_after,
            reason: m.reason.clone(),
            reference: m.reference.clone(),
            at: m.at,
        }
    }
}

/// Where a purchase order stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseOrderStatusDto {
    Draft,
    Sent,
    Received,
    Canceled,
}

impl From<PurchaseOrderStatus> for PurchaseOrderStatusDto {
    fn from(s: PurchaseOrderStatus) -> Self {
        match s {
            PurchaseOrderStatus::Draft => PurchaseOrderStatusDto::Draft,
            PurchaseOrderStatus::Sent => PurchaseOrderStatusDto::Sent,
            PurchaseOrderStatus::Received => PurchaseOrderStatusDto::Received,
            PurchaseOrderStatus::Canceled => PurchaseOrderStatusDto::Canceled,
        }
    }
}

/// Stock asked of a product's supplier: drafted when the product's projected stock falls under
/// its reorder point, sent by an operator, received by a receipt that references it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseOrderResponse {
    #[schema(example = "pur_3f9a1c2b4d5e6f708192a3b4")]
    pub id: String,
    pub product_id: String,
    pub supplier_email: String,
    pub quantity: u64,
    pub status: PurchaseOrderStatusDto,
    /// Once sent: when the stock is expected (after the supplier's lead time).
    pub expected_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&PurchaseOrder> for PurchaseOrderResponse {
    fn from(o: &PurchaseOrder) -> Self {
        PurchaseOrderResponse {
            id: o.id.to_string(),
            product_id: o.product_id.to_string(),
            supplier_email: o.supplier_email.to_string(),
            quantity: o.quantity,
            status: o.status.into(),
            expected_at: o.expected_at,
            sent_at: o.sent_at,
            received_at: o.received_at,
            created_at: o.created_at,
        }
    }
}

/// `POST /customers/{id}/tracked-products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackProductRequest {
    #[schema(example = "prod_3f9a1c2b4d5e6f708192a3b4")]
    pub product_id: String,
}

/// A product a customer tracks: it is emailed when the product is back in stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedProductResponse {
    pub customer_id: String,
    pub product_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<&TrackedProduct> for TrackedProductResponse {
    fn from(t: &TrackedProduct) -> Self {
        TrackedProductResponse {
            customer_id: t.customer_id.to_string(),
            product_id: t.product_id.to_string(),
            created_at: t.created_at,
        }
    }
}

/// A tracked product removed (as Stripe answers a deletion).
#[derive(Debug, Serialize, ToSchema)]
pub struct UntrackedProductResponse {
    pub customer_id: String,
    pub product_id: String,
    pub deleted: bool,
}

/// One week of a product's demand forecast (units).
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastWeekDto {
    pub week_start: DateTime<Utc>,
    pub week_end: DateTime<Utc>,
    /// Owed now (backordered pre-orders and subscription items): the first week.
    pub backorders: u64,
    /// Shipped by the renewals of subscriptions that carry the product.
    pub recurring: u64,
    /// Reserved for pre-orders, shipped at the release (already held).
    pub preorders: u64,
    /// Expected on sent purchase orders.
    pub incoming: u64,
    /// At the end of the week; negative when more is committed than there will be.
    pub projected_available: i64,
}

/// A product's demand forecast, week by week from now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastResponse {
    pub product_id: String,
    pub as_of: DateTime<Utc>,
    pub available: u64,
    pub weeks: Vec<ForecastWeekDto>,
    /// When `available` is projected to reach zero within the horizon (now when it has).
    pub stockout_at: Option<DateTime<Utc>>,
}

impl From<&Forecast> for ForecastResponse {
    fn from(f: &Forecast) -> Self {
        ForecastResponse {
            product_id: f.product_id.to_string(),
            as_of: f.as_of,
            available: f.available,
            weeks: f
                .weeks
                .iter()
                .map(|w| ForecastWeekDto {
                    week_start: w.start,
                    week_end: w.end,
                    backorders: w.backorders,
                    recurring: w.recurring,
                    preorders: w.preorders,
                    incoming: w.incoming,
                    projected_available: w.projected_available,
                })
                .collect(),
            stockout_at: f.stockout_at,
        }
    }
}
