//! Metered allowances through the HTTP API: promotional units first (or not), a hard limit
//! exact under concurrent records, idempotency keys remembered for the period, overage on the
//! next invoice, voids, rollover, and a one-off token bundle.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, Answer, TestApp};

/// A monthly plan of `unit` with `included` units (an add-on: `allow_multiple`).
async fn unit_plan(app: &TestApp, unit: &str, included: &str, allowance: Value) -> String {
    let mut a = json!({"unit": unit, "included": included, "limit": "hard"});
    if let (Some(a), Some(extra)) = (a.as_object_mut(), allowance.as_object()) {
        a.extend(extra.clone());
    }
    let plan = app
        .create_plan(json!({
            "name": format!("{included} {unit}"), "tier": "basic", "interval": "month",
            "price": "10.00", "currency": "usd", "allow_multiple": true, "allowances": [a],
        }))
        .await;
    plan["id"].as_str().expect("id").to_owned()
}

async fn subscribed(app: &TestApp, customer: &str, plan: &str, extra: Value) -> Value {
    app.subscribe_with(&app.admin(), customer, plan, extra)
        .await
        .ok(201)
        .body
}

async fn record(app: &TestApp, token: &str, sub: &str, body: Value, key: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    app.raw(
        Method::POST,
        &format!("/api/v1/subscriptions/{sub}/usage-records"),
        Some(token),
        Some(body.to_string()),
        &headers,
    )
    .await
}

async fn summary(app: &TestApp, sub: &str, query: &str) -> Value {
    app.get(
        &format!("/api/v1/subscriptions/{sub}/usage-summary{query}"),
        &app.admin(),
    )
    .await
    .ok(200)
    .body
}

async fn entitlement(app: &TestApp, token: &str, sub: &str, unit: &str) -> Value {
    app.get(
        &format!("/api/v1/subscriptions/{sub}/entitlements/{unit}"),
        token,
    )
    .await
    .ok(200)
    .body
}

/// Moves the test clock an hour past the subscription's (as read) period end: it renews or ends.
async fn past_period_end(app: &TestApp, sub: &Value) {
    let end = time(&sub["current_period_end"]);
    app.advance(json!({"to": (end + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

#[tokio::test]
async fn promotional_units_go_first_unless_the_subscription_says_otherwise() {
    let app = TestApp::spawn().await;
    let plan = unit_plan(&app, "pages", "1000", json!({})).await;
    let customer = app.create_customer("Translations Ltd").await;
    let token = app.customer_token(&customer);
    let grant = |sub: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/api/v1/subscriptions/{sub}/unit-grants"),
                &app.admin(),
                Some(
                    json!({"unit": "pages", "units": 100, "description": "welcome",
                            "expires_at": "2099-01-01T00:00:00Z"}),
                ),
            )
            .await
        }
    };
    let first = subscribed(&app, &customer, &plan, json!({})).await;
    assert_eq!(first["promotional_first"], true);
    // Customers do not grant themselves units.
    app.call(
        Method::POST,
        &format!("/api/v1/subscriptions/{}/unit-grants", id(&first)),
        &token,
        Some(json!({"unit": "pages", "units": 100, "expires_at": "2099-01-01T00:00:00Z"})),
    )
    .await
    .problem(403);
    let granted = grant(id(&first).to_owned()).await.ok(201).body;
    assert_eq!(granted["units"], "100");

    let answer = record(
        &app,
        &token,
        id(&first),
        json!({"unit": "pages", "units": "150", "description": "contract.pdf"}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(
        answer["breakdown"],
        json!({"promotional": "100", "included": "50", "overage": "0"})
    );
    assert_eq!(answer["remaining"], "950");
    let s = summary(&app, id(&first), "").await;
    let pages = &s["units"][0];
    assert_eq!(pages["unit"], "pages");
    assert_eq!(pages["allocated"], "1000");
    assert_eq!(pages["promotional_allocated"], "100");
    assert_eq!(pages["used"], "150");
    assert_eq!(pages["promotional_used"], "100");
    assert_eq!(pages["overage_units"], "0");
    assert_eq!(pages["remaining"], "950");
    assert_eq!(s["totals"][0]["used"], "150");
    let entitled = entitlement(&app, &token, id(&first), "pages").await;
    assert_eq!(
        entitled,
        json!({"unit": "pages", "has_access": true, "remaining": "950", "limit": "hard"})
    );

    let second = subscribed(&app, &customer, &plan, json!({"promotional_first": false})).await;
    grant(id(&second).to_owned()).await.ok(201);
    let answer = record(
        &app,
        &token,
        id(&second),
        json!({"unit": "pages", "units": 150}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(
        answer["breakdown"],
        json!({"promotional": "0", "included": "150", "overage": "0"})
    );
    // Switched back: the next record takes promotional pages first.
    app.call(
        Method::PATCH,
        &format!("/api/v1/subscriptions/{}", id(&second)),
        &app.admin(),
        Some(json!({"promotional_first": true})),
    )
    .await
    .ok(200);
    let answer = record(
        &app,
        &token,
        id(&second),
        json!({"unit": "pages", "units": 10}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(answer["breakdown"]["promotional"], "10");

    // Another customer's token reaches neither the records nor the summary.
    let other = app.create_customer("Someone else").await;
    let stranger = app.customer_token(&other);
    record(
        &app,
        &stranger,
        id(&first),
        json!({"unit": "pages", "units": 1}),
        None,
    )
    .await
    .problem(404);
    app.get(
        &format!("/api/v1/subscriptions/{}/usage-summary", id(&first)),
        &stranger,
    )
    .await
    .problem(404);
    app.get(
        &format!("/api/v1/subscriptions/{}/entitlements/pages", id(&first)),
        &stranger,
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn fifty_racing_records_against_ten_pages_accept_exactly_ten() {
    let app = TestApp::spawn().await;
    let plan = unit_plan(&app, "pages", "10", json!({})).await;
    let customer = app.create_customer("Racer").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let answers = join_all((0..50).map(|_| {
        record(
            &app,
            &token,
            id(&sub),
            json!({"unit": "pages", "units": 1}),
            None,
        )
    }))
    .await;
    let accepted = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let refused: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 409)
        .collect();
    assert_eq!(accepted, 10, "{answers:?}");
    assert_eq!(refused.len(), 40);
    assert!(refused
        .iter()
        .all(|a| a.body["code"] == "allowance_exhausted" && a.body["remaining"] == "0"));
    let s = summary(&app, id(&sub), "?group_by=day").await;
    assert_eq!(s["units"][0]["used"], "10");
    assert_eq!(s["units"][0]["remaining"], "0");
    // The day's history adds up to the period's use.
    let history = s["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["used"], "10");
    let entitled = entitlement(&app, &token, id(&sub), "pages").await;
    assert_eq!(entitled["has_access"], false);
    assert_eq!(entitled["remaining"], "0");
}

#[tokio::test]
async fn a_key_replayed_25_days_later_in_the_period_records_nothing_twice() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(&app, "words", "1000", json!({})).await;
    let customer = app.create_customer("Keyed").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let body = json!({"unit": "words", "units": "12.5", "description": "call 1"});
    let first = record(&app, &token, id(&sub), body.clone(), Some("call-1"))
        .await
        .ok(201);
    assert!(!first.replayed);
    app.advance(json!({"by_seconds": 25 * 86_400})).await;
    let again = record(&app, &token, id(&sub), body.clone(), Some("call-1"))
        .await
        .ok(201);
    assert!(again.replayed);
    assert_eq!(again.body["id"], first.body["id"]);
    let s = summary(&app, id(&sub), "").await;
    assert_eq!(s["units"][0]["used"], "12.5");
    // The same key with another body is refused, and records nothing.
    let other = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "words", "units": 99}),
        Some("call-1"),
    )
    .await
    .problem(422);
    assert_eq!(other.body["code"], "idempotency_key_reused");
    assert_eq!(
        summary(&app, id(&sub), "").await["units"][0]["used"],
        "12.5"
    );
    // The same key on another subscription is another request too.
    let other_sub = subscribed(&app, &customer, &plan, json!({})).await;
    let elsewhere = record(&app, &token, id(&other_sub), body.clone(), Some("call-1"))
        .await
        .problem(422);
    assert_eq!(elsewhere.body["code"], "idempotency_key_reused");
    // Without a key every call records.
    record(&app, &token, id(&sub), body.clone(), None)
        .await
        .ok(201);
    record(&app, &token, id(&sub), body, None).await.ok(201);
    assert_eq!(
        summary(&app, id(&sub), "").await["units"][0]["used"],
        "37.5"
    );
    // The history of records, newest first, paged; the replayed key is there once.
    let path = format!("/api/v1/subscriptions/{}/usage-records", id(&sub));
    let first_page = app
        .get(&format!("{path}?limit=2"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(first_page["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(first_page["has_more"], true);
    let last = first_page["data"][1]["id"].as_str().expect("id");
    let rest = app
        .get(&format!("{path}?limit=2&starting_after={last}"), &token)
        .await
        .ok(200)
        .body;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["data"][0]["id"], first.body["id"]);
    assert_eq!(rest["data"][0]["description"], "call 1");
    assert_eq!(rest["has_more"], false);
    let stranger = app.customer_token(&app.create_customer("Nosy").await);
    app.get(&path, &stranger).await.problem(404);
}

#[tokio::test]
async fn soft_limit_overage_is_a_usage_line_on_the_next_invoice_charged_once() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(
        &app,
        "words",
        "10000",
        json!({"limit": "soft", "overage_unit_price": "0.002"}),
    )
    .await;
    let customer = app.create_customer("Wordsmiths").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let answer = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "words", "units": 10500}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(
        answer["breakdown"],
        json!({"promotional": "0", "included": "10000", "overage": "500"})
    );
    let entitled = entitlement(&app, &token, id(&sub), "words").await;
    assert_eq!(
        entitled,
        json!({"unit": "words", "has_access": true, "remaining": "0", "limit": "soft"})
    );
    // The upcoming invoice shows the overage so far.
    let upcoming = app.upcoming_invoice(id(&sub)).await;
    assert_eq!(upcoming["total"], "11.00", "{upcoming}");
    past_period_end(&app, &sub).await;
    let renewed = app.subscription(id(&sub)).await;
    let invoice = app.latest_invoice(&renewed).await;
    let usage: Vec<&Value> = invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["kind"] == "usage")
        .collect();
    assert_eq!(usage.len(), 1, "{invoice}");
    assert_eq!(usage[0]["amount"], "1.00");
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["total"], "11.00");
    // The period before is closed: usage dated in it is refused.
    let late = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "words", "units": 1, "occurred_at": sub["current_period_start"]}),
        None,
    )
    .await
    .problem(409);
    assert_eq!(late.body["code"], "period_closed");
    // The next renewal bills no overage again.
    past_period_end(&app, &renewed).await;
    assert_eq!(app.charged_amounts(&customer).await, vec![1000, 1000, 1100]);
    let s = summary(&app, id(&sub), "").await;
    let periods = s["units"].as_array().expect("units");
    assert_eq!(periods.len(), 3);
    assert_eq!(periods[0]["overage_units"], "500");
    assert_eq!(periods[0]["closed"], true);
    assert_eq!(periods[1]["allocated"], "10000");
    assert_eq!(periods[1]["used"], "0");
    assert_eq!(s["totals"][0]["overage_units"], "500");
}

#[tokio::test]
async fn a_void_gives_units_back_until_the_period_is_invoiced() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(&app, "characters", "10", json!({})).await;
    let customer = app.create_customer("Voider").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let r = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "characters", "units": 6}),
        None,
    )
    .await
    .ok(201)
    .body;
    let void = format!("/api/v1/usage-records/{}/void", id(&r));
    app.call(Method::POST, &void, &token, None)
        .await
        .problem(403);
    let voided = app
        .call(Method::POST, &void, &app.admin(), None)
        .await
        .ok(200)
        .body;
    assert_eq!(voided["status"], "voided");
    // Again: the same answer, nothing given back twice.
    app.call(Method::POST, &void, &app.admin(), None)
        .await
        .ok(200);
    assert_eq!(
        summary(&app, id(&sub), "").await["units"][0]["remaining"],
        "10"
    );
    let kept = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "characters", "units": 10}),
        None,
    )
    .await
    .ok(201)
    .body;
    past_period_end(&app, &sub).await;
    let refused = app
        .call(
            Method::POST,
            &format!("/api/v1/usage-records/{}/void", id(&kept)),
            &app.admin(),
            None,
        )
        .await
        .problem(409);
    assert_eq!(refused.body["code"], "period_invoiced");
}

#[tokio::test]
async fn unused_pages_roll_over_up_to_the_plans_maximum() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Roller").await;
    let token = app.customer_token(&customer);
    // The seeded plan: 1,000 pages a month, up to 500 unused pages roll over.
    let sub = subscribed(&app, &customer, "plan_pages_1000_month", json!({})).await;
    record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 300}),
        None,
    )
    .await
    .ok(201);
    past_period_end(&app, &sub).await;
    let s = summary(&app, id(&sub), "").await;
    let periods = s["units"].as_array().expect("units");
    assert_eq!(periods[1]["rolled_over"], "500");
    assert_eq!(periods[1]["allocated"], "1500");
    assert_eq!(periods[1]["remaining"], "1500");
    assert_eq!(s["totals"][0]["remaining"], "1500");
}

#[tokio::test]
async fn a_one_off_token_bundle_is_charged_once_never_renews_and_its_units_stop_at_its_end() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Token buyer").await;
    let token = app.customer_token(&customer);
    let plans = app
        .get("/api/v1/subscriptions/plans", &token)
        .await
        .ok(200)
        .body;
    let bundle = plans["data"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["id"] == "plan_tokens_1000_30d")
        .cloned()
        .expect("seeded bundle");
    assert_eq!(bundle["recurring"], false);
    assert_eq!(bundle["duration_days"], 30);
    assert_eq!(bundle["interval"], Value::Null);
    let sub = subscribed(&app, &customer, "plan_tokens_1000_30d", json!({})).await;
    assert_eq!(sub["auto_renew"], false);
    let ends = time(&sub["current_period_end"]);
    assert_eq!(
        ends - time(&sub["current_period_start"]),
        chrono::Duration::days(30)
    );
    record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "tokens", "units": 400}),
        None,
    )
    .await
    .ok(201);
    // It cannot be set to renew.
    app.call(
        Method::PATCH,
        &format!("/api/v1/subscriptions/{}", id(&sub)),
        &token,
        Some(json!({"auto_renew": true})),
    )
    .await
    .problem(422);
    app.advance(json!({"to": (ends + chrono::Duration::days(31)).to_rfc3339()}))
        .await;
    let ended = app.subscription(id(&sub)).await;
    assert_eq!(ended["status"], "expired");
    let refused = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "tokens", "units": 1}),
        None,
    )
    .await
    .problem(409);
    assert_eq!(refused.body["code"], "subscription_not_active");
    let entitled = entitlement(&app, &token, id(&sub), "tokens").await;
    assert_eq!(entitled["has_access"], false);
    assert_eq!(app.charged_amounts(&customer).await, vec![1500]);
}

#[tokio::test]
async fn bad_usage_is_refused_with_the_field_at_fault() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(&app, "pages", "10", json!({})).await;
    let customer = app.create_customer("Careless").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let now = time(&sub["current_period_start"]);
    let ahead = (now + chrono::Duration::minutes(6)).to_rfc3339();
    let a = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 1, "occurred_at": ahead}),
        None,
    )
    .await
    .problem(422);
    assert_eq!(a.fields(), vec!["occurred_at"]);
    for (units, field) in [
        (json!(1.5), "units"),
        (json!("-1"), "units"),
        (json!("0"), "units"),
        (json!("1.0000001"), "units"),
    ] {
        let a = record(
            &app,
            &token,
            id(&sub),
            json!({"unit": "pages", "units": units}),
            None,
        )
        .await
        .problem(422);
        assert_eq!(a.fields(), vec![field], "{units}");
    }
    let a = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "tokens", "units": 1}),
        None,
    )
    .await
    .problem(422);
    assert_eq!(a.body["code"], "unit_not_included");
    let a = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "furlongs", "units": 1}),
        None,
    )
    .await
    .problem(422);
    assert_eq!(a.fields(), vec!["unit"]);
    // A hard limit refuses what would go past the balance, and records nothing.
    let a = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 11}),
        None,
    )
    .await
    .problem(409);
    assert_eq!(a.body["code"], "allowance_exhausted");
    assert_eq!(a.body["remaining"], "10");
    assert_eq!(summary(&app, id(&sub), "").await["units"][0]["used"], "0");
    // A paused subscription records nothing.
    app.call(
        Method::PUT,
        &format!("/api/v1/subscriptions/{}/pause", id(&sub)),
        &app.admin(),
        None,
    )
    .await
    .ok(200);
    let a = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 1}),
        None,
    )
    .await
    .problem(409);
    assert_eq!(a.body["code"], "subscription_not_active");
}

#[tokio::test]
async fn one_record_from_70_to_100_percent_alerts_80_90_and_100_once_each_period() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(&app, "pages", "10", json!({})).await;
    let customer = app.create_customer("Alerted").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let pages = |n: u64| json!({"unit": "pages", "units": n});
    record(&app, &token, id(&sub), pages(7), None).await.ok(201);
    app.notify().await;
    let (_, kinds) = app.delivered_events_of("usage.").await;
    assert!(kinds.is_empty(), "70% alerts nothing: {kinds:?}");
    record(&app, &token, id(&sub), pages(3), None).await.ok(201);
    app.notify().await;
    let (mut events, _) = app.delivered_events_of("usage.").await;
    events.sort_by_key(|e| e["sequence"].as_u64());
    let thresholds: Vec<u64> = events
        .iter()
        .filter_map(|e| e["data"]["usage"]["threshold"].as_u64())
        .collect();
    assert_eq!(thresholds, vec![80, 90, 100]);
    assert!(events.iter().all(|e| e["type"] == "usage.threshold_reached"
        && e["subscription_id"] == id(&sub)
        && e["data"]["usage"]["unit"] == "pages"
        && e["data"]["usage"]["allocated"] == "10"
        && e["data"]["usage"]["remaining"] == "0"));
    let subjects = app.email_subjects().await;
    let alerts: Vec<&String> = subjects
        .iter()
        .filter(|s| s.starts_with("You have used"))
        .collect();
    assert_eq!(alerts.len(), 3, "{subjects:?}");
    assert!(alerts.iter().any(|s| s.contains("80% of your 10 pages")));
    assert!(alerts.iter().any(|s| s.contains("90% of your 10 pages")));
    assert!(alerts.iter().any(|s| s.contains("used all 10 pages")));
    // Notified again: nothing new.
    app.notify().await;
    assert_eq!(
        app.email_subjects()
            .await
            .iter()
            .filter(|s| s.starts_with("You have used"))
            .count(),
        3
    );

    // The next period re-arms them.
    past_period_end(&app, &sub).await;
    app.notify().await;
    app.delivered_events().await;
    record(&app, &token, id(&sub), pages(8), None).await.ok(201);
    app.notify().await;
    let (events, _) = app.delivered_events_of("usage.").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["usage"]["threshold"], 80);
    assert_eq!(
        time(&events[0]["data"]["period_start"]),
        time(&app.subscription(id(&sub)).await["current_period_start"])
    );
}

#[tokio::test]
async fn the_operators_usage_report_adds_up_the_days_of_every_subscription() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(
        &app,
        "words",
        "1000",
        json!({"limit": "soft", "overage_unit_price": "0.01"}),
    )
    .await;
    let customer = app.create_customer("Reported").await;
    let token = app.customer_token(&customer);
    let a = subscribed(&app, &customer, &plan, json!({})).await;
    let b = subscribed(&app, &customer, &plan, json!({})).await;
    let words = |n: u64| json!({"unit": "words", "units": n});
    record(&app, &token, id(&a), words(100), None).await.ok(201);
    record(&app, &token, id(&b), words(50), None).await.ok(201);
    let first_day = time(&a["current_period_start"]).date_naive();
    app.advance(json!({"by_seconds": 86_400})).await;
    record(&app, &token, id(&a), words(1000), None)
        .await
        .ok(201);
    let second_day = first_day + chrono::Duration::days(1);
    let path = format!("/api/v1/reports/usage?unit=words&from={first_day}&to={second_day}");
    app.get(&path, &token).await.problem(403);
    let report = app.get(&path, &app.admin()).await.ok(200).body;
    assert_eq!(
        report["data"],
        json!([
            {"period": first_day.to_string(), "unit": "words", "used": "150", "overage_units": "0", "subscriptions": 2},
            {"period": second_day.to_string(), "unit": "words", "used": "900", "overage_units": "100", "subscriptions": 1}
        ])
    );
    assert_eq!(report["totals"][0]["used"], "1050");
    assert_eq!(report["totals"][0]["overage_units"], "100");
    assert_eq!(report["totals"][0]["subscriptions"], 2);
    let monthly = app
        .get(
            &format!("/api/v1/reports/usage?from={first_day}&to={second_day}&group_by=month"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let months = monthly["data"].as_array().expect("rows");
    let used: u64 = months
        .iter()
        .filter_map(|r| r["used"].as_str().and_then(|u| u.parse::<u64>().ok()))
        .sum();
    assert_eq!(used, 1050);
    let bad = app
        .get("/api/v1/reports/usage?from=2026-13-01", &app.admin())
        .await
        .problem(422);
    assert_eq!(bad.fields(), vec!["query.from"]);
    let backwards = app
        .get(
            &format!("/api/v1/reports/usage?from={second_day}&to={first_day}"),
            &app.admin(),
        )
        .await
        .problem(422);
    assert_eq!(backwards.fields(), vec!["query.from"]);
}

async fn top_up(app: &TestApp, token: &str, sub: &str, body: Value, key: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    app.raw(
        Method::POST,
        &format!("/api/v1/subscriptions/{sub}/top-ups"),
        Some(token),
        Some(body.to_string()),
        &headers,
    )
    .await
}

#[tokio::test]
async fn top_ups_are_charged_once_then_granted_and_a_declined_card_grants_nothing() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Topper").await;
    let token = app.customer_token(&customer);
    // 1,000 pages a month at 50.00; top-ups at 0.06 a page.
    let pages = subscribed(&app, &customer, "plan_pages_1000_month", json!({})).await;
    let body = json!({"unit": "pages", "units": 500});
    let bought = top_up(&app, &token, id(&pages), body.clone(), Some("topup-1"))
        .await
        .ok(201)
        .body;
    assert_eq!(bought["amount"], "30.00");
    assert_eq!(bought["currency"], "usd");
    assert_eq!(bought["grants"][0]["units"], "500");
    let invoice = app
        .invoice(bought["invoice_id"].as_str().expect("invoice"))
        .await;
    assert_eq!(invoice["billing_reason"], "top_up");
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["lines"][0]["kind"], "usage");
    // The same key: the same top-up, charged and granted once.
    let again = top_up(&app, &token, id(&pages), body, Some("topup-1"))
        .await
        .ok(201);
    assert_eq!(again.body["invoice_id"], bought["invoice_id"]);
    assert_eq!(app.charged_amounts(&customer).await, vec![3000, 5000]);
    let entitled = entitlement(&app, &token, id(&pages), "pages").await;
    assert_eq!(entitled["remaining"], "1500");
    let s = summary(&app, id(&pages), "").await;
    assert_eq!(s["units"][0]["promotional_allocated"], "500");

    // A one-off bundle bought as a top-up of a monthly token plan.
    let tokens = subscribed(&app, &customer, "plan_tokens_5000_month", json!({})).await;
    let bundle = top_up(
        &app,
        &token,
        id(&tokens),
        json!({"plan_id": "plan_tokens_1000_30d"}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(bundle["amount"], "15.00");
    assert_eq!(bundle["grants"][0]["unit"], "tokens");
    assert_eq!(bundle["grants"][0]["units"], "1000");
    assert_eq!(
        entitlement(&app, &token, id(&tokens), "tokens").await["remaining"],
        "6000"
    );
    // What the plan does not sell, and what is not a bundle.
    let refused = top_up(
        &app,
        &token,
        id(&tokens),
        json!({"unit": "pages", "units": 5}),
        None,
    )
    .await
    .problem(422);
    assert_eq!(refused.body["code"], "top_up_not_offered");
    let not_bundle = top_up(
        &app,
        &token,
        id(&tokens),
        json!({"plan_id": "plan_premium_month"}),
        None,
    )
    .await
    .problem(422);
    assert_eq!(not_bundle.fields(), vec!["plan_id"]);
    top_up(&app, &token, id(&tokens), json!({"unit": "tokens"}), None)
        .await
        .problem(422);

    // A card that declines: 402, nothing granted.
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    let before = app.charged_amounts(&customer).await;
    top_up(
        &app,
        &token,
        id(&pages),
        json!({"unit": "pages", "units": 100}),
        None,
    )
    .await
    .problem(402);
    assert_eq!(app.charged_amounts(&customer).await, before);
    assert_eq!(
        entitlement(&app, &token, id(&pages), "pages").await["remaining"],
        "1500"
    );
    // Another customer cannot top up this subscription.
    let other = app.create_customer("Stranger").await;
    top_up(
        &app,
        &app.customer_token(&other),
        id(&pages),
        json!({"unit": "pages", "units": 1}),
        None,
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn an_ended_subscriptions_last_overage_is_billed_once_on_a_final_invoice() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(
        &app,
        "words",
        "10000",
        json!({"limit": "soft", "overage_unit_price": "0.002"}),
    )
    .await;
    let customer = app.create_customer("Leaving").await;
    let token = app.customer_token(&customer);
    // Canceled now: the period's overage is billed at once.
    let now_sub = subscribed(&app, &customer, &plan, json!({})).await;
    record(
        &app,
        &token,
        id(&now_sub),
        json!({"unit": "words", "units": 10500}),
        None,
    )
    .await
    .ok(201);
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{}", id(&now_sub)),
        &token,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    let invoices = app
        .list(&format!(
            "/api/v1/subscriptions/{}/invoices?limit=100",
            id(&now_sub)
        ))
        .await;
    let finals: Vec<&Value> = invoices
        .iter()
        .filter(|i| i["billing_reason"] == "subscription_final")
        .collect();
    assert_eq!(finals.len(), 1, "{invoices:?}");
    assert_eq!(finals[0]["total"], "1.00");
    assert_eq!(finals[0]["status"], "paid");
    assert_eq!(finals[0]["lines"][0]["kind"], "usage");

    // Not renewed: at the period end, the same.
    let ending = subscribed(&app, &customer, &plan, json!({"auto_renew": false})).await;
    record(
        &app,
        &token,
        id(&ending),
        json!({"unit": "words", "units": 11000}),
        None,
    )
    .await
    .ok(201);
    let period_end = time(&ending["current_period_end"]);
    app.advance(json!({"to": (period_end + chrono::Duration::days(2)).to_rfc3339()}))
        .await;
    assert_eq!(app.subscription(id(&ending)).await["status"], "expired");
    let invoices = app
        .list(&format!(
            "/api/v1/subscriptions/{}/invoices?limit=100",
            id(&ending)
        ))
        .await;
    let finals: Vec<&Value> = invoices
        .iter()
        .filter(|i| i["billing_reason"] == "subscription_final")
        .collect();
    assert_eq!(finals.len(), 1, "{invoices:?}");
    assert_eq!(finals[0]["total"], "2.00");
    // Each subscription's price once, and each overage once.
    assert_eq!(
        app.charged_amounts(&customer).await,
        vec![100, 200, 1000, 1000]
    );
}

#[tokio::test]
async fn an_expired_grant_stops_counting_and_the_ledger_says_what_lapsed() {
    let app = TestApp::with_test_clock().await;
    let plan = unit_plan(&app, "pages", "1000", json!({})).await;
    let customer = app.create_customer("Granted").await;
    let token = app.customer_token(&customer);
    let sub = subscribed(&app, &customer, &plan, json!({})).await;
    let start = time(&sub["current_period_start"]);
    let expires = start + chrono::Duration::days(10);
    app.call(
        Method::POST,
        &format!("/api/v1/subscriptions/{}/unit-grants", id(&sub)),
        &app.admin(),
        Some(
            json!({"unit": "pages", "units": "100", "expires_at": expires.to_rfc3339(),
                    "description": "launch"}),
        ),
    )
    .await
    .ok(201);
    let r = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 30}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(r["breakdown"]["promotional"], "30");
    // After its expiry the grant is not spent.
    app.advance(json!({"to": (expires + chrono::Duration::hours(1)).to_rfc3339()}))
        .await;
    let r = record(
        &app,
        &token,
        id(&sub),
        json!({"unit": "pages", "units": 5}),
        None,
    )
    .await
    .ok(201)
    .body;
    assert_eq!(r["breakdown"]["promotional"], "0");
    assert_eq!(r["remaining"], "995");
    let s = summary(&app, id(&sub), "").await;
    assert_eq!(s["units"][0]["promotional_allocated"], "30");
    assert_eq!(s["units"][0]["remaining"], "995");
    // The renewal after it writes what lapsed.
    past_period_end(&app, &sub).await;
    let ledger = app
        .get(
            &format!("/api/v1/subscriptions/{}/unit-ledger", id(&sub)),
            &token,
        )
        .await
        .ok(200)
        .body;
    let entries = ledger["data"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{ledger}");
    assert_eq!(entries[0]["kind"], "granted");
    assert_eq!(entries[0]["units"], "100");
    assert_eq!(entries[1]["kind"], "expired");
    assert_eq!(entries[1]["units"], "70");
    assert_eq!(time(&entries[1]["at"]), expires);
    let s = summary(&app, id(&sub), "").await;
    assert_eq!(s["units"][1]["promotional_allocated"], "0");
    assert_eq!(s["units"][1]["remaining"], "1000");
}
