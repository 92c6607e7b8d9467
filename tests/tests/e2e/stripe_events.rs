//! Stripe's own events, as the simulator records them (the payloads Stripe sends), delivered to
//! `POST /webhooks/stripe` twice, late and out of order: refunds made in the Stripe dashboard,
//! disputes, detached payment methods and payments that fail after authentication.

use chrono::Duration;
use serde_json::{json, Value};

use crate::app::{stripe_event, time, TestApp};
use crate::billing::{advance_to, invoices, subscribe_with, subscription};

fn payment_intent_of(invoice: &Value) -> String {
    invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("a payment intent")
        .to_owned()
}

/// The types of the domain events the bus delivered since the last call.
async fn delivered_types(app: &TestApp) -> Vec<String> {
    app.relay().await;
    app.delivered_events()
        .await
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_refund_made_in_the_stripe_dashboard_is_recorded_once_from_charge_refunded() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Dashboard Refund").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let pi = payment_intent_of(&app.invoice(invoice_id).await);
    delivered_types(&app).await;

    // Someone refunds 20.00 in the Stripe dashboard; Stripe says so, twice.
    let refund = app
        .stripe_post(
            "/v1/refunds",
            &[("payment_intent", &pi), ("amount", "2000")],
        )
        .await;
    let events = app.stripe_events("charge.refunded").await;
    assert_eq!(events.len(), 1);
    for _ in 0..2 {
        app.deliver_ok(&events[0]).await;
    }
    let refunded = app.invoice(invoice_id).await;
    assert_eq!(refunded["amount_refunded"], "20.00");
    assert_eq!(refunded["refunds"].as_array().map(Vec::len), Some(1));
    assert_eq!(refunded["refunds"][0]["stripe_refund_id"], refund["id"]);
    assert_eq!(refunded["status"], "paid");

    // An operator refunds the rest through the API; Stripe's event for it adds nothing.
    let rest = app.refund(invoice_id, json!({})).await.ok(201).body;
    assert_eq!(rest["refunds"][1]["amount"], "59.99");
    let events = app.stripe_events("charge.refunded").await;
    assert_eq!(events.len(), 2);
    for event in events.iter().rev() {
        app.deliver_ok(event).await;
    }
    let refunded = app.invoice(invoice_id).await;
    assert_eq!(refunded["amount_refunded"], "79.99");
    assert_eq!(refunded["refunds"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        delivered_types(&app).await,
        ["invoice.refunded", "invoice.refunded"]
    );
}

#[tokio::test]
async fn a_dispute_is_recorded_once_in_any_order_and_blocks_refunds_of_the_payment() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Disputed").await;
    // Stripe's test card whose charges succeed and are then disputed as fraudulent.
    let sub = subscribe_with(
        &app,
        &customer,
        "plan_premium_month",
        "pm_card_createDispute",
    )
    .await;
    assert_eq!(sub["status"], "active");
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let pi = payment_intent_of(&app.invoice(invoice_id).await);
    delivered_types(&app).await;
    let created = app.stripe_events("charge.dispute.created").await;
    assert_eq!(created.len(), 1);
    let dispute_id = created[0]["data"]["object"]["id"]
        .as_str()
        .expect("dispute");

    // The merchant submits evidence that loses; the "closed" event arrives first, then the
    // "created" one, then "closed" again.
    app.stripe_post(
        &format!("/v1/disputes/{dispute_id}"),
        &[("evidence[uncategorized_text]", "losing_evidence")],
    )
    .await;
    let closed = app.stripe_events("charge.dispute.closed").await;
    assert_eq!(closed.len(), 1);
    for event in [&closed[0], &created[0], &closed[0]] {
        app.deliver_ok(event).await;
    }
    let disputed = app.invoice(invoice_id).await;
    let disputes = disputed["disputes"].as_array().expect("disputes");
    assert_eq!(disputes.len(), 1, "{disputed}");
    assert_eq!(disputes[0]["stripe_dispute_id"], dispute_id);
    assert_eq!(disputes[0]["stripe_payment_intent_id"], pi);
    assert_eq!(disputes[0]["status"], "lost");
    assert_eq!(disputes[0]["reason"], "fraudulent");
    assert_eq!(disputes[0]["amount"], "79.99");
    assert_eq!(disputed["status"], "paid");
    assert_eq!(
        delivered_types(&app).await,
        ["invoice.dispute_opened", "invoice.dispute_closed"]
    );

    // The money went back through the dispute: the payment cannot be refunded as well.
    let refused = app
        .refund(invoice_id, json!({"amount": "10.00"}))
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["amount"]);
    let refunds = app
        .stripe_get(&format!("/v1/refunds?payment_intent={pi}"))
        .await;
    assert_eq!(refunds["data"], json!([]));
}

#[tokio::test]
async fn a_payment_method_detached_in_stripe_is_forgotten_and_the_renewal_asks_for_a_new_one() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Detached").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let pm = sub["payment_method_id"].as_str().expect("pm").to_owned();
    let customer_path = format!("/api/v1/customers/{customer}");
    let stored = app.get(&customer_path, &app.admin()).await.ok(200).body;
    assert_eq!(stored["default_payment_method_id"], pm.as_str());

    // A signed but stale report about a card Stripe still has attached changes nothing.
    let attached = app.stripe_get(&format!("/v1/payment_methods/{pm}")).await;
    let stripe_customer = attached["customer"].clone();
    let mut stale = stripe_event(
        "evt_stale_detach",
        "payment_method.detached",
        json!({"id": pm, "object": "payment_method", "customer": null}),
    );
    stale["data"]["previous_attributes"] = json!({"customer": stripe_customer});
    app.deliver_ok(&stale).await;
    assert_eq!(
        app.get(&customer_path, &app.admin()).await.ok(200).body["default_payment_method_id"],
        pm.as_str()
    );

    // The card is detached in the Stripe dashboard; Stripe says so, twice.
    app.stripe_post(&format!("/v1/payment_methods/{pm}/detach"), &[])
        .await;
    let detached = app.stripe_events("payment_method.detached").await;
    assert_eq!(detached.len(), 1);
    for _ in 0..2 {
        app.deliver_ok(&detached[0]).await;
    }
    let stored = app.get(&customer_path, &app.admin()).await.ok(200).body;
    assert_eq!(stored["default_payment_method_id"], Value::Null);
    assert_eq!(
        subscription(&app, id).await["payment_method_id"],
        Value::Null
    );

    // The renewal does not charge the card that is gone: it fails visibly and dunning starts.
    let renewal = time(&sub["current_period_end"]);
    advance_to(&app, renewal + Duration::hours(1)).await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "past_due");
    let open = &invoices(&app, id).await[0];
    assert_eq!(open["payments"][0]["failure_code"], "no_payment_method");
    assert_eq!(app.charged_amounts(&customer).await, [7999]);
}

#[tokio::test]
async fn a_payment_that_fails_after_authentication_is_recorded_once_and_the_customer_told() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Fails Authentication").await;
    let sub = subscribe_with(
        &app,
        &customer,
        "plan_premium_month",
        "pm_card_authenticationRequired",
    )
    .await;
    assert_eq!(sub["status"], "incomplete");
    let id = sub["id"].as_str().expect("id");
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let pi = payment_intent_of(&app.invoice(invoice_id).await);
    delivered_types(&app).await;

    // Stripe's "requires_action" event tells nothing the invoice does not know.
    let requires_action = app.stripe_events("payment_intent.requires_action").await;
    assert_eq!(requires_action.len(), 1);
    app.deliver_ok(&requires_action[0]).await;
    assert_eq!(
        app.invoice(invoice_id).await["payments"][0]["status"],
        "requires_action"
    );

    // The customer fails the authentication: Stripe reports it, twice.
    let mut object = app.stripe_get(&format!("/v1/payment_intents/{pi}")).await;
    object["status"] = json!("requires_payment_method");
    object["last_payment_error"] = json!({"type": "card_error",
        "code": "payment_intent_authentication_failure",
        "message": "The provided PaymentMethod has failed authentication."});
    let failed = stripe_event("evt_auth_failed", "payment_intent.payment_failed", object);
    for _ in 0..2 {
        app.deliver_ok(&failed).await;
    }
    let open = app.invoice(invoice_id).await;
    assert_eq!(open["status"], "open");
    assert_eq!(open["attempt_count"], 1);
    assert_eq!(open["payments"][0]["status"], "failed");
    assert_eq!(
        open["payments"][0]["failure_code"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(subscription(&app, id).await["status"], "incomplete");
    app.relay().await;
    let told: Vec<Value> = app
        .delivered_events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "invoice.payment_failed")
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["data"]["amount"], "79.99");
    assert_eq!(
        told[0]["data"]["reason"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(app.charged_amounts(&customer).await, Vec::<i64>::new());
}

#[tokio::test]
async fn a_processing_bank_debit_pays_nothing_until_stripe_settles_it() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Bank debit").await;
    let sub = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_premium_month",
            json!({"payment_method_id": "pm_usBankAccount_success"}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(sub["status"], "incomplete");
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let open = app.invoice(invoice_id).await;
    assert_eq!(open["status"], "open");
    assert_eq!(open["amount_paid"], "0.00");
    assert_eq!(open["payments"][0]["status"], "processing");
    let types = delivered_types(&app).await;
    assert!(!types.iter().any(|t| t == "invoice.paid"), "{types:?}");

    // Stripe settles the debit; its event, stripped of what it took, is read back from Stripe.
    let pi = payment_intent_of(&open);
    app.stripe_post(
        &format!("/v1/test_helpers/payment_intents/{pi}/settle"),
        &[],
    )
    .await;
    let mut events = app.stripe_events("payment_intent.succeeded").await;
    assert_eq!(events.len(), 1);
    let event = &mut events[0];
    if let Some(object) = event["data"]["object"].as_object_mut() {
        object.remove("amount_received");
    }
    for _ in 0..2 {
        app.deliver_ok(event).await;
    }
    let paid = app.invoice(invoice_id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_paid"], "79.99");
    assert_eq!(
        subscription(&app, sub["id"].as_str().expect("id")).await["status"],
        "active"
    );
    let types = delivered_types(&app).await;
    assert_eq!(
        types.iter().filter(|t| *t == "invoice.paid").count(),
        1,
        "{types:?}"
    );
}
