//! Invoices: read by operators and by the customer they belong to (404 for others').

use billing_domain::kernel::ids::{InvoiceId, PlanId, SubscriptionId};

use crate::auth::{Permission, Principal};
use crate::dto::{InvoiceFigures, InvoiceResponse, List, RefundInvoiceRequest};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::json_body;
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn response(invoice: &billing_domain::invoicing::Invoice) -> Result<InvoiceResponse, ApiError> {
    InvoiceResponse::try_from(invoice)
        .map_err(|e| ApiError::Internal(format!("invoice {}: {e}", invoice.id)))
}

/// A subscription's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/invoices", tag = "invoices",
    params(("id" = String, Path, description = "subscription id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of invoices", body = List<InvoiceResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let id: SubscriptionId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("subscription"))?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = state
        .billing
        .list_invoices(&actor, &id, &ctx.page(&query)?)
        .await?;
    let data = page
        .data
        .iter()
        .map(response)
        .collect::<Result<Vec<_>, _>>()?;
    ApiResponse::json(
        200,
        &List {
            data,
            has_more: page.has_more,
        },
    )
}

/// One invoice with its lines.
#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "invoices",
    params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "The invoice", body = InvoiceResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let id: InvoiceId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("invoice"))?;
    let invoice = state.billing.get_invoice(&actor, &id).await?;
    Ok(ApiResponse::json(200, &response(&invoice)?)?.with_etag(invoice.version))
}

/// Charge an open invoice now (the customer present), e.g. after authenticating a payment or
/// while past due. A paid invoice brings its subscription back to active.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/pay", tag = "invoices",
    params(("id" = String, Path, description = "invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "The invoice after the attempt: `paid`, or still `open` with the failed attempt in `payments`", body = InvoiceResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn pay(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id: InvoiceId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("invoice"))?;
    let invoice = state.billing.pay_invoice(&actor, &id).await?;
    Ok(ApiResponse::json(200, &response(&invoice)?)?.with_etag(invoice.version))
}

/// A preview of the next invoice, like Stripe's upcoming invoice; with `plan_id`, what changing
/// to that plan would bill (its proration lines). Nothing is stored or charged.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/upcoming-invoice", tag = "invoices",
    params(("id" = String, Path, description = "subscription id"),
        ("plan_id" = Option<String>, Query, description = "preview a change to this plan")),
    responses((status = 200, description = "The preview", body = InvoiceFigures), ErrorResponses),
    security(("bearer" = [])))]
pub async fn upcoming(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let id: SubscriptionId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("subscription"))?;
    let query = ctx.query(&["plan_id"])?;
    let plan_id: Option<PlanId> = query
        .get("plan_id")
        .map(|raw| {
            raw.parse()
                .map_err(|_| ApiError::field("query.plan_id", "no plan with this id"))
        })
        .transpose()?;
    let preview = state
        .billing
        .upcoming_invoice(&actor, &id, plan_id.as_ref())
        .await?;
    let body = InvoiceFigures::try_from(&preview)
        .map_err(|e| ApiError::Internal(format!("upcoming invoice: {e}")))?;
    ApiResponse::json(200, &body)
}

/// Refund part or all of a paid invoice (operators). Answers the invoice with the refund in
/// `refunds`; `Idempotency-Key` makes a retried request refund once.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/refunds", tag = "invoices",
    params(("id" = String, Path, description = "invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = RefundInvoiceRequest,
    responses((status = 201, description = "Refunded", body = InvoiceResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn refund(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::OperatorWrite)?;
    let id: InvoiceId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("invoice"))?;
    let request: RefundInvoiceRequest = json_body(&ctx.body, &ctx.headers)?;
    let request_key = crate::idempotency::key(&ctx.headers)?
        .map(|key| crate::idempotency::request_key(&principal.idempotency_scope(), &key));
    let invoice = state
        .billing
        .refund_invoice(&actor, &id, request.into_domain(request_key)?)
        .await?;
    Ok(ApiResponse::json(201, &response(&invoice)?)?.with_etag(invoice.version))
}

/// The operators' revenue report (admins, support, analysts): what paid invoices took and
/// refunds gave back from `from` to `to` (days, UTC, inclusive; default the last 30 days; at
/// most 366), per month or per plan and currency, read from the daily totals the payments and
/// refunds keep (decimal strings).
#[utoipa::path(get, path = "/api/v1/reports/revenue", tag = "invoices",
    params(("from" = Option<String>, Query, description = "first day, e.g. 2026-12-01"),
        ("to" = Option<String>, Query, description = "last day, e.g. 2026-12-31"),
        ("group_by" = Option<String>, Query, description = "month (default) or plan")),
    responses((status = 200, description = "The report", body = crate::dto::RevenueReportResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn revenue(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["from", "to", "group_by"])?;
    let by_plan = match query.get("group_by").map(String::as_str) {
        None | Some("month") => false,
        Some("plan") => true,
        Some(_) => return Err(ApiError::field("query.group_by", "must be month or plan")),
    };
    let (from, to) = crate::request::day_range(&query, state.billing.now().date_naive())?;
    let days = state.billing.revenue_report(from, to).await?;
    ApiResponse::json(
        200,
        &crate::dto::RevenueReportResponse::new(from, to, &days, by_plan),
    )
}
