//! Metered allowances: usage records (the subscription's owner or operators), promotional unit
//! grants and voids (operators), the usage summary and entitlements (whoever may read the
//! subscription).

use billing_domain::kernel::ids::{SubscriptionId, UsageRecordId};
use billing_domain::usage::{UnitGrantRequest, UsageRequest};
use chrono::Duration;

use crate::auth::{Permission, Principal};
use crate::dto::usage::{
    CreateTopUpRequest, CreateUnitGrantRequest, CreateUsageRecordRequest, EntitlementResponse,
    GroupBy, LedgerEntryResponse, TopUpResponse, Unit, UnitGrantResponse, UsageRecordResponse,
    UsageReportResponse, UsageSummaryResponse,
};
use crate::dto::List;
use crate::idempotency;
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

/// Record usage (the subscription's owner, admins and support). One conditional write takes
/// the units from the current period: promotional first (or after the included units, as the
/// subscription's `promotional_first` says), then included, then overage under a soft limit.
/// The `Idempotency-Key` is remembered for the whole period and 30 days after: the same key and
/// body answers the first record (`Idempotent-Replayed: true`); another body is 422
/// `idempotency_key_reused`. Refusals: 409 `allowance_exhausted` (with `remaining`; nothing
/// recorded), 409 `period_closed`, 409 `subscription_not_active`, 422 `unit_not_included`,
/// 422 for an `occurred_at` more than 5 minutes ahead.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/usage-records", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "remembered for the allowance period and 30 days after")),
    request_body = CreateUsageRecordRequest,
    responses((status = 201, description = "Recorded", body = UsageRecordResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create_record(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let idempotency = idempotency::key(&ctx.headers)?.map(|key| {
        (
            idempotency::request_key(&principal.idempotency_scope(), &key),
            idempotency::fingerprint(ctx.method.as_str(), &ctx.path, &ctx.body),
        )
    });
    let request: CreateUsageRecordRequest = json_body(&ctx.body, &ctx.headers)?;
    let units = request.units.read("units")?;
    let (record, replayed) = state
        .billing
        .record_usage(
            &actor,
            &id,
            UsageRequest {
                unit: request.unit.into(),
                units,
                description: request.description,
                occurred_at: request.occurred_at,
                idempotency,
            },
        )
        .await?;
    let reply = ApiResponse::json(201, &UsageRecordResponse::from(&record))?;
    Ok(if replayed {
        ApiResponse::replayed(reply.status, reply.body)
    } else {
        reply
    })
}

/// A subscription's usage records, newest first: units, breakdown, description, status.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/usage-records", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of the records", body = List<UsageRecordResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list_records(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = ctx.page(&query)?;
    let records = state
        .billing
        .list_usage_records(&actor, &subscription_id(ctx)?, &page)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(records, |r| UsageRecordResponse::from(&r)),
    )
}

/// A subscription's unit ledger, oldest first: grants of promotional and top-up units, and what
/// each grant had left when it expired (written at the renewal after its expiry).
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/unit-ledger", tag = "usage",
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, description = "The ledger (every entry)", body = List<LedgerEntryResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn ledger(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let entries = state
        .billing
        .unit_ledger(&actor, &subscription_id(ctx)?)
        .await?;
    ApiResponse::json(
        200,
        &List {
            data: entries.iter().map(LedgerEntryResponse::from).collect(),
            has_more: false,
        },
    )
}

/// Void a usage record (admins and support): its units go back to the period they came from,
/// while that period is open; after it is invoiced, 409 `period_invoiced`. Voiding again
/// answers the voided record.
#[utoipa::path(post, path = "/api/v1/usage-records/{id}/void", tag = "usage",
    params(("id" = String, Path, description = "usage record id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    responses((status = 200, description = "Voided", body = UsageRecordResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn void_record(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let id: UsageRecordId = ctx
        .param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("usage record"))?;
    let record = state.billing.void_usage_record(&id).await?;
    ApiResponse::json(200, &UsageRecordResponse::from(&record))
}

/// Grant promotional units (admins and support): usable until `expires_at`, across periods.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/unit-grants", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateUnitGrantRequest,
    responses((status = 201, description = "Granted", body = UnitGrantResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create_grant(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let id = subscription_id(ctx)?;
    let request: CreateUnitGrantRequest = json_body(&ctx.body, &ctx.headers)?;
    let units = request.units.read("units")?;
    let (grant_id, grant) = state
        .billing
        .grant_units(
            &id,
            UnitGrantRequest {
                unit: request.unit.into(),
                units,
                expires_at: request.expires_at,
                description: request.description,
            },
        )
        .await?;
    ApiResponse::json(201, &UnitGrantResponse::of(&grant_id, &id, &grant))
}

/// Buy units (the subscription's owner, admins and support): `{"unit", "units"}` at the plan's
/// `top_up_unit_price`, or `{"plan_id"}` of a one-off bundle; charged at once through Stripe
/// (its own invoice, `billing_reason: top_up`), then granted until they expire (a year, or the
/// bundle's days). A declined card is 402 and grants nothing. 422 `top_up_not_offered` when the
/// plan sells no top-ups of the unit.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/top-ups", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer; the top-up's invoice is charged once for a key")),
    request_body = CreateTopUpRequest,
    responses((status = 201, description = "Charged and granted", body = TopUpResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn top_up(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = subscription_id(ctx)?;
    let key = idempotency::key(&ctx.headers)?
        .map(|key| idempotency::request_key(&principal.idempotency_scope(), &key));
    let request: CreateTopUpRequest = json_body(&ctx.body, &ctx.headers)?;
    let top_up = state
        .billing
        .top_up(&actor, &id, request.into_domain()?, key.as_deref())
        .await?;
    ApiResponse::json(201, &TopUpResponse::from(&top_up))
}

/// A subscription's usage: per unit and allowance period, totals over every period, and with
/// `group_by=day` the last 30 days (or `month`: the last 12 months) from daily totals.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/usage-summary", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("group_by" = Option<String>, Query, description = "day or month: add the history")),
    responses((status = 200, description = "The summary", body = UsageSummaryResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn summary(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let query = ctx.query(&["group_by"])?;
    let group_by = match query.get("group_by").map(String::as_str) {
        None => None,
        Some("day") => Some(GroupBy::Day),
        Some("month") => Some(GroupBy::Month),
        Some(_) => return Err(ApiError::field("query.group_by", "must be day or month")),
    };
    let today = state.billing.now().date_naive();
    let since = group_by.map(|g| match g {
        GroupBy::Day => today - Duration::days(29),
        GroupBy::Month => today - Duration::days(366),
    });
    let summary = state
        .billing
        .usage_summary(&actor, &subscription_id(ctx)?, since)
        .await?;
    ApiResponse::json(200, &UsageSummaryResponse::new(&summary, group_by))
}

/// Whether the subscription may use a unit now, with what is left (read from the stored
/// counters: a record is seen at once).
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/entitlements/{unit}", tag = "usage",
    params(("id" = String, Path, description = "subscription id"),
        ("unit" = Unit, Path, description = "pages, words, characters or tokens")),
    responses((status = 200, description = "The entitlement", body = EntitlementResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn entitlement(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let unit: billing_domain::usage::Unit = ctx
        .param("unit")
        .parse()
        .map_err(|()| ApiError::NotFound("unit"))?;
    let entitlement = state
        .billing
        .entitlement(&actor, &subscription_id(ctx)?, unit)
        .await?;
    ApiResponse::json(200, &EntitlementResponse::from(&entitlement))
}

/// The operators' usage report (admins, support, analysts): every subscription's usage of a
/// unit (or of every unit) from `from` to `to` (days, UTC, inclusive; default the last 30
/// days; at most 366), by day or month, read from the per-day totals.
#[utoipa::path(get, path = "/api/v1/reports/usage", tag = "usage",
    params(("unit" = Option<Unit>, Query, description = "one unit; default every unit"),
        ("from" = Option<String>, Query, description = "first day, e.g. 2026-12-01"),
        ("to" = Option<String>, Query, description = "last day, e.g. 2026-12-31"),
        ("group_by" = Option<String>, Query, description = "day (default) or month")),
    responses((status = 200, description = "The report", body = UsageReportResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn report(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["unit", "from", "to", "group_by"])?;
    let unit = query
        .get("unit")
        .map(|raw| {
            raw.parse::<billing_domain::usage::Unit>().map_err(|()| {
                ApiError::field("query.unit", "must be pages, words, characters or tokens")
            })
        })
        .transpose()?;
    let group_by = match query.get("group_by").map(String::as_str) {
        None | Some("day") => GroupBy::Day,
        Some("month") => GroupBy::Month,
        Some(_) => return Err(ApiError::field("query.group_by", "must be day or month")),
    };
    let (from, to) = crate::request::day_range(&query, state.billing.now().date_naive())?;
    let rows = state.billing.usage_report(unit, from, to).await?;
    ApiResponse::json(200, &UsageReportResponse::new(from, to, &rows, group_by))
}
