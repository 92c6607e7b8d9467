//! Pre-orders through the API: the tier's early access, discount and monthly limits, stock
//! reserved or backordered, alternatives when out of stock, the month's usage, and racing
//! pre-orders that never pass a limit or take stock below zero.

use chrono::{DateTime, Duration, Timelike, Utc};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{stripe_event, time, Answer, TestApp, WEBHOOK_SECRET};

fn sku() -> String {
    format!("PO-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A pre-orderable product whose window opens at `opens_at` (for tiers without early access)
/// and closes 60 days later, with `stock` units on hand.
async fn preorderable(app: &TestApp, opens_at: DateTime<Utc>, stock: u64, extra: Value) -> String {
    let mut body = json!({
        "sku": sku(), "name": "Gizmo", "price": "19.99", "currency": "usd",
        "preorder": {"eligible": true, "opens_at": opens_at.to_rfc3339(),
                     "closes_at": (opens_at + Duration::days(60)).to_rfc3339(),
                     "release_at": (opens_at + Duration::days(70)).to_rfc3339()}
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let product = app
        .call(Method::POST, "/api/v1/products", &app.admin(), Some(body))
        .await
        .ok(201)
        .body;
    let id = product["id"].as_str().expect("id").to_owned();
    if stock > 0 {
        app.receive_stock(&id, stock).await.ok(201);
    }
    id
}

/// A product open for pre-orders since yesterday, closing in 10 days, released at `release_at`,
/// with backorders allowed and `stock` received.
async fn releasing(
    app: &TestApp,
    now: DateTime<Utc>,
    stock: u64,
    release_at: DateTime<Utc>,
) -> String {
    let opens_at = now - Duration::days(1);
    preorderable(
        app,
        opens_at,
        stock,
        json!({"backorders_allowed": true,
               "preorder": {"eligible": true, "opens_at": opens_at.to_rfc3339(),
                            "closes_at": (now + Duration::days(10)).to_rfc3339(),
                            "release_at": release_at.to_rfc3339()}}),
    )
    .await
}

/// A customer subscribed to `plan`: (customer, subscription, the customer's token).
async fn subscriber(app: &TestApp, plan: &str) -> (String, String, String) {
    let customer = app.create_customer("Pre-orderer").await;
    let token = app.customer_token(&customer);
    let sub = app.subscribe(&token, &customer, plan).await.ok(201).body;
    let id = sub["id"].as_str().expect("id").to_owned();
    (customer, id, token)
}

async fn preorder(app: &TestApp, token: &str, sub: &str, body: Value) -> Answer {
    app.call(
        Method::POST,
        &format!("/api/v1/subscriptions/{sub}/pre-orders"),
        token,
        Some(body),
    )
    .await
}

async fn clock(app: &TestApp) -> DateTime<Utc> {
    time(
        &app.get("/api/v1/test-clock", &app.admin())
            .await
            .ok(200)
            .body["now"],
    )
}

async fn product(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/products/{id}"), &app.admin())
        .await
        .ok(200)
        .body
}

#[tokio::test]
async fn premium_pays_the_tier_price_to_the_cent_and_reserves_the_stock() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(&app, Utc::now() - Duration::days(1), 10, json!({})).await;
    let (customer, sub, token) = subscriber(&app, "plan_premium_month").await;
    let placed = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 3, "priority_level": 2}),
    )
    .await
    .ok(201)
    .body;
    assert!(placed["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("po_")));
    assert_eq!(placed["status"], "reserved");
    assert_eq!(placed["customer_id"], customer.as_str());
    assert_eq!(placed["priority_level"], 2);
    assert_eq!(
        (
            &placed["unit_price"],
            &placed["discount_percent"],
            &placed["subtotal"],
            &placed["discount"],
            &placed["total"]
        ),
        (
            &json!("19.99"),
            &json!("5"),
            &json!("59.97"),
            &json!("3.00"),
            &json!("56.97")
        )
    );
    assert_eq!(placed["currency"], "usd");
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["reserved"], &stock["available"]),
        (&json!(3), &json!(7))
    );
    let moves = app
        .get(
            &format!("/api/v1/products/{product_id}/stock-moves"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(moves["data"][0]["type"], "reservation");
    assert_eq!(moves["data"][0]["reserved_delta"], 3);
    assert_eq!(moves["data"][0]["reference"], placed["id"]);

    // Read back by its owner, listed newest first, and the month's usage in the document's shape.
    let id = placed["id"].as_str().expect("id");
    app.get(&format!("/api/v1/pre-orders/{id}"), &token)
        .await
        .ok(200);
    let listed = app
        .get(
            &format!("/api/v1/subscriptions/{sub}/pre-orders?status=reserved"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"][0]["id"], placed["id"]);
    let usage = app
        .get(&format!("/api/v1/subscriptions/{sub}/usage"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(usage["current_month_preorders"], 1);
    assert_eq!(usage["monthly_preorder_limit"], 50);
    assert_eq!(usage["current_preorder_value"], "56.97");
    assert_eq!(usage["total_preorder_value_limit"], "25000.00");
    assert_eq!(usage["usage_percentage"], json!({"orders": 2, "value": 0}));
    assert_eq!(usage["currency"], "usd");
    assert!(usage["resets_at"].is_string() && usage["period_start"].is_string());

    // Nobody else's.
    let other = app.create_customer("Other").await;
    let other_token = app.customer_token(&other);
    app.get(&format!("/api/v1/pre-orders/{id}"), &other_token)
        .await
        .problem(404);
    preorder(
        &app,
        &other_token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .problem(404);
    app.get(&format!("/api/v1/subscriptions/{sub}/usage"), &other_token)
        .await
        .problem(404);
}

#[tokio::test]
async fn early_access_follows_the_tier() {
    let app = TestApp::spawn().await;
    let opens_at = (Utc::now() + Duration::days(5))
        .with_nanosecond(0)
        .expect("a whole second");
    let product_id = preorderable(&app, opens_at, 10, json!({})).await;
    let order = json!({"product_id": product_id, "quantity": 1});
    // Basic: 3 days early, so not yet; the answer names when it opens for Basic.
    let (_, basic, basic_token) = subscriber(&app, "plan_basic_month").await;
    let refused = preorder(&app, &basic_token, &basic, order.clone())
        .await
        .problem(409);
    assert_eq!(refused.body["code"], "preorder_window_not_open");
    assert_eq!(
        time(&refused.body["opens_at"]),
        opens_at - Duration::days(3)
    );
    // Premium (7 days early) and Enterprise (14) may already.
    let (_, premium, premium_token) = subscriber(&app, "plan_premium_month").await;
    preorder(&app, &premium_token, &premium, order.clone())
        .await
        .ok(201);
    let (_, enterprise, enterprise_token) = subscriber(&app, "plan_enterprise_month").await;
    preorder(&app, &enterprise_token, &enterprise, order.clone())
        .await
        .ok(201);

    // A product that cannot be pre-ordered is refused before its window is looked at.
    let plain = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(json!({"sku": sku(), "name": "Plain", "price": "1.00", "currency": "usd"})),
        )
        .await
        .ok(201)
        .body;
    let refused = preorder(
        &app,
        &premium_token,
        &premium,
        json!({"product_id": plain["id"], "quantity": 1}),
    )
    .await
    .problem(422);
    assert_eq!(refused.body["code"], "not_preorderable");
    // A paused subscription pre-orders nothing.
    app.call(
        Method::PUT,
        &format!("/api/v1/subscriptions/{premium}/pause"),
        &app.admin(),
        Some(json!({})),
    )
    .await
    .ok(200);
    let refused = preorder(&app, &premium_token, &premium, order)
        .await
        .problem(409);
    assert_eq!(refused.body["code"], "subscription_not_active");
}

#[tokio::test]
async fn short_stock_is_backordered_or_refused_with_alternatives() {
    let app = TestApp::spawn().await;
    let opened = Utc::now() - Duration::days(1);
    let category = format!("cat-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let substitute = preorderable(&app, opened, 4, json!({"category": "elsewhere"})).await;
    let sibling = preorderable(&app, opened, 2, json!({"category": category})).await;
    let scarce = preorderable(
        &app,
        opened,
        1,
        json!({"category": category, "substitutes": [substitute]}),
    )
    .await;
    let waiting = preorderable(&app, opened, 1, json!({"backorders_allowed": true})).await;
    let (_, sub, token) = subscriber(&app, "plan_enterprise_month").await;

    let refused = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": scarce, "quantity": 2}),
    )
    .await
    .problem(409);
    assert_eq!(refused.body["code"], "out_of_stock");
    assert_eq!(refused.body["available"], 1);
    let offered: Vec<(&str, i64)> = refused.body["alternatives"]
        .as_array()
        .expect("alternatives")
        .iter()
        .map(|a| {
            (
                a["product_id"].as_str().expect("id"),
                a["available"].as_i64().expect("available"),
            )
        })
        .collect();
    assert_eq!(offered, [(substitute.as_str(), 4), (sibling.as_str(), 2)]);
    assert_eq!(product(&app, &scarce).await["stock"]["reserved"], 0);

    let backordered = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": waiting, "quantity": 3}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(backordered["status"], "backordered");
    let stock = &product(&app, &waiting).await["stock"];
    assert_eq!(
        (
            &stock["reserved"],
            &stock["backordered"],
            &stock["available"]
        ),
        (&json!(0), &json!(3), &json!(1)),
        "nothing reserved for a backorder"
    );
}

#[tokio::test]
async fn a_basic_customers_eleventh_preorder_in_a_month_waits_for_the_next_month() {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let product_id = preorderable(&app, now - Duration::days(1), 100, json!({})).await;
    let (_, sub, token) = subscriber(&app, "plan_basic_month").await;
    let order = json!({"product_id": product_id, "quantity": 1});
    for _ in 0..10 {
        preorder(&app, &token, &sub, order.clone()).await.ok(201);
    }
    let refused = preorder(&app, &token, &sub, order.clone())
        .await
        .problem(409);
    assert_eq!(refused.body["code"], "preorder_limit_reached");
    assert_eq!(refused.body["limit"], 10);
    assert_eq!(refused.body["used"], 10);
    let resets_at = time(&refused.body["resets_at"]);
    let usage = app
        .get(&format!("/api/v1/subscriptions/{sub}/usage"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(usage["usage_percentage"]["orders"], 100);
    assert_eq!(time(&usage["resets_at"]), resets_at);

    app.advance(json!({"to": (resets_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    preorder(&app, &token, &sub, order).await.ok(201);
    let usage = app
        .get(&format!("/api/v1/subscriptions/{sub}/usage"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(usage["current_month_preorders"], 1);
    assert_eq!(time(&usage["period_start"]), resets_at);
}

#[tokio::test]
async fn the_value_limit_counts_discounted_totals() {
    let app = TestApp::spawn().await;
    // Basic: $5,000 a month at 2.5% off. 5 × 1,025.00 = 5,125.00 − 128.13 = 4,996.87: within.
    let product_id = preorderable(
        &app,
        Utc::now() - Duration::days(1),
        100,
        json!({"price": "1025.00"}),
    )
    .await;
    let (_, sub, token) = subscriber(&app, "plan_basic_month").await;
    let placed = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 5}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(placed["total"], "4996.87");
    let refused = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .problem(409);
    assert_eq!(refused.body["code"], "preorder_value_limit_reached");
    assert_eq!(refused.body["limit"], "5000.00");
    assert_eq!(refused.body["used"], "4996.87");
}

#[tokio::test]
async fn fifty_racing_preorders_against_a_limit_of_ten_create_exactly_ten() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(&app, Utc::now() - Duration::days(1), 1000, json!({})).await;
    let (_, sub, token) = subscriber(&app, "plan_basic_month").await;
    let answers = join_all((0..50).map(|_| {
        preorder(
            &app,
            &token,
            &sub,
            json!({"product_id": product_id, "quantity": 1}),
        )
    }))
    .await;
    let created = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let codes: Vec<&Value> = answers
        .iter()
        .filter(|a| a.status.as_u16() != 201)
        .map(|a| &a.body["code"])
        .collect();
    assert_eq!(created, 10, "{codes:?}");
    assert!(
        codes.iter().all(|c| *c == "preorder_limit_reached"),
        "{codes:?}"
    );
    let listed = app
        .get(
            &format!("/api/v1/subscriptions/{sub}/pre-orders?limit=100"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        product(&app, &product_id).await["stock"]["reserved"],
        10,
        "stock reserved is what the pre-orders that exist hold"
    );
}

#[tokio::test]
async fn fifty_racing_preorders_of_one_unit_against_ten_in_stock_create_exactly_ten() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(&app, Utc::now() - Duration::days(1), 10, json!({})).await;
    let (_, sub, token) = subscriber(&app, "plan_enterprise_month").await;
    let answers = join_all((0..50).map(|_| {
        preorder(
            &app,
            &token,
            &sub,
            json!({"product_id": product_id, "quantity": 1}),
        )
    }))
    .await;
    let created = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let codes: Vec<&Value> = answers
        .iter()
        .filter(|a| a.status.as_u16() != 201)
        .map(|a| &a.body["code"])
        .collect();
    assert_eq!(created, 10, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "out_of_stock"), "{codes:?}");
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"], &stock["available"]),
        (&json!(10), &json!(10), &json!(0))
    );
}

#[tokio::test]
async fn a_customer_may_hold_at_most_max_per_customer_units_across_its_preorders() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(
        &app,
        Utc::now() - Duration::days(1),
        50,
        json!({"preorder": {"eligible": true,
                            "opens_at": (Utc::now() - Duration::days(1)).to_rfc3339(),
                            "closes_at": (Utc::now() + Duration::days(30)).to_rfc3339(),
                            "release_at": (Utc::now() + Duration::days(40)).to_rfc3339(),
                            "max_per_customer": 3}}),
    )
    .await;
    let (_, sub, token) = subscriber(&app, "plan_enterprise_month").await;
    preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(201);
    let refused = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .problem(409);
    assert_eq!(refused.body["code"], "max_per_customer_reached");
    assert_eq!(
        (&refused.body["limit"], &refused.body["used"]),
        (&json!(3), &json!(2))
    );
    preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(201);
    assert_eq!(product(&app, &product_id).await["stock"]["reserved"], 3);
}

#[tokio::test]
async fn canceling_gives_back_the_stock_the_units_and_the_month_once() {
    let app = TestApp::spawn().await;
    let opened = Utc::now() - Duration::days(1);
    let product_id = preorderable(
        &app,
        opened,
        5,
        json!({"preorder": {"eligible": true, "opens_at": opened.to_rfc3339(),
                            "closes_at": (opened + Duration::days(60)).to_rfc3339(),
                            "release_at": (opened + Duration::days(70)).to_rfc3339(),
                            "max_per_customer": 4}}),
    )
    .await;
    let (_, sub, token) = subscriber(&app, "plan_basic_month").await;
    let order = json!({"product_id": product_id, "quantity": 2});
    let first = preorder(&app, &token, &sub, order.clone())
        .await
        .ok(201)
        .body;
    preorder(&app, &token, &sub, order.clone()).await.ok(201);
    let refused = preorder(&app, &token, &sub, order.clone())
        .await
        .problem(409);
    assert_eq!(refused.body["code"], "out_of_stock");

    // Another customer cannot cancel it.
    let other = app.create_customer("Other").await;
    let path = format!(
        "/api/v1/subscriptions/pre-orders/{}/cancel",
        first["id"].as_str().expect("id")
    );
    app.call(Method::PUT, &path, &app.customer_token(&other), None)
        .await
        .problem(404);
    // Ten racing cancels: each answers the canceled pre-order; the stock comes back once.
    let answers = join_all((0..10).map(|_| app.call(Method::PUT, &path, &token, None))).await;
    for answer in answers {
        assert_eq!(answer.ok(200).body["status"], "canceled");
    }
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"], &stock["available"]),
        (&json!(5), &json!(2), &json!(3))
    );
    let usage = app
        .get(&format!("/api/v1/subscriptions/{sub}/usage"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(usage["current_month_preorders"], 1);
    assert_eq!(usage["current_preorder_value"], "38.98");
    // The units came back too: the customer may pre-order 2 more (4 at most).
    preorder(&app, &token, &sub, order).await.ok(201);

    let moves = app
        .get(
            &format!("/api/v1/products/{product_id}/stock-moves?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let moves = moves["data"].as_array().expect("moves");
    let releases: Vec<&Value> = moves.iter().filter(|m| m["type"] == "release").collect();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["reference"], first["id"]);
    let sum = |field: &str| -> i64 { moves.iter().filter_map(|m| m[field].as_i64()).sum() };
    assert_eq!((sum("on_hand_delta"), sum("reserved_delta")), (5, 4));
    let listed = app
        .get(
            &format!("/api/v1/subscriptions/{sub}/pre-orders?status=canceled"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn canceling_a_backorder_takes_it_off_the_products_backorders() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(
        &app,
        Utc::now() - Duration::days(1),
        0,
        json!({"backorders_allowed": true}),
    )
    .await;
    let (_, sub, token) = subscriber(&app, "plan_premium_month").await;
    let placed = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 4}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(product(&app, &product_id).await["stock"]["backordered"], 4);
    let canceled = app
        .call(
            Method::PUT,
            &format!(
                "/api/v1/subscriptions/pre-orders/{}/cancel",
                placed["id"].as_str().expect("id")
            ),
            &app.admin(),
            None,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(product(&app, &product_id).await["stock"]["backordered"], 0);
}

/// Each pre-order's status, in the order given.
async fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    for id in ids {
        let po = app
            .get(&format!("/api/v1/pre-orders/{id}"), &app.admin())
            .await
            .ok(200);
        all.push(po.body["status"].as_str().expect("status").to_owned());
    }
    all
}

#[tokio::test]
async fn received_stock_goes_to_backorders_by_priority_then_tier_then_age() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(
        &app,
        Utc::now() - Duration::days(1),
        0,
        json!({"backorders_allowed": true}),
    )
    .await;
    let mut placed = Vec::new();
    for (plan, priority, quantity) in [
        ("plan_basic_month", 3, 2),
        ("plan_enterprise_month", 3, 2),
        ("plan_premium_month", 1, 3),
        ("plan_basic_month", 3, 1),
    ] {
        let (_, sub, token) = subscriber(&app, plan).await;
        let po = preorder(
            &app,
            &token,
            &sub,
            json!({"product_id": product_id, "quantity": quantity,
                   "priority_level": priority}),
        )
        .await
        .ok(201)
        .body;
        assert_eq!(po["status"], "backordered");
        placed.push(po["id"].as_str().expect("id").to_owned());
    }
    let (basic_old, enterprise, premium_first, basic_new) =
        (&placed[0], &placed[1], &placed[2], &placed[3]);
    // 5 units: the priority-1 Premium order (3), then the Enterprise one (2); the older Basic
    // order (2) does not fit whole, and the newer one waits behind it.
    app.receive_stock(&product_id, 5).await.ok(201);
    assert_eq!(
        statuses(&app, &placed).await,
        ["backordered", "reserved", "reserved", "backordered"]
    );
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (
            &stock["on_hand"],
            &stock["reserved"],
            &stock["backordered"],
            &stock["available"]
        ),
        (&json!(5), &json!(5), &json!(3), &json!(0))
    );
    app.receive_stock(&product_id, 2).await.ok(201);
    assert_eq!(
        statuses(&app, &placed).await,
        ["reserved", "reserved", "reserved", "backordered"]
    );
    app.receive_stock(&product_id, 1).await.ok(201);
    assert_eq!(statuses(&app, &placed).await, ["reserved"; 4]);

    let moves = app
        .get(
            &format!("/api/v1/products/{product_id}/stock-moves?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let mut moves = moves["data"].as_array().expect("moves").clone();
    moves.reverse();
    let allocated: Vec<&str> = moves
        .iter()
        .filter(|m| m["type"] == "allocation")
        .filter_map(|m| m["reference"].as_str())
        .collect();
    assert_eq!(allocated, [premium_first, enterprise, basic_old, basic_new]);
    let sum = |field: &str| -> i64 { moves.iter().filter_map(|m| m[field].as_i64()).sum() };
    assert_eq!((sum("on_hand_delta"), sum("reserved_delta")), (8, 8));
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["reserved"], &stock["backordered"]),
        (&json!(8), &json!(0))
    );
}

#[tokio::test]
async fn the_release_charges_each_reserved_preorder_once_and_later_stock_fulfils_the_backorder() {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let release_at = now + Duration::days(20);
    let product_id = releasing(&app, now, 3, release_at).await;
    let mut placed = Vec::new();
    for (plan, quantity) in [
        ("plan_premium_month", 2),
        ("plan_enterprise_month", 1),
        ("plan_basic_month", 2),
    ] {
        let (customer, sub, token) = subscriber(&app, plan).await;
        let po = preorder(
            &app,
            &token,
            &sub,
            json!({"product_id": product_id, "quantity": quantity}),
        )
        .await
        .ok(201)
        .body;
        placed.push((customer, po));
    }
    let ids: Vec<String> = placed
        .iter()
        .map(|(_, po)| po["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        statuses(&app, &ids).await,
        ["reserved", "reserved", "backordered"]
    );

    // Stripe fails now and then, before and after committing: the charges are retried and
    // each pre-order is still charged once.
    app.stripe_faults(0.3, 0.3).await;
    app.advance(json!({"to": (release_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    app.stripe_faults(0.0, 0.0).await;
    assert_eq!(
        statuses(&app, &ids).await,
        ["fulfilled", "fulfilled", "backordered"]
    );
    for (customer, po) in &placed[..2] {
        let shown = app
            .get(
                &format!("/api/v1/pre-orders/{}", po["id"].as_str().expect("id")),
                &app.admin(),
            )
            .await
            .ok(200)
            .body;
        let invoice = app
            .invoice(shown["invoice_id"].as_str().expect("an invoice"))
            .await;
        assert_eq!(invoice["billing_reason"], "preorder");
        assert_eq!(invoice["status"], "paid");
        assert_eq!(invoice["total"], po["total"]);
        let kinds: Vec<&str> = invoice["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter_map(|l| l["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["product", "discount"]);
        assert_eq!(invoice["lines"][0]["amount"], po["subtotal"]);
        assert_eq!(
            invoice["lines"][1]["amount"],
            format!("-{}", po["discount"].as_str().expect("discount"))
        );
        let cents: i64 = po["total"]
            .as_str()
            .expect("total")
            .replace('.', "")
            .parse()
            .expect("cents");
        let charged = app.charged_amounts(customer).await;
        assert_eq!(
            charged.iter().filter(|a| **a == cents).count(),
            1,
            "{customer}: {charged:?}"
        );
    }
    // Premium 2 × 19.99 = 39.98 − 5% (2.00) = 37.98.
    assert_eq!(placed[0].1["total"], "37.98");

    // Stock received after the release goes to the backorder, which is charged at once.
    app.receive_stock(&product_id, 2).await.ok(201);
    assert_eq!(statuses(&app, &ids).await, ["fulfilled"; 3]);
    let (basic_customer, basic_po) = &placed[2];
    assert_eq!(basic_po["total"], "38.98");
    assert!(app.charged_amounts(basic_customer).await.contains(&3898));
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"], &stock["backordered"]),
        (&json!(0), &json!(0), &json!(0))
    );
    let moves = app
        .get(
            &format!("/api/v1/products/{product_id}/stock-moves?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let moves = moves["data"].as_array().expect("moves");
    let shipments = moves.iter().filter(|m| m["type"] == "shipment").count();
    assert_eq!(shipments, 3);
    let sum = |field: &str| -> i64 { moves.iter().filter_map(|m| m[field].as_i64()).sum() };
    assert_eq!((sum("on_hand_delta"), sum("reserved_delta")), (0, 0));
}

#[tokio::test]
async fn each_step_of_a_preorder_is_an_event_and_an_email() {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let release_at = now + Duration::days(20);
    let product_id = releasing(&app, now, 1, release_at).await;
    let (_, sub, token) = subscriber(&app, "plan_premium_month").await;
    let reserved = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(201)
    .body;
    let waiting = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(waiting["status"], "backordered");
    app.call(
        Method::PUT,
        &format!(
            "/api/v1/subscriptions/pre-orders/{}/cancel",
            waiting["id"].as_str().expect("id")
        ),
        &token,
        None,
    )
    .await
    .ok(200);
    app.notify().await;
    let (events, kinds) = app.delivered_events_of("preorder.").await;
    assert_eq!(
        kinds,
        [
            "preorder.backordered",
            "preorder.canceled",
            "preorder.created"
        ]
    );
    let created = events
        .iter()
        .find(|e| e["type"] == "preorder.created")
        .expect("preorder.created");
    assert_eq!(created["subscription_id"], sub.as_str());
    assert_eq!(created["data"]["preorder_id"], reserved["id"]);
    assert_eq!(created["data"]["product_id"], product_id.as_str());
    assert_eq!(created["data"]["quantity"], 1);
    assert_eq!(created["data"]["amount"], "18.99");
    assert_eq!(created["data"]["currency"], "usd");

    app.advance(json!({"to": (release_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    app.notify().await;
    let mut kinds: Vec<String> = app
        .delivered_events()
        .await
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("preorder.") || t == "invoice.paid")
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["invoice.paid", "preorder.fulfilled"]);
    let subjects = app.email_subjects().await;
    for expected in [
        "Your pre-order of 1 × Gizmo",
        "Your pre-order of 2 × Gizmo is waiting for stock",
        "Your pre-order of 2 × Gizmo is canceled",
        "Your pre-order of 1 × Gizmo has shipped",
        "Your Billing receipt: $18.99",
    ] {
        assert_eq!(
            subjects.iter().filter(|s| *s == expected).count(),
            1,
            "{expected:?} in {subjects:?}"
        );
    }
}

#[tokio::test]
async fn a_declined_preorder_is_retried_on_the_dunning_schedule_then_canceled_and_its_stock_goes_on(
) {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let release_at = now + Duration::days(12);
    let product_id = releasing(&app, now, 2, release_at).await;
    let (failing, sub, token) = subscriber(&app, "plan_premium_month").await;
    let declined = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(201)
    .body;
    let (_, other_sub, other_token) = subscriber(&app, "plan_basic_month").await;
    let waiting = preorder(
        &app,
        &other_token,
        &other_sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(waiting["status"], "backordered");
    let ids: Vec<String> = [&declined, &waiting]
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    app.set_payment_method(&failing, "pm_card_chargeCustomerFail")
        .await;

    app.advance(json!({"to": (release_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(
        statuses(&app, &ids).await,
        ["payment_failed", "backordered"]
    );
    let shown = app
        .get(&format!("/api/v1/pre-orders/{}", ids[0]), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(
        time(&shown["next_payment_attempt"]),
        release_at + Duration::days(3)
    );
    let invoice_id = shown["invoice_id"].as_str().expect("invoice").to_owned();

    // Retried after 3 and 5 days, still declined.
    app.advance(json!({"to": (release_at + Duration::days(5) + Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(app.invoice(&invoice_id).await["attempt_count"], 3);
    assert_eq!(
        statuses(&app, &ids).await,
        ["payment_failed", "backordered"]
    );

    // The last retry fails: the pre-order is canceled, nothing is owed, and its units go to
    // the backorder, which is charged at once (the product is released).
    app.advance(json!({"to": (release_at + Duration::days(7) + Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(statuses(&app, &ids).await, ["canceled", "fulfilled"]);
    let invoice = app.invoice(&invoice_id).await;
    assert_eq!(
        (&invoice["status"], &invoice["attempt_count"]),
        (&json!("void"), &json!(4))
    );
    let (charges, _) = app
        .stripe_charges(&app.stripe_customer(&failing).await)
        .await;
    // 2 × 19.99 at Premium's 5 % off: 37.98, tried four times, never paid.
    let tries: Vec<&Value> = charges.iter().filter(|pi| pi["amount"] == 3798).collect();
    assert_eq!(tries.len(), 4, "{charges:?}");
    assert!(tries.iter().all(|pi| pi["status"] != "succeeded"));
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"], &stock["backordered"]),
        (&json!(1), &json!(0), &json!(0))
    );
    let subjects = app.email_subjects().await;
    assert!(
        subjects
            .iter()
            .any(|s| s == "Your pre-order of 2 × Gizmo is canceled"),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn a_preorder_that_needs_authentication_is_fulfilled_once_the_customer_pays() {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let release_at = now + Duration::days(12);
    let product_id = releasing(&app, now, 1, release_at).await;
    let (customer, sub, token) = subscriber(&app, "plan_premium_month").await;
    let placed = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(201)
    .body;
    let id = placed["id"].as_str().expect("id").to_owned();
    app.set_payment_method(&customer, "pm_card_authenticationRequired")
        .await;
    app.notify().await;
    app.email_subjects().await;

    app.advance(json!({"to": (release_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    let shown = app
        .get(&format!("/api/v1/pre-orders/{id}"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(shown["status"], "requires_action");
    let invoice_id = shown["invoice_id"].as_str().expect("invoice").to_owned();
    let subjects = app.email_subjects().await;
    assert!(
        subjects.iter().any(|s| s.contains("confirm")),
        "the customer is sent the link to pay: {subjects:?}"
    );

    // The customer authenticates; Stripe reports it.
    let invoice = app.invoice(&invoice_id).await;
    let pi_id = invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    app.stripe_post(&format!("/v1/payment_intents/{pi_id}/confirm"), &[])
        .await;
    let pi = app
        .stripe_get(&format!("/v1/payment_intents/{pi_id}"))
        .await;
    let succeeded = stripe_event("evt_po_auth_ok", "payment_intent.succeeded", pi);
    for _ in 0..2 {
        app.deliver(&succeeded, WEBHOOK_SECRET, chrono::Utc::now().timestamp())
            .await
            .ok(200);
    }
    let shown = app
        .get(&format!("/api/v1/pre-orders/{id}"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(shown["status"], "fulfilled");
    assert_eq!(app.invoice(&invoice_id).await["status"], "paid");
    let stock = &product(&app, &product_id).await["stock"];
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"]),
        (&json!(0), &json!(0))
    );
}

#[tokio::test]
async fn a_preorder_still_waiting_at_the_release_is_told_when_stock_is_expected() {
    let app = TestApp::with_test_clock().await;
    let now = clock(&app).await;
    let release_at = now + Duration::days(12);
    let supplier = format!("late-{}@supplier.example", &sku()[4..].to_lowercase());
    let opens_at = now - Duration::days(1);
    let product_id = preorderable(
        &app,
        opens_at,
        0,
        json!({"name": "Latecomer", "backorders_allowed": true,
               "supplier": {"email": supplier, "reorder_point": 1, "reorder_quantity": 5,
                            "lead_time_days": 20},
               "preorder": {"eligible": true, "opens_at": opens_at.to_rfc3339(),
                            "closes_at": (now + Duration::days(10)).to_rfc3339(),
                            "release_at": release_at.to_rfc3339()}}),
    )
    .await;
    let (_, sub, token) = subscriber(&app, "plan_premium_month").await;
    let waiting = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(waiting["status"], "backordered");
    // The backorder takes the projected stock under the reorder point: a draft, sent.
    let orders = app
        .get(
            &format!("/api/v1/purchase-orders?product_id={product_id}"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let order = orders["data"][0]["id"]
        .as_str()
        .expect("a draft")
        .to_owned();
    let sent = app
        .call(
            Method::POST,
            &format!("/api/v1/purchase-orders/{order}/send"),
            &app.admin(),
            None,
        )
        .await
        .ok(200)
        .body;
    let expected = time(&sent["expected_at"]).format("%-d %B %Y").to_string();
    app.notify().await;
    app.emails().await;

    app.advance(json!({"to": (release_at + Duration::hours(1)).to_rfc3339()}))
        .await;
    let delayed: Vec<Value> = app
        .emails()
        .await
        .into_iter()
        .filter(|m| m["subject"] == "Your pre-order of 1 × Latecomer is waiting for stock")
        .collect();
    assert_eq!(delayed.len(), 2, "at placement and at the release");
    assert!(
        delayed
            .iter()
            .any(|m| m["body"].as_str().is_some_and(|b| b.contains(&expected))),
        "the expected date {expected}"
    );
}

#[tokio::test]
async fn open_preorders_are_kept_when_the_subscription_ends_and_the_cancellation_email_says_so() {
    let app = TestApp::spawn().await;
    let product_id = preorderable(&app, Utc::now() - Duration::days(1), 5, json!({})).await;
    let (_, sub, token) = subscriber(&app, "plan_basic_month").await;
    let kept = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(201)
    .body;
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{sub}"),
        &token,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    app.notify().await;
    let shown = app
        .get(
            &format!("/api/v1/pre-orders/{}", kept["id"].as_str().expect("id")),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(shown["status"], "reserved");
    assert_eq!(product(&app, &product_id).await["stock"]["reserved"], 2);
    let canceled: Vec<Value> = app
        .emails()
        .await
        .into_iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.ends_with("subscription is canceled"))
        })
        .collect();
    assert_eq!(canceled.len(), 1, "one email");
    assert!(
        canceled[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Your 1 open pre-order is kept")),
        "{:?}",
        canceled[0]["body"]
    );
    // No new pre-order on an ended subscription.
    let refused = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .problem(409)
    .body;
    assert_eq!(refused["code"], "subscription_not_active");
}

#[tokio::test]
async fn a_plan_may_cancel_open_preorders_with_the_subscription_in_one_email() {
    let app = TestApp::spawn().await;
    let plan_id = format!("plan_strict_{}", &sku()[4..].to_lowercase());
    let plan = app
        .create_plan(json!({"id": plan_id, "name": "Strict", "tier": "premium",
                            "interval": "month", "price": "20.00", "currency": "usd",
                            "open_preorders_at_end": "cancel"}))
        .await;
    assert_eq!(plan["open_preorders_at_end"], "cancel");
    let product_id = preorderable(&app, Utc::now() - Duration::days(1), 5, json!({})).await;
    let (_, sub, token) = subscriber(&app, &plan_id).await;
    let placed = preorder(
        &app,
        &token,
        &sub,
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(201)
    .body;
    app.notify().await;
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{sub}"),
        &token,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    app.notify().await;
    let shown = app
        .get(
            &format!("/api/v1/pre-orders/{}", placed["id"].as_str().expect("id")),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(shown["status"], "canceled");
    assert_eq!(product(&app, &product_id).await["stock"]["reserved"], 0);
    let emails = app.emails().await;
    let about = |needle: &str| -> Vec<&Value> {
        emails
            .iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
            .collect()
    };
    assert!(about("is canceled").iter().all(|m| !m["subject"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Your pre-order")));
    let canceled = about("subscription is canceled");
    assert_eq!(canceled.len(), 1);
    assert!(
        canceled[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Your 1 open pre-order was canceled with it")),
        "{:?}",
        canceled[0]["body"]
    );
}
