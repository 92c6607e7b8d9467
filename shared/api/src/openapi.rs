//! The OpenAPI 3.1 document, generated from the handlers' annotations and the DTO types.

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::problem::PROBLEM_JSON;
use crate::routes::{
    coupons, customers, invoices, meta, notifications, plans, preorders, products, subscriptions,
    test_clock, usage, webhook_endpoints, webhooks,
};

/// The error answers every authenticated endpoint can give, as problem+json.
pub struct ErrorResponses;

impl utoipa::IntoResponses for ErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (400, "Malformed JSON"),
            (401, "Missing, expired or invalid token"),
            (403, "The role may not do this"),
            (404, "Not found, or not yours"),
            (
                409,
                "Conflict: stale version, illegal transition, or key in progress",
            ),
            (402, "Payment declined; `errors` names the payment method"),
            (413, "Body too large"),
            (415, "Not JSON"),
            (422, "Validation failed; `errors` names the fields"),
            (502, "The payment processor refused the request"),
            (503, "A backing service is unavailable"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation gets the name of its endpoint as its id (`getCustomer`,
/// `listSubscriptionInvoices`...), unique, so a generated client has one method for each;
/// public operations say they need no token (`security: []`); `servers` names the local stack
/// and a deployed API.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, operation) in operations {
                let (Some(operation), Some(route)) = (
                    operation.as_mut(),
                    crate::routes::ROUTES
                        .iter()
                        .find(|r| r.method == method && r.path == path.as_str()),
                ) else {
                    continue;
                };
                operation.operation_id = Some(operation_id(route.endpoint));
                if route.is_public() {
                    operation.security = Some(Vec::new());
                }
            }
        }
        openapi.servers = Some(vec![
            utoipa::openapi::server::ServerBuilder::new()
                .url("https://{api_id}.execute-api.{region}.amazonaws.com")
                .description(Some("Deployed (the stack's ApiUrl output)"))
                .parameter(
                    "api_id",
                    utoipa::openapi::server::ServerVariableBuilder::new()
                        .default_value("api")
                        .description(Some("The HTTP API's id")),
                )
                .parameter(
                    "region",
                    utoipa::openapi::server::ServerVariableBuilder::new()
                        .default_value("us-east-1")
                        .description(Some("The AWS region")),
                )
                .build(),
            utoipa::openapi::server::ServerBuilder::new()
                .url("http://127.0.0.1:3000")
                .description(Some("The local stack (`make dev`)"))
                .build(),
        ]);
    }
}

/// `GetCustomer` → `getCustomer`.
fn operation_id(endpoint: crate::routes::Endpoint) -> String {
    let name = format!("{endpoint:?}");
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => name,
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Subscription billing API", version = "1.0.0",
        description = "Tiered B2B subscriptions billed through Stripe. Money is a decimal string next to a `currency`; times are RFC 3339 UTC; lists are `{data, has_more}` paged with `limit` and `starting_after`; errors are RFC 9457 problem+json."),
    paths(
        plans::list, plans::get, plans::create, plans::update, plans::archive,
        products::create, products::list, products::get, products::update, products::archive,
        products::move_stock, products::stock_moves, products::list_purchase_orders,
        products::get_purchase_order, products::send_purchase_order, products::cancel_purchase_order,
        products::track, products::tracked, products::untrack, products::forecast,
        preorders::create, preorders::list, preorders::get, preorders::usage, preorders::cancel,
        usage::create_record, usage::list_records, usage::void_record, usage::create_grant, usage::ledger, usage::summary,
        usage::entitlement, usage::report, usage::top_up,
        customers::create, customers::list, customers::get, customers::update,
        customers::set_payment_method, customers::credit_balance, customers::credit_transactions,
        notifications::get, notifications::update, notifications::unsubscribe_page,
        notifications::unsubscribe_post, notifications::confirm_address_page,
        notifications::confirm_address_post, notifications::lift_suppression,
        subscriptions::create, subscriptions::list, subscriptions::get, subscriptions::pause,
        subscriptions::resume, subscriptions::cancel, subscriptions::update, subscriptions::set_items,
        subscriptions::change_plan, coupons::apply, coupons::remove,
        coupons::create, coupons::list, coupons::get, coupons::archive,
        coupons::create_promotion_code, coupons::list_promotion_codes,
        coupons::get_promotion_code, coupons::update_promotion_code,
        invoices::list, invoices::get, invoices::pay, invoices::upcoming, invoices::refund,
        invoices::revenue,
        webhook_endpoints::create, webhook_endpoints::list, webhook_endpoints::get,
        webhook_endpoints::disable_doc, webhook_endpoints::enable_doc, webhook_endpoints::delete,
        webhook_endpoints::deliveries, webhook_endpoints::replay, webhook_endpoints::update,
        webhook_endpoints::roll_secret,
        meta::health, meta::openapi,
        test_clock::get, test_clock::advance,
        webhooks::receive,
    ),
    components(schemas(crate::problem::Problem, crate::problem::FieldProblem)),
    modifiers(&BearerAuth, &OperationIds),
    tags((name = "plans", description = "The catalogue: tiered plans with their limits and features (admins manage them)."),
        (name = "products", description = "Products with their stock levels and the ledger of stock moves (admins manage them; everyone signed in reads them)."),
        (name = "pre-orders", description = "Pre-orders within the tier's limits, early access and discount; the month's usage."),
        (name = "usage", description = "Metered allowances: usage records exact under concurrency, promotional unit grants, the usage summary and entitlements."),
        (name = "customers", description = "Customers (companies), their payment method, credit balance and email preferences."),
        (name = "subscriptions", description = "Subscriptions: subscribe, pause, cancel, change plan, discounts."),
        (name = "invoices", description = "Invoices with their lines, payments, refunds and disputes."),
        (name = "coupons", description = "Coupons and promotion codes (admins create them)."),
        (name = "meta", description = "Health and this document."), (name = "webhooks", description = "Stripe's webhooks in; operators' webhook endpoints out (admins)."),
        (name = "test-clock", description = "Local stack and tests only (`TEST_CLOCK=1`); 404 when deployed."))
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        assert!(doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} is not documented", route.key());
        }
    }

    #[test]
    fn every_operation_has_a_unique_id_and_says_how_it_is_authorized() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        let mut ids = std::collections::BTreeSet::new();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "{id} twice");
            let security = op["security"]
                .as_array()
                .expect("security on every operation");
            assert_eq!(security.is_empty(), route.is_public(), "{}", route.key());
        }
        assert!(ids.contains("getCustomer") && ids.contains("listInvoices"));
        assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
    }

    #[test]
    fn enums_are_documented_with_their_wire_names() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializes");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["PaymentTerms"]["enum"][1], "net_15");
        assert_eq!(schemas["Feature"]["enum"][0], "api_access");
        assert_eq!(schemas["Interval"]["enum"][1], "two_weeks");
        assert_eq!(schemas["SubscriptionStatus"]["enum"][3], "past_due");
    }
}
