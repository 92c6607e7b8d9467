//! Customers: operators create and list them; a customer reads and updates only itself.

use billing_domain::customers::Customer;
use billing_domain::kernel::ids::CustomerId;

use crate::auth::{Permission, Principal};
use crate::dto::{
    CreateCustomerRequest, CreditBalanceResponse, CreditTransactionDto, CustomerResponse, List,
    PaymentMethodRequest, UpdateCustomerRequest,
};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::{if_match, json_body};
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn customer_id(ctx: &ApiRequest) -> Result<CustomerId, ApiError> {
    ctx.param("id")
        .parse()
        .map_err(|_| ApiError::NotFound("customer"))
}

fn reply(status: u16, customer: &Customer) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(status, &CustomerResponse::from(customer))?.with_etag(customer.version))
}

/// Create a customer (admin, support).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers",
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = CreateCustomerRequest,
    responses((status = 201, description = "Created", body = CustomerResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn create(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorWrite)?;
    let request: CreateCustomerRequest = json_body(&ctx.body, &ctx.headers)?;
    let customer = state.billing.create_customer(request.into()).await?;
    reply(201, &customer)
}

/// List customers, newest first (operators).
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "page size, default 10"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of customers", body = List<CustomerResponse>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn list(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    principal.authorize(Permission::OperatorRead)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = state.billing.list_customers(&ctx.page(&query)?).await?;
    ApiResponse::json(200, &List::from_page(page, |c| CustomerResponse::from(&c)))
}

/// One customer. A customer token reads only its own record (404 for others).
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "The customer", body = CustomerResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let customer = state
        .billing
        .get_customer(&actor, &customer_id(ctx)?)
        .await?;
    reply(200, &customer)
}

/// Update a customer's details.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("If-Match" = Option<String>, Header, description = "the ETag read; a stale one is a 409"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = UpdateCustomerRequest,
    responses((status = 200, description = "Updated", body = CustomerResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn update(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = customer_id(ctx)?;
    let request: UpdateCustomerRequest = json_body(&ctx.body, &ctx.headers)?;
    let expected = if_match(&ctx.headers)?;
    let customer = state
        .billing
        .update_customer(&actor, &id, request.into(), expected)
        .await?;
    reply(200, &customer)
}

/// Replace the customer's payment method: attached at Stripe and made the default, moved to
/// the customer's live subscriptions, and what a past-due or incomplete one owes is charged
/// again at once.
#[utoipa::path(put, path = "/api/v1/customers/{id}/payment-method", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same key and body")),
    request_body = PaymentMethodRequest,
    responses((status = 200, description = "The customer with its new default", body = CustomerResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn set_payment_method(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Write)?;
    let id = customer_id(ctx)?;
    let request: PaymentMethodRequest = json_body(&ctx.body, &ctx.headers)?;
    let customer = state
        .billing
        .set_payment_method(&actor, &id, &request.payment_method_id)
        .await?;
    reply(200, &customer)
}

/// The customer's credit balance, per currency: what refunds to the balance, negative invoices
/// and voided invoices left, less what invoices spent. It pays the next invoices first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/credit-balance", tag = "customers",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "The balances", body = CreditBalanceResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn credit_balance(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    ctx.query(&[])?;
    let id = customer_id(ctx)?;
    let balances = state.billing.credit_balances(&actor, &id).await?;
    ApiResponse::json(200, &CreditBalanceResponse::new(id.as_str(), &balances))
}

/// Every change of the customer's credit balance, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/credit-transactions", tag = "customers",
    params(("id" = String, Path, description = "customer id"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 10)"),
        ("starting_after" = Option<String>, Query, description = "the last id of the previous page")),
    responses((status = 200, description = "A page of transactions", body = List<CreditTransactionDto>), ErrorResponses),
    security(("bearer" = [])))]
pub async fn credit_transactions(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    let actor = principal.authorize(Permission::Read)?;
    let id = customer_id(ctx)?;
    let query = ctx.query(&["limit", "starting_after"])?;
    let page = state
        .billing
        .list_credit_transactions(&actor, &id, &ctx.page(&query)?)
        .await?;
    ApiResponse::json(
        200,
        &List::from_page(page, |t| CreditTransactionDto::from(&t)),
    )
}
