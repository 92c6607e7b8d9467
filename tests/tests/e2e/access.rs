//! A customer's credentials reach only that customer's data, on every endpoint.

use billing_api::{Endpoint, ROUTES};
use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn a_customer_token_cannot_read_or_change_another_customers_data_through_any_endpoint() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let a = app.create_customer("Alpha").await;
    let b = app.create_customer("Beta").await;
    let token_a = app.customer_token(&a);
    let sub_a = app
        .subscribe(&token_a, &a, "plan_basic_month")
        .await
        .ok(201);
    let sub_b = app
        .subscribe(&admin, &b, "plan_premium_month")
        .await
        .ok(201);
    let sub_b_id = sub_b.body["id"].as_str().expect("id");
    let before = app
        .get(&format!("/api/v1/subscriptions/{sub_b_id}"), &admin)
        .await
        .ok(200);

    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/customers/{b}"), None),
        (
            Method::GET,
            format!("/api/v1/customers/{b}/credit-balance"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/customers/{b}/credit-transactions"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/customers/{b}"),
            Some(json!({"name": "Owned"})),
        ),
        (
            Method::GET,
            format!("/api/v1/customers/{b}/notification-preferences"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/customers/{b}/notification-preferences"),
            Some(json!({"addresses": ["thief@example.com"]})),
        ),
        (
            Method::GET,
            format!("/api/v1/subscriptions/{sub_b_id}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/subscriptions/{sub_b_id}/pause"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/subscriptions/{sub_b_id}/resume"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/subscriptions/{sub_b_id}"),
            Some(json!({"immediately": true})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/subscriptions/{sub_b_id}"),
            Some(json!({"auto_renew": false})),
        ),
        (
            Method::GET,
            format!("/api/v1/subscriptions?customer_id={b}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/subscriptions".to_owned(),
            Some(json!({"customer_id": b, "subscription_plan_id": "plan_basic_year"})),
        ),
        (
            Method::POST,
            format!("/api/v1/subscriptions/{sub_b_id}/discount"),
            Some(json!({"promotion_code": "ANYCODE"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/subscriptions/{sub_b_id}/discount"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let answer = app.call(method.clone(), &path, &token_a, body).await;
        assert_eq!(
            answer.status.as_u16(),
            404,
            "{method} {path} answered {answer:?}"
        );
        assert_eq!(answer.content_type, "application/problem+json");
    }

    let lift_own = format!("/api/v1/customers/{a}/email-suppressions/{}", app.email);
    let lift_other = format!("/api/v1/customers/{b}/email-suppressions/{}", app.email);
    let operators_only: Vec<(Method, &str, Option<serde_json::Value>)> = vec![
        (
            Method::POST,
            "/api/v1/customers",
            Some(json!({"name": "X", "email": "x@y.example"})),
        ),
        (Method::GET, "/api/v1/customers", None),
        (
            Method::POST,
            "/api/v1/plans",
            Some(
                json!({"name": "X", "tier": "basic", "interval": "month", "price": "1", "currency": "usd"}),
            ),
        ),
        (
            Method::PATCH,
            "/api/v1/plans/plan_basic_month",
            Some(json!({"name": "Cheap"})),
        ),
        (Method::POST, "/api/v1/plans/plan_basic_month/archive", None),
        (
            Method::GET,
            "/api/v1/subscriptions/plans?include_archived=true",
            None,
        ),
        (
            Method::POST,
            "/api/v1/coupons",
            Some(json!({"name": "Mine", "percent_off": "100", "duration": "forever"})),
        ),
        (Method::GET, "/api/v1/coupons", None),
        (Method::GET, "/api/v1/coupons/coupon_x", None),
        (Method::DELETE, "/api/v1/coupons/coupon_x", None),
        (
            Method::GET,
            "/api/v1/coupons/coupon_x/promotion-codes",
            None,
        ),
        (
            Method::POST,
            "/api/v1/promotion-codes",
            Some(json!({"code": "FREEBIE", "coupon_id": "coupon_x"})),
        ),
        (Method::GET, "/api/v1/promotion-codes/promo_x", None),
        (
            Method::PATCH,
            "/api/v1/promotion-codes/promo_x",
            Some(json!({"active": true})),
        ),
        // Lifting a suppression protects every customer's sending: operators only, even for
        // the customer's own address.
        (Method::DELETE, lift_own.as_str(), None),
        (Method::DELETE, lift_other.as_str(), None),
    ];
    for (method, path, body) in operators_only {
        let answer = app.call(method.clone(), path, &token_a, body).await;
        assert_eq!(
            answer.status.as_u16(),
            403,
            "{method} {path} answered {answer:?}"
        );
    }

    // Nothing of B's changed.
    let after = app
        .get(&format!("/api/v1/subscriptions/{sub_b_id}"), &admin)
        .await
        .ok(200);
    assert_eq!(before.body, after.body);
    assert_eq!(before.etag, after.etag);
    let customer_b = app
        .get(&format!("/api/v1/customers/{b}"), &admin)
        .await
        .ok(200);
    assert_eq!(customer_b.body["name"], "Beta");

    // A's own data is reachable, and a list without customer_id is A's alone.
    let sub_a_id = sub_a.body["id"].as_str().expect("id");
    app.get(&format!("/api/v1/subscriptions/{sub_a_id}"), &token_a)
        .await
        .ok(200);
    app.get(&format!("/api/v1/customers/{a}"), &token_a)
        .await
        .ok(200);
    let own = app.get("/api/v1/subscriptions", &token_a).await.ok(200);
    let ids: Vec<&str> = own.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [sub_a_id]);
}

#[tokio::test]
async fn every_non_public_endpoint_refuses_missing_and_forged_tokens() {
    let app = TestApp::spawn().await;
    let forged = local_stack::token::mint(
        "not-the-secret",
        "x",
        &["admin"],
        None,
        chrono::Utc::now().timestamp(),
        3600,
    )
    .expect("token");
    let expired =
        local_stack::token::mint(crate::app::SECRET, "x", &["admin"], None, 1_000_000, 60)
            .expect("token");
    for route in ROUTES {
        let path = route.path.replace("{id}", "sub_x");
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        let public = path.ends_with("/health") || path.ends_with("/openapi.json");
        for token in [None, Some(forged.as_str()), Some(expired.as_str())] {
            let answer = app.raw(method.clone(), &path, token, None, &[]).await;
            if public {
                assert_eq!(answer.status.as_u16(), 200, "{} {path}", route.method);
            } else if route.endpoint == Endpoint::StripeWebhook {
                // Authenticated by Stripe's signature instead of a token.
                answer.problem(400);
            } else if matches!(
                route.endpoint,
                Endpoint::UnsubscribePage
                    | Endpoint::Unsubscribe
                    | Endpoint::ConfirmAddressPage
                    | Endpoint::ConfirmAddress
            ) {
                // Authenticated by the link's signature: none here.
                answer.problem(422);
            } else {
                answer.problem(401);
            }
        }
    }
}

#[tokio::test]
async fn roles_limit_what_operators_do() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Roles Ltd").await;
    let analyst = app.token(&["analyst"], None);
    let support = app.token(&["support"], None);
    app.get(&format!("/api/v1/customers/{customer}"), &analyst)
        .await
        .ok(200);
    app.get("/api/v1/customers", &analyst).await.ok(200);
    app.subscribe(&analyst, &customer, "plan_basic_month")
        .await
        .problem(403);
    app.call(
        Method::PATCH,
        &format!("/api/v1/customers/{customer}"),
        &analyst,
        Some(json!({"name": "No"})),
    )
    .await
    .problem(403);
    // Support manages customers and subscriptions, not the catalogue.
    app.subscribe(&support, &customer, "plan_basic_month")
        .await
        .ok(201);
    app.call(
        Method::POST,
        "/api/v1/plans/plan_basic_month/archive",
        &support,
        None,
    )
    .await
    .problem(403);
    // A token with no known role may do nothing.
    let nobody = app.token(&["visitor"], None);
    app.get("/api/v1/subscriptions/plans", &nobody)
        .await
        .problem(403);
}
