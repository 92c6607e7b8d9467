//! Recurring items (subscription boxes): subscribing only to what is in stock, each period's
//! invoice carrying the items, each paid period shipping them once, and an item short at a
//! renewal backordered, mailed about and shipped when stock comes in.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, TestApp};

/// A product of `category` priced 7.50 with `stock` received; its id.
async fn boxed_product(app: &TestApp, name: &str, category: &str, stock: u64) -> String {
    let product = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(
                json!({"sku": format!("BOX-{}", uuid::Uuid::new_v4().simple()), "name": name,
                        "category": category, "price": "7.50", "currency": "usd",
                        "low_stock_threshold": 0}),
            ),
        )
        .await
        .ok(201)
        .body;
    let id = product["id"].as_str().expect("id").to_owned();
    if stock > 0 {
        app.receive_stock(&id, stock).await.ok(201);
    }
    id
}

async fn stock(app: &TestApp, product: &str) -> Value {
    app.get(&format!("/api/v1/products/{product}"), &app.admin())
        .await
        .ok(200)
        .body["stock"]
        .clone()
}

/// The product's shipment moves, oldest first: (quantity shipped, reference).
async fn shipments(app: &TestApp, product: &str) -> Vec<(i64, String)> {
    let moves = app
        .get(
            &format!("/api/v1/products/{product}/stock-moves?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let mut found: Vec<(i64, String)> = moves["data"]
        .as_array()
        .expect("moves")
        .iter()
        .filter(|m| m["type"] == "shipment")
        .map(|m| {
            (
                -m["on_hand_delta"].as_i64().expect("delta"),
                m["reference"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.reverse();
    found
}

/// A new customer subscribed to `plan` with `quantity` of `product` each period: the
/// subscription and the customer's token.
async fn box_subscriber(
    app: &TestApp,
    name: &str,
    plan: &str,
    product: &str,
    quantity: u32,
) -> (Value, String) {
    let customer = app.create_customer(name).await;
    let token = app.customer_token(&customer);
    let sub = app
        .subscribe_with(
            &token,
            &customer,
            plan,
            json!({"items": [{"product_id": product, "quantity": quantity}]}),
        )
        .await
        .ok(201)
        .body;
    (sub, token)
}

/// The subscription's invoices, oldest first.
async fn invoices(app: &TestApp, sub: &str) -> Vec<Value> {
    let mut list = app
        .get(
            &format!("/api/v1/subscriptions/{sub}/invoices"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body["data"]
        .as_array()
        .expect("invoices")
        .clone();
    list.reverse();
    list
}

fn product_lines(invoice: &Value) -> Vec<(String, String)> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["kind"] == "product")
        .map(|l| {
            (
                l["description"].as_str().unwrap_or_default().to_owned(),
                l["amount"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn nobody_subscribes_to_an_item_out_of_stock_and_is_offered_what_is_in_stock() {
    let app = TestApp::spawn().await;
    let category = format!("beans-{}", uuid::Uuid::new_v4().simple());
    let scarce = boxed_product(&app, "Geisha beans", &category, 1).await;
    let plenty = boxed_product(&app, "House beans", &category, 5).await;
    let customer = app.create_customer("Boxer").await;
    let token = app.customer_token(&customer);

    let refused = app
        .subscribe_with(
            &token,
            &customer,
            "plan_premium_month",
            json!({"items": [{"product_id": scarce, "quantity": 2}]}),
        )
        .await
        .problem(409)
        .body;
    assert_eq!(refused["code"], "out_of_stock");
    assert_eq!(refused["available"], 1);
    assert_eq!(refused["errors"][0]["field"], "items[0].product_id");
    assert_eq!(
        refused["alternatives"],
        json!([{"product_id": plenty, "name": "House beans", "available": 5}])
    );
    let none = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={customer}"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(none["data"], json!([]), "nothing was subscribed");

    let sub = app
        .subscribe_with(
            &token,
            &customer,
            "plan_premium_month",
            json!({"items": [{"product_id": plenty, "quantity": 2}]}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(sub["items"], json!([{"product_id": plenty, "quantity": 2}]));
    let id = sub["id"].as_str().expect("id");
    let first = &invoices(&app, id).await[0];
    assert_eq!(first["status"], "paid");
    let lines = product_lines(first);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].0.starts_with("2 × House beans (BOX-"), "{lines:?}");
    assert_eq!(lines[0].1, "15.00");
    // Premium's 79.99 and the box's 15.00.
    assert_eq!(first["lines"][0]["amount"], "79.99");
    assert_eq!(first["total"], "94.99");
    let shipped = shipments(&app, &plenty).await;
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0].0, 2);
    assert!(shipped[0].1.starts_with(&format!("{id}/")), "{shipped:?}");
    assert_eq!(stock(&app, &plenty).await["on_hand"], 3);
}

#[tokio::test]
async fn a_renewal_ships_the_box_once_and_backorders_what_stock_does_not_cover() {
    let app = TestApp::with_test_clock().await;
    let category = format!("tea-{}", uuid::Uuid::new_v4().simple());
    let tea = boxed_product(&app, "Oolong", &category, 3).await;
    let (sub, _) = box_subscriber(&app, "Tea box", "plan_basic_month", &tea, 2).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let period_end: DateTime<Utc> = time(&sub["current_period_end"]);
    assert_eq!(stock(&app, &tea).await["on_hand"], 1);
    app.notify().await;
    app.delivered_events().await;

    // The renewal: the invoice charges the box, but only 1 of 2 is in stock.
    app.advance(json!({"to": (period_end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let all = invoices(&app, &id).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["status"], "paid");
    assert_eq!(product_lines(&all[1]).len(), 1);
    assert_eq!(product_lines(&all[1])[0].1, "15.00");
    let after_renewal = stock(&app, &tea).await;
    assert_eq!(
        (&after_renewal["on_hand"], &after_renewal["backordered"]),
        (&json!(1), &json!(2)),
        "nothing shipped, the box's units are backordered"
    );
    let subjects = app.email_subjects().await;
    assert!(
        subjects
            .iter()
            .any(|s| s == "2 × Oolong of your subscription will ship later"),
        "{subjects:?}"
    );
    let (events, kinds) = app.delivered_events_of("subscription_item.").await;
    assert_eq!(kinds, ["subscription_item.backordered"]);
    assert_eq!(events[0]["subscription_id"], json!(id));
    assert_eq!(events[0]["data"]["quantity"], 2);
    assert_eq!(events[0]["data"]["product_id"], json!(tea));

    // Running the clock over the same time again ships and charges nothing twice.
    app.advance(json!({"to": (period_end + Duration::hours(2)).to_rfc3339()}))
        .await;
    assert_eq!(shipments(&app, &tea).await.len(), 1);

    // Stock comes in: the backorder ships, once.
    app.receive_stock(&tea, 5).await.ok(201);
    app.receive_stock(&tea, 1).await.ok(201);
    let shipped = shipments(&app, &tea).await;
    assert_eq!(
        shipped.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        [2, 2],
        "{shipped:?}"
    );
    assert_ne!(shipped[0].1, shipped[1].1, "one shipment per period");
    let filled = stock(&app, &tea).await;
    assert_eq!(
        (&filled["on_hand"], &filled["backordered"]),
        (&json!(5), &json!(0))
    );
    let stripe_customer = app
        .stripe_customer(sub["customer_id"].as_str().expect("customer"))
        .await;
    let (_, succeeded) = app.stripe_charges(&stripe_customer).await;
    assert_eq!(succeeded, 2, "the first period and the renewal, once each");
}

#[tokio::test]
async fn the_owner_changes_the_box_for_the_next_period_and_nobody_else_can() {
    let app = TestApp::spawn().await;
    let category = format!("socks-{}", uuid::Uuid::new_v4().simple());
    let red = boxed_product(&app, "Red socks", &category, 10).await;
    let blue = boxed_product(&app, "Blue socks", &category, 1).await;
    let (sub, token) = box_subscriber(&app, "Socks", "plan_premium_month", &red, 1).await;
    let id = sub["id"].as_str().expect("id");
    let path = format!("/api/v1/subscriptions/{id}/items");

    let changed = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(json!({"items": [{"product_id": red, "quantity": 2},
                                  {"product_id": blue, "quantity": 1}]})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(
        changed["items"],
        json!([{"product_id": red, "quantity": 2}, {"product_id": blue, "quantity": 1}])
    );
    let upcoming = app
        .get(
            &format!("/api/v1/subscriptions/{id}/upcoming-invoice"),
            &token,
        )
        .await
        .ok(200)
        .body;
    let amounts: Vec<String> = product_lines(&upcoming)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(amounts, ["15.00", "7.50"]);

    let short = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(json!({"items": [{"product_id": blue, "quantity": 3}]})),
        )
        .await
        .problem(409)
        .body;
    assert_eq!(short["code"], "out_of_stock");
    let twice = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(json!({"items": [{"product_id": red, "quantity": 1},
                                  {"product_id": red, "quantity": 1}]})),
        )
        .await
        .problem(422)
        .body;
    assert_eq!(twice["errors"][0]["field"], "items[1].product_id");
    let other = app.create_customer("Stranger").await;
    app.call(
        Method::PUT,
        &path,
        &app.customer_token(&other),
        Some(json!({"items": []})),
    )
    .await
    .problem(404);
    let unchanged = app
        .get(&format!("/api/v1/subscriptions/{id}"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(unchanged["items"], changed["items"]);
}

#[tokio::test]
async fn the_forecast_counts_the_boxes_to_renew_and_the_stock_on_order_week_by_week() {
    let app = TestApp::with_test_clock().await;
    let admin = app.admin();
    let supplier = format!("box-{}@supplier.example", uuid::Uuid::new_v4().simple());
    let product = app
        .call(
            Method::POST,
            "/api/v1/products",
            &admin,
            Some(
                json!({"sku": format!("BOX-{}", uuid::Uuid::new_v4().simple()),
                        "name": "Forecast beans", "price": "7.50", "currency": "usd",
                        "supplier": {"email": supplier, "reorder_point": 5,
                                     "reorder_quantity": 10, "lead_time_days": 14}}),
            ),
        )
        .await
        .ok(201)
        .body;
    let product = product["id"].as_str().expect("id").to_owned();
    app.receive_stock(&product, 14).await.ok(201);
    let mut subs = Vec::new();
    for n in 0..3 {
        let (sub, token) =
            box_subscriber(&app, &format!("Box {n}"), "plan_basic_month", &product, 4).await;
        subs.push((sub, token));
    }
    // The third ends at its period end: its box does not renew.
    let (third, third_token) = &subs[2];
    app.call(
        Method::DELETE,
        &format!(
            "/api/v1/subscriptions/{}",
            third["id"].as_str().expect("id")
        ),
        third_token,
        Some(json!({})),
    )
    .await
    .ok(200);
    // 14 − 3 × 4 = 2 left, under the reorder point: a purchase order of 10, sent.
    let orders = app
        .get(
            &format!("/api/v1/purchase-orders?product_id={product}"),
            &admin,
        )
        .await
        .ok(200)
        .body;
    let order = orders["data"][0]["id"]
        .as_str()
        .expect("a draft")
        .to_owned();
    app.call(
        Method::POST,
        &format!("/api/v1/purchase-orders/{order}/send"),
        &admin,
        None,
    )
    .await
    .ok(200);

    let forecast = app
        .get(
            &format!("/api/v1/products/{product}/forecast?weeks=12"),
            &admin,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(forecast["available"], 2);
    let weeks = forecast["weeks"].as_array().expect("weeks");
    assert_eq!(weeks.len(), 12);
    let total = |field: &str| -> i64 { weeks.iter().filter_map(|w| w[field].as_i64()).sum() };
    // Two boxes of 4 renew twice within 12 weeks; the third does not renew.
    assert_eq!(total("recurring"), 16);
    assert_eq!(total("incoming"), 10);
    assert_eq!(
        weeks[2]["incoming"], 10,
        "expected after the 14-day lead time"
    );
    // 2 + 10 − 8 − 8: short by 4 at the second renewal.
    assert_eq!(weeks[11]["projected_available"], -4);
    let renewal = time(&subs[0].0["current_period_end"]);
    let stockout = time(&forecast["stockout_at"]);
    assert!(
        stockout > renewal + Duration::days(27) && stockout < renewal + Duration::days(32),
        "the second renewal: {stockout}"
    );
    app.get(
        &format!("/api/v1/products/{product}/forecast?weeks=53"),
        &admin,
    )
    .await
    .problem(422);
    let customer_token = &subs[0].1;
    app.get(
        &format!("/api/v1/products/{product}/forecast"),
        customer_token,
    )
    .await
    .problem(403);
}
