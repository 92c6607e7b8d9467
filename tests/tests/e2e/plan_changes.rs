//! Upgrades, downgrades and the upcoming invoice, through the API and the test clock.

use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, TestApp};

/// A test app whose clock stands at 1 April 2030 (April has 30 days), with a customer
/// subscribed to `plan` by card.
pub(crate) async fn subscribed_on_the_first_of_april(plan: &str) -> (TestApp, String, Value) {
    let app = TestApp::with_test_clock().await;
    let april = Utc
        .with_ymd_and_hms(2030, 4, 1, 0, 0, 0)
        .single()
        .expect("date");
    app.advance(json!({"to": april.to_rfc3339()})).await;
    let customer = app.create_customer("Changer").await;
    let sub = app
        .subscribe(&app.admin(), &customer, plan)
        .await
        .ok(201)
        .body;
    assert_eq!(time(&sub["current_period_end"]), april + Months::new(1));
    (app, customer, sub)
}

pub(crate) async fn change(app: &TestApp, sub: &str, body: Value) -> crate::app::Answer {
    change_as(app, &app.admin(), sub, body).await
}

/// `POST /subscriptions/{sub}/change-plan` with `token`.
async fn change_as(app: &TestApp, token: &str, sub: &str, body: Value) -> crate::app::Answer {
    app.call(
        Method::POST,
        &format!("/api/v1/subscriptions/{sub}/change-plan"),
        token,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn an_upgrade_from_basic_to_premium_on_day_10_of_a_30_day_month_charges_the_prorated_difference(
) {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_basic_month").await;
    let id = sub["id"].as_str().expect("id");
    app.advance(json!({"by_seconds": 10 * 86_400})).await;

    // The preview says what the change will cost, to the cent.
    let preview = app
        .get(
            &format!("/api/v1/subscriptions/{id}/upcoming-invoice?plan_id=plan_premium_month"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let amounts: Vec<&str> = preview["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["amount"].as_str())
        .collect();
    assert_eq!(amounts, ["-19.99", "53.33"]);
    assert_eq!(preview["total"], "33.34");

    let changed = change(&app, id, json!({"plan_id": "plan_premium_month"}))
        .await
        .ok(200)
        .body;
    assert_eq!(changed["plan_id"], "plan_premium_month");
    // The period is kept.
    assert_eq!(changed["current_period_end"], sub["current_period_end"]);
    let invoice = app.latest_invoice(&changed).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["total"], "33.34");
    assert_eq!(invoice["lines"][0]["kind"], "proration");
    assert_eq!(app.charged_amounts(&customer).await, [2999, 3334]);

    // The next renewal is on the new price.
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(app.charged_amounts(&customer).await, [2999, 3334, 7999]);
}

#[tokio::test]
async fn a_downgrade_waits_for_the_end_of_the_period() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_premium_month").await;
    let id = sub["id"].as_str().expect("id");
    app.advance(json!({"by_seconds": 5 * 86_400})).await;
    let changed = change(&app, id, json!({"plan_id": "plan_basic_month"}))
        .await
        .ok(200)
        .body;
    assert_eq!(changed["plan_id"], "plan_premium_month");
    assert_eq!(changed["scheduled_plan_id"], "plan_basic_month");
    let upcoming = app.upcoming_invoice(id).await;
    assert_eq!(upcoming["total"], "29.99");
    assert_eq!(upcoming["period_start"], sub["current_period_end"]);
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let renewed = app
        .get(&format!("/api/v1/subscriptions/{id}"), &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(renewed["plan_id"], "plan_basic_month");
    assert_eq!(renewed["scheduled_plan_id"], Value::Null);
    assert_eq!(app.charged_amounts(&customer).await, [2999, 7999]);
}

#[tokio::test]
async fn an_immediate_downgrade_credits_the_next_invoice() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_premium_month").await;
    let id = sub["id"].as_str().expect("id");
    app.advance(json!({"by_seconds": 20 * 86_400})).await;
    let changed = change(
        &app,
        id,
        json!({"plan_id": "plan_basic_month", "at_period_end": false}),
    )
    .await
    .ok(200)
    .body;
    assert_eq!(changed["plan_id"], "plan_basic_month");
    // 10 of 30 days left: credit 26.66 for Premium, charge 10.00 for Basic, on the next invoice.
    let upcoming = app.upcoming_invoice(id).await;
    let amounts: Vec<&str> = upcoming["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["amount"].as_str())
        .collect();
    assert_eq!(amounts, ["29.99", "-26.66", "10.00"]);
    assert_eq!(upcoming["total"], "13.33");
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(app.charged_amounts(&customer).await, [1333, 7999]);
    // The credit was used once.
    let upcoming = app.upcoming_invoice(id).await;
    assert_eq!(upcoming["total"], "29.99");
}

#[tokio::test]
async fn a_change_of_interval_resets_the_billing_anchor() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_premium_month").await;
    let id = sub["id"].as_str().expect("id");
    let now = app.advance(json!({"by_seconds": 15 * 86_400})).await;
    let now: DateTime<Utc> = now.parse().expect("time");
    let changed = change(&app, id, json!({"plan_id": "plan_premium_week"}))
        .await
        .ok(200)
        .body;
    assert_eq!(time(&changed["billing_cycle_anchor"]), now);
    assert_eq!(
        time(&changed["current_period_end"]),
        now + Duration::weeks(1)
    );
    // Half the month unused: 40.00 back, 19.99 for the new week; the credit covers it.
    assert_eq!(app.charged_amounts(&customer).await, [7999]);
    let upcoming = app.upcoming_invoice(id).await;
    assert_eq!(upcoming["lines"][0]["amount"], "19.99");
    assert_eq!(upcoming["lines"][1]["amount"], "-40.00");
}

#[tokio::test]
async fn plan_changes_refuse_what_cannot_be_done() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_basic_month").await;
    let id = sub["id"].as_str().expect("id");
    let same = change(&app, id, json!({"plan_id": "plan_basic_month"}))
        .await
        .problem(422);
    assert_eq!(same.fields(), ["plan_id"]);
    let unknown = change(&app, id, json!({"plan_id": "plan_nope"}))
        .await
        .problem(422);
    assert_eq!(unknown.fields(), ["plan_id"]);
    // Another customer's subscription is not there.
    let other = app.create_customer("Other").await;
    app.call(
        Method::POST,
        &format!("/api/v1/subscriptions/{id}/change-plan"),
        &app.customer_token(&other),
        Some(json!({"plan_id": "plan_premium_month"})),
    )
    .await
    .problem(404);
    app.get(
        &format!("/api/v1/subscriptions/{id}/upcoming-invoice"),
        &app.customer_token(&other),
    )
    .await
    .problem(404);
    // A declined upgrade changes nothing.
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    change(&app, id, json!({"plan_id": "plan_premium_month"}))
        .await
        .problem(402);
    let unchanged = app
        .get(&format!("/api/v1/subscriptions/{id}"), &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(unchanged["plan_id"], "plan_basic_month");
    assert_eq!(unchanged["status"], "active");
}

#[tokio::test]
async fn a_customer_cannot_upgrade_for_nothing_or_take_credit_for_a_downgrade() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_basic_month").await;
    let id = sub["id"].as_str().expect("id");
    let own = app.customer_token(&customer);
    app.advance(json!({"by_seconds": 10 * 86_400})).await;
    for prorate in [false, true] {
        let refused = change_as(
            &app,
            &own,
            id,
            json!({"plan_id": "plan_enterprise_month", "prorate": prorate}),
        )
        .await
        .problem(422);
        assert_eq!(refused.fields(), ["prorate"]);
    }
    // The customer's upgrade is charged its prorated price: 20 of 30 days of the difference.
    let upgraded = change_as(&app, &own, id, json!({"plan_id": "plan_enterprise_month"}))
        .await
        .ok(200)
        .body;
    assert_eq!(upgraded["plan_id"], "plan_enterprise_month");
    assert_eq!(app.latest_invoice(&upgraded).await["total"], "113.34");
    // Down again at once would leave credit: the customer's to wait for, an operator's to give.
    let refused = change_as(
        &app,
        &own,
        id,
        json!({"plan_id": "plan_basic_month", "at_period_end": false}),
    )
    .await
    .problem(422);
    assert_eq!(refused.fields(), ["at_period_end"]);
    assert_eq!(app.charged_amounts(&customer).await, [2999, 11334]);
    let credited = change(
        &app,
        id,
        json!({"plan_id": "plan_basic_month", "at_period_end": false}),
    )
    .await
    .ok(200)
    .body;
    assert_eq!(credited["plan_id"], "plan_basic_month");
}

#[tokio::test]
async fn racing_upgrades_at_distinct_times_charge_once_and_a_declined_one_can_be_tried_again() {
    // The wall clock: every request has a time of its own.
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Double upgrader").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id");
    let answers = futures::future::join_all(
        (0..4).map(|_| change(&app, id, json!({"plan_id": "plan_enterprise_month"}))),
    )
    .await;
    let changed = answers.iter().filter(|a| a.status.as_u16() == 200).count();
    assert!(changed >= 1, "{answers:?}");
    for other in answers.iter().filter(|a| a.status.as_u16() != 200) {
        // Refused: the change is being charged (409), or done already (422: on that plan).
        assert!(matches!(other.status.as_u16(), 409 | 422), "{other:?}");
    }
    let charged = app.charged_amounts(&customer).await;
    assert_eq!(charged.len(), 2, "one upgrade charge: {charged:?}");

    // Down again (an operator's, with its credit), then up with a card that fails, then again.
    change(
        &app,
        id,
        json!({"plan_id": "plan_basic_month", "at_period_end": false}),
    )
    .await
    .ok(200);
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    change(&app, id, json!({"plan_id": "plan_premium_month"}))
        .await
        .problem(402);
    app.set_payment_method(&customer, "pm_card_visa").await;
    let upgraded = change(&app, id, json!({"plan_id": "plan_premium_month"}))
        .await
        .ok(200)
        .body;
    assert_eq!(upgraded["plan_id"], "plan_premium_month");
}
