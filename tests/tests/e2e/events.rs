//! Domain events: stored with each change, published by the relay to the EventBridge bus, and
//! delivered by the bus's rule to the notifications queue (all in the emulator).

use std::collections::HashSet;

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{time, TestApp};

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[tokio::test]
async fn every_change_reaches_the_notifications_queue_once_in_order_with_its_figures() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Eventful").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id");
    assert_eq!(app.relay().await, 2);
    let created = app.delivered_events().await;
    assert_eq!(types(&created), ["invoice.paid", "subscription.created"]);
    let paid = &created[0];
    assert_eq!(paid["data"]["amount"], "79.99");
    assert_eq!(paid["data"]["currency"], "usd");
    assert_eq!(paid["data"]["invoice_id"], sub["latest_invoice_id"]);
    assert_eq!(paid["customer_id"], customer.as_str());
    assert_eq!(paid["version"], 1);
    assert_eq!(created[1]["subscription_id"], id);
    assert_eq!(created[1]["data"]["plan_id"], "plan_premium_month");

    // A renewal, then a card that fails and a cancellation.
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    let renewed = app.subscription(id).await;
    app.advance(
        json!({"to": (time(&renewed["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{id}"),
        &app.admin(),
        Some(json!({"immediately": true, "reason": "too_expensive"})),
    )
    .await
    .ok(200);
    app.relay().await;
    let later = app.delivered_events().await;
    assert_eq!(
        types(&later),
        [
            "invoice.upcoming",
            "invoice.paid",
            "subscription.renewed",
            // The new card.
            "subscription.updated",
            "invoice.upcoming",
            "invoice.payment_failed",
            "subscription.renewed",
            "subscription.canceled"
        ],
        "{later:#?}"
    );
    // A week before each renewal, the amount it will charge.
    assert_eq!(later[0]["data"]["amount"], "79.99");
    assert_eq!(
        time(&later[0]["data"]["period_end"]) - time(&later[0]["created"]),
        Duration::days(7)
    );
    assert_eq!(
        later[3]["data"]["previous_attributes"]["payment_method_id"],
        sub["payment_method_id"]
    );
    let failed = &later[5];
    assert_eq!(failed["data"]["amount"], "79.99");
    assert_eq!(failed["data"]["reason"], "generic_decline");
    let retry = time(&failed["data"]["next_attempt_at"]);
    assert_eq!(
        retry - time(&renewed["current_period_end"]),
        Duration::days(3)
    );
    assert_eq!(later[7]["data"]["reason"], "too_expensive");

    // Ids are unique and a subscription's sequence only grows.
    let all: Vec<&Value> = created.iter().chain(later.iter()).collect();
    let ids: HashSet<&str> = all.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), all.len());
    let sequences: Vec<u64> = all
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("subscription."))
        })
        .filter_map(|e| e["sequence"].as_u64())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    // Nothing is published twice.
    assert_eq!(app.relay().await, 0);
    assert!(app.delivered_events().await.is_empty());
}

#[tokio::test]
async fn a_trial_reminder_goes_out_three_days_before_the_trial_ends_and_only_once() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Trying").await;
    let sub = app
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            &app.admin(),
            Some(
                json!({"customer_id": customer, "subscription_plan_id": "plan_premium_month",
                        "payment_method_id": "pm_card_visa", "trial_days": 14}),
            ),
        )
        .await
        .ok(201)
        .body;
    let trial_end = time(&sub["trial_end"]);
    app.advance(json!({"to": (trial_end - Duration::days(3) - Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(
        types(&app.delivered_events().await),
        ["subscription.created"]
    );
    app.advance(json!({"to": (trial_end - Duration::days(2)).to_rfc3339()}))
        .await;
    let reminders = app.delivered_events().await;
    assert_eq!(types(&reminders), ["subscription.trial_will_end"]);
    assert_eq!(time(&reminders[0]["data"]["ends_at"]), trial_end);
    app.advance(json!({"to": (trial_end + Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(
        types(&app.delivered_events().await),
        ["invoice.paid", "subscription.renewed"]
    );
}

/// Puts an item into the table by hand, as a bad migration or a bug of old would have left it.
async fn put_by_hand(app: &TestApp, fields: &[(&str, &str)]) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut put = app.store.client().put_item().table_name(app.store.table());
    for (name, value) in fields {
        put = put.item(*name, AttributeValue::S((*value).to_owned()));
    }
    put.send().await.expect("the item is stored");
}

async fn unreadable_mark(app: &TestApp, pk: &str, sk: &str) -> Option<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let out = app
        .store
        .client()
        .get_item()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S(pk.to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .send()
        .await
        .expect("read");
    let item = out.item.expect("the item is kept");
    assert!(!item.contains_key("due_pk") && !item.contains_key("gsi1pk"));
    item.get("unreadable").and_then(|v| v.as_s().ok()).cloned()
}

#[tokio::test]
async fn an_unreadable_item_is_set_aside_and_every_other_renewal_and_event_still_runs() {
    let app = TestApp::with_test_clock().await;
    // A subscription due "in the year 10000" (it sorts first in its due partition) and an
    // outbox event that cannot be read, in every partition the scheduler and relay read.
    for shard in 0..16 {
        let id = format!("sub_broken{shard:02}");
        put_by_hand(
            &app,
            &[
                ("pk", &format!("SUB#{id}")),
                ("sk", "SUBSCRIPTION"),
                ("entity", "subscription"),
                ("id", &id),
                ("due_pk", &format!("DUE#{shard:02}")),
                ("due_at", &format!("+10000-01-01T00:00:00.000000Z#{id}")),
            ],
        )
        .await;
    }
    put_by_hand(
        &app,
        &[
            ("pk", "EVENT#evt_broken"),
            ("sk", "EVENT"),
            ("gsi1pk", "OUTBOX"),
            ("gsi1sk", "0000-00-00#evt_broken"),
            ("id", "evt_broken"),
        ],
    )
    .await;
    let customer = app.create_customer("Unaffected").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(app.charged_amounts(&customer).await, [7999, 7999]);
    let delivered = app.delivered_events().await;
    assert!(
        types(&delivered).contains(&"subscription.renewed"),
        "{delivered:?}"
    );
    // Each was set aside once, out of its index, with why.
    let why = unreadable_mark(&app, "SUB#sub_broken00", "SUBSCRIPTION").await;
    assert!(why.is_some_and(|w| w.contains("due_at")));
    assert!(unreadable_mark(&app, "EVENT#evt_broken", "EVENT")
        .await
        .is_some());
}
