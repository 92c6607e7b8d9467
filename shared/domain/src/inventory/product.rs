//! A product: what is sold, stocked and pre-ordered. Operators (admins) create and change it;
//! everyone signed in reads it.
//!
//! Rules, written once here (and in `docs/inventory.md`):
//! - The `sku` is unique across products (compared without regard to case) and fixed once the
//!   product exists; the id (`prod_…`) is generated.
//! - The price is in one currency, at the currency's minor unit; changing it changes future
//!   pre-orders only (a pre-order keeps the price it was made at).
//! - A product may name at most [`MAX_SUBSTITUTES`] substitutes, other existing products,
//!   offered in that order when it is out of stock.
//! - A pre-orderable product has its whole window: `opens_at` < `closes_at` ≤ `release_at`.
//!   Tiers with early access may pre-order that many days before `opens_at`.
//! - Archived products cannot be pre-ordered; their stock can still be counted and moved.

use chrono::{DateTime, Utc};

use crate::customers::Email;
use crate::events::{EventFacts, EventKind, Outbox};
use crate::inventory::{LowStockAlarm, Stock, MAX_UNITS};
use crate::kernel::error::BillingError;
use crate::kernel::ids::ProductId;
use crate::kernel::money::Money;
use crate::kernel::validation::{self, FieldError, Validator};
use crate::preorders::PreorderWindow;

/// The most substitutes a product may name.
pub const MAX_SUBSTITUTES: usize = 10;
/// The longest lead time a supplier may be given (a year).
pub const MAX_LEAD_TIME_DAYS: u32 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductStatus {
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }
}

/// Who supplies a product, and when and how much to reorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supplier {
    /// Told when stock runs low and sent purchase orders.
    pub email: Email,
    /// When projected `available` falls under this, a purchase order is drafted.
    pub reorder_point: u64,
    /// How many units a purchase order asks for.
    pub reorder_quantity: u64,
    /// Days from sending a purchase order to receiving it (the expected date of a backorder).
    pub lead_time_days: u32,
}

/// Whether and when a product can be pre-ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreorderTerms {
    pub eligible: bool,
    /// The window, for tiers without early access.
    pub window: Option<PreorderWindow>,
    /// When reserved pre-orders are allocated and charged.
    pub release_at: Option<DateTime<Utc>>,
    /// The most units of this product one customer may have on open pre-orders.
    pub max_per_customer: Option<u32>,
}

/// The pre-order terms as given, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct NewPreorderTerms {
    pub eligible: bool,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub release_at: Option<DateTime<Utc>>,
    pub max_per_customer: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// The unit price.
    pub price: Money,
    /// `product.low_stock` goes off when `available` falls to or below this.
    pub low_stock_threshold: u64,
    /// Whether a pre-order larger than what is available waits for stock (`backordered`)
    /// instead of being refused.
    pub backorders_allowed: bool,
    pub substitutes: Vec<ProductId>,
    pub supplier: Option<Supplier>,
    pub preorder: PreorderTerms,
    pub stock: Stock,
    /// Units on backordered pre-orders, waiting for stock.
    pub backordered: u64,
    /// Units on purchase orders sent and not yet received.
    pub incoming: u64,
    /// When the sent purchase order's stock is expected (the date a delay email gives).
    pub incoming_expected_at: Option<DateTime<Utc>>,
    /// The last pre-order opening announced to trackers ([`Product::openings`]).
    pub openings_announced_through: Option<DateTime<Utc>>,
    pub low_stock_alarm: LowStockAlarm,
    pub status: ProductStatus,
    /// Whether its release has been run (its reserved pre-orders sent to be charged).
    pub released: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every stored change, stock moves included: a move's sequence number.
    pub version: u64,
    /// Events recorded since the last stored write (`product.low_stock`, `product.restocked`);
    /// the next write stores them with it.
    pub events: Outbox,
    /// Its draft or sent purchase order, if any (at most one is open).
    pub open_purchase_order: Option<crate::kernel::ids::PurchaseOrderId>,
    /// Purchase orders drafted or changed since the last stored write; the next write stores
    /// them with it.
    pub purchase_order_changes: Vec<crate::inventory::purchasing::PurchaseOrder>,
}

/// An admin's request to create a product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub price: Money,
    pub low_stock_threshold: u64,
    pub backorders_allowed: bool,
    pub substitutes: Vec<ProductId>,
    pub supplier: Option<Supplier>,
    pub preorder: NewPreorderTerms,
}

/// An admin's change of a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    /// `Some(None)` removes it.
    pub description: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub price: Option<Money>,
    pub low_stock_threshold: Option<u64>,
    pub backorders_allowed: Option<bool>,
    pub substitutes: Option<Vec<ProductId>>,
    pub supplier: Option<Option<Supplier>>,
    pub preorder: Option<NewPreorderTerms>,
}

/// A SKU: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn sku(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The key a SKU is unique by: case does not make two SKUs different.
pub fn sku_key(sku: &str) -> String {
    sku.to_ascii_uppercase()
}

fn units(field: &str, n: u64) -> Result<u64, FieldError> {
    if n > MAX_UNITS {
        Err(FieldError::new(field, "is too large"))
    } else {
        Ok(n)
    }
}

impl Supplier {
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        v.check(units("reorder_point", self.reorder_point));
        if self.reorder_quantity == 0 {
            v.push(FieldError::new("reorder_quantity", "must be at least 1"));
        }
        v.check(units("reorder_quantity", self.reorder_quantity));
        if self.lead_time_days > MAX_LEAD_TIME_DAYS {
            v.push(FieldError::new(
                "lead_time_days",
                format!("must be at most {MAX_LEAD_TIME_DAYS}"),
            ));
        }
        v.finish_under("supplier")
    }
}

impl NewPreorderTerms {
    /// Checked: an eligible product has its whole window, in order.
    pub fn check(self) -> Result<PreorderTerms, Vec<FieldError>> {
        let mut v = Validator::new();
        let window = match (self.opens_at, self.closes_at) {
            (Some(opens_at), Some(closes_at)) if opens_at < closes_at => Some(PreorderWindow {
                opens_at,
                closes_at,
            }),
            (Some(_), Some(_)) => {
                v.push(FieldError::new("closes_at", "must be after opens_at"));
                None
            }
            (None, None) => None,
            (None, Some(_)) => {
                v.push(FieldError::new("opens_at", "is required with closes_at"));
                None
            }
            (Some(_), None) => {
                v.push(FieldError::new("closes_at", "is required with opens_at"));
                None
            }
        };
        if let (Some(w), Some(release_at)) = (&window, self.release_at) {
            if release_at < w.closes_at {
                v.push(FieldError::new(
                    "release_at",
                    "must not be before closes_at",
                ));
            }
        }
        if self.eligible {
            if self.opens_at.is_none() {
                v.push(FieldError::new(
                    "opens_at",
                    "is required for a pre-orderable product",
                ));
            }
            if self.closes_at.is_none() {
                v.push(FieldError::new(
                    "closes_at",
                    "is required for a pre-orderable product",
                ));
            }
            if self.release_at.is_none() {
                v.push(FieldError::new(
                    "release_at",
                    "is required for a pre-orderable product",
                ));
            }
        }
        if self.max_per_customer == Some(0) {
            v.push(FieldError::new("max_per_customer", "must be at least 1"));
        }
        for (field, at) in [
            ("opens_at", self.opens_at),
            ("closes_at", self.closes_at),
            ("release_at", self.release_at),
        ] {
            if let Some(at) = at {
                if !(1970..=9999).contains(&chrono::Datelike::year(&at)) {
                    v.push(FieldError::new(
                        field,
                        "must be within the years 1970 to 9999",
                    ));
                }
            }
        }
        v.finish_under("preorder")?;
        Ok(PreorderTerms {
            eligible: self.eligible,
            window,
            release_at: self.release_at,
            max_per_customer: self.max_per_customer,
        })
    }
}

fn check_substitutes(
    v: &mut Validator,
    id: Option<&ProductId>,
    substitutes: &[ProductId],
) -> Vec<ProductId> {
    if substitutes.len() > MAX_SUBSTITUTES {
        v.push(FieldError::new(
            "substitutes",
            format!("must name at most {MAX_SUBSTITUTES} products"),
        ));
    }
    let mut seen = Vec::new();
    for s in substitutes {
        if Some(s) == id {
            v.push(FieldError::new(
                "substitutes",
                "must not name the product itself",
            ));
        } else if !seen.contains(s) {
            seen.push(s.clone());
        }
    }
    seen
}

fn price(v: &mut Validator, price: Money) {
    if price.is_negative() {
        v.push(FieldError::new("price", "must not be negative"));
    }
}

impl Product {
    pub fn create(new: NewProduct, now: DateTime<Utc>) -> Result<Product, BillingError> {
        let id = ProductId::generate();
        let mut v = Validator::new();
        let sku = v.check(sku("sku", &new.sku));
        let name = v.check(validation::text("name", &new.name, 200));
        let description = v.check(validation::optional_text(
            "description",
            new.description.as_deref(),
            2000,
        ));
        let category = v.check(validation::optional_text(
            "category",
            new.category.as_deref(),
            100,
        ));
        price(&mut v, new.price);
        v.check(units("low_stock_threshold", new.low_stock_threshold));
        let substitutes = check_substitutes(&mut v, Some(&id), &new.substitutes);
        if let Some(supplier) = &new.supplier {
            if let Err(errors) = supplier.check() {
                v.extend(errors);
            }
        }
        let preorder = match new.preorder.check() {
            Ok(terms) => Some(terms),
            Err(errors) => {
                v.extend(errors);
                None
            }
        };
        v.finish()?;
        let stock = Stock::default();
        Ok(Product {
            id,
            sku: sku.unwrap_or_default(),
            name: name.unwrap_or_default(),
            description: description.flatten(),
            category: category.flatten(),
            price: new.price,
            low_stock_threshold: new.low_stock_threshold,
            backorders_allowed: new.backorders_allowed,
            substitutes,
            supplier: new.supplier,
            preorder: preorder.ok_or_else(|| BillingError::field("preorder", "is invalid"))?,
            stock,
            backordered: 0,
            incoming: 0,
            incoming_expected_at: None,
            openings_announced_through: None,
            low_stock_alarm: LowStockAlarm::new(stock.available(), new.low_stock_threshold),
            status: ProductStatus::Active,
            released: false,
            created_at: now,
            updated_at: now,
            version: 0,
            events: Outbox::default(),
            open_purchase_order: None,
            purchase_order_changes: Vec::new(),
        })
    }

    /// Applies an admin's change. The currency cannot change (pre-orders and purchase orders
    /// are counted in it).
    pub fn apply(&mut self, patch: ProductPatch, now: DateTime<Utc>) -> Result<(), BillingError> {
        let mut v = Validator::new();
        let name = patch
            .name
            .map(|n| v.check(validation::text("name", &n, 200)));
        let description = patch
            .description
            .map(|d| v.check(validation::optional_text("description", d.as_deref(), 2000)));
        let category = patch
            .category
            .map(|c| v.check(validation::optional_text("category", c.as_deref(), 100)));
        if let Some(p) = patch.price {
            price(&mut v, p);
            if p.currency() != self.price.currency() {
                v.push(FieldError::new(
                    "currency",
                    "cannot change; create another product",
                ));
            }
        }
        if let Some(t) = patch.low_stock_threshold {
            v.check(units("low_stock_threshold", t));
        }
        let substitutes = patch
            .substitutes
            .map(|s| check_substitutes(&mut v, Some(&self.id), &s));
        if let Some(Some(supplier)) = &patch.supplier {
            if let Err(errors) = supplier.check() {
                v.extend(errors);
            }
        }
        let preorder = patch.preorder.map(|p| match p.check() {
            Ok(terms) => Some(terms),
            Err(errors) => {
                v.extend(errors);
                None
            }
        });
        v.finish()?;
        if let Some(Some(name)) = name {
            self.name = name;
        }
        if let Some(Some(description)) = description {
            self.description = description;
        }
        if let Some(Some(category)) = category {
            self.category = category;
        }
        if let Some(p) = patch.price {
            self.price = p;
        }
        if let Some(t) = patch.low_stock_threshold {
            self.low_stock_threshold = t;
            // A new threshold starts a new watch: alert on the next crossing of it.
            self.low_stock_alarm = LowStockAlarm::new(self.stock.available(), t);
        }
        if let Some(b) = patch.backorders_allowed {
            self.backorders_allowed = b;
        }
        if let Some(s) = substitutes {
            self.substitutes = s;
        }
        if let Some(s) = patch.supplier {
            self.supplier = s;
        }
        if let Some(Some(terms)) = preorder {
            // A new release date is a new release.
            if terms.release_at != self.preorder.release_at {
                self.released = false;
            }
            self.preorder = terms;
        }
        self.updated_at = now;
        Ok(())
    }

    /// After its stock changed: a purchase order is drafted if the projected stock fell under
    /// the reorder point ([`Product::plan_reorder`]); the low-stock alert goes off once per
    /// crossing of the threshold (`product.low_stock`), and `product.restocked` when
    /// `available` rises above it again.
    pub fn observe_stock(&mut self, now: DateTime<Utc>) {
        self.plan_reorder(now);
        let available = self.stock.available();
        let was_armed = self.low_stock_alarm.armed;
        let kind = if self
            .low_stock_alarm
            .observe(available, self.low_stock_threshold)
        {
            EventKind::ProductLowStock
        } else if !was_armed && self.low_stock_alarm.armed {
            EventKind::ProductRestocked
        } else {
            return;
        };
        self.events.record(
            kind,
            now,
            EventFacts {
                product_id: Some(self.id.clone()),
                available: Some(available),
                low_stock_threshold: Some(self.low_stock_threshold),
                ..EventFacts::default()
            },
        );
    }

    pub fn archive(&mut self, now: DateTime<Utc>) {
        self.status = ProductStatus::Archived;
        self.updated_at = now;
    }

    /// When its release falls due: a pre-orderable product with a release date not yet run.
    pub fn release_due(&self) -> Option<DateTime<Utc>> {
        self.preorder
            .release_at
            .filter(|_| self.preorder.eligible && !self.released)
    }

    pub fn is_archived(&self) -> bool {
        self.status == ProductStatus::Archived
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::money::Currency;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 9, 0, 0)
            .single()
            .expect("time")
    }

    fn new() -> NewProduct {
        NewProduct {
            sku: "WIDGET-1".into(),
            name: "Widget".into(),
            description: None,
            category: Some("widgets".into()),
            price: Money::new(dec!(19.99), Currency::Usd).expect("price"),
            low_stock_threshold: 5,
            backorders_allowed: false,
            substitutes: vec![],
            supplier: None,
            preorder: NewPreorderTerms::default(),
        }
    }

    fn fields(e: BillingError) -> Vec<String> {
        match e {
            BillingError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_new_product_has_no_stock_and_its_alarm_waits_for_stock() {
        let p = Product::create(new(), at(1)).expect("created");
        assert!(p.id.as_str().starts_with("prod_"));
        assert_eq!(p.stock, Stock::default());
        assert!(!p.low_stock_alarm.armed);
        assert_eq!(p.status, ProductStatus::Active);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut bad = new();
        bad.sku = "no spaces".into();
        bad.name = " ".into();
        bad.preorder = NewPreorderTerms {
            eligible: true,
            opens_at: Some(at(10)),
            closes_at: Some(at(5)),
            release_at: None,
            max_per_customer: Some(0),
        };
        let e = Product::create(bad, at(1)).expect_err("refused");
        assert_eq!(
            fields(e),
            [
                "sku",
                "name",
                "preorder.closes_at",
                "preorder.release_at",
                "preorder.max_per_customer"
            ]
        );
    }

    #[test]
    fn the_release_may_not_come_before_the_window_closes() {
        let terms = NewPreorderTerms {
            eligible: true,
            opens_at: Some(at(1)),
            closes_at: Some(at(10)),
            release_at: Some(at(9)),
            max_per_customer: None,
        };
        let errors = terms.check().expect_err("refused");
        assert_eq!(errors[0].field, "preorder.release_at");
    }

    #[test]
    fn a_product_cannot_substitute_itself_and_duplicates_collapse() {
        let mut p = Product::create(new(), at(1)).expect("created");
        let other: ProductId = "prod_other".parse().expect("id");
        let patch = ProductPatch {
            substitutes: Some(vec![p.id.clone()]),
            ..ProductPatch::default()
        };
        assert_eq!(
            fields(p.apply(patch, at(2)).expect_err("refused")),
            ["substitutes"]
        );
        let patch = ProductPatch {
            substitutes: Some(vec![other.clone(), other.clone()]),
            ..ProductPatch::default()
        };
        p.apply(patch, at(2)).expect("applied");
        assert_eq!(p.substitutes, [other]);
    }

    #[test]
    fn the_currency_is_fixed() {
        let mut p = Product::create(new(), at(1)).expect("created");
        let patch = ProductPatch {
            price: Some(Money::new(dec!(5), Currency::Eur).expect("price")),
            ..ProductPatch::default()
        };
        assert_eq!(
            fields(p.apply(patch, at(2)).expect_err("refused")),
            ["currency"]
        );
        assert_eq!(p.price.amount(), dec!(19.99));
    }

    #[test]
    fn skus_are_unique_without_regard_to_case() {
        assert_eq!(sku_key("widget-1"), sku_key("WIDGET-1"));
        assert!(sku("sku", "A.b_c-1").is_ok());
        assert!(sku("sku", &"x".repeat(65)).is_err());
    }
}
