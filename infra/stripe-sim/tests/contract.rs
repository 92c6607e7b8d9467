//! Contract: async-stripe's own client, pointed at the simulator, sends the requests the billing
//! engine will send and parses every answer with async-stripe's strict types.

use std::sync::Arc;

use stripe::{ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentOffSession, ListPaymentIntent, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_payment::payment_method::AttachPaymentMethod;
use stripe_sim::{serve, Config, Simulator};
use tokio::net::TcpListener;

async fn client() -> stripe::Client {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(serve(
        listener,
        Arc::new(Simulator::new(Config::default()).expect("fixtures")),
    ));
    ClientBuilder::new("sk_test_contract")
        .url(url)
        .build()
        .expect("client")
}

fn key(k: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(k).expect("key"))
}

#[tokio::test]
async fn async_stripe_parses_every_answer_of_a_renewal_and_a_refund() {
    let client = client().await;
    let customer = CreateCustomer::new()
        .email("billing@acme.example")
        .name("Acme")
        .send(&client)
        .await
        .expect("customer parses");
    let pm = AttachPaymentMethod::new("pm_card_visa")
        .customer(customer.id.as_str())
        .send(&client)
        .await
        .expect("payment method parses");
    assert_eq!(pm.card.as_ref().map(|c| c.last4.as_str()), Some("4242"));

    let charge = CreatePaymentIntent::new(7999, stripe_types::Currency::USD)
        .customer(customer.id.as_str())
        .payment_method(pm.id.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .metadata([("invoice_id".to_owned(), "in_1".to_owned())])
        .customize()
        .request_strategy(key("renewal:sub_1:1"))
        .send(&client)
        .await
        .expect("payment intent parses");
    assert_eq!(charge.amount_received, 7999);
    assert_eq!(charge.status.as_str(), "succeeded");

    let again = RetrievePaymentIntent::new(charge.id.clone())
        .send(&client)
        .await
        .expect("retrieve parses");
    assert_eq!(again.id, charge.id);
    let listed = ListPaymentIntent::new()
        .customer(customer.id.as_str())
        .send(&client)
        .await
        .expect("list parses");
    assert_eq!(listed.data.len(), 1);

    let refund = CreateRefund::new()
        .payment_intent(charge.id.as_str())
        .amount(1000)
        .send(&client)
        .await
        .expect("refund parses");
    assert_eq!(refund.amount, 1000);
}

#[tokio::test]
async fn a_decline_is_a_402_with_stripes_error_shape() {
    let client = client().await;
    let customer = CreateCustomer::new().send(&client).await.expect("customer");
    let pm = AttachPaymentMethod::new("pm_card_chargeCustomerFail")
        .customer(customer.id.as_str())
        .send(&client)
        .await
        .expect("attaches");
    let err = CreatePaymentIntent::new(7999, stripe_types::Currency::USD)
        .customer(customer.id.as_str())
        .payment_method(pm.id.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .send(&client)
        .await
        .expect_err("declined");
    match err {
        StripeError::Stripe(errors, status) => {
            assert_eq!(status, 402);
            assert_eq!(errors.decline_code.as_deref(), Some("generic_decline"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let declined = AttachPaymentMethod::new("pm_card_chargeDeclined")
        .customer(customer.id.as_str())
        .send(&client)
        .await;
    assert!(matches!(declined, Err(StripeError::Stripe(_, 402))));
}
