//! `TestApp`: a fresh table in the emulator, the catalogue seeded, the local gateway on a free port.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use billing_api::auth::Authenticator;
use std::time::Duration;

use billing_api::state::SystemClock;
use billing_api::AppState;
use billing_aws::{EventBus, SesMailer, SqsQueue};
use billing_domain::collection::dunning::DunningPolicy;
use billing_domain::collection::{Checkpoints, TrialEndWithoutPaymentMethod};
use billing_jobs::Jobs;
use billing_store_dynamodb::DynamoStore;
use billing_wiring::{Services, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stripe_sim::Simulator;
use tokio::net::TcpListener;

pub const SECRET: &str = "e2e-secret";

pub const WEBHOOK_SECRET: &str = "whsec_e2e";

/// The verified sender of the tests' email.
pub const MAIL_FROM: &str = "Billing <billing@example.com>";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: DynamoStore,
    /// The jobs the deployed functions run (scheduler, worker, relay, notifier, dispatcher),
    /// over the same services the gateway's API uses.
    pub jobs: Jobs,
    /// The test's own Stripe simulator.
    pub sim_base: String,
    /// A queue of the test's own that a second rule of the bus fills with every billing event
    /// (the notifications queue is the notifier's).
    pub observed: SqsQueue,
    /// The address of this test's customers (`create_customer`): the test's email.
    pub email: String,
}

/// An answer: status, content type and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub etag: Option<String>,
    pub replayed: bool,
    pub body: Value,
}

impl Answer {
    /// Asserts a problem+json answer with this status, and returns it.
    pub fn problem(self, status: u16) -> Answer {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
        assert!(
            self.body["title"].is_string()
                && self.body["detail"].is_string()
                && self.body["type"].is_string()
        );
        self
    }

    pub fn ok(self, status: u16) -> Answer {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:?}");
        assert_eq!(self.content_type, "application/json", "{self:?}");
        self
    }

    /// The `field` of each validation error.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "e2e"))
        .load()
        .await
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A test app on the test clock (`POST /test-clock/advance` runs the scheduled jobs).
    pub async fn with_test_clock() -> TestApp {
        Self::spawn_with(|s| s.test_clock = true).await
    }

    /// A test app on the test clock whose renewals stop at `checkpoints` (fault injection).
    pub async fn with_checkpoints(checkpoints: Arc<dyn Checkpoints>) -> TestApp {
        Self::build(|s| s.test_clock = true, Some(checkpoints)).await
    }

    /// A test app whose billing settings `adjust` changes first (dunning, trials...).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::build(adjust, None).await
    }

    async fn build(
        adjust: impl FnOnce(&mut Settings),
        checkpoints: Option<Arc<dyn Checkpoints>>,
    ) -> TestApp {
        let config = sdk_config().await;
        let name = format!("e2e-{}", uuid::Uuid::new_v4().simple());
        let email = format!("billing@{name}.example");
        // The gateway's address first: the unsubscribe links of the test's email point at it.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), name.clone());
        local_stack::prepare(&store, &SystemClock)
            .await
            .unwrap_or_else(|e| {
                panic!("the AWS emulator must be running (infra/scripts/emulator.sh start): {e}")
            });
        let queue = SqsQueue::create(
            aws_sdk_sqs::Client::new(&config),
            &name,
            local_stack::MAX_RECEIVES,
        )
        .await
        .expect("the renewal queue");
        // A Stripe simulator of its own, so its records are this test's.
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sim_base = format!("http://{}", sim_listener.local_addr().expect("addr"));
        let sim = Arc::new(
            Simulator::new(stripe_sim::Config {
                webhook_url: None,
                webhook_secret: WEBHOOK_SECRET.into(),
            })
            .expect("simulator"),
        );
        tokio::spawn(stripe_sim::serve(sim_listener, sim));
        let mut settings = Settings {
            table_name: name.clone(),
            jwt_secret: Some(SECRET.into()),
            jwt_jwks_url: None,
            jwt_jwks: None,
            jwt_issuer: None,
            jwt_audience: None,
            stripe_webhook_secret: Some(WEBHOOK_SECRET.into()),
            idempotency_ttl_hours: 24,
            stripe_secret_key: "sk_test_e2e".into(),
            stripe_api_base: Some(sim_base.clone()),
            stripe_max_attempts: 10,
            stripe_backoff: Duration::from_millis(5),
            stripe_deadline: Duration::from_secs(7),
            renewal_queue_url: Some(queue.url().to_owned()),
            event_bus_name: Some(name.clone()),
            notifications_queue_url: None,
            mail_from: Some(MAIL_FROM.into()),
            mail_configuration_set: None,
            operations_email: Some(format!("ops@{name}.example")),
            product_name: "Billing".into(),
            customer_portal_url: "https://portal.example".into(),
            public_api_url: base.clone(),
            unsubscribe_secret: billing_wiring::settings::LOCAL_UNSUBSCRIBE_SECRET.into(),
            webhooks_queue_url: None,
            allow_private_webhook_urls: true,
            test_clock: false,
            dunning: DunningPolicy::default(),
            trial_end_without_payment_method: TrialEndWithoutPaymentMethod::Pause,
        };
        adjust(&mut settings);
        // The event bus and its notifications queue, as template.yaml declares them, and a
        // queue for the test to watch the events on.
        let sqs = aws_sdk_sqs::Client::new(&config);
        let notifications = SqsQueue::create(
            sqs.clone(),
            &format!("{name}-notifications"),
            local_stack::MAX_RECEIVES,
        )
        .await
        .expect("the notifications queue");
        let webhooks = SqsQueue::create(
            sqs.clone(),
            &format!("{name}-webhooks"),
            local_stack::MAX_RECEIVES,
        )
        .await
        .expect("the webhooks queue");
        let observed = SqsQueue::create(sqs, &format!("{name}-observed"), 1)
            .await
            .expect("the observed queue");
        let bus = EventBus::create(
            aws_sdk_eventbridge::Client::new(&config),
            &name,
            &[
                (
                    "notifications",
                    &notifications.arn().await.expect("queue arn"),
                ),
                ("webhooks", &webhooks.arn().await.expect("queue arn")),
                ("observed", &observed.arn().await.expect("queue arn")),
            ],
        )
        .await
        .expect("the event bus");
        let mailer = SesMailer::new(aws_sdk_ses::Client::new(&config));
        mailer
            .verify_sender(MAIL_FROM)
            .await
            .expect("the sender is verified");
        let mut services = Services::new(store.clone(), &settings).expect("services wire up");
        if let Some(checkpoints) = checkpoints {
            services.billing.checkpoints = checkpoints;
        }
        let mut jobs =
            Jobs::new(services.clone()).with_mail(Arc::new(mailer), Some(notifications), &settings);
        jobs.renewal_queue = Some(queue);
        jobs.events = Some(bus);
        jobs.webhooks_queue = Some(webhooks);
        let auth = Authenticator::new(Some(SECRET), None, None, None).expect("auth config");
        let state =
            AppState::new(services, auth, &settings).with_test_clock(Arc::new(jobs.clone()));
        tokio::spawn(local_stack::gateway::serve(listener, Arc::new(state)));
        TestApp {
            base,
            http: reqwest::Client::new(),
            store,
            jobs,
            sim_base,
            observed,
            email,
        }
    }

    pub fn token(&self, roles: &[&str], customer_id: Option<&str>) -> String {
        let sub = format!("{}-{}", roles.join("+"), customer_id.unwrap_or("staff"));
        local_stack::token::mint(
            SECRET,
            &sub,
            roles,
            customer_id,
            chrono::Utc::now().timestamp(),
            3600,
        )
        .expect("token")
    }

    pub fn admin(&self) -> String {
        self.token(&["admin"], None)
    }

    pub fn customer_token(&self, customer_id: &str) -> String {
        self.token(&["customer"], Some(customer_id))
    }

    /// Sends a request; `body` is sent as is (so tests can send broken JSON).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.expect("the local gateway answers");
        let status = res.status();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let etag = header("etag");
        let replayed = header("idempotent-replayed").is_some();
        let text = res.text().await.expect("body");
        Answer {
            status,
            content_type,
            etag,
            replayed,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        self.raw(method, path, Some(token), body.map(|b| b.to_string()), &[])
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    /// Creates a customer as admin and returns its id.
    pub async fn create_customer(&self, name: &str) -> String {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/customers",
                &self.admin(),
                Some(json!({"name": name, "email": self.email})),
            )
            .await
            .ok(201);
        answer.body["id"].as_str().expect("id").to_owned()
    }

    /// Subscribes a customer (with `token`) to a plan with `pm_card_visa`; returns the answer.
    pub async fn subscribe(&self, token: &str, customer_id: &str, plan_id: &str) -> Answer {
        self.subscribe_with(token, customer_id, plan_id, json!({"auto_renew": true}))
            .await
    }

    /// Subscribes with `pm_card_visa` and the fields of `extra` added or replaced
    /// (`payment_method_id`, `coupon`, `trial_days`...); returns the answer.
    pub async fn subscribe_with(
        &self,
        token: &str,
        customer_id: &str,
        plan_id: &str,
        extra: Value,
    ) -> Answer {
        let mut body = json!({
            "customer_id": customer_id,
            "subscription_plan_id": plan_id,
            "payment_method_id": "pm_card_visa",
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.call(Method::POST, "/api/v1/subscriptions", token, Some(body))
            .await
    }

    /// Receives `quantity` units of `product` (a receipt, as an admin); answers the answer.
    pub async fn receive_stock(&self, product: &str, quantity: u64) -> Answer {
        self.call(
            Method::POST,
            &format!("/api/v1/products/{product}/stock"),
            &self.admin(),
            Some(json!({"type": "receipt", "quantity": quantity})),
        )
        .await
    }

    /// Creates a plan as an admin; returns the plan.
    pub async fn create_plan(&self, plan: Value) -> Value {
        self.call(Method::POST, "/api/v1/plans", &self.admin(), Some(plan))
            .await
            .ok(201)
            .body
    }
}

impl TestApp {
    /// Moves the test clock (as an operator) and returns the clock's new time.
    pub async fn advance(&self, body: Value) -> String {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/test-clock/advance",
                &self.admin(),
                Some(body),
            )
            .await
            .ok(200);
        answer.body["now"].as_str().expect("now").to_owned()
    }

    /// A GET on the simulator's Stripe API (its own records).
    pub async fn stripe_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sim_base))
            .bearer_auth("sk_test_e2e")
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("json")
    }

    /// The simulator's PaymentIntents of a Stripe customer, and how many succeeded.
    pub async fn stripe_charges(&self, stripe_customer: &str) -> (Vec<Value>, usize) {
        let list = self
            .stripe_get(&format!(
                "/v1/payment_intents?customer={stripe_customer}&limit=100"
            ))
            .await;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        let succeeded = data.iter().filter(|pi| pi["status"] == "succeeded").count();
        (data, succeeded)
    }

    /// Runs the event relay once (as its schedule does) and answers what it published.
    pub async fn relay(&self) -> usize {
        self.jobs
            .relay_events()
            .await
            .expect("the relay publishes")
            .published
    }

    /// The events the bus delivered since the last call (each envelope's `detail`), taken off
    /// the test's own queue.
    pub async fn delivered_events(&self) -> Vec<Value> {
        self.delivered_envelopes()
            .await
            .into_iter()
            .map(|body| {
                let envelope: Value = serde_json::from_str(&body).expect("json");
                assert_eq!(envelope["source"], "billing");
                assert_eq!(envelope["detail-type"], envelope["detail"]["type"]);
                envelope["detail"].clone()
            })
            .collect()
    }

    /// The events of types starting with `prefix` the bus delivered since the last call, and
    /// their types sorted (the bus delivers in no particular order; receivers order by
    /// `sequence`).
    pub async fn delivered_events_of(&self, prefix: &str) -> (Vec<Value>, Vec<String>) {
        let events: Vec<Value> = self
            .delivered_events()
            .await
            .into_iter()
            .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with(prefix)))
            .collect();
        let mut kinds: Vec<String> = events
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        kinds.sort_unstable();
        (events, kinds)
    }

    /// The envelopes the bus delivered since the last call, as the queue holds them.
    pub async fn delivered_envelopes(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let batch = self.observed.receive().await.expect("receive");
            if batch.is_empty() {
                return bodies;
            }
            for message in batch {
                bodies.push(message.body.clone());
                self.observed
                    .delete(&message.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
    }

    /// Publishes the outbox and sends the email it asks for (the relay's schedule, the bus and
    /// the notifier, as deployed); answers how many notification messages were handled.
    pub async fn notify(&self) -> usize {
        self.jobs
            .publish_and_notify()
            .await
            .expect("events published and notified")
            .processed
    }

    /// The email sent to this test's customers (`self.email`), oldest first, read from the
    /// emulator's SES store: `{subject, body (the HTML part), destinations, source}`.
    /// (`infra/scripts/moto_serve.py` serves the store filtered by recipient; `/moto-api/data.json`
    /// has the same records among every other backend's.)
    pub async fn emails(&self) -> Vec<Value> {
        self.emails_to(&self.email).await
    }

    /// The email sent to `address` (letters, digits, '-', '.' and '@': nothing to escape).
    pub async fn emails_to(&self, address: &str) -> Vec<Value> {
        let endpoint =
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
        self.http
            .get(format!("{endpoint}/_local/ses/messages?to={address}"))
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("a list of messages")
    }

    /// The subjects of [`TestApp::emails`].
    pub async fn email_subjects(&self) -> Vec<String> {
        self.emails()
            .await
            .iter()
            .filter_map(|m| m["subject"].as_str().map(str::to_owned))
            .collect()
    }

    /// The Stripe customer id stored on `customer`.
    pub async fn stripe_customer(&self, customer: &str) -> String {
        self.get(&format!("/api/v1/customers/{customer}"), &self.admin())
            .await
            .ok(200)
            .body["stripe_customer_id"]
            .as_str()
            .expect("a Stripe customer")
            .to_owned()
    }

    /// The amounts the simulator charged `customer` successfully, smallest first.
    pub async fn charged_amounts(&self, customer: &str) -> Vec<i64> {
        let stripe = self.stripe_customer(customer).await;
        let (charges, _) = self.stripe_charges(&stripe).await;
        let mut amounts: Vec<i64> = charges
            .iter()
            .filter(|pi| pi["status"] == "succeeded")
            .filter_map(|pi| pi["amount"].as_i64())
            .collect();
        amounts.sort_unstable();
        amounts
    }

    /// The `data` of a list, read by an operator (`path` asks for a page big enough).
    pub async fn list(&self, path: &str) -> Vec<Value> {
        self.get(path, &self.admin()).await.ok(200).body["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `PUT /customers/{id}/payment-method` as an operator; returns the customer.
    pub async fn set_payment_method(&self, customer: &str, payment_method: &str) -> Value {
        self.call(
            Method::PUT,
            &format!("/api/v1/customers/{customer}/payment-method"),
            &self.admin(),
            Some(json!({"payment_method_id": payment_method})),
        )
        .await
        .ok(200)
        .body
    }

    /// A subscription, read by an operator.
    pub async fn subscription(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/subscriptions/{id}"), &self.admin())
            .await
            .ok(200)
            .body
    }

    /// An invoice, read by an operator.
    pub async fn invoice(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/invoices/{id}"), &self.admin())
            .await
            .ok(200)
            .body
    }

    /// The latest invoice of a subscription (as answered by the API).
    pub async fn latest_invoice(&self, subscription: &Value) -> Value {
        self.invoice(
            subscription["latest_invoice_id"]
                .as_str()
                .expect("a latest invoice"),
        )
        .await
    }

    /// The preview of a subscription's next invoice, read by an operator.
    pub async fn upcoming_invoice(&self, subscription_id: &str) -> Value {
        self.get(
            &format!("/api/v1/subscriptions/{subscription_id}/upcoming-invoice"),
            &self.admin(),
        )
        .await
        .ok(200)
        .body
    }

    /// `POST /invoices/{id}/refunds` as an operator.
    pub async fn refund(&self, invoice_id: &str, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/api/v1/invoices/{invoice_id}/refunds"),
            &self.admin(),
            Some(body),
        )
        .await
    }

    /// A POST on the simulator's Stripe API, as the Stripe dashboard would make it.
    pub async fn stripe_post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.sim_base))
            .bearer_auth("sk_test_dashboard")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form.iter()
                    .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
            .send()
            .await
            .expect("the simulator answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.expect("json")
    }

    /// The events the simulator recorded of type `kind`, oldest first (what Stripe sends).
    pub async fn stripe_events(&self, kind: &str) -> Vec<Value> {
        let mut events: Vec<Value> = self.stripe_get("/v1/events").await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect();
        events.reverse();
        events
    }

    /// Posts `event` to the webhook endpoint signed with `secret` at `timestamp`.
    pub async fn deliver(&self, event: &Value, secret: &str, timestamp: i64) -> Answer {
        let payload = event.to_string();
        let signature = stripe_sim::signature_header(&payload, secret, timestamp);
        self.raw(
            Method::POST,
            "/webhooks/stripe",
            None,
            Some(payload),
            &[("stripe-signature", signature.as_str())],
        )
        .await
    }

    /// Delivers `event` signed genuinely, now, and expects it received.
    pub async fn deliver_ok(&self, event: &Value) -> Answer {
        self.deliver(event, WEBHOOK_SECRET, chrono::Utc::now().timestamp())
            .await
            .ok(200)
    }

    /// Sets the simulator's fault rates.
    pub async fn stripe_faults(&self, error_rate: f32, after_commit_rate: f32) {
        let status = self
            .http
            .post(format!("{}/_simulator/faults", self.sim_base))
            .json(&json!({"error_rate": error_rate, "after_commit_rate": after_commit_rate}))
            .send()
            .await
            .expect("the simulator answers")
            .status();
        assert!(status.is_success());
    }
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A Stripe event around `object`, shaped as Stripe sends them.
pub fn stripe_event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": chrono::Utc::now().timestamp(),
           "livemode": false, "pending_webhooks": 1, "api_version": "2026-09-30.endive",
           "data": {"object": object}})
}

/// A time field of an answer.
pub fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("a time, got {v}"))
        .parse()
        .expect("RFC 3339")
}

impl TestApp {
    /// The SNS topic SES reports bounces and complaints to, which the notifications queue
    /// subscribes to, as `template.yaml` wires them.
    pub async fn mail_feedback_topic(&self) -> local_stack::MailFeedbackTopic {
        local_stack::MailFeedbackTopic::create(
            &format!("mail-feedback-{}", uuid::Uuid::new_v4().simple()),
            self.jobs
                .notifications_queue
                .as_ref()
                .expect("notifications queue"),
        )
        .await
        .expect("the feedback topic")
    }

    /// The bodies waiting in this test's dead-letter queue of `queue` (`""`: the renewal
    /// queue's; `"-notifications"`: the notifier's).
    pub async fn dead_letters(&self, queue: &str) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
        let dlq = sqs
            .get_queue_url()
            .queue_name(format!("{}{queue}-dlq", self.store.table()))
            .send()
            .await
            .expect("the dead-letter queue")
            .queue_url()
            .expect("url")
            .to_owned();
        let dead = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        dead.messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect()
    }
}

/// A permanent bounce of `customer`'s mail to `address` as SES's configuration-set event
/// publishing reports it (the fixture the notifier's unit tests read too).
pub fn ses_bounce(address: &str, customer: &str) -> String {
    include_str!("../../../shared/aws/fixtures/ses-bounce.json")
        .replace("ap@acme.example", address)
        .replace("cus_00000000000000000000acme", customer)
}
