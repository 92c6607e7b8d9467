//! The customer's credit balance: left by refunds to the balance and by invoices with a negative
//! total, spent on the next invoices before the card, never below zero, never twice.

use chrono::Duration;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::app::{time, TestApp};
use crate::billing::{advance_to, invoices, subscribe_with};
use crate::plan_changes::{change, subscribed_on_the_first_of_april};

async fn balance(app: &TestApp, customer: &str) -> Value {
    app.get(
        &format!("/api/v1/customers/{customer}/credit-balance"),
        &app.customer_token(customer),
    )
    .await
    .ok(200)
    .body["balances"]
        .clone()
}

/// The customer's credit transactions, oldest first, as (kind, amount).
async fn transactions(app: &TestApp, customer: &str) -> Vec<(String, String)> {
    let list = app
        .get(
            &format!("/api/v1/customers/{customer}/credit-transactions?limit=100"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let mut rows: Vec<(String, String)> = list["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap_or_default().to_owned(),
                t["amount"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.reverse();
    rows
}

#[tokio::test]
async fn a_refund_to_the_credit_balance_pays_the_next_renewal_first() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Credited").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    assert_eq!(balance(&app, &customer).await, json!([]));

    let refunded = app
        .refund(
            invoice_id,
            json!({"amount": "30.00", "to": "credit_balance"}),
        )
        .await
        .ok(201)
        .body;
    assert_eq!(refunded["amount_refunded"], "30.00");
    assert_eq!(refunded["refunds"][0]["to"], "credit_balance");
    assert_eq!(refunded["refunds"][0]["stripe_refund_id"], Value::Null);
    let pi = refunded["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    let stripe_refunds = app
        .stripe_get(&format!("/v1/refunds?payment_intent={pi}"))
        .await;
    assert_eq!(
        stripe_refunds["data"],
        json!([]),
        "nothing went to the card"
    );
    assert_eq!(
        balance(&app, &customer).await,
        json!([{"currency": "usd", "amount": "30.00"}])
    );

    // The preview shows the credit; the renewal spends it and charges the card the rest.
    let upcoming = app.upcoming_invoice(id).await;
    assert_eq!(
        (&upcoming["credit_applied"], &upcoming["amount_due"]),
        (&json!("30.00"), &json!("49.99"))
    );
    let renewal = time(&sub["current_period_end"]);
    advance_to(&app, renewal + Duration::hours(1)).await;
    let renewed = &invoices(&app, id).await[0];
    assert_eq!(renewed["status"], "paid");
    assert_eq!(renewed["total"], "79.99");
    assert_eq!(renewed["credit_applied"], "30.00");
    assert_eq!(renewed["amount_paid"], "49.99");
    assert_eq!(renewed["amount_due"], "0.00");
    assert_eq!(app.charged_amounts(&customer).await, [4999, 7999]);
    assert_eq!(
        balance(&app, &customer).await,
        json!([{"currency": "usd", "amount": "0.00"}])
    );
    assert_eq!(
        transactions(&app, &customer).await,
        [
            ("refund".to_owned(), "30.00".to_owned()),
            ("applied_to_invoice".to_owned(), "-30.00".to_owned())
        ]
    );
    // The month after, the card pays it all again.
    advance_to(&app, renewal + chrono::Months::new(1) + Duration::hours(1)).await;
    assert_eq!(app.charged_amounts(&customer).await, [4999, 7999, 7999]);

    // Other customers cannot read this customer's credit.
    let stranger = app.create_customer("Stranger").await;
    for path in ["credit-balance", "credit-transactions"] {
        app.get(
            &format!("/api/v1/customers/{customer}/{path}"),
            &app.customer_token(&stranger),
        )
        .await
        .problem(404);
    }
}

#[tokio::test]
async fn an_invoice_with_a_negative_total_leaves_credit_that_the_next_invoice_spends() {
    let (app, customer, sub) = subscribed_on_the_first_of_april("plan_premium_month").await;
    let id = sub["id"].as_str().expect("id");
    // One day in: 29 of 30 days left. Credit 77.32 for Premium, charge 28.99 for Basic.
    app.advance(json!({"by_seconds": 86_400})).await;
    change(
        &app,
        id,
        json!({"plan_id": "plan_basic_month", "at_period_end": false}),
    )
    .await
    .ok(200);
    let may = time(&sub["current_period_end"]);
    advance_to(&app, may + Duration::hours(1)).await;
    let credit_only = &invoices(&app, id).await[0];
    assert_eq!(credit_only["total"], "-18.34");
    assert_eq!(credit_only["credit_issued"], "18.34");
    assert_eq!(credit_only["amount_due"], "0.00");
    assert_eq!(credit_only["status"], "paid");
    assert_eq!(
        balance(&app, &customer).await,
        json!([{"currency": "usd", "amount": "18.34"}])
    );
    assert_eq!(
        app.charged_amounts(&customer).await,
        [7999],
        "nothing charged in May"
    );

    advance_to(&app, may + chrono::Months::new(1) + Duration::hours(1)).await;
    let june = &invoices(&app, id).await[0];
    assert_eq!(june["total"], "29.99");
    assert_eq!(june["credit_applied"], "18.34");
    assert_eq!(june["amount_paid"], "11.65");
    assert_eq!(app.charged_amounts(&customer).await, [1165, 7999]);
    assert_eq!(
        transactions(&app, &customer).await,
        [
            ("invoice_credit".to_owned(), "18.34".to_owned()),
            ("applied_to_invoice".to_owned(), "-18.34".to_owned())
        ]
    );
}

#[tokio::test]
async fn two_invoices_opened_at_once_spend_the_same_credit_once() {
    let app = TestApp::with_test_clock().await;
    app.create_plan(
        json!({"id": "plan_addon", "name": "Add-on", "tier": "basic", "interval": "month",
                    "price": "10.00", "currency": "usd", "allow_multiple": true}),
    )
    .await;
    let customer = app.create_customer("Two Add-ons").await;
    let first = subscribe_with(&app, &customer, "plan_addon", "pm_card_visa").await;
    let invoice_id = first["latest_invoice_id"].as_str().expect("invoice");
    app.refund(invoice_id, json!({"to": "credit_balance"}))
        .await
        .ok(201);
    // 10.00 of credit; two more add-ons subscribed at the same moment, 10.00 each.
    let subscribed =
        join_all((0..2).map(|_| subscribe_with(&app, &customer, "plan_addon", "pm_card_visa")))
            .await;
    let mut paid_by_credit = Vec::new();
    for sub in &subscribed {
        assert_eq!(sub["status"], "active");
        let invoice = app.latest_invoice(sub).await;
        assert_eq!(invoice["status"], "paid");
        paid_by_credit.push(
            invoice["credit_applied"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    paid_by_credit.sort();
    assert_eq!(paid_by_credit, ["0.00", "10.00"]);
    assert_eq!(app.charged_amounts(&customer).await, [1000, 1000]);
    assert_eq!(
        balance(&app, &customer).await,
        json!([{"currency": "usd", "amount": "0.00"}])
    );
    // Both happened at the test clock's one instant: their order is not defined.
    let mut ledger = transactions(&app, &customer).await;
    ledger.sort();
    assert_eq!(
        ledger,
        [
            ("applied_to_invoice".to_owned(), "-10.00".to_owned()),
            ("refund".to_owned(), "10.00".to_owned())
        ]
    );
}

#[tokio::test]
async fn racing_refunds_to_the_card_and_the_credit_balance_never_give_back_more_than_was_paid() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Refunded twice over").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    // Ten refunds of 60% each of the 79.99 paid, half to the card and half to the credit
    // balance, all at once: one fits, and no two do.
    let answers = join_all((0..10).map(|i| {
        let to = if i % 2 == 0 {
            "payment_method"
        } else {
            "credit_balance"
        };
        app.refund(invoice_id, json!({"amount": "47.99", "to": to}))
    }))
    .await;
    let accepted = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    assert_eq!(accepted, 1, "{answers:?}");
    for refused in answers.iter().filter(|a| a.status.as_u16() != 201) {
        // Refused: not enough left, or the invoice changed under it (try again).
        assert!(matches!(refused.status.as_u16(), 409 | 422), "{refused:?}");
    }
    let invoice = app.invoice(invoice_id).await;
    assert_eq!(invoice["amount_refunded"], "47.99");
    let pi = invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    let to_card: i64 = app
        .stripe_get(&format!("/v1/refunds?payment_intent={pi}"))
        .await["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["amount"].as_i64())
        .sum();
    let balances = balance(&app, &customer).await;
    let to_credit: i64 = balances
        .as_array()
        .expect("balances")
        .iter()
        .filter_map(|b| b["amount"].as_str())
        .map(|a| {
            a.replace('.', "")
                .parse::<i64>()
                .expect("an amount in cents")
        })
        .sum();
    assert_eq!(
        to_card + to_credit,
        4799,
        "card {to_card}, credit {balances}"
    );
    // What is left can still be refunded, once.
    let rest = app
        .refund(invoice_id, json!({"to": "credit_balance"}))
        .await
        .ok(201)
        .body;
    assert_eq!(rest["amount_refunded"], "79.99");
    app.refund(invoice_id, json!({})).await.problem(422);
}

#[tokio::test]
async fn a_refund_the_processor_refuses_gives_nothing_back_and_frees_its_amount() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Refused refund").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let pi = app.invoice(invoice_id).await["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi")
        .to_owned();
    // Refunded in Stripe's dashboard, unknown to the invoice: Stripe refuses the next refund.
    app.stripe_post(
        "/v1/refunds",
        &[("payment_intent", &pi), ("amount", "7000")],
    )
    .await;
    let refused = app
        .refund(invoice_id, json!({"amount": "20.00"}))
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["amount"], "{refused:?}");
    let invoice = app.invoice(invoice_id).await;
    let statuses: Vec<&str> = invoice["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert!(statuses.contains(&"failed"), "{invoice}");
    assert!(!statuses.contains(&"pending"), "{invoice}");
}
