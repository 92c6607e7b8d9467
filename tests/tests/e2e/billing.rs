//! Billing through the API and the test clock only: first charges, renewals, dunning, SCA, and
//! the simulator's own records as the judge of what was charged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use billing_domain::collection::{Checkpoint, Checkpoints, TrialEndWithoutPaymentMethod};
use billing_domain::BillingError;
use chrono::{DateTime, Duration, Months, Utc};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{stripe_event, time, TestApp, WEBHOOK_SECRET};

/// Subscribes with `payment_method` and returns the answer's body.
pub(crate) async fn subscribe_with(
    app: &TestApp,
    customer: &str,
    plan: &str,
    payment_method: &str,
) -> Value {
    app.subscribe_with(
        &app.admin(),
        customer,
        plan,
        json!({"payment_method_id": payment_method, "auto_renew": true}),
    )
    .await
    .ok(201)
    .body
}

pub(crate) async fn subscription(app: &TestApp, id: &str) -> Value {
    app.subscription(id).await
}

pub(crate) async fn invoices(app: &TestApp, sub: &str) -> Vec<Value> {
    app.list(&format!("/api/v1/subscriptions/{sub}/invoices?limit=100"))
        .await
}

/// Advances the clock to `at`.
pub(crate) async fn advance_to(app: &TestApp, at: DateTime<Utc>) {
    let now = app.advance(json!({"to": at.to_rfc3339()})).await;
    assert_eq!(now.parse::<DateTime<Utc>>().expect("time"), at);
}

#[tokio::test]
async fn premium_monthly_is_charged_79_99_on_subscribing_and_on_each_of_12_renewals() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Yearlong").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    assert_eq!(sub["status"], "active");
    let id = sub["id"].as_str().expect("id");
    let start = time(&sub["current_period_start"]);
    advance_to(&app, start + Months::new(12) + Duration::hours(1)).await;

    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["current_period_start"]), start + Months::new(12));
    assert_eq!(time(&sub["current_period_end"]), start + Months::new(13));
    let invoices = invoices(&app, id).await;
    assert_eq!(invoices.len(), 13);
    for (n, invoice) in invoices.iter().rev().enumerate() {
        let n = u32::try_from(n).expect("small");
        assert_eq!(invoice["status"], "paid", "{invoice}");
        assert_eq!(invoice["amount_paid"], "79.99");
        assert_eq!(invoice["total"], "79.99");
        assert_eq!(invoice["attempt_count"], 1);
        let reason = if n == 0 {
            "subscription_create"
        } else {
            "subscription_cycle"
        };
        assert_eq!(invoice["billing_reason"], reason);
        // Contiguous periods: none skipped, none twice.
        assert_eq!(time(&invoice["period_start"]), start + Months::new(n));
        assert_eq!(time(&invoice["period_end"]), start + Months::new(n + 1));
    }
    assert_eq!(sub["latest_invoice_id"], invoices[0]["id"]);
    let (charges, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 13, "{charges:?}");
    assert!(charges
        .iter()
        .all(|pi| pi["amount"] == 7999 && pi["currency"] == "usd"));
}

#[tokio::test]
async fn a_failing_card_goes_past_due_is_retried_after_3_5_and_7_days_then_canceled() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Failing").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let renewal = time(&sub["current_period_end"]);
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;

    advance_to(&app, renewal + Duration::hours(1)).await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "past_due");
    assert_eq!(
        time(&sub["next_payment_attempt"]),
        renewal + Duration::days(3)
    );
    let invoice = &invoices(&app, id).await[0];
    assert_eq!(
        (&invoice["status"], &invoice["attempt_count"]),
        (&json!("open"), &json!(1))
    );
    assert_eq!(invoice["payments"][0]["status"], "failed");

    for (day, next) in [(3, Some(5)), (5, Some(7))] {
        advance_to(&app, renewal + Duration::days(day) + Duration::hours(1)).await;
        let sub = subscription(&app, id).await;
        assert_eq!(sub["status"], "past_due", "day {day}");
        assert_eq!(
            sub["next_payment_attempt"]
                .as_str()
                .map(|_| time(&sub["next_payment_attempt"])),
            next.map(|d| renewal + Duration::days(d))
        );
    }
    advance_to(&app, renewal + Duration::days(7) + Duration::hours(1)).await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "canceled");
    let invoice = &invoices(&app, id).await[0];
    assert_eq!(invoice["status"], "uncollectible");
    assert_eq!(invoice["attempt_count"], 4);
    // Premium's fallback: the customer keeps the free plan from the cancellation on.
    let free = free_successor(&app, &customer).await;
    assert_eq!(time(&free["current_period_start"]), time(&sub["ended_at"]));
    assert_eq!(free["metadata"]["previous_subscription_id"], id);
    // Nothing more happens later.
    advance_to(&app, renewal + Months::new(2)).await;
    assert_eq!(invoices(&app, id).await.len(), 2);
    let (charges, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 1, "only the first period was paid: {charges:?}");
}

#[tokio::test]
async fn a_new_payment_method_recovers_a_past_due_subscription_at_once() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Recovering").await;
    // The card attaches, but its first charge is declined with the customer present.
    let declined = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_basic_month",
            json!({"payment_method_id": "pm_card_chargeCustomerFail"}),
        )
        .await
        .problem(402);
    assert_eq!(declined.fields(), ["payment_method_id"]);
    let sub = subscribe_with(&app, &customer, "plan_basic_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let renewal = time(&sub["current_period_end"]);
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    advance_to(&app, renewal + Duration::hours(1)).await;
    assert_eq!(subscription(&app, id).await["status"], "past_due");

    let updated = app
        .set_payment_method(&customer, "pm_card_mastercard")
        .await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["next_payment_attempt"], Value::Null);
    // The payment method Stripe made of the test token, on the customer and the subscription.
    let attached = &updated["default_payment_method_id"];
    assert_eq!(&sub["payment_method_id"], attached);
    let card = app
        .stripe_get(&format!(
            "/v1/payment_methods/{}",
            attached.as_str().expect("pm")
        ))
        .await;
    assert_eq!(card["card"]["brand"], "mastercard");
    assert_eq!(
        card["customer"],
        app.stripe_customer(&customer).await.as_str()
    );
    let invoice = &invoices(&app, id).await[0];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], "29.99");
    // The dunning retries that were planned charge nothing more.
    advance_to(&app, renewal + Duration::days(8)).await;
    let (charges, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 2, "{charges:?}");
    assert_eq!(subscription(&app, id).await["status"], "active");
}

#[tokio::test]
async fn a_declined_card_at_subscription_is_a_402_and_the_customer_can_try_another() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Declined").await;
    app.subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201);
    let other = app.create_customer("Declined too").await;
    let declined = app
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            &app.admin(),
            Some(
                json!({"customer_id": other, "subscription_plan_id": "plan_premium_month",
                        "payment_method_id": "pm_card_chargeDeclined"}),
            ),
        )
        .await
        .problem(402);
    assert_eq!(declined.body["code"], "payment_declined");
    assert_eq!(declined.fields(), ["payment_method_id"]);
    let listed = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={other}"),
            &app.admin(),
        )
        .await
        .ok(200);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(0));
    let sub = subscribe_with(&app, &other, "plan_premium_month", "pm_card_visa").await;
    assert_eq!(sub["status"], "active");
}

#[tokio::test]
async fn a_card_that_needs_authentication_leaves_the_subscription_incomplete_with_an_open_invoice()
{
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Strong Auth").await;
    let sub = subscribe_with(
        &app,
        &customer,
        "plan_premium_month",
        "pm_card_authenticationRequired",
    )
    .await;
    assert_eq!(sub["status"], "incomplete");
    let id = sub["id"].as_str().expect("id");
    let invoice = app.latest_invoice(&sub).await;
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["amount_due"], "79.99");
    assert_eq!(invoice["payments"][0]["status"], "requires_action");
    assert!(invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .is_some_and(|pi| pi.starts_with("pi_")));
    // Never completed: Stripe's 23 hours later it expires and the invoice is void.
    advance_to(&app, time(&sub["created_at"]) + Duration::hours(24)).await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "expired");
    assert_eq!(invoices(&app, id).await[0]["status"], "void");
    let (_, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 0);
}

#[tokio::test]
async fn with_stripe_failing_and_losing_answers_a_year_charges_each_period_exactly_once() {
    let app = TestApp::with_test_clock().await;
    let mut subs = Vec::new();
    for n in 0..3 {
        let customer = app.create_customer(&format!("Flaky {n}")).await;
        let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
        subs.push((customer, sub));
    }
    app.stripe_faults(0.3, 0.3).await;
    let start = time(&subs[0].1["current_period_start"]);
    advance_to(&app, start + Months::new(12) + Duration::hours(1)).await;
    app.stripe_faults(0.0, 0.0).await;
    for (customer, sub) in &subs {
        let id = sub["id"].as_str().expect("id");
        let invoices = invoices(&app, id).await;
        assert_eq!(invoices.len(), 13);
        assert!(invoices
            .iter()
            .all(|i| i["status"] == "paid" && i["amount_paid"] == "79.99"));
        let (charges, succeeded) = app
            .stripe_charges(&app.stripe_customer(customer).await)
            .await;
        assert_eq!(succeeded, 13, "{customer}: {charges:?}");
    }
}

#[tokio::test]
async fn replaying_the_scheduler_for_past_dates_and_racing_workers_bill_nothing_twice() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Replayed").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let start = time(&sub["current_period_start"]);
    advance_to(&app, start + Months::new(3) + Duration::hours(1)).await;
    let queue = app.jobs.renewal_queue().expect("queue");
    // Replays of every past renewal date, and two runs at once for today.
    for months in 1..=3 {
        billing_jobs::scheduler::run(&app.store, queue, start + Months::new(months))
            .await
            .expect("scheduler");
    }
    let now = start + Months::new(3) + Duration::hours(1);
    join_all([
        billing_jobs::scheduler::run(&app.store, queue, now),
        billing_jobs::scheduler::run(&app.store, queue, now),
    ])
    .await;
    join_all([
        billing_jobs::worker::drain(&app.jobs),
        billing_jobs::worker::drain(&app.jobs),
    ])
    .await;
    assert_eq!(invoices(&app, id).await.len(), 4);
    let (_, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 4);
}

#[tokio::test]
async fn the_test_clock_reads_the_same_time_everywhere_and_never_goes_back() {
    let app = TestApp::with_test_clock().await;
    let admin = app.admin();
    let before = app.get("/api/v1/test-clock", &admin).await.ok(200).body["now"].clone();
    let after = app.advance(json!({"by_seconds": 3600})).await;
    assert_eq!(time(&json!(after)), time(&before) + Duration::hours(1));
    app.call(
        Method::POST,
        "/api/v1/test-clock/advance",
        &admin,
        Some(json!({"to": before})),
    )
    .await
    .problem(422);
    // Customers may read it but not move it.
    let customer = app.create_customer("Clockwatcher").await;
    let token = app.customer_token(&customer);
    app.call(
        Method::POST,
        "/api/v1/test-clock/advance",
        &token,
        Some(json!({"by_seconds": 1})),
    )
    .await
    .problem(403);
    // Without the test clock the endpoints do not exist.
    let plain = TestApp::spawn().await;
    plain
        .get("/api/v1/test-clock", &plain.admin())
        .await
        .problem(404);
}

/// Once armed, kills the worker every other time it reaches each checkpoint.
#[derive(Default)]
struct KillEveryOtherTime {
    armed: AtomicBool,
    reached: Mutex<HashMap<Checkpoint, u32>>,
}

impl Checkpoints for KillEveryOtherTime {
    fn reach(&self, point: Checkpoint) -> Result<(), BillingError> {
        if !self.armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut reached = self.reached.lock().unwrap_or_else(|p| p.into_inner());
        let n = reached.entry(point).or_default();
        *n += 1;
        if *n % 2 == 1 {
            Err(BillingError::Interrupted(format!("{point:?}")))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_worker_killed_at_every_step_and_redelivered_charges_every_period_exactly_once() {
    let killer = Arc::new(KillEveryOtherTime::default());
    let app = TestApp::with_checkpoints(killer.clone()).await;
    let customer = app.create_customer("Crashy").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let id = sub["id"].as_str().expect("id");
    let start = time(&sub["current_period_start"]);
    killer.armed.store(true, Ordering::SeqCst);
    advance_to(&app, start + Months::new(6) + Duration::hours(1)).await;

    let reached = killer
        .reached
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for point in [
        Checkpoint::BeforeInvoiceWrite,
        Checkpoint::AfterInvoiceWrite,
        Checkpoint::BeforeCharge,
        Checkpoint::AfterCharge,
        Checkpoint::AfterChargeRecorded,
        Checkpoint::AfterPeriodUpdate,
        Checkpoint::BeforeMessageDelete,
    ] {
        assert!(
            reached.get(&point).is_some_and(|n| *n >= 6),
            "the worker was killed at {point:?} on every renewal: {reached:?}"
        );
    }
    let invoices = invoices(&app, id).await;
    assert_eq!(
        invoices.len(),
        7,
        "{:?} {}",
        invoices
            .iter()
            .map(|i| (i["period_start"].clone(), i["status"].clone()))
            .collect::<Vec<_>>(),
        subscription(&app, id).await
    );
    for (n, invoice) in invoices.iter().rev().enumerate() {
        let n = u32::try_from(n).expect("small");
        assert_eq!(invoice["status"], "paid");
        assert_eq!(time(&invoice["period_start"]), start + Months::new(n));
    }
    let (charges, succeeded) = app
        .stripe_charges(&app.stripe_customer(&customer).await)
        .await;
    assert_eq!(succeeded, 7, "{charges:?}");
    let sub = subscription(&app, id).await;
    assert_eq!(time(&sub["current_period_start"]), start + Months::new(6));
    assert_eq!(sub["status"], "active");
}

#[tokio::test]
async fn an_authenticated_payment_webhook_activates_the_incomplete_subscription_once() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Authenticates").await;
    let sub = subscribe_with(
        &app,
        &customer,
        "plan_premium_month",
        "pm_card_authenticationRequired",
    )
    .await;
    let id = sub["id"].as_str().expect("id");
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let invoice = app.invoice(invoice_id).await;
    let pi_id = invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    let mut pi = app
        .stripe_get(&format!("/v1/payment_intents/{pi_id}"))
        .await;
    assert_eq!(pi["metadata"]["invoice_id"], invoice_id);
    let now = Utc::now().timestamp();

    // The customer authenticates: Stripe now holds the payment as succeeded.
    app.stripe_post(&format!("/v1/payment_intents/{pi_id}/confirm"), &[])
        .await;
    // Forged, stale and unsigned deliveries are refused and change nothing.
    pi["status"] = json!("succeeded");
    pi["amount_received"] = json!(7999);
    let succeeded = stripe_event("evt_auth_ok", "payment_intent.succeeded", pi.clone());
    app.deliver(&succeeded, "whsec_forged", now)
        .await
        .problem(400);
    app.deliver(&succeeded, WEBHOOK_SECRET, now - 400)
        .await
        .problem(400);
    app.raw(
        Method::POST,
        "/webhooks/stripe",
        None,
        Some(succeeded.to_string()),
        &[],
    )
    .await
    .problem(400);
    assert_eq!(subscription(&app, id).await["status"], "incomplete");

    // The genuine event, delivered twice, and a stale failure arriving after it.
    for _ in 0..2 {
        app.deliver(&succeeded, WEBHOOK_SECRET, now).await.ok(200);
    }
    let mut failed = pi.clone();
    failed["status"] = json!("requires_payment_method");
    failed["amount_received"] = json!(0);
    app.deliver(
        &stripe_event(
            "evt_auth_failed_earlier",
            "payment_intent.payment_failed",
            failed,
        ),
        WEBHOOK_SECRET,
        now,
    )
    .await
    .ok(200);
    let again = app.deliver(&succeeded, WEBHOOK_SECRET, now).await.ok(200);
    assert_eq!(again.body["duplicate"], true);

    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "active");
    let invoice = app.invoice(invoice_id).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], "79.99");
    assert_eq!(invoice["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(invoice["payments"][0]["status"], "succeeded");
    // An event for something that is not ours is acknowledged and ignored.
    app.deliver(
        &stripe_event("evt_other", "charge.dispute.created", json!({"id": "dp_1"})),
        WEBHOOK_SECRET,
        now,
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn a_payment_webhook_that_arrives_before_the_worker_records_the_charge_is_not_counted_twice()
{
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Early Event").await;
    let sub = subscribe_with(&app, &customer, "plan_basic_month", "pm_card_visa").await;
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let invoice = app.invoice(invoice_id).await;
    let pi_id = invoice["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    let pi = app
        .stripe_get(&format!("/v1/payment_intents/{pi_id}"))
        .await;
    let now = Utc::now().timestamp();
    app.deliver(
        &stripe_event("evt_early", "payment_intent.succeeded", pi),
        WEBHOOK_SECRET,
        now,
    )
    .await
    .ok(200);
    let invoice = app.invoice(invoice_id).await;
    assert_eq!(invoice["amount_paid"], "29.99");
    assert_eq!(invoice["payments"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn operators_refund_part_then_the_rest_of_a_payment_once_per_request() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Refunded").await;
    let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
    let invoice_id = sub["latest_invoice_id"].as_str().expect("invoice");
    let path = format!("/api/v1/invoices/{invoice_id}/refunds");
    let body = json!({"amount": "10.00", "reason": "requested_by_customer"}).to_string();
    for _ in 0..2 {
        let refunded = app
            .raw(
                Method::POST,
                &path,
                Some(&app.admin()),
                Some(body.clone()),
                &[("idempotency-key", "refund-1")],
            )
            .await
            .ok(201);
        assert_eq!(refunded.body["amount_refunded"], "10.00");
    }
    // Customers may not refund themselves.
    app.call(
        Method::POST,
        &path,
        &app.customer_token(&customer),
        Some(json!({})),
    )
    .await
    .problem(403);
    let too_much = app
        .call(
            Method::POST,
            &path,
            &app.admin(),
            Some(json!({"amount": "70.00"})),
        )
        .await
        .problem(422);
    assert_eq!(too_much.fields(), ["amount"]);
    let rest = app
        .call(Method::POST, &path, &app.admin(), Some(json!({})))
        .await
        .ok(201)
        .body;
    assert_eq!(rest["amount_refunded"], "79.99");
    assert_eq!(rest["status"], "paid");
    assert_eq!(rest["refunds"][1]["amount"], "69.99");
    assert!(rest["refunds"][0]["stripe_refund_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("re_")));
    app.call(Method::POST, &path, &app.admin(), Some(json!({})))
        .await
        .problem(422);
    let pi = rest["payments"][0]["stripe_payment_intent_id"]
        .as_str()
        .expect("pi");
    let refunds = app
        .stripe_get(&format!("/v1/refunds?payment_intent={pi}"))
        .await;
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["amount"].as_i64())
        .collect();
    assert_eq!(amounts.iter().sum::<i64>(), 7999, "{refunds}");
    assert_eq!(amounts.len(), 2);
}

/// A 14-day trial plan, created by an operator.
async fn trial_plan(app: &TestApp) {
    app.create_plan(
        json!({"id": "plan_trial", "name": "Try it", "tier": "premium", "interval": "month",
                    "price": "79.99", "currency": "usd", "trial_days": 14}),
    )
    .await;
}

#[tokio::test]
async fn a_trial_with_a_card_charges_nothing_until_it_ends_then_bills_from_its_end() {
    let app = TestApp::with_test_clock().await;
    trial_plan(&app).await;
    let customer = app.create_customer("Trialist").await;
    let sub = subscribe_with(&app, &customer, "plan_trial", "pm_card_visa").await;
    assert_eq!(sub["status"], "trialing");
    let id = sub["id"].as_str().expect("id");
    let trial_end = time(&sub["trial_end"]);
    assert!(invoices(&app, id).await.is_empty());
    let stripe = app.stripe_customer(&customer).await;
    assert_eq!(app.stripe_charges(&stripe).await.1, 0);

    advance_to(&app, trial_end + Duration::hours(1)).await;
    let sub = subscription(&app, id).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(time(&sub["current_period_start"]), trial_end);
    assert_eq!(time(&sub["current_period_end"]), trial_end + Months::new(1));
    let invoices = invoices(&app, id).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["amount_paid"], "79.99");
    assert_eq!(app.stripe_charges(&stripe).await.1, 1);
}

#[tokio::test]
async fn a_trial_without_a_card_pauses_at_its_end_or_cancels_as_configured() {
    for (setting, status) in [
        (TrialEndWithoutPaymentMethod::Pause, "paused"),
        (TrialEndWithoutPaymentMethod::Cancel, "canceled"),
    ] {
        let app = TestApp::spawn_with(|s| {
            s.test_clock = true;
            s.trial_end_without_payment_method = setting;
        })
        .await;
        trial_plan(&app).await;
        let customer = app.create_customer("No Card").await;
        let sub = app
            .call(
                Method::POST,
                "/api/v1/subscriptions",
                &app.admin(),
                Some(json!({"customer_id": customer, "subscription_plan_id": "plan_trial"})),
            )
            .await
            .ok(201)
            .body;
        assert_eq!(sub["status"], "trialing");
        let id = sub["id"].as_str().expect("id");
        advance_to(&app, time(&sub["trial_end"]) + Duration::hours(1)).await;
        assert_eq!(subscription(&app, id).await["status"], status);
        assert!(invoices(&app, id).await.is_empty());
    }
}

/// The customer's subscription to the free plan, which must be active.
async fn free_successor(app: &TestApp, customer: &str) -> Value {
    let listed = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={customer}"),
            &app.admin(),
        )
        .await
        .ok(200)
        .body;
    let free = listed["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["plan_id"] == "plan_free_month")
        .cloned()
        .unwrap_or_else(|| panic!("no free subscription: {listed}"));
    assert_eq!(free["status"], "active");
    free
}

#[tokio::test]
async fn a_subscription_that_ends_at_its_period_end_drops_to_the_free_plan() {
    let app = TestApp::with_test_clock().await;
    for (change, ended) in [
        (json!({"auto_renew": false}), "expired"),
        (json!({"cancel_at_period_end": true}), "canceled"),
    ] {
        let customer = app.create_customer("Leaving").await;
        let sub = subscribe_with(&app, &customer, "plan_premium_month", "pm_card_visa").await;
        let id = sub["id"].as_str().expect("id");
        app.call(
            Method::PATCH,
            &format!("/api/v1/subscriptions/{id}"),
            &app.admin(),
            Some(change),
        )
        .await
        .ok(200);
        let end = time(&sub["current_period_end"]);
        advance_to(&app, end + Duration::hours(1)).await;
        assert_eq!(subscription(&app, id).await["status"], ended);
        let free = free_successor(&app, &customer).await;
        assert_eq!(time(&free["current_period_start"]), end);
        assert_eq!(free["metadata"]["previous_subscription_id"], id);
        // Only the first Premium month was ever charged.
        let (_, succeeded) = app
            .stripe_charges(&app.stripe_customer(&customer).await)
            .await;
        assert_eq!(succeeded, 1);
    }
}

#[tokio::test]
async fn a_customer_changed_after_a_refused_card_still_subscribes() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Typo Card").await;
    let refused = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_basic_month",
            json!({"payment_method_id": "pm_does_not_exist"}),
        )
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["payment_method_id"]);
    app.call(
        Method::PATCH,
        &format!("/api/v1/customers/{customer}"),
        &app.admin(),
        Some(json!({"name": "Typo Card Ltd", "email": "ap@typo.example"})),
    )
    .await
    .ok(200);
    let sub = subscribe_with(&app, &customer, "plan_basic_month", "pm_card_visa").await;
    assert_eq!(sub["status"], "active");
}

#[tokio::test]
async fn a_customer_gets_the_plans_trial_once_and_cannot_choose_its_length() {
    let app = TestApp::with_test_clock().await;
    trial_plan(&app).await;
    let customer = app.create_customer("Serial trialist").await;
    let own = app.customer_token(&customer);
    // A customer's token cannot set trial_days, on any plan.
    for plan in ["plan_trial", "plan_enterprise_month"] {
        let refused = app
            .subscribe_with(&own, &customer, plan, json!({"trial_days": 730}))
            .await
            .problem(422);
        assert_eq!(refused.fields(), ["trial_days"]);
    }
    // The plan's trial, the first time.
    let first = app
        .subscribe_with(&own, &customer, "plan_trial", json!({}))
        .await
        .ok(201)
        .body;
    assert_eq!(first["status"], "trialing");
    assert_eq!(
        time(&first["trial_end"]) - time(&first["current_period_start"]),
        Duration::days(14)
    );
    let id = first["id"].as_str().expect("id");
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{id}"),
        &own,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    // Again after canceling: no second trial; charged at once.
    let again = app
        .subscribe_with(&own, &customer, "plan_trial", json!({}))
        .await
        .ok(201)
        .body;
    assert_eq!(again["status"], "active", "{again}");
    assert_eq!(again["trial_end"], Value::Null);
    assert_eq!(app.charged_amounts(&customer).await, [7999]);
}

#[tokio::test]
async fn racing_subscriptions_of_one_customer_get_one_trial() {
    let app = TestApp::with_test_clock().await;
    app.create_plan(
        json!({"id": "plan_addon_trial", "name": "Add-on", "tier": "basic", "interval": "month",
                    "price": "9.99", "currency": "usd", "trial_days": 7, "allow_multiple": true}),
    )
    .await;
    let customer = app.create_customer("Racing trialist").await;
    let own = app.customer_token(&customer);
    let answers = join_all(
        (0..4).map(|_| app.subscribe_with(&own, &customer, "plan_addon_trial", json!({}))),
    )
    .await;
    let statuses: Vec<String> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 201)
        .filter_map(|a| a.body["status"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "trialing").count(),
        1,
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_renewal_message_that_can_never_succeed_is_recorded_and_deleted_not_retried() {
    let app = TestApp::with_test_clock().await;
    let queue = app.jobs.renewal_queue().expect("the renewal queue");
    // A subscription that does not exist, and a message that is no message of ours.
    queue
        .send_body(r#"{"subscription_id": "sub_00000000000000000000dead"}"#)
        .await
        .expect("sent");
    queue.send_body("not json").await.expect("sent");
    let customer = app.create_customer("Still renewed").await;
    let sub = subscribe_with(&app, &customer, "plan_basic_month", "pm_card_visa").await;
    advance_to(&app, time(&sub["current_period_end"]) + Duration::hours(1)).await;
    assert_eq!(app.charged_amounts(&customer).await, [2999, 2999]);
    // Nothing was retried into the dead-letter queue: both were taken off at the first receive.
    let drained = billing_jobs::worker::drain(&app.jobs)
        .await
        .expect("drained");
    assert_eq!((drained.processed, drained.failed), (0, 0), "{drained:?}");
    let dead = app.dead_letters("").await;
    assert!(dead.is_empty(), "{dead:?}");
}
