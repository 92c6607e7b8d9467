//! Pre-orders: placed by the subscription's owner or an operator, read by whoever may read the
//! subscription; the subscription's pre-order usage against its tier's limits.

use billing_domain::kernel::ids::{PreorderId, SubscriptionId};
use billing_domain::preorders::preorder::{NewPreorder, PreorderStatus};

use crate::auth::{Permission, Principal};
use crate::dto::preorders::{CreatePreorderRequest, PreorderResponse, PreorderUsageResponse};
use crate::dto::List;
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::json_body;
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn subscription_id(ctx: &ApiRequest) -> Result<SubscriptionId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("subscription"))
}

fn preorder_id(ctx: &ApiRequest) -> Result<PreorderId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("pre-order"))
}

/// Place a pre-order (the subscription's owner, admins and support). The checks run in order,
/// each with its own `code`: `subscription_not_active`, `not_preorderable`,
/// `preorder_window_not_open` (with the tier's `opens_at`) or `preorder_window_closed`,
/// `out_of_stock` (with `alternatives`), `preorder_limit_reached` or
/// `preorder_value_limit_reached` (with `limit`, `used`, `resets_at`), `max_per_customer_reached`.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/pre-orders", tag = "pre-orders",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreatePreorderRequest,
    responses((status = 201, description = "Placed: reserved or backordered", body = PreorderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: CreatePreorderRequest = json_body(&ctx.body, &ctx.headers)?;
    let preorder = state
        .billing
        .place_preorder(&actor, &id, NewPreorder::try_from(request)?)
        .await?;
    Ok(ApiResponse::json(201, &PreorderResponse::from(&preorder))?.with_etag(preorder.version))
}

/// A subscription's pre-orders, newest first.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/pre-orders", tag = "pre-orders",
    params(("id" = String, Path, description = "subscription id"),
        ("status" = Option<String>, Query, description = "only pre-orders in this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of the pre-orders", body = List<PreorderResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let query = ctx.query(&["status", "limit", "starting_after"])?;
    let page = ctx.page(&query)?;
    let status = query
        .get("status")
        .map(|raw| {
            PreorderStatus::parse(raw).ok_or_else(|| {
                ApiError::field(
                    "query.status",
                    "must be reserved, backordered, allocated, fulfilled, requires_action, payment_failed or canceled",
                )
            })
        })
        .transpose()?;
    let preorders = state
        .billing
        .list_preorders(&actor, &subscription_id(ctx)?, status, &page)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(preorders, |p| PreorderResponse::from(&p)),
    )
}

/// One pre-order.
#[utoipa::path(get, path = "/api/v1/pre-orders/{id}", tag = "pre-orders",
    params(("id" = String, Path, description = "pre-order id")),
    responses((status = 200, description = "The pre-order", body = PreorderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let preorder = state
        .billing
        .get_preorder(&actor, &preorder_id(ctx)?)
        .await?;
    Ok(ApiResponse::json(200, &PreorderResponse::from(&preorder))?.with_etag(preorder.version))
}

/// Cancel a pre-order (its owner, admins and support): the reservation is released, the
/// customer's units given back, and the month's count and value too when the month it counted
/// in is the current one. Canceling again answers 200 and gives back nothing twice; a pre-order
/// being charged or fulfilled is 409 `preorder_not_cancelable`.
#[utoipa::path(put, path = "/api/v1/subscriptions/pre-orders/{id}/cancel", tag = "pre-orders",
    params(("id" = String, Path, description = "pre-order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Canceled", body = PreorderResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn cancel(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let preorder = state
        .billing
        .cancel_preorder(&actor, &preorder_id(ctx)?)
        .await?;
    Ok(ApiResponse::json(200, &PreorderResponse::from(&preorder))?.with_etag(preorder.version))
}

/// The current pre-order month against the tier's limits.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/usage", tag = "pre-orders",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "The month's usage", body = PreorderUsageResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn usage(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let report = state
        .billing
        .preorder_usage_report(&actor, &subscription_id(ctx)?)
        .await?;
    ApiResponse::json(200, &PreorderUsageResponse::from(&report))
}
