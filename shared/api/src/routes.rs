//! The route table and the dispatcher. The table is the single source for the functions' routing,
//! the local gateway and `template.yaml` (a test checks they agree).

pub(crate) mod coupons;
pub(crate) mod customers;
pub(crate) mod invoices;
pub(crate) mod meta;
pub(crate) mod notifications;
pub(crate) mod plans;
pub(crate) mod preorders;
pub(crate) mod products;
pub(crate) mod subscriptions;
pub(crate) mod test_clock;
pub(crate) mod usage;
pub(crate) mod webhook_endpoints;
pub(crate) mod webhooks;

use std::collections::HashMap;
use std::time::Instant;

use billing_domain::kernel::page::{PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::auth::Principal;
use crate::idempotency;
use crate::problem::{ApiError, PROBLEM_JSON};
use crate::request::{header, query};
use crate::state::AppState;

/// The Lambda functions of the API, one per resource family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    SubscriptionsApi,
    CustomersApi,
    PlansApi,
    InvoicesApi,
    MetaApi,
    StripeWebhooks,
    WebhooksApi,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::SubscriptionsApi,
        Function::CustomersApi,
        Function::PlansApi,
        Function::InvoicesApi,
        Function::MetaApi,
        Function::StripeWebhooks,
        Function::WebhooksApi,
    ];

    /// The crate and binary name under `functions/`.
    pub fn name(self) -> &'static str {
        match self {
            Function::SubscriptionsApi => "subscriptions-api",
            Function::CustomersApi => "customers-api",
            Function::PlansApi => "plans-api",
            Function::InvoicesApi => "invoices-api",
            Function::MetaApi => "meta-api",
            Function::StripeWebhooks => "stripe-webhooks",
            Function::WebhooksApi => "webhooks-api",
        }
    }

    /// The logical id in `template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Function::SubscriptionsApi => "SubscriptionsApiFunction",
            Function::CustomersApi => "CustomersApiFunction",
            Function::PlansApi => "PlansApiFunction",
            Function::InvoicesApi => "InvoicesApiFunction",
            Function::MetaApi => "MetaApiFunction",
            Function::StripeWebhooks => "StripeWebhooksFunction",
            Function::WebhooksApi => "WebhooksApiFunction",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ListPlans,
    GetPlan,
    CreatePlan,
    UpdatePlan,
    ArchivePlan,
    CreateCustomer,
    ListCustomers,
    GetCustomer,
    UpdateCustomer,
    CreateSubscription,
    ListSubscriptions,
    GetSubscription,
    PauseSubscription,
    ResumeSubscription,
    CancelSubscription,
    UpdateSubscription,
    ChangePlan,
    SetSubscriptionItems,
    UpcomingInvoice,
    SetPaymentMethod,
    GetCreditBalance,
    ListCreditTransactions,
    GetNotificationPreferences,
    UpdateNotificationPreferences,
    LiftEmailSuppression,
    UnsubscribePage,
    ConfirmAddressPage,
    ConfirmAddress,
    Unsubscribe,
    CreateWebhookEndpoint,
    ListWebhookEndpoints,
    GetWebhookEndpoint,
    DisableWebhookEndpoint,
    EnableWebhookEndpoint,
    DeleteWebhookEndpoint,
    UpdateWebhookEndpoint,
    RollWebhookSecret,
    ListWebhookDeliveries,
    ReplayWebhookDelivery,
    ListInvoices,
    GetInvoice,
    PayInvoice,
    RefundInvoice,
    CreateCoupon,
    ListCoupons,
    GetCoupon,
    ArchiveCoupon,
    CreatePromotionCode,
    ListPromotionCodes,
    GetPromotionCode,
    UpdatePromotionCode,
    CreatePreorder,
    ListPreorders,
    GetPreorder,
    GetPreorderUsage,
    CancelPreorder,
    CreateProduct,
    ListProducts,
    GetProduct,
    UpdateProduct,
    ArchiveProduct,
    MoveStock,
    ListStockMoves,
    ListPurchaseOrders,
    GetPurchaseOrder,
    SendPurchaseOrder,
    CancelPurchaseOrder,
    TrackProduct,
    ProductForecast,
    ListTrackedProducts,
    UntrackProduct,
    ApplyDiscount,
    RemoveDiscount,
    CreateUsageRecord,
    VoidUsageRecord,
    CreateUnitGrant,
    GetUsageSummary,
    GetEntitlement,
    UsageReport,
    CreateTopUp,
    RevenueReport,
    ListUsageRecords,
    GetUnitLedger,
    Health,
    OpenApi,
    GetTestClock,
    AdvanceTestClock,
    StripeWebhook,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway path template, `{name}` for a parameter.
    pub path: &'static str,
    pub endpoint: Endpoint,
    pub function: Function,
}

impl Route {
    /// The API Gateway route key, `"GET /api/v1/subscriptions/{id}"`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub(crate) fn is_public(&self) -> bool {
        matches!(
            self.endpoint,
            Endpoint::Health
                | Endpoint::OpenApi
                | Endpoint::StripeWebhook
                | Endpoint::UnsubscribePage
                | Endpoint::Unsubscribe
                | Endpoint::ConfirmAddressPage
                | Endpoint::ConfirmAddress
        )
    }

    /// Served by the local stack only, never deployed (not in `template.yaml`).
    pub fn is_local_only(&self) -> bool {
        matches!(
            self.endpoint,
            Endpoint::GetTestClock | Endpoint::AdvanceTestClock
        )
    }
}

macro_rules! route {
    ($method:literal $path:literal => $endpoint:ident @ $function:ident) => {
        Route {
            method: $method,
            path: $path,
            endpoint: Endpoint::$endpoint,
            function: Function::$function,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!("GET" "/api/v1/subscriptions/plans" => ListPlans @ PlansApi),
    route!("GET" "/api/v1/plans/{id}" => GetPlan @ PlansApi),
    route!("POST" "/api/v1/plans" => CreatePlan @ PlansApi),
    route!("PATCH" "/api/v1/plans/{id}" => UpdatePlan @ PlansApi),
    route!("POST" "/api/v1/plans/{id}/archive" => ArchivePlan @ PlansApi),
    route!("POST" "/api/v1/coupons" => CreateCoupon @ PlansApi),
    route!("GET" "/api/v1/coupons" => ListCoupons @ PlansApi),
    route!("GET" "/api/v1/coupons/{id}" => GetCoupon @ PlansApi),
    route!("DELETE" "/api/v1/coupons/{id}" => ArchiveCoupon @ PlansApi),
    route!("GET" "/api/v1/coupons/{id}/promotion-codes" => ListPromotionCodes @ PlansApi),
    route!("POST" "/api/v1/promotion-codes" => CreatePromotionCode @ PlansApi),
    route!("GET" "/api/v1/promotion-codes/{id}" => GetPromotionCode @ PlansApi),
    route!("PATCH" "/api/v1/promotion-codes/{id}" => UpdatePromotionCode @ PlansApi),
    route!("POST" "/api/v1/products" => CreateProduct @ PlansApi),
    route!("GET" "/api/v1/products" => ListProducts @ PlansApi),
    route!("GET" "/api/v1/products/{id}" => GetProduct @ PlansApi),
    route!("PATCH" "/api/v1/products/{id}" => UpdateProduct @ PlansApi),
    route!("POST" "/api/v1/products/{id}/archive" => ArchiveProduct @ PlansApi),
    route!("POST" "/api/v1/products/{id}/stock" => MoveStock @ PlansApi),
    route!("GET" "/api/v1/products/{id}/stock-moves" => ListStockMoves @ PlansApi),
    route!("GET" "/api/v1/products/{id}/forecast" => ProductForecast @ PlansApi),
    route!("GET" "/api/v1/purchase-orders" => ListPurchaseOrders @ PlansApi),
    route!("GET" "/api/v1/purchase-orders/{id}" => GetPurchaseOrder @ PlansApi),
    route!("POST" "/api/v1/purchase-orders/{id}/send" => SendPurchaseOrder @ PlansApi),
    route!("POST" "/api/v1/purchase-orders/{id}/cancel" => CancelPurchaseOrder @ PlansApi),
    route!("POST" "/api/v1/customers/{id}/tracked-products" => TrackProduct @ PlansApi),
    route!("GET" "/api/v1/customers/{id}/tracked-products" => ListTrackedProducts @ PlansApi),
    route!("DELETE" "/api/v1/customers/{id}/tracked-products/{product_id}" => UntrackProduct @ PlansApi),
    route!("POST" "/api/v1/customers" => CreateCustomer @ CustomersApi),
    route!("GET" "/api/v1/customers" => ListCustomers @ CustomersApi),
    route!("GET" "/api/v1/customers/{id}" => GetCustomer @ CustomersApi),
    route!("PATCH" "/api/v1/customers/{id}" => UpdateCustomer @ CustomersApi),
    route!("PUT" "/api/v1/customers/{id}/payment-method" => SetPaymentMethod @ CustomersApi),
    route!("GET" "/api/v1/customers/{id}/credit-balance" => GetCreditBalance @ CustomersApi),
    route!("GET" "/api/v1/customers/{id}/credit-transactions" => ListCreditTransactions @ CustomersApi),
    route!("GET" "/api/v1/customers/{id}/notification-preferences" => GetNotificationPreferences @ CustomersApi),
    route!("PUT" "/api/v1/customers/{id}/notification-preferences" => UpdateNotificationPreferences @ CustomersApi),
    route!("DELETE" "/api/v1/customers/{id}/email-suppressions/{address}" => LiftEmailSuppression @ CustomersApi),
    route!("GET" "/api/v1/notification-preferences/unsubscribe" => UnsubscribePage @ CustomersApi),
    route!("POST" "/api/v1/notification-preferences/unsubscribe" => Unsubscribe @ CustomersApi),
    route!("GET" "/api/v1/notification-preferences/confirm-address" => ConfirmAddressPage @ CustomersApi),
    route!("POST" "/api/v1/notification-preferences/confirm-address" => ConfirmAddress @ CustomersApi),
    route!("POST" "/api/v1/subscriptions" => CreateSubscription @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions" => ListSubscriptions @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}" => GetSubscription @ SubscriptionsApi),
    route!("PUT" "/api/v1/subscriptions/{id}/pause" => PauseSubscription @ SubscriptionsApi),
    route!("PUT" "/api/v1/subscriptions/{id}/resume" => ResumeSubscription @ SubscriptionsApi),
    route!("DELETE" "/api/v1/subscriptions/{id}" => CancelSubscription @ SubscriptionsApi),
    route!("PATCH" "/api/v1/subscriptions/{id}" => UpdateSubscription @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/change-plan" => ChangePlan @ SubscriptionsApi),
    route!("PUT" "/api/v1/subscriptions/{id}/items" => SetSubscriptionItems @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/discount" => ApplyDiscount @ SubscriptionsApi),
    route!("DELETE" "/api/v1/subscriptions/{id}/discount" => RemoveDiscount @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/pre-orders" => CreatePreorder @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/pre-orders" => ListPreorders @ SubscriptionsApi),
    route!("GET" "/api/v1/pre-orders/{id}" => GetPreorder @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/usage" => GetPreorderUsage @ SubscriptionsApi),
    route!("PUT" "/api/v1/subscriptions/pre-orders/{id}/cancel" => CancelPreorder @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/usage-records" => CreateUsageRecord @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/usage-records" => ListUsageRecords @ SubscriptionsApi),
    route!("POST" "/api/v1/usage-records/{id}/void" => VoidUsageRecord @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/unit-grants" => CreateUnitGrant @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/unit-ledger" => GetUnitLedger @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/usage-summary" => GetUsageSummary @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/entitlements/{unit}" => GetEntitlement @ SubscriptionsApi),
    route!("GET" "/api/v1/reports/usage" => UsageReport @ SubscriptionsApi),
    route!("POST" "/api/v1/subscriptions/{id}/top-ups" => CreateTopUp @ SubscriptionsApi),
    route!("GET" "/api/v1/subscriptions/{id}/invoices" => ListInvoices @ InvoicesApi),
    route!("GET" "/api/v1/subscriptions/{id}/upcoming-invoice" => UpcomingInvoice @ InvoicesApi),
    route!("GET" "/api/v1/invoices/{id}" => GetInvoice @ InvoicesApi),
    route!("GET" "/api/v1/reports/revenue" => RevenueReport @ InvoicesApi),
    route!("POST" "/api/v1/invoices/{id}/pay" => PayInvoice @ InvoicesApi),
    route!("POST" "/api/v1/invoices/{id}/refunds" => RefundInvoice @ InvoicesApi),
    route!("POST" "/api/v1/webhook-endpoints" => CreateWebhookEndpoint @ WebhooksApi),
    route!("GET" "/api/v1/webhook-endpoints" => ListWebhookEndpoints @ WebhooksApi),
    route!("GET" "/api/v1/webhook-endpoints/{id}" => GetWebhookEndpoint @ WebhooksApi),
    route!("POST" "/api/v1/webhook-endpoints/{id}/disable" => DisableWebhookEndpoint @ WebhooksApi),
    route!("POST" "/api/v1/webhook-endpoints/{id}/enable" => EnableWebhookEndpoint @ WebhooksApi),
    route!("DELETE" "/api/v1/webhook-endpoints/{id}" => DeleteWebhookEndpoint @ WebhooksApi),
    route!("PATCH" "/api/v1/webhook-endpoints/{id}" => UpdateWebhookEndpoint @ WebhooksApi),
    route!("POST" "/api/v1/webhook-endpoints/{id}/roll-secret" => RollWebhookSecret @ WebhooksApi),
    route!("GET" "/api/v1/webhook-endpoints/{id}/deliveries" => ListWebhookDeliveries @ WebhooksApi),
    route!("POST" "/api/v1/webhook-deliveries/{id}/replay" => ReplayWebhookDelivery @ WebhooksApi),
    route!("GET" "/api/v1/health" => Health @ MetaApi),
    route!("GET" "/api/v1/openapi.json" => OpenApi @ MetaApi),
    route!("POST" "/webhooks/stripe" => StripeWebhook @ StripeWebhooks),
    route!("GET" "/api/v1/test-clock" => GetTestClock @ MetaApi),
    route!("POST" "/api/v1/test-clock/advance" => AdvanceTestClock @ MetaApi),
];

/// Matches a concrete request against the table as API Gateway does: literal segments win over
/// parameters. Returns the route and its path parameters.
pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(&'static Route, HashMap<String, String>, usize)> = None;
    for route in ROUTES
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method))
    {
        let template: Vec<&str> = route.path.split('/').collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut params = HashMap::new();
        let mut literals = 0;
        let matched = template.iter().zip(&segments).all(|(t, s)| {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                params.insert(name.to_owned(), (*s).to_owned());
                !s.is_empty()
            } else {
                literals += 1;
                t == s
            }
        });
        if matched && best.as_ref().is_none_or(|(_, _, l)| literals > *l) {
            best = Some((route, params, literals));
        }
    }
    best.map(|(route, params, _)| (route, params))
}

/// Why no route takes `method path`: the path is served with other methods (405, naming
/// them), or not at all (404).
pub fn unmatched(method: &str, path: &str) -> ApiError {
    let mut allowed: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| !r.method.eq_ignore_ascii_case(method))
        .filter(|r| match_route(r.method, path).is_some_and(|(m, _)| m.key() == r.key()))
        .map(|r| r.method)
        .collect();
    allowed.sort_unstable();
    allowed.dedup();
    if allowed.is_empty() {
        ApiError::NoRoute
    } else {
        ApiError::MethodNotAllowed(allowed)
    }
}

/// The problem+json answer for a request no route takes ([`unmatched`]), with `Allow` on a 405:
/// what the local gateway and the deployed `$default` route answer.
pub fn unmatched_response(method: &str, path: &str) -> Response<Body> {
    let error = unmatched(method, path);
    with_allow(ApiResponse::problem(&error).into_response(), &error)
}

/// A 405 names the methods the path takes (`Allow`).
fn with_allow(mut response: Response<Body>, error: &ApiError) -> Response<Body> {
    if let ApiError::MethodNotAllowed(allowed) = error {
        if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert("allow", allow);
        }
    }
    response
}

/// A handler's answer: status, JSON body, and the ETag of the resource when there is one.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: String,
    pub etag: Option<u64>,
    pub replayed: bool,
    /// Set for the few answers that are not JSON (the unsubscribe pages: HTML).
    pub content_type: Option<&'static str>,
}

impl ApiResponse {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Result<ApiResponse, ApiError> {
        Ok(ApiResponse {
            status,
            body: serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?,
            etag: None,
            replayed: false,
            content_type: None,
        })
    }

    /// An HTML page (for people following a link from an email).
    pub fn html(status: u16, body: String) -> ApiResponse {
        ApiResponse {
            status,
            body,
            etag: None,
            replayed: false,
            content_type: Some("text/html; charset=utf-8"),
        }
    }

    pub fn with_etag(mut self, version: u64) -> ApiResponse {
        self.etag = Some(version);
        self
    }

    pub fn problem(error: &ApiError) -> ApiResponse {
        ApiResponse {
            status: error.status(),
            body: serde_json::to_string(&error.to_problem())
                .unwrap_or_else(|_| r#"{"type":"about:blank","title":"Internal error","status":500,"detail":"internal error","code":"internal"}"#.into()),
            etag: None,
            replayed: false,
            content_type: None,
        }
    }

    pub fn replayed(status: u16, body: String) -> ApiResponse {
        ApiResponse {
            status,
            body,
            etag: None,
            replayed: true,
            content_type: None,
        }
    }

    fn into_response(self) -> Response<Body> {
        let content_type = match self.content_type {
            Some(content_type) => content_type,
            None if self.status >= 400 => PROBLEM_JSON,
            None => "application/json",
        };
        let mut response = Response::new(Body::Text(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        if let Some(version) = self.etag {
            if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
                headers.insert("etag", v);
            }
        }
        if self.replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

/// A request reduced to what handlers read.
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Refuses query parameters the endpoint does not know.
    pub fn query(&self, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
        query(self.query.clone(), allowed)
    }

    /// `limit` and `starting_after`, checked.
    pub fn page(&self, query: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::field(
                        "query.limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        Ok(PageRequest {
            limit,
            starting_after: query
                .get("starting_after")
                .cloned()
                .filter(|s| !s.is_empty()),
        })
    }
}

fn route_key(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.route_key.clone().filter(|k| k != "$default")
        }
        _ => None,
    }
}

/// Handles one API Gateway request for `function`. Never panics on input; every failure is a
/// problem+json answer.
pub async fn handle(state: &AppState, function: Function, req: Request) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = path_for_logs(req.uri().path());
    let (reply, error) = match handle_inner(state, function, req).await {
        Ok(reply) => (reply, None),
        Err(error) => {
            if error.status() >= 500 {
                tracing::error!(error = ?error, %method, %path, "request failed");
            }
            (ApiResponse::problem(&error), Some(error))
        }
    };
    tracing::info!(
        function = function.name(),
        %method,
        %path,
        status = reply.status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    match error {
        Some(error) => with_allow(reply.into_response(), &error),
        None => reply.into_response(),
    }
}

/// A request path as the logs carry it: a segment that may be an email address (lifting a
/// suppression names one) is replaced by `{address}`; logs carry ids, never addresses.
fn path_for_logs(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.contains('@') || segment.to_ascii_lowercase().contains("%40") {
                "{address}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn handle_inner(
    state: &AppState,
    function: Function,
    req: Request,
) -> Result<ApiResponse, ApiError> {
    let scoped = state.for_request().await?;
    let state = scoped.as_ref().unwrap_or(state);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (route, params) = match route_key(&req) {
        Some(key) => {
            let route = ROUTES
                .iter()
                .find(|r| r.key() == key)
                .ok_or(ApiError::NoRoute)?;
            (
                route,
                req.path_parameters()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            )
        }
        // Invoked without a route key (the `$default` route, a function URL): match the path
        // ourselves.
        None => {
            match_route(method.as_str(), &path).ok_or_else(|| unmatched(method.as_str(), &path))?
        }
    };
    if route.function != function {
        return Err(ApiError::NoRoute);
    }
    let query = req
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let headers = req.headers().clone();
    let body = match req.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let ctx = ApiRequest {
        method,
        path,
        params,
        query,
        headers,
        body,
    };
    if route.endpoint == Endpoint::StripeWebhook {
        return webhooks::receive(state, &ctx).await;
    }
    if matches!(
        route.endpoint,
        Endpoint::UnsubscribePage | Endpoint::Unsubscribe
    ) {
        return notifications::unsubscribe(state, route.endpoint, &ctx).await;
    }
    if matches!(
        route.endpoint,
        Endpoint::ConfirmAddressPage | Endpoint::ConfirmAddress
    ) {
        return notifications::confirm_address(state, route.endpoint, &ctx).await;
    }
    if route.is_public() {
        return meta::dispatch(state, route.endpoint, &ctx).await;
    }
    let principal = state
        .auth
        .authenticate(header(&ctx.headers, "authorization"))?;
    let is_write = ctx.method != Method::GET && ctx.method != Method::HEAD;
    // A usage record keeps its key itself, for its whole period (in the record's own write).
    let keyed_here = is_write && route.endpoint != Endpoint::CreateUsageRecord;
    match idempotency::key(&ctx.headers)?.filter(|_| keyed_here) {
        Some(key) => {
            let fingerprint = idempotency::fingerprint(ctx.method.as_str(), &ctx.path, &ctx.body);
            idempotency::run(
                state,
                &principal.idempotency_scope(),
                &key,
                &fingerprint,
                dispatch(state, route.endpoint, &ctx, &principal),
            )
            .await
        }
        None => dispatch(state, route.endpoint, &ctx, &principal).await,
    }
}

async fn dispatch(
    state: &AppState,
    endpoint: Endpoint,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    match endpoint {
        Endpoint::ListPlans => plans::list(state, ctx, principal).await,
        Endpoint::GetPlan => plans::get(state, ctx, principal).await,
        Endpoint::CreatePlan => plans::create(state, ctx, principal).await,
        Endpoint::UpdatePlan => plans::update(state, ctx, principal).await,
        Endpoint::ArchivePlan => plans::archive(state, ctx, principal).await,
        Endpoint::CreateCustomer => customers::create(state, ctx, principal).await,
        Endpoint::ListCustomers => customers::list(state, ctx, principal).await,
        Endpoint::GetCustomer => customers::get(state, ctx, principal).await,
        Endpoint::UpdateCustomer => customers::update(state, ctx, principal).await,
        Endpoint::CreateSubscription => subscriptions::create(state, ctx, principal).await,
        Endpoint::ListSubscriptions => subscriptions::list(state, ctx, principal).await,
        Endpoint::GetSubscription => subscriptions::get(state, ctx, principal).await,
        Endpoint::PauseSubscription => subscriptions::pause(state, ctx, principal).await,
        Endpoint::ResumeSubscription => subscriptions::resume(state, ctx, principal).await,
        Endpoint::CancelSubscription => subscriptions::cancel(state, ctx, principal).await,
        Endpoint::UpdateSubscription => subscriptions::update(state, ctx, principal).await,
        Endpoint::ListInvoices => invoices::list(state, ctx, principal).await,
        Endpoint::GetInvoice => invoices::get(state, ctx, principal).await,
        Endpoint::PayInvoice => invoices::pay(state, ctx, principal).await,
        Endpoint::RefundInvoice => invoices::refund(state, ctx, principal).await,
        Endpoint::ChangePlan => subscriptions::change_plan(state, ctx, principal).await,
        Endpoint::SetSubscriptionItems => subscriptions::set_items(state, ctx, principal).await,
        Endpoint::CreateUsageRecord => usage::create_record(state, ctx, principal).await,
        Endpoint::VoidUsageRecord => usage::void_record(state, ctx, principal).await,
        Endpoint::CreateUnitGrant => usage::create_grant(state, ctx, principal).await,
        Endpoint::GetUsageSummary => usage::summary(state, ctx, principal).await,
        Endpoint::GetEntitlement => usage::entitlement(state, ctx, principal).await,
        Endpoint::UsageReport => usage::report(state, ctx, principal).await,
        Endpoint::CreateTopUp => usage::top_up(state, ctx, principal).await,
        Endpoint::RevenueReport => invoices::revenue(state, ctx, principal).await,
        Endpoint::ListUsageRecords => usage::list_records(state, ctx, principal).await,
        Endpoint::GetUnitLedger => usage::ledger(state, ctx, principal).await,
        Endpoint::UpcomingInvoice => invoices::upcoming(state, ctx, principal).await,
        Endpoint::SetPaymentMethod => customers::set_payment_method(state, ctx, principal).await,
        Endpoint::GetCreditBalance => customers::credit_balance(state, ctx, principal).await,
        Endpoint::ListCreditTransactions => {
            customers::credit_transactions(state, ctx, principal).await
        }
        Endpoint::GetNotificationPreferences => notifications::get(state, ctx, principal).await,
        Endpoint::UpdateNotificationPreferences => {
            notifications::update(state, ctx, principal).await
        }
        Endpoint::LiftEmailSuppression => {
            notifications::lift_suppression(state, ctx, principal).await
        }
        Endpoint::UnsubscribePage | Endpoint::Unsubscribe => {
            notifications::unsubscribe(state, endpoint, ctx).await
        }
        Endpoint::ConfirmAddressPage | Endpoint::ConfirmAddress => {
            notifications::confirm_address(state, endpoint, ctx).await
        }
        Endpoint::CreateWebhookEndpoint => webhook_endpoints::create(state, ctx, principal).await,
        Endpoint::ListWebhookEndpoints => webhook_endpoints::list(state, ctx, principal).await,
        Endpoint::GetWebhookEndpoint => webhook_endpoints::get(state, ctx, principal).await,
        Endpoint::DisableWebhookEndpoint => {
            webhook_endpoints::set_enabled(state, ctx, principal, false).await
        }
        Endpoint::EnableWebhookEndpoint => {
            webhook_endpoints::set_enabled(state, ctx, principal, true).await
        }
        Endpoint::DeleteWebhookEndpoint => webhook_endpoints::delete(state, ctx, principal).await,
        Endpoint::UpdateWebhookEndpoint => webhook_endpoints::update(state, ctx, principal).await,
        Endpoint::RollWebhookSecret => webhook_endpoints::roll_secret(state, ctx, principal).await,
        Endpoint::ListWebhookDeliveries => {
            webhook_endpoints::deliveries(state, ctx, principal).await
        }
        Endpoint::ReplayWebhookDelivery => webhook_endpoints::replay(state, ctx, principal).await,
        Endpoint::CreateCoupon => coupons::create(state, ctx, principal).await,
        Endpoint::ListCoupons => coupons::list(state, ctx, principal).await,
        Endpoint::GetCoupon => coupons::get(state, ctx, principal).await,
        Endpoint::ArchiveCoupon => coupons::archive(state, ctx, principal).await,
        Endpoint::CreatePromotionCode => {
            coupons::create_promotion_code(state, ctx, principal).await
        }
        Endpoint::ListPromotionCodes => coupons::list_promotion_codes(state, ctx, principal).await,
        Endpoint::GetPromotionCode => coupons::get_promotion_code(state, ctx, principal).await,
        Endpoint::UpdatePromotionCode => {
            coupons::update_promotion_code(state, ctx, principal).await
        }
        Endpoint::CreatePreorder => preorders::create(state, ctx, principal).await,
        Endpoint::ListPreorders => preorders::list(state, ctx, principal).await,
        Endpoint::GetPreorder => preorders::get(state, ctx, principal).await,
        Endpoint::GetPreorderUsage => preorders::usage(state, ctx, principal).await,
        Endpoint::CancelPreorder => preorders::cancel(state, ctx, principal).await,
        Endpoint::CreateProduct => products::create(state, ctx, principal).await,
        Endpoint::ListProducts => products::list(state, ctx, principal).await,
        Endpoint::GetProduct => products::get(state, ctx, principal).await,
        Endpoint::UpdateProduct => products::update(state, ctx, principal).await,
        Endpoint::ArchiveProduct => products::archive(state, ctx, principal).await,
        Endpoint::MoveStock => products::move_stock(state, ctx, principal).await,
        Endpoint::ListStockMoves => products::stock_moves(state, ctx, principal).await,
        Endpoint::ListPurchaseOrders => products::list_purchase_orders(state, ctx, principal).await,
        Endpoint::GetPurchaseOrder => products::get_purchase_order(state, ctx, principal).await,
        Endpoint::SendPurchaseOrder => products::send_purchase_order(state, ctx, principal).await,
        Endpoint::TrackProduct => products::track(state, ctx, principal).await,
        Endpoint::ProductForecast => products::forecast(state, ctx, principal).await,
        Endpoint::ListTrackedProducts => products::tracked(state, ctx, principal).await,
        Endpoint::UntrackProduct => products::untrack(state, ctx, principal).await,
        Endpoint::CancelPurchaseOrder => {
            products::cancel_purchase_order(state, ctx, principal).await
        }
        Endpoint::ApplyDiscount => coupons::apply(state, ctx, principal).await,
        Endpoint::RemoveDiscount => coupons::remove(state, ctx, principal).await,
        Endpoint::GetTestClock => test_clock::get(state, ctx, principal).await,
        Endpoint::AdvanceTestClock => test_clock::advance(state, ctx, principal).await,
        Endpoint::Health | Endpoint::OpenApi => meta::dispatch(state, endpoint, ctx).await,
        Endpoint::StripeWebhook => webhooks::receive(state, ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_beat_parameters() {
        let (route, params) = match_route("GET", "/api/v1/subscriptions/plans").expect("route");
        assert_eq!(route.endpoint, Endpoint::ListPlans);
        assert!(params.is_empty());
        let (route, params) = match_route("GET", "/api/v1/subscriptions/sub_1").expect("route");
        assert_eq!(route.endpoint, Endpoint::GetSubscription);
        assert_eq!(params.get("id").map(String::as_str), Some("sub_1"));
    }

    #[test]
    fn unknown_paths_and_methods_do_not_match() {
        assert!(match_route("GET", "/api/v1/nothing").is_none());
        assert!(match_route("POST", "/api/v1/health").is_none());
        assert!(match_route("GET", "/api/v1/subscriptions//pause").is_none());
    }

    #[test]
    fn every_route_key_is_unique() {
        let mut keys: Vec<String> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
