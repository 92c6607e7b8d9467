use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn a_newcomer_subscribes_to_premium_monthly_then_pauses_resumes_and_cancels() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Acme Wholesale").await;

    let plans = app.get("/api/v1/subscriptions/plans", &admin).await.ok(200);
    let premium = plans.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["id"] == "plan_premium_month")
        .cloned()
        .expect("premium monthly is seeded");
    assert_eq!(premium["price"], "79.99");
    assert_eq!(premium["currency"], "usd");
    assert_eq!(premium["limits"]["monthly_preorder_limit"], 50);

    let sub = app
        .subscribe(&admin, &customer, "plan_premium_month")
        .await
        .ok(201);
    let id = sub.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("sub_"));
    assert_eq!(sub.body["status"], "active");
    assert_eq!(sub.body["plan_id"], "plan_premium_month");
    assert_eq!(sub.body["customer_id"], customer.as_str());
    assert_eq!(sub.body["auto_renew"], true);
    assert_eq!(sub.body["cancel_at_period_end"], false);

    let paused = app
        .call(
            Method::PUT,
            &format!("/api/v1/subscriptions/{id}/pause"),
            &admin,
            None,
        )
        .await
        .ok(200);
    assert_eq!(paused.body["status"], "paused");
    assert!(paused.body["pause"]["paused_at"].is_string());

    let resumed = app
        .call(
            Method::PUT,
            &format!("/api/v1/subscriptions/{id}/resume"),
            &admin,
            None,
        )
        .await
        .ok(200);
    assert_eq!(resumed.body["status"], "active");
    assert!(resumed.body["pause"].is_null());

    let canceled = app
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
            &admin,
            Some(json!({"reason": "too_expensive", "comment": "budget"})),
        )
        .await
        .ok(200);
    assert_eq!(canceled.body["status"], "active");
    assert_eq!(canceled.body["cancel_at_period_end"], true);
    assert_eq!(canceled.body["cancellation"]["reason"], "too_expensive");

    // The stored item says the same.
    let stored = app
        .get(&format!("/api/v1/subscriptions/{id}"), &admin)
        .await
        .ok(200);
    assert_eq!(stored.body["cancel_at_period_end"], true);
    assert_eq!(stored.body["cancellation"]["comment"], "budget");

    // Reactivate before the period ends.
    let reactivated = app
        .call(
            Method::PATCH,
            &format!("/api/v1/subscriptions/{id}"),
            &admin,
            Some(json!({"cancel_at_period_end": false})),
        )
        .await
        .ok(200);
    assert_eq!(reactivated.body["cancel_at_period_end"], false);
    assert!(reactivated.body["cancellation"].is_null());

    let ended = app
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
            &admin,
            Some(json!({"immediately": true, "reason": "switched_service"})),
        )
        .await
        .ok(200);
    assert_eq!(ended.body["status"], "canceled");
    assert!(ended.body["ended_at"].is_string());

    // Ended is final.
    app.call(
        Method::PUT,
        &format!("/api/v1/subscriptions/{id}/resume"),
        &admin,
        None,
    )
    .await
    .problem(409);
}

#[tokio::test]
async fn a_customer_has_one_live_subscription_until_it_ends() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Solo Ltd").await;
    let first = app
        .subscribe(&admin, &customer, "plan_basic_month")
        .await
        .ok(201);
    app.subscribe(&admin, &customer, "plan_premium_year")
        .await
        .problem(409);

    let id = first.body["id"].as_str().expect("id");
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{id}"),
        &admin,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    let second = app
        .subscribe(&admin, &customer, "plan_premium_year")
        .await
        .ok(201);
    assert_eq!(second.body["plan_id"], "plan_premium_year");
}

#[tokio::test]
async fn pause_until_a_date_records_the_resume_date() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Later Inc").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_basic_week")
        .await
        .ok(201);
    let id = sub.body["id"].as_str().expect("id");
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let paused = app
        .call(
            Method::PUT,
            &format!("/api/v1/subscriptions/{id}/pause"),
            &admin,
            Some(json!({"resumes_at": until})),
        )
        .await
        .ok(200);
    assert_eq!(paused.body["pause"]["resumes_at"], until.as_str());
    app.call(
        Method::PUT,
        &format!("/api/v1/subscriptions/{id}/pause"),
        &admin,
        None,
    )
    .await
    .problem(409);
}

#[tokio::test]
async fn subscriptions_list_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let plan = app
        .call(
            Method::POST,
            "/api/v1/plans",
            &admin,
            Some(
                json!({"id": "plan_seats", "name": "Seats", "tier": "basic", "interval": "month",
                        "price": "5.00", "currency": "usd", "allow_multiple": true}),
            ),
        )
        .await
        .ok(201);
    assert_eq!(plan.body["allow_multiple"], true);
    let customer = app.create_customer("Many Seats").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let sub = app.subscribe(&admin, &customer, "plan_seats").await.ok(201);
        ids.push(sub.body["id"].as_str().expect("id").to_owned());
    }
    let first = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={customer}&limit=2"),
            &admin,
        )
        .await
        .ok(200);
    let page: Vec<&str> = first.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(first.body["has_more"], true);
    let second = app
        .get(
            &format!(
                "/api/v1/subscriptions?customer_id={customer}&limit=2&starting_after={}",
                ids[1]
            ),
            &admin,
        )
        .await
        .ok(200);
    let page: Vec<&str> = second.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(page, [ids[0].as_str()]);
    assert_eq!(second.body["has_more"], false);
}

#[tokio::test]
async fn a_plan_with_a_trial_starts_trialing() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    app.create_plan(
        json!({"id": "plan_trial", "name": "Try it", "tier": "premium", "interval": "month",
                    "price": "79.99", "currency": "usd", "trial_days": 14}),
    )
    .await;
    let customer = app.create_customer("Curious Co").await;
    let sub = app.subscribe(&admin, &customer, "plan_trial").await.ok(201);
    assert_eq!(sub.body["status"], "trialing");
    assert_eq!(sub.body["trial_end"], sub.body["current_period_end"]);
}

#[tokio::test]
async fn the_due_index_holds_live_subscriptions_at_their_period_end_and_drops_ended_ones() {
    use billing_store_dynamodb::due_shard;
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Due Soon").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_basic_week")
        .await
        .ok(201);
    let id: billing_domain::kernel::ids::SubscriptionId = sub.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("sub id");
    let period_end: chrono::DateTime<chrono::Utc> = sub.body["current_period_end"]
        .as_str()
        .expect("end")
        .parse()
        .expect("rfc 3339");
    let shard = due_shard(&id);

    let before_end = app
        .store
        .due_subscription_ids(shard, period_end - chrono::Duration::seconds(1), 100)
        .await
        .expect("query");
    assert!(!before_end.contains(&id), "not due before its period ends");
    let at_end = app
        .store
        .due_subscription_ids(shard, period_end, 100)
        .await
        .expect("query");
    assert!(at_end.contains(&id), "due at its period end");

    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{id}"),
        &admin,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    let after_cancel = app
        .store
        .due_subscription_ids(shard, period_end + chrono::Duration::days(365), 100)
        .await
        .expect("query");
    assert!(
        !after_cancel.contains(&id),
        "an ended subscription is never due"
    );
}
