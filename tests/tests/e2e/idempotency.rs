use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn the_same_key_and_body_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let body = json!({"name": "Once Only", "email": "once@only.example"}).to_string();
    let headers = [("idempotency-key", "create-once-1")];
    let first = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&admin),
            Some(body.clone()),
            &headers,
        )
        .await
        .ok(201);
    let second = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&admin),
            Some(body),
            &headers,
        )
        .await
        .ok(201);
    assert_eq!(first.body["id"], second.body["id"]);
    assert!(second.replayed && !first.replayed);
    let listed = app.get("/api/v1/customers?limit=100", &admin).await.ok(200);
    let named = listed.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|c| c["name"] == "Once Only")
        .count();
    assert_eq!(named, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let headers = [("idempotency-key", "key-2")];
    app.raw(
        Method::POST,
        "/api/v1/customers",
        Some(&admin),
        Some(json!({"name": "A", "email": "a@a.example"}).to_string()),
        &headers,
    )
    .await
    .ok(201);
    let reused = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&admin),
            Some(json!({"name": "B", "email": "b@b.example"}).to_string()),
            &headers,
        )
        .await
        .problem(422);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn concurrent_retries_with_one_key_subscribe_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Retrier").await;
    let body =
        json!({"customer_id": customer, "subscription_plan_id": "plan_basic_month", "payment_method_id": "pm_card_visa"}).to_string();
    let answers = join_all((0..6).map(|_| {
        app.raw(
            Method::POST,
            "/api/v1/subscriptions",
            Some(&admin),
            Some(body.clone()),
            &[("idempotency-key", "sub-retry")],
        )
    }))
    .await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 201)
        .filter_map(|a| a.body["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    // The others were told to retry (in progress) rather than creating anything.
    for answer in &answers {
        assert!(matches!(answer.status.as_u16(), 201 | 409), "{answer:?}");
    }
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let support = app.token(&["support"], None);
    let headers = [("idempotency-key", "shared-key")];
    let a = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&admin),
            Some(json!({"name": "A", "email": "a@a.example"}).to_string()),
            &headers,
        )
        .await
        .ok(201);
    let b = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&support),
            Some(json!({"name": "B", "email": "b@b.example"}).to_string()),
            &headers,
        )
        .await
        .ok(201);
    assert_ne!(a.body["id"], b.body["id"]);
}

#[tokio::test]
async fn a_stored_answer_is_replayed_only_to_a_caller_with_the_same_rights() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("Alice").await;
    let bob = app.create_customer("Bob").await;
    let mint = |roles: &[&str], customer: Option<&str>| {
        local_stack::token::mint(
            crate::app::SECRET,
            "shared-subject",
            roles,
            customer,
            chrono::Utc::now().timestamp(),
            3600,
        )
        .expect("token")
    };
    let key = [("idempotency-key", "same-key-1")];
    // An operator creates a customer under the key...
    let body = json!({"name": "Made once", "email": "made@once.example"}).to_string();
    let made = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&mint(&["admin"], None)),
            Some(body.clone()),
            &key,
        )
        .await
        .ok(201);
    // ...and the same subject without the role gets no replay of it: it is refused.
    let replay = app
        .raw(
            Method::POST,
            "/api/v1/customers",
            Some(&mint(&["customer"], Some(&bob))),
            Some(body),
            &key,
        )
        .await
        .problem(403);
    assert!(!replay.replayed && replay.body.get("id").is_none());
    assert!(made.body["id"].is_string());
    // Alice's subscription under a key is not replayed to the same subject acting for Bob.
    let sub = json!({"customer_id": alice, "subscription_plan_id": "plan_basic_month",
                     "payment_method_id": "pm_card_visa"})
    .to_string();
    let key = [("idempotency-key", "same-key-2")];
    app.raw(
        Method::POST,
        "/api/v1/subscriptions",
        Some(&mint(&["customer"], Some(&alice))),
        Some(sub.clone()),
        &key,
    )
    .await
    .ok(201);
    let as_bob = app
        .raw(
            Method::POST,
            "/api/v1/subscriptions",
            Some(&mint(&["customer"], Some(&bob))),
            Some(sub),
            &key,
        )
        .await
        .problem(404);
    assert!(!as_bob.replayed);
}

#[tokio::test]
async fn an_idempotency_key_that_is_not_visible_ascii_is_a_422() {
    let app = TestApp::spawn().await;
    for key in ["clé-1".as_bytes(), b"tab\there", b""] {
        let res = app
            .http
            .post(format!("{}/api/v1/customers", app.base))
            .bearer_auth(app.admin())
            .header("content-type", "application/json")
            .header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(key).expect("an obs-text header"),
            )
            .body(json!({"name": "Keyed", "email": "keyed@acme.example"}).to_string())
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status().as_u16(), 422, "{key:?}");
    }
    let listed = app
        .get("/api/v1/customers?limit=100", &app.admin())
        .await
        .ok(200);
    assert!(
        !listed.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|c| c["name"] == "Keyed"),
        "nothing was created"
    );
}
