//! A local Stripe simulator, for the local stack and the tests (Stripe itself cannot be reached
//! here). It speaks Stripe's HTTP API for the endpoints the billing engine uses, with objects
//! cloned from Stripe's own fixtures (`fixtures/fixtures3.json`, MIT):
//!
//! - `POST /v1/customers`, `GET|POST /v1/customers/{id}`
//! - `POST /v1/payment_methods/{id}/attach`, `POST /v1/payment_methods/{id}/detach`, `GET /v1/payment_methods/{id}`
//! - `POST /v1/payment_intents` (with `confirm`, `off_session`), `GET /v1/payment_intents/{id}`, `GET /v1/payment_intents?customer=`
//! - `POST /v1/refunds`, `GET /v1/refunds?payment_intent=`, `GET /v1/events`
//! - `POST /_simulator/faults` `{"error_rate": 0..1, "after_commit_rate": 0..1}`
//!
//! Stripe's test payment methods behave as in test mode: `pm_card_visa` and `pm_card_mastercard`
//! succeed; `pm_card_chargeDeclined` and `pm_card_chargeDeclinedInsufficientFunds` are declined
//! (already when attached); `pm_card_chargeCustomerFail` attaches but every charge fails;
//! `pm_card_authenticationRequired` needs authentication (`POST /v1/payment_intents/{id}/confirm`
//! then passes it, as the customer would); `pm_usBankAccount_success` is a bank
//! debit that stays `processing` until `POST /v1/test_helpers/payment_intents/{id}/settle`.
//! `Idempotency-Key` works as in Stripe: the same key replays the stored answer, the same key
//! with other parameters is an `idempotency_error`. Events are posted to `STRIPE_WEBHOOK_URL`, signed like Stripe's
//! (`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<payload>">`) with `STRIPE_WEBHOOK_SECRET`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

const FIXTURES: &str = include_str!("../fixtures/fixtures3.json");

/// How a payment method behaves, after Stripe's test cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    Succeeds,
    Declined {
        decline_code: &'static str,
    },
    ChargesFail,
    NeedsAuthentication,
    /// Succeeds, then the cardholder's bank disputes the charge as fraudulent.
    Disputed,
    /// A bank debit: `processing` when confirmed, succeeded only when settled
    /// (`POST /v1/test_helpers/payment_intents/{id}/settle`).
    Processing,
}

fn test_card(token: &str) -> Option<(Card, &'static str, &'static str)> {
    Some(match token {
        "pm_card_visa" => (Card::Succeeds, "visa", "4242"),
        "pm_card_mastercard" => (Card::Succeeds, "mastercard", "4444"),
        "pm_card_chargeDeclined" => (
            Card::Declined {
                decline_code: "generic_decline",
            },
            "visa",
            "0002",
        ),
        "pm_card_chargeDeclinedInsufficientFunds" => (
            Card::Declined {
                decline_code: "insufficient_funds",
            },
            "visa",
            "9995",
        ),
        "pm_card_chargeCustomerFail" => (Card::ChargesFail, "visa", "0341"),
        "pm_card_authenticationRequired" => (Card::NeedsAuthentication, "visa", "3184"),
        "pm_card_createDispute" => (Card::Disputed, "visa", "0259"),
        "pm_usBankAccount_success" => (Card::Processing, "us_bank_account", "6789"),
        _ => return None,
    })
}

/// Run-time settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where events are posted (`STRIPE_WEBHOOK_URL`); none: events are only listed.
    pub webhook_url: Option<String>,
    /// The signing secret (`STRIPE_WEBHOOK_SECRET`).
    pub webhook_secret: String,
}

struct Stored {
    fingerprint: String,
    status: u16,
    body: String,
}

#[derive(Default)]
struct State {
    customers: BTreeMap<String, Value>,
    payment_methods: BTreeMap<String, (Card, Value)>,
    payment_intents: Vec<Value>,
    refunds: Vec<Value>,
    disputes: Vec<Value>,
    events: Vec<Value>,
    idempotency: HashMap<String, Stored>,
    /// Fault rates in parts per million.
    error_ppm: u64,
    after_commit_ppm: u64,
    rng: u64,
}

pub struct Simulator {
    state: Mutex<State>,
    templates: Map<String, Value>,
    config: Config,
}

/// An answer: status and JSON body.
type Answer = (u16, Value);

fn error(status: u16, kind: &str, code: &str, message: &str) -> Answer {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn missing(param: &str) -> Answer {
    let mut answer = error(
        400,
        "invalid_request_error",
        "parameter_missing",
        &format!("Missing required param: {param}."),
    );
    answer.1["error"]["param"] = json!(param);
    answer
}

fn no_such(kind: &str, id: &str) -> Answer {
    error(
        404,
        "invalid_request_error",
        "resource_missing",
        &format!("No such {kind}: '{id}'"),
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    )
}

/// Stripe's form encoding, flattened: `metadata[order]` stays one key.
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn metadata(form: &BTreeMap<String, String>) -> Value {
    let map: Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::String(v.clone())))
        })
        .collect();
    Value::Object(map)
}

impl State {
    /// A draw against a rate in parts per million (xorshift; reproducible per run).
    fn roll(&mut self, ppm: u64) -> bool {
        if ppm == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 1_000_000 < ppm
    }
}

impl Simulator {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let fixtures: Value = serde_json::from_str(FIXTURES)?;
        let templates = fixtures["resources"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let seed = std::env::var("STRIPE_SIM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x2545_f491_4f6c_dd1d);
        Ok(Self {
            state: Mutex::new(State {
                rng: seed | 1,
                ..State::default()
            }),
            templates,
            config,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fixture object with fields replaced.
    fn object(&self, kind: &str, fields: Value) -> Value {
        let mut object = self
            .templates
            .get(kind)
            .cloned()
            .unwrap_or_else(|| json!({"object": kind}));
        if let (Some(target), Some(fields)) = (object.as_object_mut(), fields.as_object()) {
            for (k, v) in fields {
                target.insert(k.clone(), v.clone());
            }
        }
        object
    }

    fn event(&self, state: &mut State, kind: &str, object: &Value) -> Value {
        self.event_changing(state, kind, object, None)
    }

    /// An event whose `data.previous_attributes` says what the change replaced.
    fn event_changing(
        &self,
        state: &mut State,
        kind: &str,
        object: &Value,
        previous: Option<Value>,
    ) -> Value {
        let mut data = json!({"object": object});
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let event = self.object(
            "event",
            json!({"id": new_id("evt"), "type": kind, "created": now(), "data": data,
                   "api_version": "2026-09-30.endive", "pending_webhooks": 1,
                   "request": {"id": null, "idempotency_key": null}}),
        );
        state.events.push(event.clone());
        event
    }

    /// Handles one API request; returns the answer and the events to deliver.
    fn answer(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &hyper::HeaderMap,
        body: &[u8],
    ) -> (Answer, Vec<Value>) {
        let authorized = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer sk_"));
        if path.starts_with("/_simulator/") {
            return (self.control(method, path, body), Vec::new());
        }
        if !authorized {
            return (
                error(
                    401,
                    "invalid_request_error",
                    "api_key_missing",
                    "You did not provide a valid API key.",
                ),
                Vec::new(),
            );
        }
        let mut state = self.state();
        let error_ppm = state.error_ppm;
        if *method == Method::POST && state.roll(error_ppm) {
            let status = if state.roll(500_000) { 429 } else { 500 };
            return (
                error(
                    status,
                    "api_error",
                    "simulated_fault",
                    "Simulated fault: nothing was done.",
                ),
                Vec::new(),
            );
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Stripe compares the parameters, not their order (clients send maps in any order).
        let fingerprint = format!("{method} {path}?{query}\n{:?}", parse_form(body));
        if let (&Method::POST, Some(key)) = (method, &key) {
            if let Some(stored) = state.idempotency.get(key) {
                if stored.fingerprint != fingerprint {
                    return (error(400, "idempotency_error", "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with."), Vec::new());
                }
                let body = serde_json::from_str(&stored.body).unwrap_or(Value::Null);
                return ((stored.status, body), Vec::new());
            }
        }
        let mut events = Vec::new();
        let (status, body) = self.route(
            &mut state,
            method,
            path,
            query,
            &parse_form(body),
            &mut events,
        );
        if let (&Method::POST, Some(key)) = (method, key) {
            state.idempotency.insert(
                key,
                Stored {
                    fingerprint,
                    status,
                    body: body.to_string(),
                },
            );
        }
        let after_commit_ppm = state.after_commit_ppm;
        if *method == Method::POST && state.roll(after_commit_ppm) {
            // The work is done and stored under the key; the answer is lost on the way.
            return (
                error(
                    500,
                    "api_error",
                    "simulated_fault",
                    "Simulated fault after the work was done.",
                ),
                events,
            );
        }
        ((status, body), events)
    }

    fn control(&self, method: &Method, path: &str, body: &[u8]) -> Answer {
        match (method, path) {
            (&Method::POST, "/_simulator/faults") => {
                let Ok(v) = serde_json::from_slice::<Value>(body) else {
                    return error(
                        400,
                        "invalid_request_error",
                        "bad_json",
                        "expected {\"error_rate\", \"after_commit_rate\"}",
                    );
                };
                let ppm = |name: &str| -> Option<u64> {
                    match v.get(name) {
                        None => Some(0),
                        Some(rate) => {
                            // Rates are parts per million with up to 6 decimals, parsed as text.
                            let text = rate.to_string();
                            let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
                            let frac = format!("{frac:0<6}");
                            let ppm = whole.parse::<u64>().ok()? * 1_000_000
                                + frac.get(..6)?.parse::<u64>().ok()?;
                            (ppm <= 1_000_000).then_some(ppm)
                        }
                    }
                };
                match (ppm("error_rate"), ppm("after_commit_rate")) {
                    (Some(e), Some(a)) => {
                        let mut state = self.state();
                        state.error_ppm = e;
                        state.after_commit_ppm = a;
                        (
                            200,
                            json!({"error_rate": v.get("error_rate"), "after_commit_rate": v.get("after_commit_rate")}),
                        )
                    }
                    _ => error(
                        400,
                        "invalid_request_error",
                        "bad_rate",
                        "rates are numbers from 0 to 1",
                    ),
                }
            }
            _ => error(
                404,
                "invalid_request_error",
                "unknown_path",
                "no such simulator control",
            ),
        }
    }

    fn route(
        &self,
        state: &mut State,
        method: &Method,
        path: &str,
        query: &str,
        form: &BTreeMap<String, String>,
        events: &mut Vec<Value>,
    ) -> Answer {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let query: BTreeMap<String, String> = parse_form(query.as_bytes());
        match (method, segments.as_slice()) {
            (&Method::POST, ["v1", "customers"]) => {
                let customer = self.object(
                    "customer",
                    json!({"id": new_id("cus"), "created": now(), "email": form.get("email"), "name": form.get("name"),
                           "metadata": metadata(form), "discount": null, "balance": 0, "livemode": false,
                           "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null}}),
                );
                state.customers.insert(
                    customer["id"].as_str().unwrap_or_default().to_owned(),
                    customer.clone(),
                );
                (200, customer)
            }
            (&Method::GET, ["v1", "customers", id]) => match state.customers.get(*id) {
                Some(c) => (200, c.clone()),
                None => no_such("customer", id),
            },
            (&Method::POST, ["v1", "customers", id]) => {
                let default_pm = form
                    .get("invoice_settings[default_payment_method]")
                    .cloned();
                if let Some(pm) = &default_pm {
                    if !state.payment_methods.contains_key(pm) {
                        return no_such("PaymentMethod", pm);
                    }
                }
                let Some(customer) = state.customers.get_mut(*id) else {
                    return no_such("customer", id);
                };
                if let Some(pm) = default_pm {
                    customer["invoice_settings"]["default_payment_method"] = json!(pm);
                }
                if let (Some(target), Value::Object(m)) =
                    (customer["metadata"].as_object_mut(), metadata(form))
                {
                    target.extend(m);
                }
                (200, customer.clone())
            }
            (&Method::POST, ["v1", "payment_methods", token, "attach"]) => {
                let Some(customer) = form.get("customer") else {
                    return missing("customer");
                };
                if !state.customers.contains_key(customer) {
                    return no_such("customer", customer);
                }
                let Some((card, brand, last4)) = test_card(token) else {
                    return no_such("PaymentMethod", token);
                };
                if let Card::Declined { decline_code } = card {
                    let mut answer = error(
                        402,
                        "card_error",
                        "card_declined",
                        "Your card was declined.",
                    );
                    answer.1["error"]["decline_code"] = json!(decline_code);
                    return answer;
                }
                let mut pm = self.object("payment_method", json!({"id": new_id("pm"), "created": now(), "customer": customer, "metadata": {}, "type": "card"}));
                pm["card"]["brand"] = json!(brand);
                pm["card"]["display_brand"] = json!(brand);
                pm["card"]["last4"] = json!(last4);
                state.payment_methods.insert(
                    pm["id"].as_str().unwrap_or_default().to_owned(),
                    (card, pm.clone()),
                );
                events.push(self.event(state, "payment_method.attached", &pm));
                (200, pm)
            }
            (&Method::POST, ["v1", "payment_methods", id, "detach"]) => {
                let Some((_, pm)) = state.payment_methods.get_mut(*id) else {
                    return no_such("PaymentMethod", id);
                };
                let previous = json!({"customer": pm["customer"].take()});
                let pm = pm.clone();
                events.push(self.event_changing(
                    state,
                    "payment_method.detached",
                    &pm,
                    Some(previous),
                ));
                (200, pm)
            }
            (&Method::GET, ["v1", "payment_methods", id]) => match state.payment_methods.get(*id) {
                Some((_, pm)) => (200, pm.clone()),
                None => no_such("PaymentMethod", id),
            },
            (&Method::POST, ["v1", "payment_intents"]) => {
                self.create_payment_intent(state, form, events)
            }
            (&Method::GET, ["v1", "payment_intents", id]) => {
                match state.payment_intents.iter().find(|p| p["id"] == *id) {
                    Some(pi) => (200, pi.clone()),
                    None => no_such("payment_intent", id),
                }
            }
            (&Method::GET, ["v1", "payment_intents"]) => {
                let data: Vec<Value> = state
                    .payment_intents
                    .iter()
                    .rev()
                    .filter(|pi| {
                        query
                            .get("customer")
                            .is_none_or(|c| pi["customer"] == c.as_str())
                    })
                    .cloned()
                    .collect();
                (
                    200,
                    json!({"object": "list", "data": data, "has_more": false, "url": "/v1/payment_intents"}),
                )
            }
            (&Method::POST, ["v1", "refunds"]) => self.create_refund(state, form, events),
            (&Method::GET, ["v1", "refunds"]) => {
                let data: Vec<Value> = state
                    .refunds
                    .iter()
                    .rev()
                    .filter(|r| {
                        query
                            .get("payment_intent")
                            .is_none_or(|p| r["payment_intent"] == p.as_str())
                    })
                    .cloned()
                    .collect();
                (
                    200,
                    json!({"object": "list", "data": data, "has_more": false, "url": "/v1/refunds"}),
                )
            }
            (&Method::GET, ["v1", "disputes"]) => {
                let data: Vec<Value> = state
                    .disputes
                    .iter()
                    .rev()
                    .filter(|d| {
                        query
                            .get("payment_intent")
                            .is_none_or(|p| d["payment_intent"] == p.as_str())
                    })
                    .cloned()
                    .collect();
                (
                    200,
                    json!({"object": "list", "data": data, "has_more": false, "url": "/v1/disputes"}),
                )
            }
            (&Method::GET, ["v1", "disputes", id]) => {
                match state.disputes.iter().find(|d| d["id"] == *id) {
                    Some(d) => (200, d.clone()),
                    None => no_such("dispute", id),
                }
            }
            (&Method::POST, ["v1", "disputes", id]) => {
                // Stripe's test mode: evidence `winning_evidence` wins, `losing_evidence` loses.
                let status = match form.get("evidence[uncategorized_text]").map(String::as_str) {
                    Some("winning_evidence") => "won",
                    Some("losing_evidence") => "lost",
                    _ => "under_review",
                };
                self.move_dispute(state, id, status, events)
            }
            (&Method::POST, ["v1", "disputes", id, "close"]) => {
                self.move_dispute(state, id, "lost", events)
            }
            // The bank debit clears (Stripe settles test bank debits by itself after a while).
            (&Method::POST, ["v1", "test_helpers", "payment_intents", id, "settle"]) => {
                self.succeed_payment_intent(state, id, "processing", events)
            }
            // Confirmed with the customer present, who authenticates (3D Secure passes).
            (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => {
                self.succeed_payment_intent(state, id, "requires_action", events)
            }
            (&Method::GET, ["v1", "events"]) => {
                let data: Vec<Value> = state.events.iter().rev().cloned().collect();
                (
                    200,
                    json!({"object": "list", "data": data, "has_more": false, "url": "/v1/events"}),
                )
            }
            _ => error(
                404,
                "invalid_request_error",
                "unrecognized_request_url",
                &format!("Unrecognized request URL ({method}: {path})."),
            ),
        }
    }

    fn create_payment_intent(
        &self,
        state: &mut State,
        form: &BTreeMap<String, String>,
        events: &mut Vec<Value>,
    ) -> Answer {
        let Some(amount) = form.get("amount") else {
            return missing("amount");
        };
        let Some(amount) = amount.parse::<i64>().ok().filter(|a| *a > 0) else {
            return error(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid positive integer: amount",
            );
        };
        let Some(currency) = form.get("currency") else {
            return missing("currency");
        };
        let customer = form.get("customer").cloned();
        if let Some(c) = &customer {
            if !state.customers.contains_key(c) {
                return no_such("customer", c);
            }
        }
        let payment_method = form.get("payment_method").cloned();
        let card = match &payment_method {
            Some(pm) => match state.payment_methods.get(pm) {
                Some((card, _)) => Some(*card),
                None => match test_card(pm) {
                    Some((card, _, _)) => Some(card),
                    None => return no_such("PaymentMethod", pm),
                },
            },
            None => None,
        };
        let confirm = form.get("confirm").is_some_and(|v| v == "true");
        let off_session = form.get("off_session").is_some_and(|v| v == "true");
        let id = new_id("pi");
        let mut pi = self.object(
            "payment_intent",
            json!({"id": id, "amount": amount, "amount_capturable": 0, "amount_received": 0, "currency": currency,
                   "customer": customer, "payment_method": payment_method, "created": now(), "livemode": false,
                   "metadata": metadata(form), "description": form.get("description"), "canceled_at": null,
                   "client_secret": format!("{id}_secret_sim"), "last_payment_error": null, "next_action": null,
                   "latest_charge": null, "processing": null, "transfer_data": null, "automatic_payment_methods": null,
                   "payment_method_configuration_details": null, "payment_method_types": ["card"],
                   "status": if card.is_none() { "requires_payment_method" } else { "requires_confirmation" }}),
        );
        let mut answer_status = 200;
        let mut failure: Option<(&str, &str, &str)> = None;
        if let (true, Some(card)) = (confirm, card) {
            match card {
                Card::Succeeds | Card::Disputed => {
                    pi["status"] = json!("succeeded");
                    pi["amount_received"] = json!(amount);
                    pi["latest_charge"] = json!(new_id("ch"));
                }
                Card::Declined { decline_code } => {
                    failure = Some(("card_declined", decline_code, "Your card was declined."))
                }
                Card::ChargesFail => {
                    failure = Some((
                        "card_declined",
                        "generic_decline",
                        "Your card was declined.",
                    ))
                }
                Card::Processing => pi["status"] = json!("processing"),
                Card::NeedsAuthentication => {
                    pi["status"] = json!("requires_action");
                    pi["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}});
                    if off_session {
                        failure = Some(("authentication_required", "authentication_required",
                            "This payment requires authentication; bring the customer back on session."));
                    }
                }
            }
        }
        if let Some((code, decline_code, message)) = failure {
            if pi["status"] != "requires_action" {
                pi["status"] = json!("requires_payment_method");
            }
            pi["last_payment_error"] = json!({"type": "card_error", "code": code, "decline_code": decline_code, "message": message});
            answer_status = 402;
        }
        state.payment_intents.push(pi.clone());
        let event_type = match pi["status"].as_str() {
            Some("succeeded") => Some("payment_intent.succeeded"),
            Some("requires_action") => Some("payment_intent.requires_action"),
            Some("processing") => Some("payment_intent.processing"),
            _ if failure.is_some() => Some("payment_intent.payment_failed"),
            _ => None,
        };
        if let Some(kind) = event_type {
            events.push(self.event(state, kind, &pi));
        }
        if card == Some(Card::Disputed) && pi["status"] == "succeeded" {
            let dispute = self.object(
                "dispute",
                json!({"id": new_id("dp"), "amount": amount, "currency": currency, "charge": pi["latest_charge"],
                       "payment_intent": pi["id"], "created": now(), "reason": "fraudulent",
                       "status": "needs_response", "is_charge_refundable": false, "livemode": false}),
            );
            state.disputes.push(dispute.clone());
            events.push(self.event(state, "charge.dispute.created", &dispute));
        }
        match failure {
            Some((code, decline_code, message)) => (
                answer_status,
                json!({"error": {"type": "card_error", "code": code, "decline_code": decline_code, "message": message, "payment_intent": pi}}),
            ),
            None => (200, pi),
        }
    }

    fn create_refund(
        &self,
        state: &mut State,
        form: &BTreeMap<String, String>,
        events: &mut Vec<Value>,
    ) -> Answer {
        let Some(pi_id) = form.get("payment_intent") else {
            return missing("payment_intent");
        };
        let Some(pi) = state
            .payment_intents
            .iter()
            .find(|p| p["id"] == pi_id.as_str())
            .cloned()
        else {
            return no_such("payment_intent", pi_id);
        };
        let disputed = state.disputes.iter().any(|d| {
            d["payment_intent"] == pi_id.as_str()
                && matches!(
                    d["status"].as_str(),
                    Some("needs_response" | "under_review" | "lost")
                )
        });
        if disputed {
            return error(
                400,
                "invalid_request_error",
                "charge_disputed",
                "This charge has been disputed and cannot be refunded.",
            );
        }
        if pi["status"] != "succeeded" {
            return error(
                400,
                "invalid_request_error",
                "charge_not_refundable",
                "This PaymentIntent has no successful charge to refund.",
            );
        }
        let received = pi["amount_received"].as_i64().unwrap_or_default();
        let refunded: i64 = state
            .refunds
            .iter()
            .filter(|r| r["payment_intent"] == pi_id.as_str())
            .filter_map(|r| r["amount"].as_i64())
            .sum();
        let amount = match form.get("amount") {
            Some(a) => match a.parse::<i64>() {
                Ok(a) if a > 0 => a,
                _ => {
                    return error(
                        400,
                        "invalid_request_error",
                        "parameter_invalid_integer",
                        "Invalid positive integer: amount",
                    )
                }
            },
            None => received - refunded,
        };
        if amount > received - refunded || amount <= 0 {
            return error(
                400,
                "invalid_request_error",
                "amount_too_large",
                "Refund amount is greater than the unrefunded amount.",
            );
        }
        let refund = self.object(
            "refund",
            json!({"id": new_id("re"), "amount": amount, "currency": pi["currency"], "created": now(), "payment_intent": pi_id,
                   "charge": pi["latest_charge"], "status": "succeeded", "metadata": metadata(form), "reason": form.get("reason"),
                   "customer": pi["customer"]}),
        );
        state.refunds.push(refund.clone());
        let charge = self.object(
            "charge",
            json!({"id": pi["latest_charge"], "amount": received, "amount_captured": received, "amount_refunded": refunded + amount,
                   "refunded": refunded + amount == received, "currency": pi["currency"], "customer": pi["customer"],
                   "payment_intent": pi_id, "created": now(), "paid": true, "captured": true}),
        );
        events.push(self.event(state, "charge.refunded", &charge));
        (200, refund)
    }
}

impl Simulator {
    /// A PaymentIntent in status `from` succeeds: it takes its amount, with its event.
    fn succeed_payment_intent(
        &self,
        state: &mut State,
        id: &str,
        from: &str,
        events: &mut Vec<Value>,
    ) -> Answer {
        let Some(pi) = state
            .payment_intents
            .iter_mut()
            .find(|p| p["id"] == id && p["status"] == from)
        else {
            return no_such(&format!("PaymentIntent in status {from}"), id);
        };
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        pi["latest_charge"] = json!(new_id("ch"));
        pi["next_action"] = Value::Null;
        pi["last_payment_error"] = Value::Null;
        let pi = pi.clone();
        events.push(self.event(state, "payment_intent.succeeded", &pi));
        (200, pi)
    }

    /// Moves a dispute to `status`; a closed dispute is not moved again.
    fn move_dispute(
        &self,
        state: &mut State,
        id: &str,
        status: &str,
        events: &mut Vec<Value>,
    ) -> Answer {
        let Some(dispute) = state.disputes.iter_mut().find(|d| d["id"] == id) else {
            return no_such("dispute", id);
        };
        if matches!(
            dispute["status"].as_str(),
            Some("won" | "lost" | "warning_closed" | "prevented")
        ) {
            return error(
                400,
                "invalid_request_error",
                "dispute_already_closed",
                "This dispute is already closed.",
            );
        }
        let previous = json!({"status": dispute["status"].take()});
        dispute["status"] = json!(status);
        let dispute = dispute.clone();
        let kind = if status == "under_review" {
            "charge.dispute.updated"
        } else {
            "charge.dispute.closed"
        };
        events.push(self.event_changing(state, kind, &dispute, Some(previous)));
        (200, dispute)
    }
}

/// `Stripe-Signature` for `payload` at `timestamp`, as Stripe computes it.
pub fn signature_header(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return format!("t={timestamp}"),
    };
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

async fn deliver(url: String, secret: String, event: Value) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let payload = event.to_string();
    for attempt in 0..3u32 {
        let Ok(request) = Request::post(&url)
            .header("content-type", "application/json")
            .header(
                "stripe-signature",
                signature_header(&payload, &secret, now()),
            )
            .body(Full::new(Bytes::from(payload.clone())))
        else {
            return;
        };
        match client.request(request).await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => tracing::warn!(status = %response.status(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(error = %e, attempt, "webhook not delivered"),
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
    }
}

async fn serve_one(
    sim: Arc<Simulator>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    let ((status, body), events) = match Limited::new(req.into_body(), 1024 * 1024).collect().await
    {
        Ok(body) => sim.answer(&method, &path, &query, &headers, &body.to_bytes()),
        Err(_) => (
            error(
                413,
                "invalid_request_error",
                "body_too_large",
                "Request body too large.",
            ),
            Vec::new(),
        ),
    };
    if let Some(url) = &sim.config.webhook_url {
        for event in events {
            tokio::spawn(deliver(
                url.clone(),
                sim.config.webhook_secret.clone(),
                event,
            ));
        }
    }
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves the simulator on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, sim: Arc<Simulator>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let sim = sim.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let sim = sim.clone();
                async move { Ok::<_, Infallible>(serve_one(sim, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
