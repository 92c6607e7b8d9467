//! Subscriptions: create, read, pause, resume, cancel, update, list. A customer token reaches
//! only its own subscriptions (404 for others').

use billing_domain::kernel::ids::{CustomerId, SubscriptionId};
use billing_domain::subscriptions::plan_change::PlanChange;
use billing_domain::subscriptions::{NewSubscription, Subscription};

use crate::auth::{Permission, Principal};
use crate::dto::{
    CancelSubscriptionRequest, ChangePlanRequest, CreateSubscriptionRequest, List, PauseRequest,
    SetItemsRequest, SubscriptionResponse, UpdateSubscriptionRequest,
};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::{if_match, json_body};
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;
use billing_domain::kernel::access::Actor;

fn subscription_id(ctx: &ApiRequest) -> Result<SubscriptionId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("subscription"))
}

fn reply(status: u16, sub: &Subscription) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(status, &SubscriptionResponse::from(sub))?.with_etag(sub.version))
}

/// Subscribe a customer to a plan.
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "subscriptions",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateSubscriptionRequest,
    responses((status = 201, description = "Created", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let request: CreateSubscriptionRequest = json_body(&ctx.body, &ctx.headers)?;
    let new = NewSubscription::try_from(request)?;
    let sub = state.billing.subscribe(&actor, new).await?;
    reply(201, &sub)
}

/// A customer's subscriptions, newest first. Customers may omit `customer_id`.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "subscriptions",
    params(("customer_id" = Option<String>, Query, description = "whose subscriptions; required for operators"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of subscriptions", body = List<SubscriptionResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let query = ctx.query(&["customer_id", "limit", "starting_after"])?;
    let customer_id = match (query.get("customer_id"), &actor) {
        (Some(raw), _) => raw
            .parse::<CustomerId>()
            .map_err(|_| ApiError::NotFound("customer"))?,
        (None, Actor::Customer(own)) => own.clone(),
        (None, Actor::Operator) => {
            return Err(ApiError::field("query.customer_id", "required"));
        }
    };
    let page = state
        .billing
        .list_subscriptions(&actor, &customer_id, &ctx.page(&query)?)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(page, |s| SubscriptionResponse::from(&s)),
    )
}

/// One subscription.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "The subscription", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let sub = state
        .billing
        .get_subscription(&actor, &subscription_id(ctx)?)
        .await?;
    reply(200, &sub)
}

/// Pause billing, optionally until a date.
#[utoipa::path(put, path = "/api/v1/subscriptions/{id}/pause", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body(content = Option<PauseRequest>, description = "optional"),
    responses((status = 200, description = "Paused", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn pause(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: PauseRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let sub = state
        .billing
        .pause_subscription(&actor, &id, request.resumes_at, expected)
        .await?;
    reply(200, &sub)
}

/// Replace the products the subscription ships each period (a subscription box), from its next
/// invoice on. Each must be in stock now (409 `out_of_stock` with `alternatives`); refused
/// while an invoice waits for payment (409 `invoice_unpaid`).
#[utoipa::path(put, path = "/api/v1/subscriptions/{id}/items", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = SetItemsRequest,
    responses((status = 200, description = "The subscription with its items", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn set_items(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: SetItemsRequest = json_body(&ctx.body, &ctx.headers)?;
    let items = crate::dto::recurring_items(request.items)?;
    let sub = state.billing.set_items(&actor, &id, items).await?;
    reply(200, &sub)
}

/// Resume a paused subscription.
#[utoipa::path(put, path = "/api/v1/subscriptions/{id}/resume", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Resumed", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn resume(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let expected = if_match(&ctx.headers)?;
    let sub = state
        .billing
        .resume_subscription(&actor, &id, expected)
        .await?;
    reply(200, &sub)
}

/// Cancel at period end (default) or immediately, with a reason.
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body(content = Option<CancelSubscriptionRequest>, description = "optional"),
    responses((status = 200, description = "Canceled or set to cancel", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn cancel(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: CancelSubscriptionRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let sub = state
        .billing
        .cancel_subscription(&actor, &id, request.into(), expected)
        .await?;
    reply(200, &sub)
}

/// Change auto-renew or metadata, or reactivate (`cancel_at_period_end: false`).
#[utoipa::path(patch, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdateSubscriptionRequest,
    responses((status = 200, description = "Updated", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: UpdateSubscriptionRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let sub = state
        .billing
        .update_subscription(&actor, &id, request.into(), expected)
        .await?;
    reply(200, &sub)
}

/// Upgrade or downgrade. By default an upgrade applies at once, prorated by the second and
/// charged now (the plan changes only once paid, else 402); a downgrade waits for the period's
/// end. A new interval resets the billing anchor.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/change-plan", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = ChangePlanRequest,
    responses((status = 200, description = "The subscription, on its new plan or with `scheduled_plan_id`", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn change_plan(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: ChangePlanRequest = json_body(&ctx.body, &ctx.headers)?;
    let plan_id = request
        .plan_id
        .parse()
        .map_err(|_| ApiError::field("plan_id", "no plan with this id"))?;
    let sub = state
        .billing
        .change_plan(
            &actor,
            &id,
            PlanChange {
                plan_id,
                prorate: request.prorate,
                at_period_end: request.at_period_end,
            },
        )
        .await?;
    reply(200, &sub)
}
