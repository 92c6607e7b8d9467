//! Tracked products: the tier's limit, enforced under concurrency, only the customer's own
//! list, and the back-in-stock email to each tracker.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;

async fn product(app: &TestApp, name: &str) -> String {
    let product = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(
                json!({"sku": format!("TRK-{}", uuid::Uuid::new_v4().simple()), "name": name,
                        "price": "4.00", "currency": "usd"}),
            ),
        )
        .await
        .ok(201)
        .body;
    product["id"].as_str().expect("id").to_owned()
}

fn track_body(product: &str) -> Option<Value> {
    Some(json!({"product_id": product}))
}

#[tokio::test]
async fn racing_tracks_stop_at_the_tiers_limit_and_a_better_tier_raises_it() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Tracker").await;
    let token = app.customer_token(&customer);
    let path = format!("/api/v1/customers/{customer}/tracked-products");
    let mut products = Vec::new();
    for n in 0..15 {
        products.push(product(&app, &format!("Thing {n}")).await);
    }
    // No subscription: the Free tier's 10. Fifteen at once: exactly ten are tracked.
    let answers = join_all(
        products
            .iter()
            .map(|p| app.call(Method::POST, &path, &token, track_body(p))),
    )
    .await;
    let tracked = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    assert_eq!(tracked, 10);
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 409)
        .map(|a| &a.body)
        .collect();
    assert_eq!(refused.len(), 5);
    assert!(refused
        .iter()
        .all(|r| r["code"] == "tracked_products_limit_reached"
            && r["limit"] == 10
            && r["used"] == 10));
    let list = app
        .get(&format!("{path}?limit=100"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(10));

    // Tracking one again changes nothing; Basic tracks up to 100.
    let first = answers
        .iter()
        .find(|a| a.status.as_u16() == 201)
        .expect("one tracked");
    let again = first.body["product_id"].as_str().expect("product");
    app.call(Method::POST, &path, &token, track_body(again))
        .await
        .ok(201);
    let refused_one = answers
        .iter()
        .find(|a| a.status.as_u16() == 409)
        .map(|a| a.body["errors"][0]["field"].clone());
    assert_eq!(refused_one, Some(json!("product_id")));
    app.subscribe(&token, &customer, "plan_basic_month")
        .await
        .ok(201);
    let waiting: Vec<&String> = products
        .iter()
        .filter(|p| {
            !list["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|t| t["product_id"] == json!(p)))
        })
        .collect();
    for p in &waiting {
        app.call(Method::POST, &path, &token, track_body(p))
            .await
            .ok(201);
    }

    // Untracking: once; then 404.
    let gone = app
        .call(
            Method::DELETE,
            &format!("{path}/{}", waiting[0]),
            &token,
            None,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(gone["deleted"], true);
    app.call(
        Method::DELETE,
        &format!("{path}/{}", waiting[0]),
        &token,
        None,
    )
    .await
    .problem(404);
    let list = app
        .get(&format!("{path}?limit=100"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(14));

    // Another customer reaches none of it.
    let stranger = app.create_customer("Stranger").await;
    let theirs = app.customer_token(&stranger);
    app.get(&path, &theirs).await.problem(404);
    app.call(Method::POST, &path, &theirs, track_body(&products[0]))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_product_back_in_stock_emails_each_customer_who_tracks_it_once() {
    let app = TestApp::spawn().await;
    let name = format!(
        "Rare thing {}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let rare = product(&app, &name).await;
    let mut trackers = Vec::new();
    for n in 0..2 {
        let customer = app.create_customer(&format!("Fan {n}")).await;
        let token = app.customer_token(&customer);
        app.call(
            Method::POST,
            &format!("/api/v1/customers/{customer}/tracked-products"),
            &token,
            track_body(&rare),
        )
        .await
        .ok(201);
        trackers.push(customer);
    }
    app.notify().await;
    app.receive_stock(&rare, 3).await.ok(201);
    app.notify().await;
    app.notify().await;
    let subject = format!("{name} is back in stock");
    let sent = app
        .email_subjects()
        .await
        .into_iter()
        .filter(|s| *s == subject)
        .count();
    assert_eq!(sent, 2, "one email per tracker, sent once");
}

#[tokio::test]
async fn trackers_are_emailed_when_preorders_open_for_their_tier() {
    let app = TestApp::with_test_clock().await;
    let now = crate::app::time(
        &app.get("/api/v1/test-clock", &app.admin())
            .await
            .ok(200)
            .body["now"],
    );
    let opens_at = now + chrono::Duration::days(10);
    let name = format!(
        "Early thing {}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let early = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(json!({"sku": format!("TRK-{}", uuid::Uuid::new_v4().simple()), "name": name,
                        "price": "4.00", "currency": "usd",
                        "preorder": {"eligible": true, "opens_at": opens_at.to_rfc3339(),
                                     "closes_at": (opens_at + chrono::Duration::days(30)).to_rfc3339(),
                                     "release_at": (opens_at + chrono::Duration::days(40)).to_rfc3339()}})),
        )
        .await
        .ok(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for plan in ["plan_premium_month", "plan_basic_month"] {
        let customer = app.create_customer(plan).await;
        let token = app.customer_token(&customer);
        app.subscribe(&token, &customer, plan).await.ok(201);
        app.call(
            Method::POST,
            &format!("/api/v1/customers/{customer}/tracked-products"),
            &token,
            track_body(&early),
        )
        .await
        .ok(201);
    }
    let subject = format!("{name} is open for pre-order for you");
    // Premium opens 7 days before: only its tracker is told.
    app.advance(json!({"to": (opens_at - chrono::Duration::days(7) + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(subjects_of(&app, &subject).await, 1);
    // Basic opens 3 days before.
    app.advance(json!({"to": (opens_at - chrono::Duration::days(3) + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(subjects_of(&app, &subject).await, 2);
    // At the window (Free's opening): no tracker left to tell.
    app.advance(json!({"to": (opens_at + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(subjects_of(&app, &subject).await, 2);
}

/// How many emails with `subject` were sent.
async fn subjects_of(app: &TestApp, subject: &str) -> usize {
    app.email_subjects()
        .await
        .into_iter()
        .filter(|s| s == subject)
        .count()
}
