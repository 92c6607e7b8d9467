//! Products and the stock ledger, through the API: the catalogue, stock received, adjusted and
//! counted, the moves that explain the stock line by line, and racing changes that never take
//! it below zero.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, TestApp};

async fn create_product(app: &TestApp, body: Value) -> Value {
    app.call(Method::POST, "/api/v1/products", &app.admin(), Some(body))
        .await
        .ok(201)
        .body
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

async fn stock(app: &TestApp, product: &str, token: &str, body: Value) -> crate::app::Answer {
    app.call(
        Method::POST,
        &format!("/api/v1/products/{product}/stock"),
        token,
        Some(body),
    )
    .await
}

/// Every move of a product, newest first, following the pages.
async fn moves(app: &TestApp, product: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = app
            .get(
                &format!("/api/v1/products/{product}/stock-moves?limit=3{after}"),
                &app.admin(),
            )
            .await
            .ok(200)
            .body;
        let data = page["data"].as_array().expect("data").clone();
        all.extend(data.iter().cloned());
        if page["has_more"] != true {
            return all;
        }
        after = format!("&starting_after={}", id(data.last().expect("a move")));
    }
}

fn sku() -> String {
    format!("SKU-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
async fn a_product_is_created_read_by_customers_filtered_changed_and_archived() {
    let app = TestApp::spawn().await;
    let category = format!("cat-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let widget = create_product(
        &app,
        json!({
            "sku": sku(), "name": "Widget", "description": "A fine widget",
            "category": category, "price": "19.99", "currency": "usd",
            "low_stock_threshold": 5, "backorders_allowed": true,
            "supplier": {"email": "orders@supplier.example", "reorder_point": 10,
                         "reorder_quantity": 50, "lead_time_days": 14},
            "preorder": {"eligible": true, "opens_at": "2027-03-01T00:00:00Z",
                         "closes_at": "2027-03-20T00:00:00Z",
                         "release_at": "2027-04-01T00:00:00Z", "max_per_customer": 5}
        }),
    )
    .await;
    assert!(id(&widget).starts_with("prod_"));
    assert_eq!(widget["price"], "19.99");
    assert_eq!(widget["status"], "active");
    assert_eq!(
        widget["stock"],
        json!({"on_hand": 0, "reserved": 0, "available": 0, "backordered": 0, "incoming": 0})
    );
    assert_eq!(widget["preorder"]["release_at"], "2027-04-01T00:00:00Z");
    let gadget = create_product(
        &app,
        json!({"sku": sku(), "name": "Gadget", "category": category, "price": "5",
               "currency": "usd", "substitutes": [id(&widget)]}),
    )
    .await;
    assert_eq!(gadget["substitutes"], json!([id(&widget)]));
    assert_eq!(gadget["preorder"]["eligible"], false);

    // Everyone signed in reads the catalogue.
    let customer = app.create_customer("Reader").await;
    let token = app.customer_token(&customer);
    app.get(&format!("/api/v1/products/{}", id(&widget)), &token)
        .await
        .ok(200);
    let listed = app
        .get(&format!("/api/v1/products?category={category}"), &token)
        .await
        .ok(200)
        .body;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Gadget", "Widget"], "newest first");
    let preorderable = app
        .get(
            &format!("/api/v1/products?category={category}&preorder=true"),
            &token,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(preorderable["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(preorderable["data"][0]["id"], widget["id"]);

    // Admins change it; the SKU and currency stay.
    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/v1/products/{}", id(&widget)),
            &app.admin(),
            Some(json!({"price": "21.50", "supplier": null, "description": null})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(changed["price"], "21.50");
    assert_eq!(changed["supplier"], Value::Null);
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["sku"], widget["sku"]);
    app.call(
        Method::PATCH,
        &format!("/api/v1/products/{}", id(&widget)),
        &token,
        Some(json!({"price": "0.01"})),
    )
    .await
    .problem(403);

    // Archived: out of the list, for operators who ask still there.
    let archived = app
        .call(
            Method::POST,
            &format!("/api/v1/products/{}/archive", id(&widget)),
            &app.admin(),
            None,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(archived["status"], "archived");
    let listed = app
        .get(&format!("/api/v1/products?category={category}"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    app.get(
        &format!("/api/v1/products?category={category}&include_archived=true"),
        &token,
    )
    .await
    .problem(403);
    let all = app
        .get(
            &format!("/api/v1/products?category={category}&include_archived=true"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_sku_is_unique_and_bad_fields_are_named() {
    let app = TestApp::spawn().await;
    let taken = sku();
    create_product(
        &app,
        json!({"sku": taken, "name": "One", "price": "1.00", "currency": "eur"}),
    )
    .await;
    let again = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(
                json!({"sku": taken.to_lowercase(), "name": "Two", "price": "2.00",
                        "currency": "eur"}),
            ),
        )
        .await
        .problem(409);
    assert_eq!(again.body["code"], "sku_taken");
    assert_eq!(again.fields(), ["sku"]);

    let bad = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(json!({
                "sku": "has space", "name": "Bad", "price": "1.001", "currency": "usd",
                "supplier": {"email": "not-an-address", "reorder_point": 1,
                             "reorder_quantity": 1, "lead_time_days": 1},
                "preorder": {"eligible": true, "opens_at": "2027-03-10T00:00:00Z",
                             "closes_at": "2027-03-01T00:00:00Z",
                             "release_at": "2027-04-01T00:00:00Z"}
            })),
        )
        .await
        .problem(422);
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(fields, ["price", "supplier.email"], "{bad:?}");
    let bad = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(json!({
                "sku": "has space", "name": "Bad", "price": "1.00", "currency": "usd",
                "substitutes": ["prod_nosuchproduct"],
                "preorder": {"eligible": true, "opens_at": "2027-03-10T00:00:00Z",
                             "closes_at": "2027-03-01T00:00:00Z",
                             "release_at": "2027-04-01T00:00:00Z"}
            })),
        )
        .await
        .problem(422);
    assert_eq!(bad.fields(), ["sku", "preorder.closes_at"], "{bad:?}");
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/products",
            &app.admin(),
            Some(
                json!({"sku": sku(), "name": "Alone", "price": "1.00", "currency": "usd",
                        "substitutes": ["prod_nosuchproduct"]}),
            ),
        )
        .await
        .problem(422);
    assert_eq!(unknown.fields(), ["substitutes"]);
}

#[tokio::test]
async fn stock_moves_explain_the_stock_line_by_line() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let support = app.token(&["support"], None);
    let product = create_product(
        &app,
        json!({"sku": sku(), "name": "Ledgered", "price": "3.00", "currency": "usd"}),
    )
    .await;
    let product = id(&product).to_owned();

    let receipt = stock(
        &app,
        &product,
        &support,
        json!({"type": "receipt", "quantity": 20, "reason": "delivery", "reference": "PO-1"}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(receipt["type"], "receipt");
    assert_eq!(receipt["on_hand_delta"], 20);
    assert_eq!(receipt["on_hand_after"], 20);
    assert_eq!(receipt["available_after"], 20);
    assert_eq!(receipt["reference"], "PO-1");
    stock(
        &app,
        &product,
        &admin,
        json!({"type": "adjustment", "quantity": -3, "reason": "damaged"}),
    )
    .await
    .ok(201);
    // A count against a level that changed meanwhile is refused, naming the level.
    let stale = stock(
        &app,
        &product,
        &admin,
        json!({"type": "set_on_hand", "quantity": 15, "expected_on_hand": 20}),
    )
    .await
    .problem(409);
    assert_eq!(stale.body["code"], "stale_quantity");
    assert_eq!(stale.body["current_on_hand"], 17);
    let counted = stock(
        &app,
        &product,
        &admin,
        json!({"type": "set_on_hand", "quantity": 15, "expected_on_hand": 17}),
    )
    .await
    .ok(201)
    .body;
    assert_eq!(counted["on_hand_delta"], -2);
    assert_eq!(counted["type"], "adjustment");
    let short = stock(
        &app,
        &product,
        &admin,
        json!({"type": "adjustment", "quantity": -16}),
    )
    .await
    .problem(409);
    assert_eq!(short.body["code"], "insufficient_stock");
    assert_eq!(short.body["available"], 15);
    let zero = stock(
        &app,
        &product,
        &admin,
        json!({"type": "receipt", "quantity": 0}),
    )
    .await
    .problem(422);
    assert_eq!(zero.body["code"], "invalid_quantity");
    assert_eq!(zero.fields(), ["quantity"]);

    // The same receipt sent twice with one Idempotency-Key is received once.
    let body = json!({"type": "receipt", "quantity": 5, "reference": "PO-2"}).to_string();
    let key = [("idempotency-key", "receive-po-2")];
    let path = format!("/api/v1/products/{product}/stock");
    let first = app
        .raw(Method::POST, &path, Some(&admin), Some(body.clone()), &key)
        .await
        .ok(201);
    let second = app
        .raw(Method::POST, &path, Some(&admin), Some(body), &key)
        .await
        .ok(201);
    assert!(second.replayed);
    assert_eq!(first.body["id"], second.body["id"]);

    let shown = app
        .get(&format!("/api/v1/products/{product}"), &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(shown["stock"]["on_hand"], 20);
    assert_eq!(shown["stock"]["available"], 20);
    let ledger = moves(&app, &product).await;
    let kinds: Vec<&str> = ledger.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(kinds, ["receipt", "adjustment", "adjustment", "receipt"]);
    let total: i64 = ledger
        .iter()
        .filter_map(|m| m["on_hand_delta"].as_i64())
        .sum();
    assert_eq!(total, 20, "the moves add up to the stock shown");
    assert_eq!(ledger[0]["on_hand_after"], 20);
    assert_eq!(ledger[3]["on_hand_after"], 20);

    // Customers neither move stock nor read the ledger; analysts read it.
    let customer = app.create_customer("Nosy").await;
    let token = app.customer_token(&customer);
    stock(
        &app,
        &product,
        &token,
        json!({"type": "receipt", "quantity": 1}),
    )
    .await
    .problem(403);
    app.get(&format!("/api/v1/products/{product}/stock-moves"), &token)
        .await
        .problem(403);
    let analyst = app.token(&["analyst"], None);
    app.get(&format!("/api/v1/products/{product}/stock-moves"), &analyst)
        .await
        .ok(200);
    app.call(
        Method::POST,
        "/api/v1/products",
        &support,
        Some(json!({"sku": sku(), "name": "No", "price": "1", "currency": "usd"})),
    )
    .await
    .problem(403);
}

#[tokio::test]
async fn thirty_racing_withdrawals_against_ten_on_hand_take_exactly_ten() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let product = create_product(
        &app,
        json!({"sku": sku(), "name": "Scarce", "price": "9.00", "currency": "usd"}),
    )
    .await;
    let product = id(&product).to_owned();
    stock(
        &app,
        &product,
        &admin,
        json!({"type": "receipt", "quantity": 10}),
    )
    .await
    .ok(201);
    let answers = join_all((0..30).map(|_| {
        stock(
            &app,
            &product,
            &admin,
            json!({"type": "adjustment", "quantity": -1, "reason": "sample"}),
        )
    }))
    .await;
    let taken = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 409)
        .map(|a| &a.body["code"])
        .collect();
    assert_eq!(taken, 10, "{answers:?}");
    assert_eq!(refused.len(), 20, "{answers:?}");
    assert!(
        refused.iter().all(|c| *c == "insufficient_stock"),
        "{refused:?}"
    );
    let shown = app
        .get(&format!("/api/v1/products/{product}"), &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(shown["stock"]["on_hand"], 0);
    let ledger = moves(&app, &product).await;
    assert_eq!(ledger.len(), 11);
    let afters: Vec<i64> = ledger
        .iter()
        .filter_map(|m| m["on_hand_after"].as_i64())
        .collect();
    assert_eq!(afters, (0..=10).collect::<Vec<_>>(), "one unit per move");
}

#[tokio::test]
async fn a_low_stock_crossing_emails_the_operators_and_the_supplier_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let supplier = format!("orders-{}@supplier.example", &sku()[4..].to_lowercase());
    let product = create_product(
        &app,
        json!({"sku": sku(), "name": "Sprocket", "price": "2.00", "currency": "usd",
               "low_stock_threshold": 3,
               "supplier": {"email": supplier, "reorder_point": 5, "reorder_quantity": 40,
                            "lead_time_days": 10}}),
    )
    .await;
    let product = id(&product).to_owned();
    let change = |quantity: i64| json!({"type": if quantity > 0 { "receipt" } else { "adjustment" }, "quantity": quantity});
    // 10 in, then down to 4 (above 3), 3 (the crossing), 2 (still low: no second alert).
    for quantity in [10, -6, -1, -1] {
        stock(&app, &product, &admin, change(quantity))
            .await
            .ok(201);
    }
    app.notify().await;
    let alerts = app.emails_to(&supplier).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0]["subject"]
        .as_str()
        .is_some_and(|s| s.starts_with("Low stock: Sprocket") && s.ends_with("has 3 available")));
    let destinations = alerts[0]["destinations"].to_string();
    assert!(
        destinations.contains(&supplier) && destinations.contains("ops@"),
        "{destinations}"
    );
    let (events, kinds) = app.delivered_events_of("product.").await;
    assert_eq!(kinds, ["product.low_stock", "product.restocked"]);
    let low = events
        .iter()
        .find(|e| e["type"] == "product.low_stock")
        .expect("product.low_stock");
    assert_eq!(low["data"]["product_id"], product.as_str());
    assert_eq!(low["data"]["available"], 3);
    assert_eq!(low["data"]["low_stock_threshold"], 3);
    assert!(low.get("customer_id").is_none());

    // Back above the threshold and down again: a new crossing, a second alert.
    for quantity in [5, -5] {
        stock(&app, &product, &admin, change(quantity))
            .await
            .ok(201);
    }
    app.notify().await;
    assert_eq!(app.emails_to(&supplier).await.len(), 2);
}

/// The product's purchase orders, newest first.
async fn purchase_orders(app: &TestApp, product: &str) -> Value {
    app.get(
        &format!("/api/v1/purchase-orders?product_id={product}"),
        &app.admin(),
    )
    .await
    .ok(200)
    .body["data"]
        .clone()
}

#[tokio::test]
async fn falling_under_the_reorder_point_drafts_one_purchase_order_that_is_sent_and_received() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let supplier = format!("po-{}@supplier.example", &sku()[4..].to_lowercase());
    let product = create_product(
        &app,
        json!({"sku": sku(), "name": "Flange", "price": "3.00", "currency": "usd",
               "supplier": {"email": supplier, "reorder_point": 5, "reorder_quantity": 20,
                            "lead_time_days": 7}}),
    )
    .await;
    let product = id(&product).to_owned();
    app.receive_stock(&product, 10).await.ok(201);
    assert_eq!(
        purchase_orders(&app, &product).await,
        json!([]),
        "10 is above the reorder point"
    );
    // Down to 4, then 3: under the reorder point once, so one draft of 20.
    for quantity in [-6, -1] {
        stock(
            &app,
            &product,
            &admin,
            json!({"type": "adjustment", "quantity": quantity}),
        )
        .await
        .ok(201);
    }
    let drafted = purchase_orders(&app, &product).await;
    assert_eq!(drafted.as_array().map(Vec::len), Some(1), "{drafted}");
    assert_eq!(
        (&drafted[0]["status"], &drafted[0]["quantity"]),
        (&json!("draft"), &json!(20))
    );
    let order = drafted[0]["id"].as_str().expect("id").to_owned();
    assert!(order.starts_with("pur_"));

    // Sent: the supplier is emailed, the units are incoming, expected after the lead time.
    let send = format!("/api/v1/purchase-orders/{order}/send");
    let sent = app
        .call(Method::POST, &send, &admin, None)
        .await
        .ok(200)
        .body;
    assert_eq!(sent["status"], "sent");
    assert_eq!(
        time(&sent["expected_at"]) - time(&sent["sent_at"]),
        chrono::Duration::days(7)
    );
    app.call(Method::POST, &send, &admin, None).await.ok(200);
    let shown = app
        .get(&format!("/api/v1/products/{product}"), &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(shown["stock"]["incoming"], 20);
    app.notify().await;
    let mails = app.emails_to(&supplier).await;
    assert_eq!(mails.len(), 1, "sent once: {mails:?}");
    assert_eq!(
        mails[0]["subject"],
        json!(format!(
            "Purchase order {order}: 20 × Flange ({})",
            shown["sku"].as_str().unwrap_or_default()
        ))
    );
    let (events, kinds) = app.delivered_events_of("purchase_order.").await;
    assert_eq!(kinds, ["purchase_order.sent"]);
    assert_eq!(events[0]["data"]["purchase_order_id"], json!(order));
    assert_eq!(events[0]["data"]["quantity"], 20);

    // Received against it: closed, no longer incoming.
    stock(
        &app,
        &product,
        &admin,
        json!({"type": "receipt", "quantity": 20, "reference": order}),
    )
    .await
    .ok(201);
    let received = app
        .get(&format!("/api/v1/purchase-orders/{order}"), &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(received["status"], "received");
    let shown = app
        .get(&format!("/api/v1/products/{product}"), &admin)
        .await
        .ok(200)
        .body;
    assert_eq!(
        (&shown["stock"]["on_hand"], &shown["stock"]["incoming"]),
        (&json!(23), &json!(0))
    );
    let closed = app
        .call(
            Method::POST,
            &format!("/api/v1/purchase-orders/{order}/cancel"),
            &admin,
            None,
        )
        .await
        .problem(409)
        .body;
    assert_eq!(closed["code"], "purchase_order_closed");
    let customer = app.create_customer("Curious").await;
    app.get("/api/v1/purchase-orders", &app.customer_token(&customer))
        .await
        .problem(403);
}
