//! Bad input on every endpoint answers problem+json 4xx naming the field; never a 5xx.

use billing_api::{Endpoint, ROUTES};
use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn malformed_json_is_a_400_on_every_endpoint_with_a_body() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Broken Bodies").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_basic_month")
        .await
        .ok(201);
    let sub_id = sub.body["id"].as_str().expect("id");
    let product = app
        .call(
            Method::POST,
            "/api/v1/products",
            &admin,
            Some(
                json!({"sku": format!("BROKEN-{}", &sub_id[4..]), "name": "Broken",
                                    "price": "1.00", "currency": "usd"}),
            ),
        )
        .await
        .ok(201);
    let product_id = product.body["id"].as_str().expect("product id");
    // Every route that reads a body (archives, resume, pay, removing a discount, sending or
    // canceling a purchase order and untracking take none; the test clock is off).
    for route in ROUTES.iter().filter(|r| {
        r.method != "GET"
            && !r.is_local_only()
            && !matches!(
                r.endpoint,
                Endpoint::ArchivePlan
                    | Endpoint::ArchiveProduct
                    | Endpoint::CancelPreorder
                    | Endpoint::SendPurchaseOrder
                    | Endpoint::VoidUsageRecord
                    | Endpoint::CancelPurchaseOrder
                    | Endpoint::ArchiveCoupon
                    | Endpoint::RemoveDiscount
                    | Endpoint::ResumeSubscription
                    | Endpoint::PayInvoice
                    // Signed by Stripe: a bad body fails its signature first (billing tests).
                    | Endpoint::StripeWebhook
                    // Reads its signed query only.
                    | Endpoint::Unsubscribe
                    | Endpoint::ConfirmAddress
                    | Endpoint::DisableWebhookEndpoint
                    | Endpoint::EnableWebhookEndpoint
                    | Endpoint::DeleteWebhookEndpoint
                    | Endpoint::LiftEmailSuppression
                    | Endpoint::UntrackProduct
                    | Endpoint::ReplayWebhookDelivery
            )
    }) {
        let id = if route.path.contains("/plans/") {
            "plan_basic_month".to_owned()
        } else if route.path.starts_with("/api/v1/promotion-codes/") {
            "promo_unknown".to_owned()
        } else if route.path.starts_with("/api/v1/invoices/") {
            sub.body["latest_invoice_id"]
                .as_str()
                .expect("invoice")
                .to_owned()
        } else if route.path.contains("/customers/") {
            customer.clone()
        } else if route.path.starts_with("/api/v1/products/") {
            product_id.to_owned()
        } else {
            sub_id.to_owned()
        };
        let path = route.path.replace("{id}", &id);
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        for broken in ["{", "{\"name\": }", "nul", "\u{1}"] {
            let answer = app
                .raw(
                    method.clone(),
                    &path,
                    Some(&admin),
                    Some(broken.to_owned()),
                    &[],
                )
                .await;
            answer.problem(400);
        }
        let answer = app
            .raw(
                method.clone(),
                &path,
                Some(&admin),
                Some("[1, 2]".to_owned()),
                &[],
            )
            .await;
        answer.problem(422);
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70_000));
        app.raw(method.clone(), &path, Some(&admin), Some(big), &[])
            .await
            .problem(413);
    }
}

#[tokio::test]
async fn wrong_types_and_invalid_values_name_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let cases: Vec<(Method, &str, serde_json::Value, &str)> = vec![
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": "X"}),
            "email",
        ),
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": 5, "email": "a@b.example"}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": "X", "email": "not an email"}),
            "email",
        ),
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": "X", "email": "a@b.example", "payment_terms": "net_7"}),
            "payment_terms",
        ),
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": "X", "email": "a@b.example", "billing_address": {"line1": "1", "city": "c", "country": "Narnia"}}),
            "billing_address.country",
        ),
        (
            Method::POST,
            "/api/v1/customers",
            json!({"name": "X", "email": "a@b.example", "surprise": true}),
            "surprise",
        ),
        (
            Method::POST,
            "/api/v1/subscriptions",
            json!({"customer_id": 1, "subscription_plan_id": 2}),
            "customer_id",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "basic", "interval": "month", "price": "-5.00", "currency": "usd"}),
            "price",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "basic", "interval": "month", "price": "1.001", "currency": "usd"}),
            "price",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "gold", "interval": "month", "price": "1", "currency": "usd"}),
            "tier",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "basic", "interval": "month", "price": 9.99, "currency": "usd"}),
            "price",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "basic", "interval": "month", "price": "1", "currency": "xxx"}),
            "currency",
        ),
        (
            Method::POST,
            "/api/v1/plans",
            json!({"name": "X", "tier": "basic", "interval": "month", "price": "1", "currency": "usd", "trial_days": -1}),
            "trial_days",
        ),
        (
            Method::PATCH,
            "/api/v1/plans/plan_basic_month",
            json!({"price": "1.00"}),
            "price",
        ),
        (
            Method::PATCH,
            "/api/v1/plans/plan_basic_month",
            json!({"limits": {"early_access_days": 3, "preorder_discount_percent": "150"}}),
            "limits.preorder_discount_percent",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = app
            .call(method.clone(), path, &admin, Some(body.clone()))
            .await
            .problem(422);
        assert!(
            answer.fields().iter().any(|f| f == field),
            "{method} {path} {body}: expected field {field}, got {answer:?}"
        );
    }
}

#[tokio::test]
async fn unknown_plans_customers_and_ids_are_clear_errors() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Picky").await;
    let unknown_plan = app
        .subscribe(&admin, &customer, "plan_does_not_exist")
        .await
        .problem(422);
    assert_eq!(unknown_plan.fields(), ["subscription_plan_id"]);
    app.subscribe(&admin, "cus_nobody", "plan_basic_month")
        .await
        .problem(404);
    let bad_id = app
        .subscribe(&admin, "not-a-customer-id", "plan_basic_month")
        .await
        .problem(422);
    assert_eq!(bad_id.fields(), ["customer_id"]);
    app.get("/api/v1/subscriptions/sub_missing", &admin)
        .await
        .problem(404);
    app.get("/api/v1/subscriptions/%20", &admin)
        .await
        .problem(404);
    app.get("/api/v1/customers/cus_missing", &admin)
        .await
        .problem(404);
    app.get("/api/v1/plans/plan_missing", &admin)
        .await
        .problem(404);
    app.get("/api/v1/nowhere", &admin).await;
}

#[tokio::test]
async fn query_parameters_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    for (path, field) in [
        ("/api/v1/customers?limit=0", "query.limit"),
        ("/api/v1/customers?limit=101", "query.limit"),
        ("/api/v1/customers?limit=ten", "query.limit"),
        (
            "/api/v1/customers?starting_after=cus_nobody",
            "starting_after",
        ),
        ("/api/v1/customers?color=blue", "query.color"),
        ("/api/v1/subscriptions", "query.customer_id"),
        (
            "/api/v1/subscriptions/plans?include_archived=maybe",
            "query.include_archived",
        ),
    ] {
        let answer = app.get(path, &admin).await.problem(422);
        assert_eq!(answer.fields(), [field], "{path}");
    }
}

#[tokio::test]
async fn a_non_json_content_type_is_a_415() {
    let app = TestApp::spawn().await;
    let answer = app
        .http
        .post(format!("{}/api/v1/customers", app.base))
        .bearer_auth(app.admin())
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status().as_u16(), 415);
}

#[tokio::test]
async fn a_far_future_or_malformed_time_in_any_request_is_a_422_naming_the_field() {
    let app = TestApp::with_test_clock().await;
    let admin = app.admin();
    let customer = app.create_customer("Time traveller").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_basic_month")
        .await
        .ok(201);
    let sub_id = sub.body["id"].as_str().expect("id");
    let bad_times = [
        "+10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "1969-07-20T20:17:00Z",
        "next tuesday",
        "2030-02-30T00:00:00Z",
    ];
    for bad in bad_times {
        let cases = [
            (
                format!("/api/v1/subscriptions/{sub_id}/pause"),
                Method::PUT,
                json!({"resumes_at": bad}),
                "resumes_at",
            ),
            (
                "/api/v1/coupons".to_owned(),
                Method::POST,
                json!({"name": "Late", "percent_off": "10", "duration": "once", "redeem_by": bad}),
                "redeem_by",
            ),
            (
                "/api/v1/test-clock/advance".to_owned(),
                Method::POST,
                json!({"to": bad}),
                "to",
            ),
        ];
        for (path, method, body, field) in cases {
            let answer = app
                .call(method, &path, &admin, Some(body))
                .await
                .problem(422);
            assert_eq!(answer.fields(), [field], "{bad} at {path}: {answer:?}");
        }
    }
    app.call(
        Method::POST,
        "/api/v1/coupons",
        &admin,
        Some(json!({"id": "coupon_now", "name": "Now", "percent_off": "10", "duration": "once"})),
    )
    .await
    .ok(201);
    let code = app
        .call(
            Method::POST,
            "/api/v1/promotion-codes",
            &admin,
            Some(json!({"code": "LATER", "coupon_id": "coupon_now", "expires_at": "+10000-01-01T00:00:00Z"})),
        )
        .await
        .problem(422);
    assert_eq!(code.fields(), ["expires_at"]);
    let too_far = app
        .call(
            Method::POST,
            "/api/v1/test-clock/advance",
            &admin,
            Some(json!({"by_seconds": 400_000_000_i64})),
        )
        .await
        .problem(422);
    assert_eq!(too_far.fields(), ["by_seconds"]);
    // Nothing was paused, and renewals still run.
    let stored = app.subscription(sub_id).await;
    assert_eq!(stored["status"], "active");
    app.advance(json!({"to": (crate::app::time(&stored["current_period_end"]) + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(app.charged_amounts(&customer).await, [2999, 2999]);
}

#[tokio::test]
async fn unmatched_paths_and_methods_are_problem_404_and_405() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let nowhere = app.get("/api/v1/nowhere", &admin).await.problem(404);
    assert_eq!(nowhere.body["code"], "no_route");
    for (method, path) in [
        (Method::POST, "/api/v1/health"),
        (Method::PUT, "/api/v1/customers"),
        (Method::PATCH, "/api/v1/health"),
    ] {
        let answer = app.call(method, path, &admin, None).await.problem(405);
        assert_eq!(answer.body["code"], "method_not_allowed", "{path}");
    }
    let res = app
        .http
        .delete(format!("{}/api/v1/customers", app.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
}

#[tokio::test]
async fn the_plans_list_pages_as_every_list_does() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let all = app.list("/api/v1/subscriptions/plans").await;
    assert!(all.len() > 3, "the whole catalogue by default");
    let first = app
        .get("/api/v1/subscriptions/plans?limit=2", &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["has_more"], true);
    let after = first["data"][1]["id"].as_str().expect("id");
    let next = app
        .get(
            &format!("/api/v1/subscriptions/plans?limit=100&starting_after={after}"),
            &admin,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(next["has_more"], false);
    assert_eq!(next["data"].as_array().map(Vec::len), Some(all.len() - 2));
    let bad = app
        .get("/api/v1/subscriptions/plans?limit=0", &admin)
        .await
        .problem(422);
    assert_eq!(bad.fields(), ["query.limit"]);
}
