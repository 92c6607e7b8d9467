//! The catalogue: everyone lists plans; only admins create, change and archive them.

use billing_domain::catalogue::NewPlan;
use billing_domain::kernel::ids::PlanId;

use crate::auth::{Permission, Principal};
use crate::dto::{CreatePlanRequest, List, PlanResponse, UpdatePlanRequest};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::{if_match, json_body};
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn plan_id(ctx: &ApiRequest) -> Result<PlanId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("plan"))
}

fn reply(status: u16, plan: &billing_domain::catalogue::Plan) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(status, &PlanResponse::from(plan))?.with_etag(plan.version))
}

/// List the plans customers can subscribe to.
#[utoipa::path(get, path = "/api/v1/subscriptions/plans", tag = "plans",
    params(("include_archived" = Option<bool>, Query, description = "operators only: include archived plans"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 100 (the whole catalogue)"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of the plans", body = List<PlanResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Read)?;
    let query = ctx.query(&["include_archived", "limit", "starting_after"])?;
    let page = ctx.page(&query)?;
    let include_archived = match query.get("include_archived").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => {
            principal.authorize(Permission::OperatorRead)?;
            true
        }
        Some(_) => {
            return Err(ApiError::field(
                "query.include_archived",
                "must be true or false",
            ))
        }
    };
    let plans = state.billing.list_plans(include_archived).await?;
    // The catalogue is small and read whole; pages follow the list convention all the same.
    let start = match &page.starting_after {
        None => 0,
        Some(after) => plans
            .iter()
            .position(|p| p.id.to_string() == *after)
            .map(|i| i + 1)
            .ok_or_else(|| ApiError::field("starting_after", "names no plan of this list"))?,
    };
    let rest = plans.get(start..).unwrap_or_default();
    // Unlike other lists, the whole catalogue (up to 100) when no limit is asked for.
    let limit = match query.get("limit") {
        Some(_) => usize::try_from(page.limit).unwrap_or(usize::MAX),
        None => usize::try_from(billing_domain::kernel::page::MAX_LIMIT).unwrap_or(usize::MAX),
    };
    ApiResponse::json(
        200,
        &List {
            data: rest.iter().take(limit).map(PlanResponse::from).collect(),
            has_more: rest.len() > limit,
        },
    )
}

/// One plan.
#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans",
    params(("id" = String, Path, description = "plan id")),
    responses((status = 200, description = "The plan", body = PlanResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Read)?;
    let plan = state.billing.get_plan(&plan_id(ctx)?).await?;
    reply(200, &plan)
}

/// Create a plan (admins).
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreatePlanRequest,
    responses((status = 201, description = "Created", body = PlanResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: CreatePlanRequest = json_body(&ctx.body, &ctx.headers)?;
    let new = NewPlan::try_from(request)?;
    let plan = state.billing.create_plan(new).await?;
    reply(201, &plan)
}

/// Change a plan's name, trial, features or limits (admins). Price, currency, tier and interval
/// are fixed once a plan exists.
#[utoipa::path(patch, path = "/api/v1/plans/{id}", tag = "plans",
    params(("id" = String, Path, description = "plan id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdatePlanRequest,
    responses((status = 200, description = "Updated", body = PlanResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let id = plan_id(ctx)?;
    let request: UpdatePlanRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let current = state.billing.get_plan(&id).await?;
    let patch = request.into_patch(current.price.currency())?;
    let plan = state.billing.update_plan(&id, patch, expected).await?;
    reply(200, &plan)
}

/// Archive a plan (admins): no new subscriptions; existing ones continue.
#[utoipa::path(post, path = "/api/v1/plans/{id}/archive", tag = "plans",
    params(("id" = String, Path, description = "plan id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Archived", body = PlanResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn archive(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let plan = state.billing.archive_plan(&plan_id(ctx)?).await?;
    reply(200, &plan)
}
