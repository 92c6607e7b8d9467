//! Coupons and promotion codes (admins create them; operators read them), and discounts on
//! subscriptions (whoever may write the subscription).

use billing_domain::discounts::coupon::{NewCoupon, NewPromotionCode};
use billing_domain::kernel::ids::{CouponId, PromotionCodeId, SubscriptionId};

use crate::auth::{Permission, Principal};
use crate::dto::coupons::{
    discount_request, ApplyDiscountRequest, CouponResponse, CreateCouponRequest,
    CreatePromotionCodeRequest, PromotionCodeResponse, UpdatePromotionCodeRequest,
};
use crate::dto::{List, SubscriptionResponse};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::json_body;
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn coupon_id(ctx: &ApiRequest) -> Result<CouponId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("coupon"))
}

fn promotion_code_id(ctx: &ApiRequest) -> Result<PromotionCodeId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("promotion code"))
}

fn coupon_reply(
    state: &AppState,
    status: u16,
    coupon: &billing_domain::discounts::coupon::Coupon,
) -> Result<ApiResponse, ApiError> {
    Ok(
        ApiResponse::json(status, &CouponResponse::at(coupon, state.billing.now()))?
            .with_etag(coupon.version),
    )
}

/// Create a coupon (admins).
#[utoipa::path(post, path = "/api/v1/coupons", tag = "coupons",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateCouponRequest,
    responses((status = 201, description = "Created", body = CouponResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: CreateCouponRequest = json_body(&ctx.body, &ctx.headers)?;
    let coupon = state
        .billing
        .create_coupon(NewCoupon::try_from(request)?)
        .await?;
    coupon_reply(state, 201, &coupon)
}

/// Every coupon, newest first (operators).
#[utoipa::path(get, path = "/api/v1/coupons", tag = "coupons",
    responses((status = 200, description = "The coupons", body = List<CouponResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    ctx.query(&[])?;
    let now = state.billing.now();
    let coupons = state.billing.list_coupons().await?;
    ApiResponse::json(
        200,
        &List {
            data: coupons.iter().map(|c| CouponResponse::at(c, now)).collect(),
            has_more: false,
        },
    )
}

/// One coupon, with how often it was redeemed (operators).
#[utoipa::path(get, path = "/api/v1/coupons/{id}", tag = "coupons",
    params(("id" = String, Path, description = "coupon id")),
    responses((status = 200, description = "The coupon", body = CouponResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let coupon = state.billing.get_coupon(&coupon_id(ctx)?).await?;
    coupon_reply(state, 200, &coupon)
}

/// Archive a coupon (admins): it cannot be redeemed any more; discounts already given continue.
#[utoipa::path(delete, path = "/api/v1/coupons/{id}", tag = "coupons",
    params(("id" = String, Path, description = "coupon id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Archived", body = CouponResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn archive(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let coupon = state.billing.archive_coupon(&coupon_id(ctx)?).await?;
    coupon_reply(state, 200, &coupon)
}

/// Create a promotion code for a coupon (admins).
#[utoipa::path(post, path = "/api/v1/promotion-codes", tag = "coupons",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreatePromotionCodeRequest,
    responses((status = 201, description = "Created", body = PromotionCodeResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create_promotion_code(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let request: CreatePromotionCodeRequest = json_body(&ctx.body, &ctx.headers)?;
    let code = state
        .billing
        .create_promotion_code(NewPromotionCode::try_from(request)?)
        .await?;
    Ok(ApiResponse::json(201, &PromotionCodeResponse::from(&code))?.with_etag(code.version))
}

/// A coupon's promotion codes, newest first (operators).
#[utoipa::path(get, path = "/api/v1/coupons/{id}/promotion-codes", tag = "coupons",
    params(("id" = String, Path, description = "coupon id")),
    responses((status = 200, description = "The codes", body = List<PromotionCodeResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list_promotion_codes(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    ctx.query(&[])?;
    let codes = state.billing.list_promotion_codes(&coupon_id(ctx)?).await?;
    ApiResponse::json(
        200,
        &List {
            data: codes.iter().map(PromotionCodeResponse::from).collect(),
            has_more: false,
        },
    )
}

/// One promotion code (operators).
#[utoipa::path(get, path = "/api/v1/promotion-codes/{id}", tag = "coupons",
    params(("id" = String, Path, description = "promotion code id")),
    responses((status = 200, description = "The code", body = PromotionCodeResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get_promotion_code(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let code = state
        .billing
        .get_promotion_code(&promotion_code_id(ctx)?)
        .await?;
    Ok(ApiResponse::json(200, &PromotionCodeResponse::from(&code))?.with_etag(code.version))
}

/// Turn a promotion code on or off (admins).
#[utoipa::path(patch, path = "/api/v1/promotion-codes/{id}", tag = "coupons",
    params(("id" = String, Path, description = "promotion code id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdatePromotionCodeRequest,
    responses((status = 200, description = "Updated", body = PromotionCodeResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update_promotion_code(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::Admin)?;
    let id = promotion_code_id(ctx)?;
    let request: UpdatePromotionCodeRequest = json_body(&ctx.body, &ctx.headers)?;
    let code = state
        .billing
        .set_promotion_code_active(&id, request.active)
        .await?;
    Ok(ApiResponse::json(200, &PromotionCodeResponse::from(&code))?.with_etag(code.version))
}

fn subscription_id(ctx: &ApiRequest) -> Result<SubscriptionId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("subscription"))
}

/// Apply a coupon (operators) or a promotion code to a subscription, from its next invoice.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/discount", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = ApplyDiscountRequest,
    responses((status = 200, description = "The subscription with its `discount`", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn apply(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let request: ApplyDiscountRequest = json_body(&ctx.body, &ctx.headers)?;
    let discount = discount_request(request.coupon.as_deref(), request.promotion_code)?;
    let sub = state.billing.apply_discount(&actor, &id, discount).await?;
    Ok(ApiResponse::json(200, &SubscriptionResponse::from(&sub))?.with_etag(sub.version))
}

/// Remove a subscription's discount; the next invoices are at the full price.
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}/discount", tag = "subscriptions",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "The subscription without a discount", body = SubscriptionResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn remove(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let sub = state
        .billing
        .remove_discount(&actor, &subscription_id(ctx)?)
        .await?;
    Ok(ApiResponse::json(200, &SubscriptionResponse::from(&sub))?.with_etag(sub.version))
}
