//! The simulator answers like Stripe in test mode.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use stripe_sim::{serve, signature_header, Config, Simulator};
use tokio::net::TcpListener;

const KEY: &str = "sk_test_simulator";

struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start(config: Config) -> Sim {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(serve(
            listener,
            Arc::new(Simulator::new(config).expect("fixtures load")),
        ));
        Sim {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, form: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let res = req.send().await.expect("answers");
        (res.status().as_u16(), res.json().await.expect("json"))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json")
    }

    async fn faults(&self, error_rate: &str, after_commit_rate: &str) {
        let body =
            format!("{{\"error_rate\": {error_rate}, \"after_commit_rate\": {after_commit_rate}}}");
        let res = self
            .http
            .post(format!("{}/_simulator/faults", self.base))
            .body(body)
            .send()
            .await
            .expect("answers");
        assert_eq!(res.status().as_u16(), 200);
    }

    async fn customer_with(&self, token: &str) -> (String, Option<String>, (u16, Value)) {
        let (_, customer) = self
            .post(
                "/v1/customers",
                "email=a%40b.example&name=Acme&metadata[customer_id]=cus_1",
                None,
            )
            .await;
        let customer = customer["id"].as_str().expect("id").to_owned();
        let attached = self
            .post(
                &format!("/v1/payment_methods/{token}/attach"),
                &format!("customer={customer}"),
                None,
            )
            .await;
        let pm = attached.1["id"].as_str().map(str::to_owned);
        (customer, pm, attached)
    }

    async fn charge(&self, customer: &str, pm: &str, key: Option<&str>) -> (u16, Value) {
        let form = format!("amount=7999&currency=usd&customer={customer}&payment_method={pm}&confirm=true&off_session=true&metadata[invoice_id]=in_1");
        self.post("/v1/payment_intents", &form, key).await
    }
}

#[tokio::test]
async fn a_visa_card_is_charged_off_session() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, (status, pm_obj)) = sim.customer_with("pm_card_visa").await;
    assert_eq!(status, 200);
    assert_eq!(pm_obj["card"]["last4"], "4242");
    let (status, pi) = sim.charge(&customer, &pm.expect("pm"), None).await;
    assert_eq!(status, 200, "{pi}");
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount_received"], 7999);
    assert_eq!(pi["metadata"]["invoice_id"], "in_1");
    assert_eq!(pi["object"], "payment_intent");
    let list = sim
        .get(&format!("/v1/payment_intents?customer={customer}"))
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn declining_cards_fail_when_attached() {
    let sim = Sim::start(Config::default()).await;
    for (token, decline) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
    ] {
        let (_, pm, (status, body)) = sim.customer_with(token).await;
        assert_eq!(status, 402);
        assert!(pm.is_none());
        assert_eq!(body["error"]["code"], "card_declined");
        assert_eq!(body["error"]["decline_code"], decline);
    }
}

#[tokio::test]
async fn a_customer_fail_card_attaches_but_every_charge_fails() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, (status, _)) = sim.customer_with("pm_card_chargeCustomerFail").await;
    assert_eq!(status, 200);
    let (status, body) = sim.charge(&customer, &pm.expect("pm"), None).await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(
        body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
}

#[tokio::test]
async fn an_sca_card_needs_authentication() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, _) = sim.customer_with("pm_card_authenticationRequired").await;
    let pm = pm.expect("pm");
    let on_session =
        format!("amount=7999&currency=usd&customer={customer}&payment_method={pm}&confirm=true");
    let (status, pi) = sim.post("/v1/payment_intents", &on_session, None).await;
    assert_eq!(
        (status, pi["status"].as_str()),
        (200, Some("requires_action"))
    );
    let (status, body) = sim.charge(&customer, &pm, None).await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["code"], "authentication_required");
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_parameters() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, _) = sim.customer_with("pm_card_visa").await;
    let pm = pm.expect("pm");
    let first = sim
        .charge(&customer, &pm, Some("renewal:sub_1:2026-12-01"))
        .await;
    let again = sim
        .charge(&customer, &pm, Some("renewal:sub_1:2026-12-01"))
        .await;
    assert_eq!(first, again);
    // The same parameters in another order (clients send maps unordered) are the same request.
    let reordered = sim
        .post(
            "/v1/payment_intents",
            &format!("metadata[invoice_id]=in_1&off_session=true&confirm=true&payment_method={pm}&customer={customer}&currency=usd&amount=7999"),
            Some("renewal:sub_1:2026-12-01"),
        )
        .await;
    assert_eq!(first, reordered);
    let other = sim
        .post(
            "/v1/payment_intents",
            "amount=1&currency=usd",
            Some("renewal:sub_1:2026-12-01"),
        )
        .await;
    assert_eq!(other.0, 400);
    assert_eq!(other.1["error"]["type"], "idempotency_error");
    let list = sim
        .get(&format!("/v1/payment_intents?customer={customer}"))
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_fault_after_commit_is_saved_only_by_the_idempotency_key() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, _) = sim.customer_with("pm_card_visa").await;
    let pm = pm.expect("pm");
    sim.faults("0", "1.0").await;
    let (status, _) = sim.charge(&customer, &pm, Some("k1")).await;
    assert_eq!(status, 500, "the answer is lost");
    sim.faults("0", "0").await;
    let (status, pi) = sim.charge(&customer, &pm, Some("k1")).await;
    assert_eq!((status, pi["status"].as_str()), (200, Some("succeeded")));
    let list = sim
        .get(&format!("/v1/payment_intents?customer={customer}"))
        .await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "charged once"
    );
}

#[tokio::test]
async fn an_error_fault_does_nothing() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, _) = sim.customer_with("pm_card_visa").await;
    sim.faults("1", "0").await;
    let (status, _) = sim.charge(&customer, &pm.expect("pm"), Some("k2")).await;
    assert!(status == 429 || status == 500, "{status}");
    sim.faults("0", "0").await;
    let list = sim
        .get(&format!("/v1/payment_intents?customer={customer}"))
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_exceed_the_charge() {
    let sim = Sim::start(Config::default()).await;
    let (customer, pm, _) = sim.customer_with("pm_card_visa").await;
    let (_, pi) = sim.charge(&customer, &pm.expect("pm"), None).await;
    let pi = pi["id"].as_str().expect("id");
    let (status, refund) = sim
        .post(
            "/v1/refunds",
            &format!("payment_intent={pi}&amount=2000"),
            None,
        )
        .await;
    assert_eq!((status, refund["amount"].as_i64()), (200, Some(2000)));
    let (status, _) = sim
        .post(
            "/v1/refunds",
            &format!("payment_intent={pi}&amount=6000"),
            None,
        )
        .await;
    assert_eq!(status, 400);
    let (status, rest) = sim
        .post("/v1/refunds", &format!("payment_intent={pi}"), None)
        .await;
    assert_eq!((status, rest["amount"].as_i64()), (200, Some(5999)));
    let list = sim.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn requests_without_a_secret_key_are_refused() {
    let sim = Sim::start(Config::default()).await;
    let res = sim
        .http
        .post(format!("{}/v1/customers", sim.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn events_are_posted_signed_like_stripe() {
    use http_body_util::BodyExt;
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/webhooks/stripe",
        listener.local_addr().expect("addr")
    );
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            let sig = req
                                .headers()
                                .get("stripe-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            sink.lock()
                                .expect("lock")
                                .push((sig, String::from_utf8_lossy(&body).into_owned()));
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(hyper::body::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let sim = Sim::start(Config {
        webhook_url: Some(url),
        webhook_secret: "whsec_test".into(),
    })
    .await;
    let (customer, pm, _) = sim.customer_with("pm_card_visa").await;
    sim.charge(&customer, &pm.expect("pm"), None).await;
    let mut events = Vec::new();
    for _ in 0..50 {
        events = received.lock().expect("lock").clone();
        if events
            .iter()
            .any(|(_, body)| body.contains("payment_intent.succeeded"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (sig, body) = events
        .iter()
        .find(|(_, b)| b.contains("payment_intent.succeeded"))
        .cloned()
        .expect("delivered");
    let t: i64 = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    assert_eq!(sig, signature_header(&body, "whsec_test", t));
    let event: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(event["data"]["object"]["status"], "succeeded");
    assert!(event["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("evt_")));
}
