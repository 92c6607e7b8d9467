//! The Stripe gateway against the local Stripe simulator.

use std::sync::Arc;
use std::time::Duration;

use billing_domain::collection::payments::{
    AttachOutcome, ChargeOutcome, ChargeRequest, PaymentGateway,
};
use billing_domain::kernel::money::{Currency, Money};
use billing_payments_stripe::StripeGateway;
use stripe_sim::{serve, Config, Simulator};
use tokio::net::TcpListener;

struct Setup {
    gateway: StripeGateway,
    base: String,
}

async fn setup() -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(serve(
        listener,
        Arc::new(Simulator::new(Config::default()).expect("fixtures")),
    ));
    let gateway = StripeGateway::new("sk_test_gateway", Some(&base))
        .expect("client")
        .with_retries(20, Duration::from_millis(1));
    Setup { gateway, base }
}

fn usd(cents: i64) -> Money {
    Money::from_minor_units(cents, Currency::Usd)
}

async fn customer_with(gw: &StripeGateway, card: &str, n: usize) -> (String, AttachOutcome) {
    let customer = gw
        .create_customer(
            &format!("cus_{n}"),
            "Acme",
            "billing@acme.example",
            &format!("customer:{n}"),
        )
        .await
        .expect("customer");
    let attached = gw
        .attach_payment_method(&customer, card, &format!("pm:{n}"))
        .await
        .expect("attach call");
    (customer, attached)
}

fn charge(customer: &str, pm: &str, key: &str, cents: i64) -> ChargeRequest {
    ChargeRequest {
        processor_customer_id: customer.into(),
        payment_method_id: pm.into(),
        amount: usd(cents),
        off_session: true,
        idempotency_key: key.into(),
        description: "Premium (monthly)".into(),
        metadata: vec![("invoice_key".into(), key.into())],
    }
}

fn pm_of(outcome: AttachOutcome) -> String {
    match outcome {
        AttachOutcome::Attached { payment_method_id } => payment_method_id,
        other => panic!("not attached: {other:?}"),
    }
}

#[tokio::test]
async fn a_visa_card_is_charged_and_refunded() {
    let s = setup().await;
    let (customer, attached) = customer_with(&s.gateway, "pm_card_visa", 1).await;
    let pm = pm_of(attached);
    let outcome = s
        .gateway
        .charge(&charge(&customer, &pm, "invoice:in_1:attempt:1", 7999))
        .await
        .expect("charge");
    let ChargeOutcome::Succeeded { payment_id } = outcome else {
        panic!("{outcome:?}")
    };
    let refund = s
        .gateway
        .refund(&payment_id, usd(1000), "refund:in_1:1")
        .await
        .expect("refund");
    assert!(refund.starts_with("re_"));

    // What the webhook handlers read back parses with async-stripe's own types.
    let second = s
        .gateway
        .refund(&payment_id, usd(500), "refund:in_1:2")
        .await
        .expect("refund");
    let payment = s
        .gateway
        .payment(&payment_id)
        .await
        .expect("retrieve")
        .expect("exists");
    assert_eq!(payment.invoice_id, None, "the metadata has no invoice_id");
    let refunds: Vec<(String, Money)> = payment
        .refunds
        .iter()
        .map(|r| (r.refund_id.clone(), r.amount))
        .collect();
    assert_eq!(refunds, [(refund, usd(1000)), (second, usd(500))]);
    assert!(payment.refunds.iter().all(|r| r.gave_back));
    assert_eq!(s.gateway.payment("pi_unknown").await, Ok(None));

    assert_eq!(
        s.gateway.customer_reference(&customer).await,
        Ok(Some("cus_1".to_owned()))
    );
    assert_eq!(s.gateway.customer_reference("cus_unknown").await, Ok(None));
    assert_eq!(
        s.gateway.payment_method_owner(&pm).await,
        Ok(Some(customer.clone()))
    );
    let detached = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods/{pm}/detach", s.base))
        .bearer_auth("sk_test_dashboard")
        .send()
        .await
        .expect("detach");
    assert!(detached.status().is_success());
    assert_eq!(s.gateway.payment_method_owner(&pm).await, Ok(None));
}

#[tokio::test]
async fn declines_and_authentication_are_outcomes_not_errors() {
    let s = setup().await;
    let (_, attached) = customer_with(&s.gateway, "pm_card_chargeDeclined", 2).await;
    assert!(
        matches!(attached, AttachOutcome::Declined { ref code, .. } if code == "generic_decline"),
        "{attached:?}"
    );

    let (customer, attached) = customer_with(&s.gateway, "pm_card_chargeCustomerFail", 3).await;
    let outcome = s
        .gateway
        .charge(&charge(
            &customer,
            &pm_of(attached),
            "invoice:in_3:attempt:1",
            2999,
        ))
        .await
        .expect("call");
    assert!(
        matches!(
            outcome,
            ChargeOutcome::Declined {
                payment_id: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );

    let (customer, attached) = customer_with(&s.gateway, "pm_card_authenticationRequired", 4).await;
    let outcome = s
        .gateway
        .charge(&charge(
            &customer,
            &pm_of(attached),
            "invoice:in_4:attempt:1",
            2999,
        ))
        .await
        .expect("call");
    assert!(
        matches!(outcome, ChargeOutcome::RequiresAction { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn with_30_percent_errors_and_30_percent_lost_answers_every_charge_happens_exactly_once() {
    let s = setup().await;
    let (customer, attached) = customer_with(&s.gateway, "pm_card_visa", 5).await;
    let pm = pm_of(attached);
    let http = reqwest::Client::new();
    http.post(format!("{}/_simulator/faults", s.base))
        .body(r#"{"error_rate": 0.3, "after_commit_rate": 0.3}"#)
        .send()
        .await
        .expect("faults set");
    for period in 0..24 {
        let key = format!("renewal:sub_5:{period}");
        let outcome = s
            .gateway
            .charge(&charge(&customer, &pm, &key, 7999))
            .await
            .expect("retried until done");
        assert!(
            matches!(outcome, ChargeOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
        // A second worker retrying the same renewal changes nothing.
        let again = s
            .gateway
            .charge(&charge(&customer, &pm, &key, 7999))
            .await
            .expect("replayed");
        assert_eq!(again, outcome);
    }
    http.post(format!("{}/_simulator/faults", s.base))
        .body(r#"{"error_rate": 0, "after_commit_rate": 0}"#)
        .send()
        .await
        .expect("faults off");
    let list: serde_json::Value = http
        .get(format!("{}/v1/payment_intents?customer={customer}", s.base))
        .bearer_auth("sk_test_gateway")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let intents = list["data"].as_array().expect("data");
    assert_eq!(intents.len(), 24, "one payment per period, never two");
    assert!(intents
        .iter()
        .all(|pi| pi["status"] == "succeeded" && pi["amount_received"] == 7999));
}

#[tokio::test]
async fn a_processing_bank_debit_is_no_payment_until_it_settles() {
    let s = setup().await;
    let (customer, attached) = customer_with(&s.gateway, "pm_usBankAccount_success", 4).await;
    let pm = pm_of(attached);
    let outcome = s
        .gateway
        .charge(&charge(&customer, &pm, "invoice:in_4:attempt:1", 7999))
        .await
        .expect("charge");
    let ChargeOutcome::Processing { payment_id } = outcome else {
        panic!("processing is not paid: {outcome:?}")
    };
    let pending = s
        .gateway
        .payment(&payment_id)
        .await
        .expect("retrieve")
        .expect("exists");
    assert!(!pending.succeeded);
    assert_eq!(pending.amount_received, usd(0));
    let settled = reqwest::Client::new()
        .post(format!(
            "{}/v1/test_helpers/payment_intents/{payment_id}/settle",
            s.base
        ))
        .bearer_auth("sk_test_gateway")
        .send()
        .await
        .expect("settle");
    assert!(settled.status().is_success());
    let paid = s
        .gateway
        .payment(&payment_id)
        .await
        .expect("retrieve")
        .expect("exists");
    assert!(paid.succeeded);
    assert_eq!(paid.amount_received, usd(7999));
}

#[tokio::test]
async fn a_call_stripe_keeps_failing_gives_up_within_its_deadline() {
    let s = setup().await;
    let (customer, attached) = customer_with(&s.gateway, "pm_card_visa", 5).await;
    let pm = pm_of(attached);
    let failing = reqwest::Client::new()
        .post(format!("{}/_simulator/faults", s.base))
        .body(r#"{"error_rate": 1}"#)
        .send()
        .await
        .expect("faults");
    assert!(failing.status().is_success());
    // Many attempts with long pauses would take minutes; the deadline stops them.
    let gateway = s
        .gateway
        .clone()
        .with_retries(50, Duration::from_millis(100))
        .with_deadline(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let outcome = gateway
        .charge(&charge(&customer, &pm, "invoice:in_5:attempt:1", 1000))
        .await;
    assert!(
        matches!(
            outcome,
            Err(billing_domain::collection::payments::PaymentError::Transient(_))
        ),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
