//! RS256 tokens verified against a JWKS fetched from a URL, as deployed (Cognito-style).

use std::convert::Infallible;

use billing_api::auth::{fetch_jwks, Authenticator, Permission};
use billing_domain::kernel::access::Actor;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use tokio::net::TcpListener;

const PRIVATE_KEY: &str = include_str!("../../fixtures/jwt-test-rsa.pem");
const JWKS: &str = include_str!("../../fixtures/jwt-test-jwks.json");

/// Serves the JWKS fixture at `/.well-known/jwks.json`.
async fn jwks_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(JWKS))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

fn rs256(claims: serde_json::Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).expect("pem"),
    )
    .expect("token")
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_jwks_fetched_from_its_url() {
    let url = jwks_server().await;
    let jwks = fetch_jwks(&url).await.expect("fetched");
    let auth = Authenticator::new(
        None,
        Some(&jwks),
        Some("https://idp.example".into()),
        Some("billing".into()),
    )
    .expect("config");
    let exp = chrono::Utc::now().timestamp() + 600;

    let token = rs256(
        json!({"sub": "u1", "roles": ["customer"], "customer_id": "cus_rs", "exp": exp, "iss": "https://idp.example", "aud": "billing"}),
        "test-key-1",
    );
    let principal = auth
        .authenticate(Some(&format!("Bearer {token}")))
        .expect("valid");
    assert_eq!(
        principal.authorize(Permission::Read).ok(),
        Some(Actor::Customer("cus_rs".parse().expect("id")))
    );

    let unknown_kid = rs256(
        json!({"sub": "u1", "roles": ["admin"], "exp": exp, "iss": "https://idp.example", "aud": "billing"}),
        "other",
    );
    assert!(auth
        .authenticate(Some(&format!("Bearer {unknown_kid}")))
        .is_err());
    let wrong_audience = rs256(
        json!({"sub": "u1", "roles": ["admin"], "exp": exp, "iss": "https://idp.example", "aud": "other"}),
        "test-key-1",
    );
    assert!(auth
        .authenticate(Some(&format!("Bearer {wrong_audience}")))
        .is_err());
    // HS256 is refused when no secret is configured (no algorithm confusion with the public key).
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "roles": ["admin"], "exp": exp}),
        &EncodingKey::from_secret(JWKS.as_bytes()),
    )
    .expect("token");
    assert!(auth.authenticate(Some(&format!("Bearer {hs}"))).is_err());
}

#[tokio::test]
async fn an_unreachable_jwks_url_is_a_startup_error() {
    let err = fetch_jwks("http://127.0.0.1:9/.well-known/jwks.json")
        .await
        .expect_err("nothing listens");
    assert!(err.contains("127.0.0.1:9"), "{err}");
}
