//! Coupons and promotion codes, through the API, the test clock and the Stripe simulator.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, TestApp};

async fn create_coupon(app: &TestApp, body: Value) -> Value {
    app.call(Method::POST, "/api/v1/coupons", &app.admin(), Some(body))
        .await
        .ok(201)
        .body
}

async fn create_code(app: &TestApp, coupon: &str, code: &str, extra: Value) -> Value {
    let mut body = json!({"code": code, "coupon_id": coupon});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.call(
        Method::POST,
        "/api/v1/promotion-codes",
        &app.admin(),
        Some(body),
    )
    .await
    .ok(201)
    .body
}

/// A subscription's invoice totals, oldest first.
async fn totals(app: &TestApp, subscription: &str) -> Vec<String> {
    let list = app
        .get(
            &format!("/api/v1/subscriptions/{subscription}/invoices?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let mut totals: Vec<String> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|i| i["total"].as_str().map(str::to_owned))
        .collect();
    totals.reverse();
    totals
}

async fn invoice(app: &TestApp, id: &Value) -> Value {
    app.get(
        &format!("/api/v1/invoices/{}", id.as_str().expect("invoice id")),
        &app.admin(),
    )
    .await
    .ok(200)
    .body
}

#[tokio::test]
async fn a_promotion_code_for_three_months_takes_25_percent_off_three_invoices_and_then_stops() {
    let app = TestApp::with_test_clock().await;
    let coupon = create_coupon(
        &app,
        json!({"id": "coupon_spring25", "name": "Spring sale", "percent_off": "25",
               "duration": "repeating", "duration_in_periods": 3}),
    )
    .await;
    assert_eq!(coupon["valid"], true);
    let code = create_code(&app, "coupon_spring25", "spring25", json!({})).await;
    assert_eq!(code["code"], "SPRING25");

    let customer = app.create_customer("Thrifty").await;
    let token = app.customer_token(&customer);
    let sub = app
        .subscribe_with(
            &token,
            &customer,
            "plan_premium_month",
            json!({"promotion_code": "Spring25"}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(sub["discount"]["coupon"]["id"], "coupon_spring25");
    assert_eq!(sub["discount"]["promotion_code"], "SPRING25");
    assert_eq!(sub["discount"]["coupon"]["percent_off"], "25");

    // 25 % of 79.99 is 19.9975: 20.00 off, 59.99 charged.
    let first = invoice(&app, &sub["latest_invoice_id"]).await;
    assert_eq!(
        (
            first["subtotal"].as_str(),
            first["discount"].as_str(),
            first["total"].as_str()
        ),
        (Some("79.99"), Some("20.00"), Some("59.99"))
    );
    let kinds: Vec<&str> = first["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["subscription", "discount"]);
    assert_eq!(first["lines"][1]["amount"], "-20.00");

    // The preview of the next renewal shows the discount too.
    let id = sub["id"].as_str().expect("id");
    let upcoming = app
        .get(
            &format!("/api/v1/subscriptions/{id}/upcoming-invoice"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(upcoming["total"], "59.99");

    // Four renewals: two more discounted, then the full price.
    let mut end = time(&sub["current_period_end"]);
    for _ in 0..4 {
        app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
            .await;
        let now = app
            .get(&format!("/api/v1/subscriptions/{id}"), &token)
            .await
            .ok(200)
            .body;
        end = time(&now["current_period_end"]);
    }
    assert_eq!(
        totals(&app, id).await,
        ["59.99", "59.99", "59.99", "79.99", "79.99"]
    );
    assert_eq!(
        app.charged_amounts(&customer).await,
        [5999, 5999, 5999, 7999, 7999]
    );
    let coupon = app
        .get("/api/v1/coupons/coupon_spring25", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(coupon["times_redeemed"], 1);
    let code = app
        .get(
            &format!(
                "/api/v1/promotion-codes/{}",
                code["id"].as_str().expect("id")
            ),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(code["times_redeemed"], 1);
}

#[tokio::test]
async fn an_amount_off_coupon_applied_later_discounts_the_next_invoice_once() {
    let app = TestApp::with_test_clock().await;
    create_coupon(
        &app,
        json!({"id": "coupon_ten_off", "name": "Sorry for the outage", "amount_off": "10.00",
               "currency": "usd", "duration": "once"}),
    )
    .await;
    let customer = app.create_customer("Outaged").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id");
    let token = app.customer_token(&customer);
    // Customers redeem promotion codes, not coupons by id.
    let refused = app
        .call(
            Method::POST,
            &format!("/api/v1/subscriptions/{id}/discount"),
            &token,
            Some(json!({"coupon": "coupon_ten_off"})),
        )
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["coupon"]);
    let discounted = app
        .call(
            Method::POST,
            &format!("/api/v1/subscriptions/{id}/discount"),
            &app.admin(),
            Some(json!({"coupon": "coupon_ten_off"})),
        )
        .await
        .ok(200)
        .body;
    // From the next invoice: the current period is paid already.
    assert_eq!(discounted["discount"]["start"], sub["current_period_end"]);
    let upcoming = app.upcoming_invoice(id).await;
    assert_eq!(
        (upcoming["discount"].as_str(), upcoming["total"].as_str()),
        (Some("10.00"), Some("69.99"))
    );

    let mut end = time(&sub["current_period_end"]);
    for _ in 0..2 {
        app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
            .await;
        let now = app
            .get(&format!("/api/v1/subscriptions/{id}"), &token)
            .await
            .ok(200)
            .body;
        end = time(&now["current_period_end"]);
    }
    assert_eq!(totals(&app, id).await, ["79.99", "69.99", "79.99"]);
    assert_eq!(app.charged_amounts(&customer).await, [6999, 7999, 7999]);
}

#[tokio::test]
async fn a_removed_discount_leaves_the_next_invoices_at_the_full_price() {
    let app = TestApp::with_test_clock().await;
    create_coupon(
        &app,
        json!({"id": "coupon_half", "name": "Half", "percent_off": "50", "duration": "forever"}),
    )
    .await;
    let customer = app.create_customer("Halved").await;
    let sub = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_basic_month",
            json!({"coupon": "coupon_half"}),
        )
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id");
    let removed = app
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}/discount"),
            &app.customer_token(&customer),
            None,
        )
        .await
        .ok(200)
        .body;
    assert!(removed["discount"].is_null());
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    // 50 % of 29.99 = 14.995: 15.00 off, 14.99 charged, then the full price.
    assert_eq!(totals(&app, id).await, ["14.99", "29.99"]);
    assert_eq!(app.charged_amounts(&customer).await, [1499, 2999]);
}

#[tokio::test]
async fn redemption_limits_hold_under_concurrent_redemptions() {
    let app = TestApp::spawn().await;
    create_coupon(
        &app,
        json!({"id": "coupon_first3", "name": "First three", "percent_off": "10",
               "duration": "once", "max_redemptions": 3}),
    )
    .await;
    create_code(&app, "coupon_first3", "FIRST3", json!({})).await;
    let mut customers = Vec::new();
    for n in 0..8 {
        customers.push(app.create_customer(&format!("Racer {n}")).await);
    }
    let answers = futures::future::join_all(customers.iter().map(|c| {
        let app = &app;
        async move {
            app.subscribe_with(
                &app.customer_token(c),
                c,
                "plan_basic_month",
                json!({"promotion_code": "first3"}),
            )
            .await
        }
    }))
    .await;
    let created = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 422)
        .collect();
    assert_eq!((created, refused.len()), (3, 5), "{answers:?}");
    for answer in refused {
        assert_eq!(answer.fields(), ["promotion_code"]);
    }
    let coupon = app
        .get("/api/v1/coupons/coupon_first3", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(
        (coupon["times_redeemed"].as_u64(), coupon["valid"].as_bool()),
        (Some(3), Some(false))
    );

    // Per customer: one redemption each, even over two subscriptions at once.
    let multi = app
        .call(
            Method::POST,
            "/api/v1/plans",
            &app.admin(),
            Some(
                json!({"id": "plan_seat_month", "name": "Seat", "tier": "basic",
                        "interval": "month", "price": "5.00", "currency": "usd",
                        "allow_multiple": true}),
            ),
        )
        .await
        .ok(201)
        .body;
    create_coupon(
        &app,
        json!({"id": "coupon_once_each", "name": "Once each", "percent_off": "20",
               "duration": "forever", "max_redemptions_per_customer": 1}),
    )
    .await;
    let buyer = app.create_customer("Two seats").await;
    let mut subs = Vec::new();
    for _ in 0..2 {
        let sub = app
            .subscribe(&app.admin(), &buyer, multi["id"].as_str().expect("id"))
            .await
            .ok(201)
            .body;
        subs.push(sub["id"].as_str().expect("id").to_owned());
    }
    let answers = futures::future::join_all(subs.iter().map(|id| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/api/v1/subscriptions/{id}/discount"),
                &app.admin(),
                Some(json!({"coupon": "coupon_once_each"})),
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&422),
        "{answers:?}"
    );
    let coupon = app
        .get("/api/v1/coupons/coupon_once_each", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(coupon["times_redeemed"], 1);
}

#[tokio::test]
async fn coupons_that_do_not_apply_are_refused_with_the_field_at_fault() {
    let app = TestApp::with_test_clock().await;
    let now = time(
        &app.get("/api/v1/test-clock", &app.admin())
            .await
            .ok(200)
            .body["now"],
    );
    create_coupon(
        &app,
        json!({"id": "coupon_basic_only", "name": "Basic only", "percent_off": "10",
               "duration": "once", "applies_to": {"plans": ["plan_basic_month"]}}),
    )
    .await;
    create_code(&app, "coupon_basic_only", "BASICONLY", json!({})).await;
    create_coupon(
        &app,
        json!({"id": "coupon_euro", "name": "Euro", "amount_off": "5", "currency": "eur",
               "duration": "once"}),
    )
    .await;
    create_coupon(
        &app,
        json!({"id": "coupon_short", "name": "Short", "percent_off": "10", "duration": "once"}),
    )
    .await;
    create_code(
        &app,
        "coupon_short",
        "SHORTLIVED",
        json!({"expires_at": (now + Duration::days(1)).to_rfc3339()}),
    )
    .await;
    create_coupon(
        &app,
        json!({"id": "coupon_gone", "name": "Gone", "percent_off": "10", "duration": "once"}),
    )
    .await;
    create_code(&app, "coupon_gone", "GONE", json!({})).await;
    let archived = app
        .call(
            Method::DELETE,
            "/api/v1/coupons/coupon_gone",
            &app.admin(),
            None,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(archived["valid"], false);
    app.advance(json!({"by_seconds": 2 * 86_400})).await;

    let customer = app.create_customer("Refused").await;
    let token = app.customer_token(&customer);
    for (discount, field) in [
        (json!({"promotion_code": "BASICONLY"}), "promotion_code"),
        (json!({"promotion_code": "SHORTLIVED"}), "promotion_code"),
        (json!({"promotion_code": "GONE"}), "promotion_code"),
        (json!({"promotion_code": "NOSUCHCODE"}), "promotion_code"),
        (json!({"promotion_code": "no spaces"}), "promotion_code"),
        (json!({"coupon": "coupon_basic_only"}), "coupon"),
    ] {
        let answer = app
            .subscribe_with(&token, &customer, "plan_premium_month", discount.clone())
            .await
            .problem(422);
        assert_eq!(answer.fields(), [field], "{discount}");
    }
    let answer = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_premium_month",
            json!({"coupon": "coupon_euro"}),
        )
        .await
        .problem(422);
    assert_eq!(answer.fields(), ["coupon"]);
    // Nothing was subscribed, charged or counted on the way.
    let subs = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={customer}"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(subs["data"].as_array().map(Vec::len), Some(0));
    let coupon = app
        .get("/api/v1/coupons/coupon_basic_only", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(coupon["times_redeemed"], 0);
}

#[tokio::test]
async fn bad_coupons_and_codes_name_their_fields_and_only_admins_create_them() {
    let app = TestApp::spawn().await;
    let bad = app
        .call(
            Method::POST,
            "/api/v1/coupons",
            &app.admin(),
            Some(
                json!({"name": "Both", "percent_off": "10", "amount_off": "5",
                        "duration": "repeating"}),
            ),
        )
        .await
        .problem(422);
    assert_eq!(bad.fields(), ["amount_off", "duration_in_periods"]);
    let bad = app
        .call(
            Method::POST,
            "/api/v1/coupons",
            &app.admin(),
            Some(
                json!({"name": "Too much", "percent_off": "150", "duration": "once",
                        "applies_to": {"plans": ["plan_nope"]}}),
            ),
        )
        .await
        .problem(422);
    assert_eq!(bad.fields(), ["applies_to.plans"]);
    let bad = app
        .call(
            Method::POST,
            "/api/v1/coupons",
            &app.admin(),
            Some(json!({"name": "Too much", "percent_off": "150", "duration": "once"})),
        )
        .await
        .problem(422);
    assert_eq!(bad.fields(), ["percent_off"]);
    create_coupon(
        &app,
        json!({"id": "coupon_dup", "name": "Dup", "percent_off": "5", "duration": "once"}),
    )
    .await;
    let dup = app
        .call(
            Method::POST,
            "/api/v1/coupons",
            &app.admin(),
            Some(
                json!({"id": "coupon_dup", "name": "Dup", "percent_off": "5", "duration": "once"}),
            ),
        )
        .await
        .problem(422);
    assert_eq!(dup.fields(), ["id"]);
    create_code(&app, "coupon_dup", "DUPCODE", json!({})).await;
    let dup = app
        .call(
            Method::POST,
            "/api/v1/promotion-codes",
            &app.admin(),
            Some(json!({"code": "dupcode", "coupon_id": "coupon_dup"})),
        )
        .await
        .problem(422);
    assert_eq!(dup.fields(), ["code"]);
    let listed = app
        .get("/api/v1/coupons/coupon_dup/promotion-codes", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"][0]["code"], "DUPCODE");
    let code_id = listed["data"][0]["id"].as_str().expect("id").to_owned();
    let off = app
        .call(
            Method::PATCH,
            &format!("/api/v1/promotion-codes/{code_id}"),
            &app.admin(),
            Some(json!({"active": false})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(off["active"], false);

    let customer = app.create_customer("Not an admin").await;
    let token = app.customer_token(&customer);
    let support = app.token(&["support"], None);
    for who in [&token, &support] {
        app.call(
            Method::POST,
            "/api/v1/coupons",
            who,
            Some(json!({"name": "Mine", "percent_off": "100", "duration": "forever"})),
        )
        .await
        .problem(403);
        app.call(
            Method::POST,
            "/api/v1/promotion-codes",
            who,
            Some(json!({"code": "FREEBIE", "coupon_id": "coupon_dup"})),
        )
        .await
        .problem(403);
        app.call(Method::DELETE, "/api/v1/coupons/coupon_dup", who, None)
            .await
            .problem(403);
    }
    app.get("/api/v1/coupons", &token).await.problem(403);
    app.get("/api/v1/coupons", &support).await.ok(200);
}

#[tokio::test]
async fn a_subscription_with_its_own_trial_gets_its_coupon_from_the_first_paid_period() {
    let app = TestApp::with_test_clock().await;
    create_coupon(
        &app,
        json!({"id": "coupon_welcome", "name": "Welcome", "percent_off": "50", "duration": "once"}),
    )
    .await;
    let customer = app.create_customer("Tries first").await;
    let sub = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_premium_month",
            json!({"trial_days": 7, "coupon": "coupon_welcome"}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(sub["status"], "trialing");
    let trial_end = time(&sub["trial_end"]);
    assert_eq!(
        trial_end - time(&sub["current_period_start"]),
        Duration::days(7)
    );
    assert_eq!(time(&sub["discount"]["start"]), trial_end);
    assert!(app.charged_amounts(&customer).await.is_empty());
    let id = sub["id"].as_str().expect("id");
    app.advance(json!({"to": (trial_end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let now = app
        .get(&format!("/api/v1/subscriptions/{id}"), &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(now["status"], "active");
    app.advance(
        json!({"to": (time(&now["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    // 50 % of 79.99 = 39.995: 40.00 off the first paid period, then the full price.
    assert_eq!(totals(&app, id).await, ["39.99", "79.99"]);
    assert_eq!(app.charged_amounts(&customer).await, [3999, 7999]);

    // `trial_days: 0` skips a plan's trial; a trial longer than two years is refused.
    let other = app.create_customer("No trial").await;
    app.create_plan(
        json!({"id": "plan_trial_week", "name": "Trial", "tier": "basic", "interval": "month",
                    "price": "29.99", "currency": "usd", "trial_days": 14}),
    )
    .await;
    let too_long = app
        .subscribe_with(
            &app.admin(),
            &other,
            "plan_trial_week",
            json!({"trial_days": 731}),
        )
        .await
        .problem(422);
    assert_eq!(too_long.fields(), ["trial_days"]);
    let direct = app
        .subscribe_with(
            &app.admin(),
            &other,
            "plan_trial_week",
            json!({"trial_days": 0}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(direct["status"], "active");
    assert_eq!(app.charged_amounts(&other).await, [2999]);
}
