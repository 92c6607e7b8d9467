//! Customers' notification preferences, and the signed unsubscribe link their emails carry.

use billing_domain::customers::{Customer, Email};
use billing_domain::kernel::access::Actor;
use billing_domain::kernel::ids::CustomerId;
use billing_domain::notifications::{NotificationKind, NotificationPreferences};

use crate::auth::{Permission, Principal};
use crate::dto::{
    NotificationPreferencesResponse, SuppressedAddress, UpdateNotificationPreferencesRequest,
};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::{json_body, percent_decode};
use crate::routes::{ApiRequest, ApiResponse, Endpoint};
use crate::state::AppState;

fn customer_id(raw: &str) -> Result<CustomerId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("customer"))
}

/// Which emails the customer receives, and where. A customer token reads only its own.
#[utoipa::path(get, path = "/api/v1/customers/{id}/notification-preferences", tag = "customers",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "The preferences", body = NotificationPreferencesResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    ctx.query(&[])?;
    let (prefs, customer) = state
        .billing
        .notification_preferences(&actor, &customer_id(ctx.param("id"))?)
        .await?;
    preferences_reply(state, &actor, &prefs, &customer).await
}

async fn preferences_reply(
    state: &AppState,
    actor: &Actor,
    prefs: &NotificationPreferences,
    customer: &Customer,
) -> Result<ApiResponse, ApiError> {
    let suppressed = state
        .billing
        .suppressed_recipients(actor, prefs, customer)
        .await?;
    ApiResponse::json(
        200,
        &NotificationPreferencesResponse::new(prefs, customer, &suppressed),
    )
}

/// Send email to an address again after it bounced or complained (the mailbox was fixed):
/// operators only. The address must be one of the customer's recipients.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/email-suppressions/{address}", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("address" = String, Path, description = "the suppressed address")),
    responses((status = 200, description = "Lifted: the suppression as it was", body = SuppressedAddress), ErrorResponses),
    security(("bearer" = [])))]
pub async fn lift_suppression(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::OperatorWrite)?;
    ctx.query(&[])?;
    let address = percent_decode(ctx.param("address"));
    let lifted = state
        .billing
        .lift_suppression(&actor, &customer_id(ctx.param("id"))?, &address)
        .await?;
    ApiResponse::json(200, &SuppressedAddress::from(&lifted))
}

/// Turn kinds of email on or off and choose the addresses. Receipts, payment failures,
/// payments waiting for the customer and refunds are always sent.
#[utoipa::path(put, path = "/api/v1/customers/{id}/notification-preferences", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdateNotificationPreferencesRequest,
    responses((status = 200, description = "The preferences", body = NotificationPreferencesResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let request: UpdateNotificationPreferencesRequest = json_body(&ctx.body, &ctx.headers)?;
    let (prefs, customer) = state
        .billing
        .update_notification_preferences(&actor, &customer_id(ctx.param("id"))?, request.into())
        .await?;
    preferences_reply(state, &actor, &prefs, &customer).await
}

/// The unsubscribe link of an email (no login: the signature stands for the customer). GET
/// shows a page with a button, so that mail scanners that follow links change nothing; POST
/// (the button, or a one-click client) turns the kind off.
#[utoipa::path(get, path = "/api/v1/notification-preferences/unsubscribe", tag = "customers",
    params(("customer_id" = String, Query, description = "from the link"),
        ("kind" = String, Query, description = "the kind of email, from the link"),
        ("signature" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "A page asking to confirm", content_type = "text/html", body = String), ErrorResponses))]
#[allow(dead_code)] // Documents the route; `unsubscribe` serves it.
pub async fn unsubscribe_page() {}

/// Turns the link's kind of email off for its customer.
#[utoipa::path(post, path = "/api/v1/notification-preferences/unsubscribe", tag = "customers",
    params(("customer_id" = String, Query, description = "from the link"),
        ("kind" = String, Query, description = "the kind of email, from the link"),
        ("signature" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "Unsubscribed (a page saying so)", content_type = "text/html", body = String), ErrorResponses))]
#[allow(dead_code)] // Documents the route; `unsubscribe` serves it.
pub async fn unsubscribe_post() {}

pub async fn unsubscribe(
    state: &AppState,
    endpoint: Endpoint,
    ctx: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let query = ctx.query(&["customer_id", "kind", "signature"])?;
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let kind: NotificationKind = get("kind")
        .parse()
        .map_err(|e: String| ApiError::field("query.kind", e))?;
    let customer = customer_id(get("customer_id"))?;
    if !state
        .services
        .links
        .verify(&customer, kind, get("signature"))
    {
        return Err(ApiError::field(
            "query.signature",
            "this link is not valid; use the link from the email",
        ));
    }
    let description = kind.as_str().replace('_', " ");
    if endpoint == Endpoint::UnsubscribePage {
        return Ok(ApiResponse::html(
            200,
            page(&format!(
                "<p>Stop sending {description} emails?</p><form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>"
            )),
        ));
    }
    state.billing.unsubscribe(&customer, kind).await?;
    let text = if kind.always_sent() {
        format!("{description} emails are always sent: they are part of paying for the service.")
    } else {
        format!("You will no longer receive {description} emails.")
    };
    Ok(ApiResponse::html(200, page(&format!("<p>{text}</p>"))))
}

/// The link of an address confirmation email (no login: the signature stands for the
/// address's owner, who received it). GET shows a page with a button, so that mail scanners that
/// follow links confirm nothing; POST (the button) confirms the address, which then gets the
/// customer's email.
#[utoipa::path(get, path = "/api/v1/notification-preferences/confirm-address", tag = "customers",
    params(("customer_id" = String, Query, description = "from the link"),
        ("address" = String, Query, description = "the address to confirm, from the link"),
        ("signature" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "A page asking to confirm", content_type = "text/html", body = String), ErrorResponses))]
#[allow(dead_code)] // Documents the route; `confirm_address` serves it.
pub async fn confirm_address_page() {}

/// Confirms the link's address for its customer.
#[utoipa::path(post, path = "/api/v1/notification-preferences/confirm-address", tag = "customers",
    params(("customer_id" = String, Query, description = "from the link"),
        ("address" = String, Query, description = "the address to confirm, from the link"),
        ("signature" = String, Query, description = "the link's signature")),
    responses((status = 200, description = "Confirmed (a page saying so)", content_type = "text/html", body = String), ErrorResponses))]
#[allow(dead_code)] // Documents the route; `confirm_address` serves it.
pub async fn confirm_address_post() {}

pub async fn confirm_address(
    state: &AppState,
    endpoint: Endpoint,
    ctx: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let query = ctx.query(&["customer_id", "address", "signature"])?;
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let address = Email::parse("query.address", get("address")).map_err(ApiError::from)?;
    let customer = customer_id(get("customer_id"))?;
    if !state
        .services
        .links
        .verify_address(&customer, &address, get("signature"))
    {
        return Err(ApiError::field(
            "query.signature",
            "this link is not valid; use the link from the email",
        ));
    }
    if endpoint == Endpoint::ConfirmAddressPage {
        return Ok(ApiResponse::html(
            200,
            page("<p>Receive this customer's billing email at this address?</p><form method=\"post\"><button type=\"submit\">Confirm</button></form>"),
        ));
    }
    state
        .billing
        .confirm_notification_address(&customer, &address)
        .await?;
    Ok(ApiResponse::html(
        200,
        page("<p>Confirmed: this address now receives the customer's billing email.</p>"),
    ))
}

/// A minimal page; `body` holds nothing from the request but the kind's fixed name.
fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Email preferences</title></head><body>{body}</body></html>"
    )
}
