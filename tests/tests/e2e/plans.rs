use reqwest::Method;
use serde_json::{json, Value};

use crate::app::TestApp;

#[tokio::test]
async fn the_three_tiers_are_seeded_for_every_interval_with_seed_000_limits() {
    let app = TestApp::spawn().await;
    let plans = app
        .get("/api/v1/subscriptions/plans", &app.admin())
        .await
        .ok(200);
    let data = plans.body["data"].as_array().expect("list");
    // The sixteen tiered plans and the four unit plans.
    assert_eq!(data.len(), 20);
    for tier in ["basic", "premium", "enterprise"] {
        for interval in ["week", "two_weeks", "month", "quarter", "year"] {
            assert!(
                data.iter()
                    .any(|p| p["tier"] == tier && p["interval"] == interval),
                "{tier} {interval}"
            );
        }
    }
    let find = |id: &str| {
        data.iter()
            .find(|p| p["id"] == id)
            .cloned()
            .expect("seeded")
    };
    let basic = find("plan_basic_month");
    assert_eq!(basic["price"], "29.99");
    assert_eq!(basic["limits"]["monthly_preorder_value_limit"], "5000.00");
    assert_eq!(basic["limits"]["preorder_discount_percent"], "2.5");
    assert_eq!(basic["limits"]["early_access_days"], 3);
    assert_eq!(basic["trial_days"], 0);
    let enterprise = find("plan_enterprise_month");
    assert_eq!(enterprise["price"], "199.99");
    assert!(enterprise["limits"]["monthly_preorder_limit"].is_null());
    assert!(enterprise["limits"]["monthly_preorder_value_limit"].is_null());
    assert!(enterprise["limits"]["tracked_products_limit"].is_null());
    assert_eq!(enterprise["allowances"], json!([]));
    assert_eq!(enterprise["recurring"], true);
    let words = find("plan_words_100k_month");
    assert_eq!(words["price"], "100.00");
    assert_eq!(
        words["allowances"],
        json!([{"unit": "words", "included": "100000", "limit": "soft",
                            "overage_unit_price": "0.001", "rollover": null,
                            "top_up_unit_price": "0.0012"}])
    );
    let pages = find("plan_pages_1000_month");
    assert_eq!(pages["allowances"][0]["rollover"]["max"], "500");
    assert_eq!(pages["allowances"][0]["limit"], "hard");
    assert!(enterprise["features"]
        .as_array()
        .expect("features")
        .contains(&json!("white_label")));
}

#[tokio::test]
async fn an_admin_creates_changes_and_archives_a_plan() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let created = app
        .call(
            Method::POST,
            "/api/v1/plans",
            &admin,
            Some(json!({"name": "Premium EU", "tier": "premium", "interval": "month", "price": "74.5", "currency": "eur"})),
        )
        .await
        .ok(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("plan_"));
    assert_eq!(created.body["price"], "74.50");
    assert_eq!(created.body["currency"], "eur");
    // Standard limits of the tier, in the plan's currency.
    assert_eq!(created.body["limits"]["monthly_preorder_limit"], 50);
    let etag = created.etag.clone().expect("etag");

    let changed = app
        .raw(
            Method::PATCH,
            &format!("/api/v1/plans/{id}"),
            Some(&admin),
            Some(json!({"name": "Premium Europe", "trial_days": 7}).to_string()),
            &[("if-match", etag.as_str())],
        )
        .await
        .ok(200);
    assert_eq!(changed.body["name"], "Premium Europe");
    assert_eq!(changed.body["trial_days"], 7);
    // The old ETag is stale now.
    app.raw(
        Method::PATCH,
        &format!("/api/v1/plans/{id}"),
        Some(&admin),
        Some(json!({"name": "Lost update"}).to_string()),
        &[("if-match", etag.as_str())],
    )
    .await
    .problem(409);

    app.call(
        Method::POST,
        &format!("/api/v1/plans/{id}/archive"),
        &admin,
        None,
    )
    .await
    .ok(200);
    let listed = app.get("/api/v1/subscriptions/plans", &admin).await.ok(200);
    assert!(!listed.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .any(|p| p["id"] == id.as_str()));
    let all = app
        .get("/api/v1/subscriptions/plans?include_archived=true", &admin)
        .await
        .ok(200);
    assert!(all.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .any(|p| p["id"] == id.as_str() && p["status"] == "archived"));

    let customer = app.create_customer("Late Comer").await;
    let refused = app.subscribe(&admin, &customer, &id).await.problem(422);
    assert_eq!(refused.fields(), ["subscription_plan_id"]);
}

#[tokio::test]
async fn a_plan_id_can_be_taken_only_once() {
    let app = TestApp::spawn().await;
    let body = json!({"id": "plan_basic_month", "name": "Dup", "tier": "basic", "interval": "month", "price": "1", "currency": "usd"});
    app.call(Method::POST, "/api/v1/plans", &app.admin(), Some(body))
        .await
        .problem(409);
}

#[tokio::test]
async fn a_plans_fallback_must_be_another_existing_plan() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let seeded = app
        .get("/api/v1/plans/plan_basic_month", &admin)
        .await
        .ok(200);
    assert_eq!(seeded.body["fallback_plan_id"], "plan_free_month");
    for (fallback, id) in [("plan_nope", "plan_a"), ("plan_b", "plan_b")] {
        let answer = app
            .call(
                Method::POST,
                "/api/v1/plans",
                &admin,
                Some(
                    json!({"id": id, "name": "X", "tier": "basic", "interval": "month",
                            "price": "9.99", "currency": "usd", "fallback_plan_id": fallback}),
                ),
            )
            .await
            .problem(422);
        assert_eq!(answer.fields(), ["fallback_plan_id"]);
    }
    let cleared = app
        .call(
            Method::PATCH,
            "/api/v1/plans/plan_basic_month",
            &admin,
            Some(json!({"fallback_plan_id": null})),
        )
        .await
        .ok(200);
    assert_eq!(cleared.body["fallback_plan_id"], Value::Null);
}

#[tokio::test]
async fn a_plan_of_units_and_a_one_off_bundle_are_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let plan = |allowances: Value| {
        app.call(
            Method::POST,
            "/api/v1/plans",
            &admin,
            Some(json!({
                "name": "Broken units", "tier": "basic", "interval": "month", "price": "5.00",
                "currency": "usd", "allowances": allowances
            })),
        )
    };
    let unreadable = plan(json!([
        {"unit": "pages", "included": "10", "limit": "soft", "rollover": {"max": "x"}}
    ]))
    .await
    .problem(422);
    assert_eq!(unreadable.fields(), vec!["allowances[0].rollover.max"]);
    let invalid = plan(json!([
        {"unit": "pages", "included": "-1", "limit": "hard", "overage_unit_price": "0.01"},
        {"unit": "pages", "included": "10", "limit": "soft"}
    ]))
    .await
    .problem(422);
    assert_eq!(
        invalid.fields(),
        vec![
            "allowances[0].included",
            "allowances[0].overage_unit_price",
            "allowances[1].unit"
        ]
    );
    let bundle = |extra: Value| {
        let mut body = json!({"name": "Tokens", "tier": "basic", "price": "9.00", "currency": "usd",
            "recurring": false,
            "allowances": [{"unit": "tokens", "included": "500", "limit": "hard"}]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        app.call(Method::POST, "/api/v1/plans", &admin, Some(body))
    };
    assert_eq!(
        bundle(json!({})).await.problem(422).fields(),
        vec!["duration_days"]
    );
    assert_eq!(
        bundle(json!({"duration_days": 7, "interval": "month"}))
            .await
            .problem(422)
            .fields(),
        vec!["interval"]
    );
    let made = bundle(json!({"duration_days": 7})).await.ok(201).body;
    assert_eq!(made["recurring"], false);
    assert_eq!(made["duration_days"], 7);
    assert_eq!(made["interval"], Value::Null);
    assert_eq!(made["allowances"][0]["included"], "500");
}
