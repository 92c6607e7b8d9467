//! Products and their stock: everyone signed in reads the catalogue; admins create, change and
//! archive products; admins and support move stock.

use billing_domain::inventory::product::{NewProduct, Product};
use billing_domain::inventory::products::StockRequest;
use billing_domain::inventory::ProductFilter;
use billing_domain::kernel::ids::ProductId;

use crate::auth::{Permission, Principal};
use crate::dto::products::{
    CreateProductRequest, ForecastResponse, ProductResponse, PurchaseOrderResponse,
    StockChangeRequest, StockMoveResponse, TrackProductRequest, TrackedProductResponse,
    UntrackedProductResponse, UpdateProductRequest,
};
use crate::dto::List;
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::{if_match, json_body};
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;
use billing_domain::inventory::purchasing::{PurchaseOrder, PurchaseOrderStatus};
use billing_domain::kernel::ids::CustomerId;
use billing_domain::kernel::ids::PurchaseOrderId;

fn product_id(ctx: &ApiRequest) -> Result<ProductId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("product"))
}

fn reply(status: u16, product: &Product) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(status, &ProductResponse::from(product))?.with_etag(product.version))
}

fn flag(
    query: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<bool>, ApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::field(
            format!("query.{name}"),
            "must be true or false",
        )),
    }
}

/// Create a product (admins).
#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateProductRequest,
    responses((status = 201, description = "Created", body = ProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: CreateProductRequest = json_body(&ctx.body, &ctx.headers)?;
    let product = state
        .billing
        .create_product(NewProduct::try_from(request)?)
        .await?;
    reply(201, &product)
}

/// The products, newest first (everyone signed in; archived ones for operators who ask).
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    params(("category" = Option<String>, Query, description = "only this category"),
        ("preorder" = Option<bool>, Query, description = "true: only pre-order eligible products; false: only the others"),
        ("include_archived" = Option<bool>, Query, description = "operators only: include archived products"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of the products", body = List<ProductResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Read)?;
    let query = ctx.query(&[
        "category",
        "preorder",
        "include_archived",
        "limit",
        "starting_after",
    ])?;
    let page = ctx.page(&query)?;
    let include_archived = flag(&query, "include_archived")?.unwrap_or(false);
    if include_archived {
        principal.authorize(Permission::OperatorRead)?;
    }
    let filter = ProductFilter {
        category: query.get("category").cloned(),
        preorder: flag(&query, "preorder")?,
        include_archived,
    };
    let products = state.billing.list_products(&filter, &page).await?;
    ApiResponse::json(
        200,
        &List::from_page(products, |p| ProductResponse::from(&p)),
    )
}

/// One product, with its stock (everyone signed in).
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = String, Path, description = "product id")),
    responses((status = 200, description = "The product", body = ProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Read)?;
    let product = state.billing.get_product(&product_id(ctx)?).await?;
    reply(200, &product)
}

/// Change a product (admins). The SKU and currency are fixed.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = String, Path, description = "product id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdateProductRequest,
    responses((status = 200, description = "Updated", body = ProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let id = product_id(ctx)?;
    let request: UpdateProductRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let current = state.billing.get_product(&id).await?;
    let patch = request.into_patch(&current)?;
    let product = state.billing.update_product(&id, patch, expected).await?;
    reply(200, &product)
}

/// Archive a product (admins): no new pre-orders; stock can still be moved.
#[utoipa::path(post, path = "/api/v1/products/{id}/archive", tag = "products",
    params(("id" = String, Path, description = "product id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Archived", body = ProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn archive(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let product = state.billing.archive_product(&product_id(ctx)?).await?;
    reply(200, &product)
}

/// Receive, adjust or count stock (admins and support): 201 with the stock move. A count
/// against a level that changed is 409 `stale_quantity`; taking `on_hand` below what is
/// reserved is 409 `insufficient_stock`.
#[utoipa::path(post, path = "/api/v1/products/{id}/stock", tag = "products",
    params(("id" = String, Path, description = "product id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = StockChangeRequest,
    responses((status = 201, description = "The stock move", body = StockMoveResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn move_stock(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let id = product_id(ctx)?;
    let request: StockChangeRequest = json_body(&ctx.body, &ctx.headers)?;
    let moved = state
        .billing
        .move_stock(&id, StockRequest::try_from(request)?)
        .await?;
    Ok(
        ApiResponse::json(201, &StockMoveResponse::new(&id, &moved.stock_move))?
            .with_etag(moved.product.version),
    )
}

/// Every change of a product's stock, newest first (operators).
#[utoipa::path(get, path = "/api/v1/products/{id}/stock-moves", tag = "products",
    params(("id" = String, Path, description = "product id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of the moves", body = List<StockMoveResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn stock_moves(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = ctx.page(&query)?;
    let id = product_id(ctx)?;
    let moves = state.billing.list_stock_moves(&id, &page).await?;
    ApiResponse::json(
        200,
        &List::from_page(moves, |m| StockMoveResponse::new(&id, &m)),
    )
}

fn purchase_order_id(ctx: &ApiRequest) -> Result<PurchaseOrderId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("purchase order"))
}

fn purchase_order(order: &PurchaseOrder) -> Result<ApiResponse, ApiError> {
    ApiResponse::json(200, &PurchaseOrderResponse::from(order))
}

/// Purchase orders, newest first (operators): drafted when a product's projected stock falls
/// under its supplier's reorder point.
#[utoipa::path(get, path = "/api/v1/purchase-orders", tag = "products",
    params(("product_id" = Option<String>, Query, description = "only this product's"),
        ("status" = Option<String>, Query, description = "draft, sent, received or canceled"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of purchase orders", body = List<PurchaseOrderResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list_purchase_orders(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["product_id", "status", "limit", "starting_after"])?;
    let product = query
        .get("product_id")
        .map(|raw| {
            raw.parse::<ProductId>()
                .map_err(|_| ApiError::field("query.product_id", "not a product id"))
        })
        .transpose()?;
    let status = query
        .get("status")
        .map(|raw| {
            PurchaseOrderStatus::parse(raw).ok_or_else(|| {
                ApiError::field("query.status", "must be draft, sent, received or canceled")
            })
        })
        .transpose()?;
    let page = state
        .billing
        .list_purchase_orders(product.as_ref(), status, &ctx.page(&query)?)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(page, |o| PurchaseOrderResponse::from(&o)),
    )
}

/// One purchase order (operators).
#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}", tag = "products",
    params(("id" = String, Path, description = "purchase order id")),
    responses((status = 200, description = "The purchase order", body = PurchaseOrderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get_purchase_order(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let order = state
        .billing
        .get_purchase_order(&purchase_order_id(ctx)?)
        .await?;
    purchase_order(&order)
}

/// Send a draft purchase order to the supplier (admins and support): it is emailed, and its
/// units count as the product's `incoming`. Sending again answers it; a received or canceled
/// one is 409 `purchase_order_closed`.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/send", tag = "products",
    params(("id" = String, Path, description = "purchase order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Sent", body = PurchaseOrderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn send_purchase_order(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let order = state
        .billing
        .send_purchase_order(&purchase_order_id(ctx)?)
        .await?;
    purchase_order(&order)
}

/// Cancel a draft or sent purchase order (admins and support); received: 409
/// `purchase_order_closed`.
#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/cancel", tag = "products",
    params(("id" = String, Path, description = "purchase order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Canceled", body = PurchaseOrderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn cancel_purchase_order(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let order = state
        .billing
        .cancel_purchase_order(&purchase_order_id(ctx)?)
        .await?;
    purchase_order(&order)
}

fn customer_id(ctx: &ApiRequest) -> Result<CustomerId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("customer"))
}

/// Track a product (the customer itself or operators): the customer is emailed when it is back
/// in stock. Tracking it again answers the same; past the tier's `tracked_products_limit` is
/// 409 `tracked_products_limit_reached` with `limit` and `used`.
#[utoipa::path(post, path = "/api/v1/customers/{id}/tracked-products", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = TrackProductRequest,
    responses((status = 201, description = "Tracked", body = TrackedProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn track(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let customer = customer_id(ctx)?;
    let request: TrackProductRequest = json_body(&ctx.body, &ctx.headers)?;
    let product: ProductId = request
        .product_id
        .parse()
        .map_err(|_| ApiError::field("product_id", "not a product id"))?;
    let tracked = state
        .billing
        .track_product(&actor, &customer, &product)
        .await?;
    ApiResponse::json(201, &TrackedProductResponse::from(&tracked))
}

/// The products a customer tracks, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/tracked-products", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last product id of the previous page")),
    responses((status = 200, description = "A page of tracked products", body = List<TrackedProductResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn tracked(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = state
        .billing
        .list_tracked_products(&actor, &customer_id(ctx)?, &ctx.page(&query)?)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(page, |t| TrackedProductResponse::from(&t)),
    )
}

/// Stop tracking a product; not tracked: 404.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/tracked-products/{product_id}", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("product_id" = String, Path, description = "the tracked product")),
    responses((status = 200, description = "No longer tracked", body = UntrackedProductResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn untrack(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    ctx.query(&[])?;
    let product: ProductId = ctx
        .param("product_id")
        .parse()
        .map_err(|_| ApiError::NotFound("tracked product"))?;
    let customer = customer_id(ctx)?;
    state
        .billing
        .untrack_product(&actor, &customer, &product)
        .await?;
    ApiResponse::json(
        200,
        &UntrackedProductResponse {
            customer_id: customer.to_string(),
            product_id: product.to_string(),
            deleted: true,
        },
    )
}

/// A product's demand forecast (operators): week by week from now, the units committed by
/// backorders, renewals of subscriptions that carry it and pre-orders, against what is
/// available and incoming, and when `available` is projected to reach zero.
#[utoipa::path(get, path = "/api/v1/products/{id}/forecast", tag = "products",
    params(("id" = String, Path, description = "product id"),
        ("weeks" = Option<u32>, Query, minimum = 1, maximum = 52, description = "horizon, default 12")),
    responses((status = 200, description = "The forecast", body = ForecastResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn forecast(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["weeks"])?;
    let weeks = match query.get("weeks") {
        None => 12,
        Some(raw) => raw
            .parse::<u32>()
            .map_err(|_| ApiError::field("query.weeks", "must be a whole number from 1 to 52"))?,
    };
    let forecast = state.billing.forecast(&product_id(ctx)?, weeks).await?;
    ApiResponse::json(200, &ForecastResponse::from(&forecast))
}
