//! The webhook sender: posts deliveries over HTTP(S), signed as Stripe signs its webhooks. (The
//! dispatcher that consumes the webhooks queue is in `billing-jobs`.) It is plain HTTP, no AWS:
//! every function that builds the webhooks service has it.
//!
//! Deployed, a URL's host is resolved here and posted to only if every address it is posted to
//! is public: the resolver hands the connector only allowed addresses, so a name that changes
//! between a check and the connection (DNS rebinding) cannot reach the metadata service.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use billing_domain::webhooks::{is_blocked_ip, AttemptOutcome, WebhookSender};
use chrono::Utc;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

/// How long one attempt waits for an answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Billing-Signature";

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the secret>`, with one `v1=`
/// per secret (two while a rolled secret still signs), as Stripe signs.
pub fn signature(secrets: &[&str], payload: &str, timestamp: i64) -> String {
    let signed = format!("{timestamp}.{payload}");
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(signed.as_bytes());
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// Resolves names and keeps only the addresses a delivery may go to.
#[derive(Clone, Debug)]
struct CheckedResolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_blocked_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} resolves to no public address", name.as_str()),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>;

/// Posts deliveries (one client, its connections reused). The client, with its TLS roots, is
/// built at the first delivery, so functions that never deliver pay nothing at cold start.
#[derive(Clone)]
pub struct HttpWebhookSender {
    client: Arc<OnceLock<Result<HttpsClient, String>>>,
    allow_private: bool,
}

impl std::fmt::Debug for HttpWebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWebhookSender")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl HttpWebhookSender {
    /// `allow_private`: post to loopback and private addresses too (local stack and tests).
    pub fn new(allow_private: bool) -> Self {
        HttpWebhookSender {
            client: Arc::new(OnceLock::new()),
            allow_private,
        }
    }

    fn client(&self) -> Result<&HttpsClient, String> {
        self.client
            .get_or_init(|| {
                let mut http = HttpConnector::new_with_resolver(CheckedResolver {
                    allow_private: self.allow_private,
                });
                http.enforce_http(false);
                http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_native_roots()
                    .map_err(|e| format!("no TLS root certificates: {e}"))?
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http);
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn send(&self, url: &str, secrets: &[&str], payload: &str) -> Result<u16, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        // The connector does not resolve literal addresses: check them here.
        if let Some(ip) = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        {
            if !self.allow_private && is_blocked_ip(ip) {
                return Err(format!("{ip} is not a public address"));
            }
        }
        let request = hyper::Request::post(uri)
            .header("content-type", "application/json")
            .header("user-agent", "billing-webhooks/1")
            .header(
                SIGNATURE_HEADER,
                // The wall clock: the request's own time, which receivers check against theirs.
                signature(secrets, payload, Utc::now().timestamp()),
            )
            .body(Full::new(Bytes::from(payload.to_owned())))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(ATTEMPT_TIMEOUT, self.client()?.request(request))
            .await
            .map_err(|_| format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))?
            .map_err(|e| format!("{e:?}"))?;
        Ok(response.status().as_u16())
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &str, secrets: &[&str], payload: &str) -> AttemptOutcome {
        let started = Instant::now();
        let result = self.send(url, secrets, payload).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(status) => AttemptOutcome {
                status_code: Some(status),
                error: None,
                duration_ms,
            },
            Err(error) => AttemptOutcome {
                status_code: None,
                error: Some(error.chars().take(500).collect()),
                duration_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_scheme() {
        // HMAC-SHA256 keyed "whsec_test" of "1700000000.{}", computed with Python's hmac.
        let header = signature(&["whsec_test"], "{}", 1_700_000_000);
        assert_eq!(
            header,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        assert_ne!(header, signature(&["whsec_other"], "{}", 1_700_000_000));
        assert_ne!(header, signature(&["whsec_test"], "{} ", 1_700_000_000));
        // While a rolled secret still signs: one `v1=` each, the current secret's first.
        let both = signature(&["whsec_other", "whsec_test"], "{}", 1_700_000_000);
        let other = signature(&["whsec_other"], "{}", 1_700_000_000);
        assert_eq!(
            both,
            format!("{other},v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91")
        );
    }

    #[tokio::test]
    async fn a_deployed_sender_never_connects_to_loopback_by_address_or_by_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let deployed = HttpWebhookSender::new(false);
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            let outcome = deployed.post(&url, &["whsec_test"], "{}").await;
            assert_eq!(outcome.status_code, None, "{url}");
            assert!(outcome.error.is_some(), "{url}");
        }
        let nothing = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(nothing.is_err(), "no connection reached the listener");
        // The local stack's sender does reach it.
        let local = HttpWebhookSender::new(true);
        let attempt = tokio::spawn(async move {
            local
                .post(
                    &format!("http://127.0.0.1:{port}/hook"),
                    &["whsec_test"],
                    "{}",
                )
                .await
        });
        let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(accepted.is_ok(), "the local sender connects");
        attempt.abort();
    }
}
