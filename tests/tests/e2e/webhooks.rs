//! Outbound webhooks, end to end: an operator registers an endpoint (a receiver in the test),
//! billing events reach it through the bus, the webhooks queue and the dispatcher, signed with
//! the endpoint's secret; failures are retried on the schedule (the test clock moves through
//! it) and an endpoint that keeps failing is disabled.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::app::{time, TestApp};

/// A webhook receiver: records every request (its `Billing-Signature` and body) and answers
/// with `status`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (log, answer) = (received.clone(), status.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (log, answer) = (log.clone(), answer.clone());
                        async move {
                            let signature = req
                                .headers()
                                .get("billing-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                                .unwrap_or_default();
                            log.lock().expect("lock").push((signature, body));
                            let mut response = Response::new(Full::new(Bytes::from("ok")));
                            *response.status_mut() =
                                hyper::StatusCode::from_u16(answer.load(Ordering::SeqCst))
                                    .expect("status");
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            received,
            status,
        }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.received.lock().expect("lock").clone()
    }

    /// The bodies received, parsed, after checking each signature with `secret`.
    fn verified_events(&self, secret: &str) -> Vec<Value> {
        self.requests()
            .iter()
            .map(|(header, body)| {
                assert!(
                    signed_by(header, body, secret),
                    "bad signature {header} on {body}"
                );
                serde_json::from_str(body).expect("json")
            })
            .collect()
    }
}

/// Whether a `Billing-Signature` carries a `v1=` of `body` made with `secret`, checked as
/// Stripe's libraries check theirs: any `v1=` may match (two while a rolled secret still signs).
fn signed_by(header: &str, body: &str, secret: &str) -> bool {
    let pairs: Vec<(&str, &str)> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let t = pairs
        .iter()
        .find(|(k, _)| *k == "t")
        .map(|(_, v)| *v)
        .expect("t=");
    // Signed at the wall clock's time, whatever the test clock says, so receivers' tolerance
    // checks (Stripe's: 5 minutes) pass.
    let signed_at: i64 = t.parse().expect("unix time");
    assert!(
        (chrono::Utc::now().timestamp() - signed_at).abs() < 300,
        "t={signed_at}"
    );
    pairs.iter().filter(|(k, _)| *k == "v1").any(|(_, v1)| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        mac.verify_slice(&hex::decode(v1).expect("hex")).is_ok()
    })
}

async fn register(app: &TestApp, url: &str, events: Value) -> Value {
    app.call(
        Method::POST,
        "/api/v1/webhook-endpoints",
        &app.admin(),
        Some(json!({"url": url, "events": events})),
    )
    .await
    .ok(201)
    .body
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    app.list(&format!(
        "/api/v1/webhook-endpoints/{endpoint}/deliveries?limit=100"
    ))
    .await
}

#[tokio::test]
async fn a_registered_endpoint_receives_each_event_it_asked_for_once_signed() {
    let app = TestApp::with_test_clock().await;
    let receiver = Receiver::start().await;
    let endpoint = register(
        &app,
        &receiver.url,
        json!(["invoice.paid", "subscription.created"]),
    )
    .await;
    let secret = endpoint["secret"].as_str().expect("secret shown once");
    assert!(secret.starts_with("whsec_") && secret.len() >= 70);
    assert_eq!(endpoint["status"], "enabled");
    let id = endpoint["id"].as_str().expect("id");
    let read = app
        .get(&format!("/api/v1/webhook-endpoints/{id}"), &app.admin())
        .await
        .ok(200)
        .body;
    assert!(read.get("secret").is_none(), "{read}");

    let customer = app.create_customer("Hooked").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    app.notify().await;
    let events = receiver.verified_events(secret);
    let mut types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(types, ["invoice.paid", "subscription.created"]);
    for event in &events {
        assert!(event["id"].as_str().is_some_and(|i| i.starts_with("evt_")));
        assert!(event["created"].is_i64());
        assert!(event["sequence"].is_u64());
        assert_eq!(event["data"]["object"]["customer_id"], customer.as_str());
        assert_eq!(event["data"]["object"]["subscription_id"], sub["id"]);
    }
    let paid = events
        .iter()
        .find(|e| e["type"] == "invoice.paid")
        .expect("paid");
    assert_eq!(paid["data"]["object"]["amount"], "79.99");

    // The bus delivers at least once: a redelivered event posts nothing again.
    let queue = app.jobs.webhooks_queue.as_ref().expect("webhooks queue");
    for body in app.delivered_envelopes().await {
        queue.send_body(&body).await.expect("sent");
    }
    app.notify().await;
    assert_eq!(receiver.requests().len(), 2);

    // A renewal: its invoice.paid goes, subscription.renewed was not asked for.
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let types: Vec<String> = receiver
        .verified_events(secret)
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(types.len(), 3, "{types:?}");
    assert_eq!(types[2], "invoice.paid");
    let recorded = deliveries(&app, id).await;
    assert_eq!(recorded.len(), 3);
    for delivery in &recorded {
        assert_eq!(delivery["status"], "succeeded");
        assert_eq!(delivery["attempts"].as_array().map(Vec::len), Some(1));
        assert_eq!(delivery["attempts"][0]["status_code"], 200);
    }
}

#[tokio::test]
async fn an_endpoint_that_answers_500_is_retried_on_the_schedule_then_disabled_and_replayed() {
    let app = TestApp::with_test_clock().await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let endpoint = register(&app, &receiver.url, json!(["subscription.created"])).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let customer = app.create_customer("Flaky Receiver").await;
    app.subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    assert_eq!(receiver.requests().len(), 1, "the first attempt");
    let pending = &deliveries(&app, &id).await[0];
    assert_eq!(pending["status"], "pending");
    let first = time(&pending["attempts"][0]["at"]);
    let retry = time(&pending["next_attempt_at"]) - first;
    assert!(
        (Duration::seconds(54)..=Duration::seconds(66)).contains(&retry),
        "{retry}"
    );

    // Just before the retry nothing more; just after, one more attempt.
    let now = time(&json!(
        app.advance(json!({"to": (first + retry - Duration::seconds(1)).to_rfc3339()}))
            .await
    ));
    assert!(now < first + retry);
    assert_eq!(receiver.requests().len(), 1);
    app.advance(json!({"to": (first + retry + Duration::seconds(1)).to_rfc3339()}))
        .await;
    assert_eq!(receiver.requests().len(), 2);

    // Three days of failures: retried with growing delays, then given up and the endpoint
    // disabled.
    app.advance(json!({"to": (first + Duration::hours(73)).to_rfc3339()}))
        .await;
    let failed = &deliveries(&app, &id).await[0];
    assert_eq!(failed["status"], "failed");
    let attempts = failed["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 10, "{}", attempts.len());
    assert_eq!(
        attempts.len(),
        receiver.requests().len(),
        "each attempt posted once"
    );
    assert!(attempts.iter().all(|a| a["status_code"] == 500));
    let gaps: Vec<i64> = attempts
        .windows(2)
        .map(|w| (time(&w[1]["at"]) - time(&w[0]["at"])).num_seconds())
        .collect();
    assert!(gaps.windows(2).take(4).all(|g| g[1] > g[0] * 3), "{gaps:?}");
    assert!(time(&attempts[attempts.len() - 1]["at"]) - first <= Duration::hours(72));
    receiver.verified_events(&secret);
    let disabled = app
        .get(&format!("/api/v1/webhook-endpoints/{id}"), &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(disabled["status"], "disabled", "{disabled}");
    assert!(disabled["disabled_reason"].as_str().is_some());

    // The receiver is fixed: the operator enables the endpoint and replays the delivery.
    receiver.status.store(204, Ordering::SeqCst);
    app.call(
        Method::POST,
        &format!("/api/v1/webhook-endpoints/{id}/enable"),
        &app.admin(),
        None,
    )
    .await
    .ok(200);
    let delivery_id = failed["id"].as_str().expect("id");
    let replayed = app
        .call(
            Method::POST,
            &format!("/api/v1/webhook-deliveries/{delivery_id}/replay"),
            &app.admin(),
            None,
        )
        .await
        .ok(200)
        .body;
    assert_eq!(replayed["status"], "succeeded");
    let last = &replayed["attempts"][attempts.len()];
    assert_eq!(last["status_code"], 204);
    assert_eq!(last["replay"], true);
    let bodies: Vec<Value> = receiver.verified_events(&secret);
    assert_eq!(bodies.first(), bodies.last(), "the same event every time");
}

#[tokio::test]
async fn endpoints_are_admin_only_and_urls_are_checked() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Nosy").await;
    for token in [app.customer_token(&customer), app.token(&["support"], None)] {
        app.call(
            Method::POST,
            "/api/v1/webhook-endpoints",
            &token,
            Some(json!({"url": "https://x.example/h", "events": ["*"]})),
        )
        .await
        .problem(403);
        app.get("/api/v1/webhook-endpoints", &token)
            .await
            .problem(403);
    }
    let refused = app
        .call(
            Method::POST,
            "/api/v1/webhook-endpoints",
            &app.admin(),
            Some(json!({"url": "ftp://x.example/h", "events": ["invoice.paid", "invoice.eaten"]})),
        )
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["url", "events[1]"]);
    let made = register(&app, "https://erp.example/hooks", json!(["*"])).await;
    let id = made["id"].as_str().expect("id");
    let listed = app
        .get("/api/v1/webhook-endpoints", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(listed["data"][0]["events"], json!(["*"]));
    assert!(listed["data"][0].get("secret").is_none());
    app.call(
        Method::POST,
        &format!("/api/v1/webhook-endpoints/{id}/disable"),
        &app.admin(),
        None,
    )
    .await
    .ok(200);
    app.call(
        Method::DELETE,
        &format!("/api/v1/webhook-endpoints/{id}"),
        &app.admin(),
        None,
    )
    .await
    .ok(200);
    app.get(&format!("/api/v1/webhook-endpoints/{id}"), &app.admin())
        .await
        .problem(404);
}

#[tokio::test]
async fn each_endpoint_gets_the_types_it_asked_for_and_a_disabled_one_gets_nothing() {
    let app = TestApp::with_test_clock().await;
    let (all, paid_only, off) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let all_secret = register(&app, &all.url, json!(["*"])).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let paid_secret = register(&app, &paid_only.url, json!(["invoice.paid"])).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let disabled = register(&app, &off.url, json!(["*"])).await;
    app.call(
        Method::POST,
        &format!(
            "/api/v1/webhook-endpoints/{}/disable",
            disabled["id"].as_str().expect("id")
        ),
        &app.admin(),
        None,
    )
    .await
    .ok(200);
    let customer = app.create_customer("Fan Out").await;
    app.subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    let mut everything: Vec<String> = all
        .verified_events(&all_secret)
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    everything.sort();
    assert_eq!(everything, ["invoice.paid", "subscription.created"]);
    let paid: Vec<Value> = paid_only.verified_events(&paid_secret);
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["type"], "invoice.paid");
    assert!(off.requests().is_empty());
    // Each endpoint signs with its own secret.
    assert_ne!(all_secret, paid_secret);
}

#[tokio::test]
async fn a_rolled_secret_signs_beside_the_new_one_for_a_day_and_endpoints_can_be_changed() {
    let app = TestApp::with_test_clock().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, "https://erp.example/hooks", json!(["*"])).await;
    let id = endpoint["id"].as_str().expect("id");
    let old_secret = endpoint["secret"].as_str().expect("secret");

    // Point it at the receiver, for paid invoices only.
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let refused = app
        .call(
            Method::PATCH,
            &path,
            &app.admin(),
            Some(json!({"url": "gopher://x", "events": []})),
        )
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["url", "events"]);
    let changed = app
        .call(
            Method::PATCH,
            &path,
            &app.admin(),
            Some(json!({"url": receiver.url, "events": ["invoice.paid"], "description": "ERP"})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(changed["url"], receiver.url.as_str());
    assert_eq!(changed["events"], json!(["invoice.paid"]));
    assert_eq!(changed["description"], "ERP");
    assert!(changed.get("secret").is_none(), "{changed}");

    // Roll: the new secret is shown once; the old one signs too for 24 hours.
    let roll = format!("/api/v1/webhook-endpoints/{id}/roll-secret");
    let refused = app
        .call(
            Method::POST,
            &roll,
            &app.admin(),
            Some(json!({"previous_secret_expires_in_hours": 25})),
        )
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["previous_secret_expires_in_hours"]);
    let now = time(
        &app.get("/api/v1/test-clock", &app.admin())
            .await
            .ok(200)
            .body["now"],
    );
    let rolled = app
        .call(Method::POST, &roll, &app.admin(), None)
        .await
        .ok(200)
        .body;
    let new_secret = rolled["secret"].as_str().expect("the new secret");
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        time(&rolled["previous_secret_expires_at"]),
        now + Duration::hours(24)
    );

    let customer = app.create_customer("Rolling").await;
    app.subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "invoice.paid only");
    let (header, body) = &requests[0];
    assert_eq!(header.matches("v1=").count(), 2, "{header}");
    assert!(signed_by(header, body, new_secret));
    assert!(signed_by(header, body, old_secret));

    // A day later the old secret signs nothing.
    app.advance(json!({"by_seconds": 25 * 3600})).await;
    let other = app.create_customer("Rolled").await;
    app.subscribe(&app.admin(), &other, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let (header, body) = &requests[1];
    assert_eq!(header.matches("v1=").count(), 1, "{header}");
    assert!(signed_by(header, body, new_secret));
    assert!(!signed_by(header, body, old_secret));

    // Operators only.
    let token = app.customer_token(&customer);
    app.call(Method::PATCH, &path, &token, Some(json!({"events": ["*"]})))
        .await
        .problem(403);
    app.call(Method::POST, &roll, &token, None)
        .await
        .problem(403);
}

/// A call of the API: method, path and body.
type ApiCall = (Method, String, Option<Value>);

/// A partner's copy of subscriptions kept from webhook deliveries alone: for each subscription,
/// the `subscription` of its newest event (by `sequence`), whatever order they came in.
fn mirror(events: &[Value]) -> std::collections::BTreeMap<String, (u64, Value)> {
    let mut copy = std::collections::BTreeMap::<String, (u64, Value)>::new();
    for event in events {
        let object = &event["data"]["object"]["subscription"];
        let (Some(id), Some(sequence)) = (object["id"].as_str(), event["sequence"].as_u64()) else {
            continue;
        };
        if copy.get(id).is_none_or(|(newest, _)| sequence > *newest) {
            copy.insert(id.to_owned(), (sequence, object.clone()));
        }
    }
    copy
}

#[tokio::test]
async fn a_copy_kept_from_webhooks_alone_equals_the_api_after_every_kind_of_change() {
    let app = TestApp::with_test_clock().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &receiver.url, json!(["*"])).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    app.call(
        Method::POST,
        "/api/v1/coupons",
        &app.admin(),
        Some(
            json!({"id": "coupon_mirror", "name": "Mirror", "percent_off": "10",
                    "duration": "forever"}),
        ),
    )
    .await
    .ok(201);
    let customer = app.create_customer("Mirrored").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/subscriptions/{id}");
    let admin = app.admin();

    // Each change, the event type the copy learns it from and the fields it changes, whose
    // old values come in `previous_attributes`.
    let patch = |body: Value| (Method::PATCH, path.clone(), Some(body));
    let discount = format!("{path}/discount");
    let steps: Vec<(&str, ApiCall, &str, &[&str])> = vec![
        (
            "auto-renew off",
            patch(json!({"auto_renew": false})),
            "subscription.updated",
            &["auto_renew"],
        ),
        (
            "metadata",
            patch(json!({"metadata": {"po": "PO-7"}})),
            "subscription.updated",
            &["metadata"],
        ),
        (
            "auto-renew on",
            patch(json!({"auto_renew": true})),
            "subscription.updated",
            &["auto_renew"],
        ),
        (
            "cancel at the period end",
            patch(json!({"cancel_at_period_end": true})),
            "subscription.cancel_scheduled",
            &["cancel_at_period_end", "canceled_at"],
        ),
        (
            "cancellation undone",
            patch(json!({"cancel_at_period_end": false})),
            "subscription.updated",
            &["cancel_at_period_end", "canceled_at"],
        ),
        (
            "discount added",
            (
                Method::POST,
                discount.clone(),
                Some(json!({"coupon": "coupon_mirror"})),
            ),
            "subscription.updated",
            &["discount"],
        ),
        (
            "discount removed",
            (Method::DELETE, discount, None),
            "subscription.updated",
            &["discount"],
        ),
        (
            "payment method",
            (
                Method::PUT,
                format!("/api/v1/customers/{customer}/payment-method"),
                Some(json!({"payment_method_id": "pm_card_mastercard"})),
            ),
            "subscription.updated",
            &["payment_method_id"],
        ),
        (
            "paused",
            (Method::PUT, format!("{path}/pause"), None),
            "subscription.paused",
            &["status", "pause"],
        ),
        (
            "resumed",
            (Method::PUT, format!("{path}/resume"), None),
            "subscription.resumed",
            &["status", "pause"],
        ),
        (
            "upgraded",
            (
                Method::POST,
                format!("{path}/change-plan"),
                Some(json!({"plan_id": "plan_enterprise_month"})),
            ),
            "subscription.plan_changed",
            &["plan_id"],
        ),
    ];
    // After a change: the copy equals the API's answer, the newest event is of the type
    // expected, and its `previous_attributes` hold the values from before of exactly what changed.
    let check = |what: &str, expected_type: &str, changed: &[&str], before: &Value, api: &Value| {
        let events = receiver.verified_events(&secret);
        let copy = mirror(&events);
        let (sequence, object) = copy.get(id.as_str()).expect("mirrored");
        assert_eq!(object, api, "after {what}");
        let newest = events
            .iter()
            .find(|e| {
                e["sequence"].as_u64() == Some(*sequence)
                    && e["data"]["object"]["subscription"]["id"] == id.as_str()
            })
            .expect("newest event");
        assert_eq!(newest["type"], expected_type, "after {what}");
        let previous = newest["data"]["previous_attributes"]
            .as_object()
            .expect("previous_attributes");
        for field in changed {
            assert_eq!(
                previous.get(*field),
                Some(&before[*field]),
                "{field} after {what}: {newest}"
            );
        }
        // Only what changed (the renewal's reminder wrote `updated_at` in between).
        for (field, old) in previous {
            assert_ne!(old, &api[field], "{field} after {what}");
        }
    };
    app.notify().await;
    let api = app.subscription(&id).await;
    assert_eq!(mirror(&receiver.verified_events(&secret))[&id].1, api);

    for (what, (method, url, body), expected_type, changed) in &steps {
        let before = app.subscription(&id).await;
        app.call(method.clone(), url, &admin, body.clone())
            .await
            .ok(200);
        app.notify().await;
        let api = app.subscription(&id).await;
        check(what, expected_type, changed, &before, &api);
    }

    // The period ends: renewed.
    let before = app.subscription(&id).await;
    let end = time(&before["current_period_end"]);
    app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
        .await;
    app.notify().await;
    let api = app.subscription(&id).await;
    let period = [
        "current_period_start",
        "current_period_end",
        "latest_invoice_id",
    ];
    check(
        "the renewal",
        "subscription.renewed",
        &period,
        &before,
        &api,
    );

    // Canceled now.
    let before = api;
    app.call(
        Method::DELETE,
        &path,
        &admin,
        Some(json!({"immediately": true})),
    )
    .await
    .ok(200);
    app.notify().await;
    let api = app.subscription(&id).await;
    assert_eq!(api["status"], "canceled");
    let ended = ["status", "canceled_at", "ended_at"];
    check(
        "the cancellation",
        "subscription.canceled",
        &ended,
        &before,
        &api,
    );

    // Redelivered or reordered, the copy is the same.
    let mut events = receiver.verified_events(&secret);
    events.reverse();
    events.extend(receiver.verified_events(&secret));
    assert_eq!(mirror(&events)[&id].1, api);
}
