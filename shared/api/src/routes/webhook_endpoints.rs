//! Outbound webhook endpoints and their deliveries (admins).

use billing_domain::kernel::ids::{WebhookDeliveryId, WebhookEndpointId};
use billing_domain::webhooks::{Webhooks, MAX_PREVIOUS_SECRET_HOURS};

use crate::auth::{Permission, Principal};
use crate::dto::webhooks::{
    CreateWebhookEndpointRequest, RollWebhookSecretRequest, UpdateWebhookEndpointRequest,
    WebhookDeliveryResponse, WebhookEndpointResponse,
};
use crate::dto::List;
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::json_body;
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

/// The service, on this request's clock.
fn webhooks(state: &AppState) -> Webhooks {
    Webhooks {
        clock: state.billing.clock.clone(),
        ..state.services.webhooks.clone()
    }
}

fn endpoint_id(ctx: &ApiRequest) -> Result<WebhookEndpointId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("webhook endpoint"))
}

/// A new signing secret: 256 random bits.
fn new_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Register an endpoint. The answer carries its signing `secret`, shown only here.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateWebhookEndpointRequest,
    responses((status = 201, description = "Created, with its secret", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: CreateWebhookEndpointRequest = json_body(&ctx.body, &ctx.headers)?;
    let endpoint = webhooks(state)
        .create_endpoint(request.into(), new_secret())
        .await?;
    ApiResponse::json(201, &WebhookEndpointResponse::new(&endpoint, true))
}

/// Every endpoint, newest first (without secrets).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    responses((status = 200, description = "The endpoints", body = List<WebhookEndpointResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    ctx.query(&[])?;
    let endpoints = webhooks(state).list_endpoints().await?;
    ApiResponse::json(
        200,
        &List {
            data: endpoints
                .iter()
                .map(|e| WebhookEndpointResponse::new(e, false))
                .collect(),
            has_more: false,
        },
    )
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id")),
    responses((status = 200, description = "The endpoint", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    ctx.query(&[])?;
    let endpoint = webhooks(state).endpoint(&endpoint_id(ctx)?).await?;
    ApiResponse::json(200, &WebhookEndpointResponse::new(&endpoint, false))
}

/// Change an endpoint's URL, event types or description (its secret and status stay).
#[utoipa::path(patch, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id")),
    request_body = UpdateWebhookEndpointRequest,
    responses((status = 200, description = "Changed", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: UpdateWebhookEndpointRequest = json_body(&ctx.body, &ctx.headers)?;
    let endpoint = webhooks(state)
        .change_endpoint(&endpoint_id(ctx)?, request.into())
        .await?;
    ApiResponse::json(200, &WebhookEndpointResponse::new(&endpoint, false))
}

/// Give an endpoint a new signing secret, shown only in this answer. The old one keeps signing
/// beside it (a second `v1=` in `Billing-Signature`) for `previous_secret_expires_in_hours`.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/roll-secret", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = RollWebhookSecretRequest,
    responses((status = 200, description = "Rolled, with the new secret", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn roll_secret(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: RollWebhookSecretRequest = json_body(&ctx.body, &ctx.headers)?;
    let hours = request
        .previous_secret_expires_in_hours
        .unwrap_or(MAX_PREVIOUS_SECRET_HOURS);
    let endpoint = webhooks(state)
        .roll_secret(&endpoint_id(ctx)?, new_secret(), hours)
        .await?;
    ApiResponse::json(200, &WebhookEndpointResponse::new(&endpoint, true))
}

/// Stop (disable) or resume (enable) deliveries to an endpoint. Enabling clears the failure
/// streak; failed deliveries can then be replayed.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/disable", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id")),
    responses((status = 200, description = "Disabled", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
#[allow(dead_code)] // Documents the route; `set_enabled` serves it.
pub async fn disable_doc() {}

/// Resume deliveries to a disabled endpoint.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/enable", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id")),
    responses((status = 200, description = "Enabled", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
#[allow(dead_code)] // Documents the route; `set_enabled` serves it.
pub async fn enable_doc() {}

pub async fn set_enabled(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
    enabled: bool,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    ctx.query(&[])?;
    let endpoint = webhooks(state)
        .set_enabled(&endpoint_id(ctx)?, enabled)
        .await?;
    ApiResponse::json(200, &WebhookEndpointResponse::new(&endpoint, false))
}

/// Delete an endpoint: nothing more is delivered to it.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id")),
    responses((status = 200, description = "Deleted", body = WebhookEndpointResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn delete(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let service = webhooks(state);
    let id = endpoint_id(ctx)?;
    let endpoint = service.endpoint(&id).await?;
    service.delete_endpoint(&id).await?;
    ApiResponse::json(200, &WebhookEndpointResponse::new(&endpoint, false))
}

/// An endpoint's deliveries, newest first, each with every attempt.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "endpoint id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of deliveries", body = List<WebhookDeliveryResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn deliveries(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = webhooks(state)
        .list_deliveries(&endpoint_id(ctx)?, &ctx.page(&query)?)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(page, |d| WebhookDeliveryResponse::from(&d)),
    )
}

/// Deliver again now (whatever its status), as the same body with a fresh signature; the
/// attempt is recorded. Answers the delivery after the attempt.
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "delivery id")),
    responses((status = 200, description = "The delivery with the new attempt", body = WebhookDeliveryResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn replay(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let id: WebhookDeliveryId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("webhook delivery"))?;
    let service = webhooks(state);
    let delivery = match service.attempt(&id, true).await? {
        Some(delivery) => delivery,
        // Another attempt holds it right now.
        None => {
            return Err(ApiError::Conflict(
                "the delivery is being attempted; try again in a minute".into(),
            ))
        }
    };
    ApiResponse::json(200, &WebhookDeliveryResponse::from(&delivery))
}
