//! Outbound webhooks: operators register endpoints (a URL and the event types it wants), and
//! every matching domain event is delivered to each as a signed POST, retried with exponential
//! backoff and jitter for up to [`RETRY_WINDOW_HOURS`], every attempt recorded. An endpoint that
//! fails for the whole window is disabled. The HTTP call itself is the [`WebhookSender`] port's.
//!
//! The body is `{"id", "type", "created", "sequence", "data": {"object": {...},
//! "previous_attributes": {...}}}`: the event id, type and time, the object's `sequence`
//! (receivers drop an update older than one they have), the event's facts with the customer and
//! subscription ids (and, for a subscription's events, the whole `subscription`), and beside
//! them the old values of what the change changed.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{DomainEvent, EventKind, PublishedEvent};
use crate::kernel::clock::Clock;
use crate::kernel::error::BillingError;
use crate::kernel::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::kernel::retry::CONFLICT_RETRIES;
use crate::kernel::validation::{self, FieldError, Validator};

/// How long a failing delivery is retried, from its first attempt (Stripe: three days).
pub const RETRY_WINDOW_HOURS: i64 = 72;

/// The first retry's delay; each next one is four times longer, up to [`MAX_RETRY_DELAY_HOURS`].
pub const FIRST_RETRY_DELAY_SECONDS: i64 = 60;
pub const MAX_RETRY_DELAY_HOURS: i64 = 12;

/// How long one attempt may hold a delivery before another worker may try it.
pub const ATTEMPT_LEASE_SECONDS: i64 = 60;

/// The most endpoints one account registers.
pub const MAX_ENDPOINTS: usize = 16;

/// Which event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    All,
    Only(BTreeSet<EventKind>),
}

impl EventSelection {
    pub fn matches(&self, kind: EventKind) -> bool {
        match self {
            EventSelection::All => true,
            EventSelection::Only(kinds) => kinds.contains(&kind),
        }
    }

    /// As the API spells it: `["*"]` or the type names.
    pub fn names(&self) -> Vec<String> {
        match self {
            EventSelection::All => vec!["*".into()],
            EventSelection::Only(kinds) => kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }

    pub fn parse(names: &[String]) -> Result<EventSelection, FieldError> {
        if names.is_empty() {
            return Err(FieldError::new(
                "events",
                "name at least one event type, or [\"*\"] for all",
            ));
        }
        if names.iter().any(|n| n == "*") {
            return if names.len() == 1 {
                Ok(EventSelection::All)
            } else {
                Err(FieldError::new("events", "\"*\" stands alone"))
            };
        }
        let mut kinds = BTreeSet::new();
        for (i, name) in names.iter().enumerate() {
            match EventKind::ALL.into_iter().find(|k| k.as_str() == name) {
                Some(kind) => {
                    kinds.insert(kind);
                }
                None => {
                    return Err(FieldError::new(
                        format!("events[{i}]"),
                        format!(
                            "not an event type; types are {}",
                            EventKind::ALL.map(EventKind::as_str).join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(EventSelection::Only(kinds))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub events: EventSelection,
    pub description: Option<String>,
    /// Signs every delivery (`whsec_...`); shown once, when the endpoint is created or its
    /// secret is rolled.
    pub secret: String,
    /// The secret before the last roll: it signs deliveries too (a second `v1=`) until it
    /// expires, so receivers can switch to the new one without dropping any.
    pub previous_secret: Option<ExpiringSecret>,
    pub status: EndpointStatus,
    /// Why the endpoint was disabled (by an operator, or after failing for the retry window).
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed (`None` after a success).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// A rolled secret that still signs until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringSecret {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

/// How long a rolled secret may keep signing: a day at most, as Stripe allows.
pub const MAX_PREVIOUS_SECRET_HOURS: i64 = 24;

/// An operator's changes to an endpoint; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookEndpointChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
}

/// An operator's request for an endpoint.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

impl WebhookEndpoint {
    /// `allow_private`: whether URLs may name loopback and private hosts (local stack and tests
    /// only; deployed, never).
    pub fn create(
        new: NewWebhookEndpoint,
        secret: String,
        allow_private: bool,
        now: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, Vec<FieldError>> {
        let mut v = Validator::new();
        let url = v.check(check_url(&new.url, allow_private));
        let events = v.check(EventSelection::parse(&new.events));
        let description = v
            .check(validation::optional_text(
                "description",
                new.description.as_deref(),
                200,
            ))
            .flatten();
        v.finish()?;
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            url: url.unwrap_or_default(),
            events: events.unwrap_or(EventSelection::All),
            description,
            secret,
            previous_secret: None,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    /// Applies an operator's changes, all or none: every field at fault is named.
    pub fn change(
        &mut self,
        changes: WebhookEndpointChanges,
        allow_private: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        let url = changes
            .url
            .and_then(|url| v.check(check_url(&url, allow_private)));
        let events = changes
            .events
            .and_then(|names| v.check(EventSelection::parse(&names)));
        let description = changes.description.and_then(|text| {
            v.check(validation::optional_text(
                "description",
                text.as_deref(),
                200,
            ))
        });
        v.finish()?;
        if let Some(url) = url {
            self.url = url;
        }
        if let Some(events) = events {
            self.events = events;
        }
        if let Some(description) = description {
            self.description = description;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Replaces the signing secret. The old one keeps signing beside it for `keep_previous`
    /// (zero: it stops at once); a secret rolled before that is dropped.
    pub fn roll_secret(&mut self, secret: String, keep_previous: Duration, now: DateTime<Utc>) {
        let previous = std::mem::replace(&mut self.secret, secret);
        self.previous_secret = (keep_previous > Duration::zero()).then(|| ExpiringSecret {
            secret: previous,
            expires_at: now + keep_previous,
        });
        self.updated_at = now;
    }

    /// The secrets a delivery made at `now` is signed with: the current one first, then the
    /// previous one while it has not expired.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some(previous) = self.previous_secret.as_ref().filter(|p| p.expires_at > now) {
            secrets.push(previous.secret.as_str());
        }
        secrets
    }

    pub fn disable(&mut self, reason: &str, now: DateTime<Utc>) {
        self.status = EndpointStatus::Disabled;
        self.disabled_reason = Some(reason.to_owned());
        self.updated_at = now;
    }

    pub fn enable(&mut self, now: DateTime<Utc>) {
        self.status = EndpointStatus::Enabled;
        self.disabled_reason = None;
        self.failing_since = None;
        self.updated_at = now;
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.status == EndpointStatus::Enabled && self.events.matches(kind)
    }

    /// Takes an attempt's outcome into account: a success clears the failure streak. When a
    /// delivery gives up (`gave_up`: the first attempt of that delivery, which has failed
    /// since), the endpoint is disabled if nothing succeeded since then either: it failed for
    /// the whole retry window. Answers whether anything changed.
    fn observe(
        &mut self,
        outcome: &AttemptOutcome,
        gave_up: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        let before = (self.failing_since, self.status);
        if outcome.succeeded() {
            self.failing_since = None;
        } else {
            let since = *self.failing_since.get_or_insert(now);
            if gave_up.is_some_and(|first| since <= first) {
                self.disable(
                    &format!("every delivery failed for {RETRY_WINDOW_HOURS} hours"),
                    now,
                );
            }
        }
        let changed = before != (self.failing_since, self.status);
        if changed {
            self.updated_at = now;
        }
        changed
    }
}

/// Checks a webhook URL: `http` or `https`, a host, no credentials; unless `allow_private`, no
/// loopback, private, link-local or cloud metadata host. (The sender checks the addresses a
/// name resolves to again at every attempt.)
pub fn check_url(raw: &str, allow_private: bool) -> Result<String, FieldError> {
    let url = raw.trim();
    let bad = |why: &str| FieldError::new("url", why.to_owned());
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must be an http(s) URL of at most 2048 characters"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("must not carry credentials"));
    }
    let host = host_of(authority).ok_or_else(|| bad("must name a host"))?;
    if !port_ok(authority) {
        return Err(bad("must have a port from 1 to 65535, if any"));
    }
    if !allow_private && is_private_host(&host) {
        return Err(bad(
            "must not point at a loopback, private, link-local or metadata address",
        ));
    }
    Ok(url.to_owned())
}

/// Whether the port of `host[:port]` or `[v6]:port`, if there is one, is a port (1 to 65535).
fn port_ok(authority: &str) -> bool {
    let port = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => return true,
            Some((_, rest)) => match rest.strip_prefix(':') {
                Some(port) => port,
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((_, port)) => port,
            None => return true,
        },
    };
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// The host of `host[:port]` or `[v6]:port`, lowercased.
fn host_of(authority: &str) -> Option<String> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn is_private_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_blocked_ip(ip);
    }
    host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".internal")
        || host == "instance-data"
}

/// Addresses a deployed sender never posts to: loopback, private (RFC 1918, unique local),
/// shared (100.64/10), link-local (which holds the cloud metadata service, 169.254.169.254 and
/// fd00:ec2::254), benchmarking (198.18/15), reserved (240/4), unspecified, broadcast and
/// multicast; and IPv6 that carries an IPv4 address (mapped, compatible, NAT64 64:ff9b::/96,
/// 6to4 2002::/16), which is judged by that address, and blocked outright where it may reach
/// one of those through a translator.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_v4(v4);
            }
            let segments = v6.segments();
            let first = segments[0];
            // IPv4-compatible (::a.b.c.d, deprecated), NAT64 and 6to4: a translator would carry
            // the post to an IPv4 address; none of these is a webhook's address.
            let ipv4_compatible = segments[..6].iter().all(|s| *s == 0);
            let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            let six_to_four = first == 0x2002;
            ipv4_compatible
                || nat64
                || six_to_four
                || v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
        || a == 0
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The HTTP status, when the endpoint answered.
    pub status_code: Option<u16>,
    /// Why it failed without an answer (refused, timed out, a blocked address).
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// Made by an operator's replay rather than the schedule.
    pub replay: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; `next_attempt_at` says when it is tried.
    Pending,
    Succeeded,
    /// Retried for the whole window without success (a replay may still deliver it).
    Failed,
}

/// One event for one endpoint, and every attempt to deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: String,
    pub event_type: EventKind,
    /// The body posted (the same bytes at every attempt).
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<DeliveryAttempt>,
    /// When the schedule tries next (`None`: not scheduled). Also the lease of an attempt in
    /// flight.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// 64-bit FNV-1a: a stable hash for derived ids and jitter (not for security).
fn fnv(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The body of a delivery (see the module's doc).
pub fn payload(event: &DomainEvent) -> String {
    let published = PublishedEvent::from(event);
    let mut object = serde_json::Map::new();
    if let Some(customer_id) = &published.customer_id {
        object.insert(
            "customer_id".into(),
            serde_json::Value::String(customer_id.clone()),
        );
    }
    if let Some(subscription_id) = &published.subscription_id {
        object.insert(
            "subscription_id".into(),
            serde_json::Value::String(subscription_id.clone()),
        );
    }
    if let Ok(serde_json::Value::Object(facts)) = serde_json::to_value(&published.data) {
        object.extend(facts);
    }
    let mut data = serde_json::Map::new();
    // Where Stripe puts them: beside the object.
    if let Some(previous) = object.remove("previous_attributes") {
        data.insert("previous_attributes".into(), previous);
    }
    data.insert("object".into(), serde_json::Value::Object(object));
    serde_json::json!({
        "id": published.id,
        "type": published.kind.as_str(),
        "created": published.created.timestamp(),
        "sequence": published.sequence,
        "api_version": crate::events::EVENT_SCHEMA_VERSION,
        "data": data,
    })
    .to_string()
}

impl WebhookDelivery {
    /// The delivery of `event` to `endpoint`: its id is derived from both, so the same event
    /// never makes two deliveries to one endpoint.
    pub fn new(endpoint: &WebhookEndpoint, event: &DomainEvent, now: DateTime<Utc>) -> Self {
        let a = fnv(&[endpoint.id.as_str(), &event.id]);
        let b = fnv(&[&event.id, endpoint.id.as_str(), "delivery"]);
        WebhookDelivery {
            id: format!("whd_{a:016x}{b:016x}")
                .parse()
                .unwrap_or_else(|_| WebhookDeliveryId::generate()),
            endpoint_id: endpoint.id.clone(),
            event_id: event.id.clone(),
            event_type: event.kind,
            payload: payload(event),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the schedule should attempt it at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_some_and(|at| at <= now)
    }

    /// The delay after the `failures`-th failure: one minute, then four times longer each
    /// time up to twelve hours, plus or minus a tenth (jitter derived from the id, so retries of
    /// many deliveries spread out and a test can predict them).
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let max = MAX_RETRY_DELAY_HOURS * 3600;
        let exponent = failures.saturating_sub(1).min(10);
        let base = FIRST_RETRY_DELAY_SECONDS
            .saturating_mul(4_i64.saturating_pow(exponent))
            .min(max);
        let spread = (base / 5).max(1);
        let jitter =
            i64::try_from(fnv(&[self.id.as_str(), &failures.to_string()]) % spread.unsigned_abs())
                .unwrap_or(0)
                - spread / 2;
        Duration::seconds(base + jitter)
    }

    /// Takes the delivery for one attempt: its next attempt moves a lease ahead, so a second
    /// worker that sees it due skips it (the stored write is conditional on the version).
    pub fn claim(&mut self, now: DateTime<Utc>) {
        self.next_attempt_at = Some(now + Duration::seconds(ATTEMPT_LEASE_SECONDS));
        self.updated_at = now;
    }

    /// When the schedule first tried it.
    pub fn first_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.attempts.iter().find(|a| !a.replay).map(|a| a.at)
    }

    /// Records an attempt; answers whether the delivery gave up with it.
    pub fn record(&mut self, outcome: AttemptOutcome, replay: bool, now: DateTime<Utc>) -> bool {
        let succeeded = outcome.succeeded();
        self.attempts.push(DeliveryAttempt {
            at: now,
            outcome,
            replay,
        });
        self.updated_at = now;
        if succeeded {
            self.status = DeliveryStatus::Succeeded;
            self.next_attempt_at = None;
            return false;
        }
        if replay && self.status != DeliveryStatus::Pending {
            // A failed replay leaves a finished delivery as it was.
            return false;
        }
        let failures =
            u32::try_from(self.attempts.iter().filter(|a| !a.replay).count()).unwrap_or(u32::MAX);
        let first = self
            .attempts
            .iter()
            .find(|a| !a.replay)
            .map_or(now, |a| a.at);
        let next = now + self.retry_delay(failures);
        if next - first > Duration::hours(RETRY_WINDOW_HOURS) {
            self.status = DeliveryStatus::Failed;
            self.next_attempt_at = None;
            true
        } else {
            self.next_attempt_at = Some(next);
            false
        }
    }
}

/// Posts a delivery (the HTTP adapter): signs `payload` with each of `secrets` at the moment
/// it is sent (`Billing-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`, one
/// `v1=` per secret; the wall clock's time even under a test clock, since receivers check it
/// against theirs, as Stripe's test clocks do) and reports what came back. Never fails: a
/// refused connection is an outcome too.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(&self, url: &str, secrets: &[&str], payload: &str) -> AttemptOutcome;
}

/// Where endpoints and deliveries are kept.
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;
    async fn get_endpoint(
        &self,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Every endpoint, newest first.
    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Conditional on `endpoint.version`; bumps it.
    async fn update_endpoint(&self, endpoint: &mut WebhookEndpoint) -> Result<(), StoreError>;
    async fn delete_endpoint(&self, id: &WebhookEndpointId) -> Result<(), StoreError>;
    /// [`StoreError::AlreadyExists`] when this event already has a delivery to this endpoint.
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<(), StoreError>;
    async fn get_delivery(
        &self,
        id: &WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError>;
    /// Conditional on `delivery.version`; bumps it.
    async fn update_delivery(&self, delivery: &mut WebhookDelivery) -> Result<(), StoreError>;
    /// An endpoint's deliveries, newest first.
    async fn list_deliveries(
        &self,
        endpoint_id: &WebhookEndpointId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError>;
    /// Deliveries whose next attempt is due at `now`, earliest first.
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WebhookDeliveryId>, StoreError>;
}

/// Registers endpoints and delivers events to them.
#[derive(Clone)]
pub struct Webhooks {
    pub repo: Arc<dyn WebhookRepo>,
    pub sender: Arc<dyn WebhookSender>,
    pub clock: Arc<dyn Clock>,
    /// Whether endpoint URLs may name private hosts (local stack and tests only).
    pub allow_private_urls: bool,
}

/// What handling one event did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FanOut {
    pub delivered: usize,
    pub failed: usize,
    /// Deliveries that existed already (a redelivered event).
    pub existing: usize,
}

impl Webhooks {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn create_endpoint(
        &self,
        new: NewWebhookEndpoint,
        secret: String,
    ) -> Result<WebhookEndpoint, BillingError> {
        let endpoint = WebhookEndpoint::create(new, secret, self.allow_private_urls, self.now())
            .map_err(BillingError::Validation)?;
        if self.repo.list_endpoints().await?.len() >= MAX_ENDPOINTS {
            return Err(BillingError::Conflict(format!(
                "at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
            )));
        }
        self.repo.insert_endpoint(&endpoint).await?;
        Ok(endpoint)
    }

    pub async fn endpoint(&self, id: &WebhookEndpointId) -> Result<WebhookEndpoint, BillingError> {
        self.repo
            .get_endpoint(id)
            .await?
            .ok_or(BillingError::NotFound("webhook endpoint"))
    }

    pub async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, BillingError> {
        Ok(self.repo.list_endpoints().await?)
    }

    /// Reads an endpoint, applies `change` and writes it back, again on a version conflict.
    async fn modify_endpoint(
        &self,
        id: &WebhookEndpointId,
        change: impl Fn(&mut WebhookEndpoint, DateTime<Utc>) -> Result<(), BillingError>,
    ) -> Result<WebhookEndpoint, BillingError> {
        let mut conflicts = 0;
        loop {
            let mut endpoint = self.endpoint(id).await?;
            change(&mut endpoint, self.now())?;
            match self.repo.update_endpoint(&mut endpoint).await {
                Ok(()) => return Ok(endpoint),
                Err(StoreError::VersionConflict) if conflicts < CONFLICT_RETRIES => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Turns an endpoint off (`enabled: false`) or on again.
    pub async fn set_enabled(
        &self,
        id: &WebhookEndpointId,
        enabled: bool,
    ) -> Result<WebhookEndpoint, BillingError> {
        self.modify_endpoint(id, |endpoint, now| {
            if enabled {
                endpoint.enable(now);
            } else {
                endpoint.disable("disabled by an operator", now);
            }
            Ok(())
        })
        .await
    }

    /// Changes an endpoint's URL, event types or description.
    pub async fn change_endpoint(
        &self,
        id: &WebhookEndpointId,
        changes: WebhookEndpointChanges,
    ) -> Result<WebhookEndpoint, BillingError> {
        self.modify_endpoint(id, |endpoint, now| {
            endpoint
                .change(changes.clone(), self.allow_private_urls, now)
                .map_err(BillingError::Validation)
        })
        .await
    }

    /// Gives an endpoint a new signing secret; the old one keeps signing for `keep_previous_hours`.
    pub async fn roll_secret(
        &self,
        id: &WebhookEndpointId,
        secret: String,
        keep_previous_hours: i64,
    ) -> Result<WebhookEndpoint, BillingError> {
        if !(0..=MAX_PREVIOUS_SECRET_HOURS).contains(&keep_previous_hours) {
            return Err(BillingError::field(
                "previous_secret_expires_in_hours",
                format!("must be between 0 and {MAX_PREVIOUS_SECRET_HOURS}"),
            ));
        }
        let keep_previous = Duration::hours(keep_previous_hours);
        self.modify_endpoint(id, |endpoint, now| {
            endpoint.roll_secret(secret.clone(), keep_previous, now);
            Ok(())
        })
        .await
    }

    pub async fn delete_endpoint(&self, id: &WebhookEndpointId) -> Result<(), BillingError> {
        self.endpoint(id).await?;
        Ok(self.repo.delete_endpoint(id).await?)
    }

    pub async fn list_deliveries(
        &self,
        id: &WebhookEndpointId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, BillingError> {
        self.endpoint(id).await?;
        match self.repo.list_deliveries(id, page).await {
            Err(StoreError::UnknownCursor) => Err(BillingError::field(
                "query.starting_after",
                "names no delivery of this endpoint",
            )),
            other => Ok(other?),
        }
    }

    pub async fn delivery(&self, id: &WebhookDeliveryId) -> Result<WebhookDelivery, BillingError> {
        self.repo
            .get_delivery(id)
            .await?
            .ok_or(BillingError::NotFound("webhook delivery"))
    }

    /// Creates `event`'s delivery to every enabled endpoint that wants it and makes the first
    /// attempts, all at once (a slow endpoint does not hold the others up). A redelivered event
    /// finds its deliveries and attempts nothing (their retries follow the schedule).
    pub async fn fan_out(&self, event: &DomainEvent) -> Result<FanOut, BillingError> {
        let mut report = FanOut::default();
        let mut created = Vec::new();
        for endpoint in self.repo.list_endpoints().await? {
            if !endpoint.wants(event.kind) {
                continue;
            }
            let delivery = WebhookDelivery::new(&endpoint, event, self.now());
            match self.repo.insert_delivery(&delivery).await {
                Ok(()) => created.push((delivery, endpoint)),
                Err(StoreError::AlreadyExists) => report.existing += 1,
                Err(e) => return Err(e.into()),
            }
        }
        // The deliveries and endpoints are in hand: no need to read them again.
        let attempts = futures::future::join_all(
            created
                .into_iter()
                .map(|(delivery, endpoint)| self.attempt_loaded(delivery, Some(endpoint), false)),
        )
        .await;
        for attempt in attempts {
            match attempt? {
                Some(d) if d.status == DeliveryStatus::Succeeded => report.delivered += 1,
                _ => report.failed += 1,
            }
        }
        Ok(report)
    }

    /// Makes one attempt of a due delivery (the schedule) or of any delivery (`replay`, an
    /// operator). Answers the delivery after it, or `None` when another worker holds it or it
    /// is not due.
    pub async fn attempt(
        &self,
        id: &WebhookDeliveryId,
        replay: bool,
    ) -> Result<Option<WebhookDelivery>, BillingError> {
        let delivery = self.delivery(id).await?;
        if !replay && !delivery.is_due(self.now()) {
            return Ok(None);
        }
        let endpoint = self.repo.get_endpoint(&delivery.endpoint_id).await?;
        self.attempt_loaded(delivery, endpoint, replay).await
    }

    /// [`Webhooks::attempt`] with the delivery and its endpoint (`None`: deleted) loaded.
    async fn attempt_loaded(
        &self,
        mut delivery: WebhookDelivery,
        endpoint: Option<WebhookEndpoint>,
        replay: bool,
    ) -> Result<Option<WebhookDelivery>, BillingError> {
        let now = self.now();
        let Some(mut endpoint) = endpoint.filter(|e| replay || e.status == EndpointStatus::Enabled)
        else {
            if replay {
                return Err(BillingError::NotFound("webhook endpoint"));
            }
            // Deleted or disabled: the schedule stops (a replay may deliver it later).
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            delivery.updated_at = now;
            return match self.repo.update_delivery(&mut delivery).await {
                Ok(()) | Err(StoreError::VersionConflict) => Ok(None),
                Err(e) => Err(e.into()),
            };
        };
        delivery.claim(now);
        match self.repo.update_delivery(&mut delivery).await {
            Ok(()) => {}
            Err(StoreError::VersionConflict) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let outcome = self
            .sender
            .post(
                &endpoint.url,
                &endpoint.signing_secrets(now),
                &delivery.payload,
            )
            .await;
        let done = self.now();
        let gave_up = delivery
            .record(outcome.clone(), replay, done)
            .then(|| delivery.first_attempt_at())
            .flatten();
        self.repo.update_delivery(&mut delivery).await?;
        if endpoint.observe(&outcome, gave_up, done) {
            // Best effort: a concurrent change of the endpoint wins; the next attempt observes
            // again.
            match self.repo.update_endpoint(&mut endpoint).await {
                Ok(()) | Err(StoreError::VersionConflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(delivery))
    }

    /// Attempts every delivery due at now (the scheduler's webhook step).
    pub async fn retry_due(&self, limit: usize) -> Result<usize, BillingError> {
        let mut attempted = 0;
        for id in self.repo.due_deliveries(self.now(), limit).await? {
            if self.attempt(&id, false).await?.is_some() {
                attempted += 1;
            }
        }
        Ok(attempted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventFacts, RecordedEvent};
    use crate::kernel::testing::{customer_id, t0};

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint::create(
            NewWebhookEndpoint {
                url: "https://hooks.example.com/billing".into(),
                events: vec!["invoice.paid".into()],
                description: None,
            },
            "whsec_test".into(),
            false,
            t0(),
        )
        .expect("valid")
    }

    fn event() -> DomainEvent {
        DomainEvent::stamp(
            RecordedEvent {
                kind: EventKind::InvoicePaid,
                occurred_at: t0(),
                facts: EventFacts::default(),
            },
            "in_1",
            &customer_id(),
            Some(&"sub_1".parse().expect("id")),
            3,
            0,
        )
    }

    fn failed() -> AttemptOutcome {
        AttemptOutcome {
            status_code: Some(500),
            error: None,
            duration_ms: 3,
        }
    }

    #[test]
    fn urls_must_be_http_and_public_when_deployed() {
        for bad in [
            "ftp://x.example",
            "https://",
            "https://user:pw@x.example/",
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://10.0.0.5/",
            "http://localhost/",
            "http://metadata.google.internal/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::808:808]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[::169.254.169.254]/",
            "http://[::7f00:1]/",
            "http://198.18.0.1/",
            "http://198.19.255.255/",
            "http://240.0.0.1/",
            "http://255.255.255.254/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        for bad_port in [
            "https://hooks.example.com:0/x",
            "https://hooks.example.com:65536/x",
            "https://hooks.example.com:/x",
            "https://hooks.example.com:8o/x",
            "https://[2001:db8::1]x/",
        ] {
            assert!(check_url(bad_port, true).is_err(), "{bad_port}");
        }
        assert!(check_url("https://hooks.example.com:8443/x", false).is_ok());
        assert!(check_url("https://[2001:4860::1]:443/x", false).is_ok());
        assert!(check_url("http://198.20.0.1/", false).is_ok());
        assert!(check_url("https://hooks.example.com/x?y=1", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("http://169.254.169.254/", true).is_ok());
    }

    #[test]
    fn events_are_all_or_known_types() {
        assert_eq!(
            EventSelection::parse(&["*".into()]),
            Ok(EventSelection::All)
        );
        assert!(EventSelection::parse(&[]).is_err());
        assert!(EventSelection::parse(&["*".into(), "invoice.paid".into()]).is_err());
        let err = EventSelection::parse(&["invoice.paid".into(), "invoice.eaten".into()])
            .expect_err("unknown");
        assert_eq!(err.field, "events[1]");
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_stop_after_three_days() {
        let mut delivery = WebhookDelivery::new(&endpoint(), &event(), t0());
        let mut now = t0();
        let mut delays = Vec::new();
        loop {
            let gave_up = delivery.record(failed(), false, now);
            if gave_up {
                break;
            }
            let next = delivery.next_attempt_at.expect("scheduled");
            delays.push((next - now).num_seconds());
            now = next;
        }
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert!(now - t0() <= Duration::hours(RETRY_WINDOW_HOURS));
        assert!(now - t0() >= Duration::hours(RETRY_WINDOW_HOURS - MAX_RETRY_DELAY_HOURS - 2));
        // One minute, then four times longer each time (within the jitter), capped at 12 hours.
        assert!((54..=66).contains(&delays[0]), "{delays:?}");
        assert!((216..=264).contains(&delays[1]), "{delays:?}");
        assert!(delays
            .windows(2)
            .all(|w| w[1] >= w[0] * 3 || w[1] >= 38_000));
        assert!(delays.iter().all(|d| *d <= 12 * 3600 + 4400));
        assert!(delivery.attempts.len() >= 10, "{}", delivery.attempts.len());
    }

    #[test]
    fn a_success_ends_the_retries_and_clears_the_endpoints_failure_streak() {
        let mut endpoint = endpoint();
        let mut delivery = WebhookDelivery::new(&endpoint, &event(), t0());
        assert!(!delivery.record(failed(), false, t0()));
        endpoint.observe(&failed(), None, t0());
        assert_eq!(endpoint.failing_since, Some(t0()));
        let ok = AttemptOutcome {
            status_code: Some(204),
            error: None,
            duration_ms: 1,
        };
        delivery.record(ok.clone(), false, t0() + Duration::minutes(1));
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(delivery.next_attempt_at, None);
        endpoint.observe(&ok, None, t0() + Duration::minutes(1));
        assert_eq!(endpoint.failing_since, None);
    }

    #[test]
    fn an_endpoint_failing_for_the_whole_window_is_disabled() {
        let mut endpoint = endpoint();
        endpoint.observe(&failed(), None, t0());
        // A delivery that started failing later than a success gives up: still enabled.
        let ok = AttemptOutcome {
            status_code: Some(200),
            error: None,
            duration_ms: 1,
        };
        endpoint.observe(&ok, None, t0() + Duration::hours(1));
        endpoint.observe(&failed(), None, t0() + Duration::hours(2));
        endpoint.observe(&failed(), Some(t0()), t0() + Duration::hours(70));
        assert_eq!(endpoint.status, EndpointStatus::Enabled);
        // One that failed since before the streak began: nothing succeeded for its window.
        endpoint.observe(
            &failed(),
            Some(t0() + Duration::hours(2)),
            t0() + Duration::hours(71),
        );
        assert_eq!(endpoint.status, EndpointStatus::Disabled);
        assert!(endpoint.disabled_reason.is_some());
    }

    #[test]
    fn the_same_event_makes_the_same_delivery_id_per_endpoint() {
        let a = WebhookDelivery::new(&endpoint(), &event(), t0());
        let b = WebhookDelivery::new(&endpoint(), &event(), t0());
        assert_ne!(a.id, b.id, "two endpoints");
        let e = endpoint();
        assert_eq!(
            WebhookDelivery::new(&e, &event(), t0()).id,
            WebhookDelivery::new(&e, &event(), t0() + Duration::hours(1)).id
        );
        let body: serde_json::Value = serde_json::from_str(&a.payload).expect("json");
        assert_eq!(body["type"], "invoice.paid");
        assert_eq!(body["sequence"], 3);
        assert_eq!(body["data"]["object"]["customer_id"], "cus_acme");
    }

    #[test]
    fn a_rolled_secret_signs_beside_the_new_one_until_it_expires() {
        let mut e = endpoint();
        assert_eq!(e.signing_secrets(t0()), vec!["whsec_test"]);
        e.roll_secret("whsec_new".into(), Duration::hours(2), t0());
        let during = t0() + Duration::hours(2) - Duration::seconds(1);
        assert_eq!(e.signing_secrets(during), vec!["whsec_new", "whsec_test"]);
        assert_eq!(
            e.signing_secrets(t0() + Duration::hours(2)),
            vec!["whsec_new"]
        );
        // Rolled again: the oldest secret is gone at once.
        e.roll_secret("whsec_newer".into(), Duration::hours(1), t0());
        assert_eq!(e.signing_secrets(t0()), vec!["whsec_newer", "whsec_new"]);
        e.roll_secret("whsec_newest".into(), Duration::zero(), t0());
        assert_eq!(e.signing_secrets(t0()), vec!["whsec_newest"]);
    }

    #[test]
    fn changes_apply_all_or_none_and_name_each_field_at_fault() {
        let mut e = endpoint();
        let errors = e
            .change(
                WebhookEndpointChanges {
                    url: Some("ftp://hooks.example.com".into()),
                    events: Some(vec!["invoice.nonsense".into()]),
                    description: Some(Some("x".repeat(201))),
                },
                false,
                t0(),
            )
            .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["url", "events[0]", "description"]);
        assert_eq!(e, endpoint_with_id(&e), "nothing changed");
        e.change(
            WebhookEndpointChanges {
                url: None,
                events: Some(vec!["*".into()]),
                description: Some(Some("ERP".into())),
            },
            false,
            t0() + Duration::hours(1),
        )
        .expect("valid");
        assert_eq!(e.url, "https://hooks.example.com/billing");
        assert!(e.wants(EventKind::SubscriptionCreated));
        assert_eq!(e.description.as_deref(), Some("ERP"));
        e.change(
            WebhookEndpointChanges {
                description: Some(None),
                ..Default::default()
            },
            false,
            t0(),
        )
        .expect("valid");
        assert_eq!(e.description, None);
    }

    /// `endpoint()` as first created, with `e`'s generated id.
    fn endpoint_with_id(e: &WebhookEndpoint) -> WebhookEndpoint {
        WebhookEndpoint {
            id: e.id.clone(),
            ..endpoint()
        }
    }
}
