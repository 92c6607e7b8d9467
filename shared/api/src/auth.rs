//! Authentication (`Authorization: Bearer <JWT>`) and the roles' permissions.
//!
//! Locally and in tests tokens are HS256 with `JWT_SECRET`; deployed they are RS256, verified
//! against a JWKS (Cognito-style) fetched once at cold start from `JWT_JWKS_URL` (or given inline
//! in `JWT_JWKS`). `iss` and `aud` are checked when `JWT_ISSUER` / `JWT_AUDIENCE` are set.

use std::collections::BTreeSet;
use std::str::FromStr;

use billing_domain::kernel::access::Actor;
use billing_domain::kernel::ids::CustomerId;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Support,
    Analyst,
    Customer,
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Role::Admin),
            "support" => Ok(Role::Support),
            "analyst" => Ok(Role::Analyst),
            "customer" => Ok(Role::Customer),
            _ => Err(()),
        }
    }
}

/// What an endpoint requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Operators (admin, support, analyst), or a customer for its own data.
    Read,
    /// Admin and support, or a customer for its own data.
    Write,
    /// Admin, support and analyst only.
    OperatorRead,
    /// Admin and support only.
    OperatorWrite,
    /// Admin only (the catalogue).
    Admin,
}

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: BTreeSet<Role>,
    pub customer_id: Option<CustomerId>,
}

impl Principal {
    /// Where this principal's `Idempotency-Key`s live: the whole principal (subject, roles and
    /// customer), hashed, so a key is never replayed to a token that differs in what it may
    /// do, and no subject can name another namespace of the store (`stripe-events`).
    pub fn idempotency_scope(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.subject.as_bytes());
        for role in &self.roles {
            h.update(b"\n");
            h.update(format!("{role:?}").as_bytes());
        }
        h.update(b"\n\n");
        if let Some(customer) = &self.customer_id {
            h.update(customer.as_str().as_bytes());
        }
        format!("api:{}", hex::encode(&h.finalize()[..16]))
    }

    fn has(&self, any: &[Role]) -> bool {
        any.iter().any(|r| self.roles.contains(r))
    }

    fn as_customer(&self) -> Result<Actor, ApiError> {
        match (&self.customer_id, self.roles.contains(&Role::Customer)) {
            (Some(id), true) => Ok(Actor::Customer(id.clone())),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// The actor this principal acts as for an endpoint requiring `permission`.
    pub fn authorize(&self, permission: Permission) -> Result<Actor, ApiError> {
        use Role::*;
        let allowed = |roles: &[Role]| {
            if self.has(roles) {
                Ok(Actor::Operator)
            } else {
                Err(ApiError::Forbidden)
            }
        };
        match permission {
            Permission::Admin => allowed(&[Admin]),
            Permission::OperatorWrite => allowed(&[Admin, Support]),
            Permission::OperatorRead => allowed(&[Admin, Support, Analyst]),
            Permission::Write => allowed(&[Admin, Support]).or_else(|_| self.as_customer()),
            Permission::Read => allowed(&[Admin, Support, Analyst]).or_else(|_| self.as_customer()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    /// Absent reads as empty, which is refused with the reason.
    #[serde(default)]
    sub: String,
    exp: i64,
    #[serde(default)]
    roles: Vec<String>,
    customer_id: Option<String>,
}

/// Verifies tokens. Built once at cold start.
#[derive(Clone)]
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<JwkSet>,
    issuer: Option<String>,
    audience: Option<String>,
    max_lifetime_seconds: i64,
}

/// The longest a token may still be valid for when it is shown (`exp` less now): a day, the
/// local `mint-token`'s lifetime. A token minted for longer is refused, whoever signed it.
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Seconds of clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("set JWT_SECRET (HS256) or JWT_JWKS / JWT_JWKS_URL (RS256)")]
    NoKey,
    #[error("JWT_JWKS is not a JWKS document: {0}")]
    BadJwks(String),
}

impl Authenticator {
    pub fn new(
        hs256_secret: Option<&str>,
        jwks: Option<&str>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, AuthConfigError> {
        let hs256 = hs256_secret
            .filter(|s| !s.is_empty())
            .map(|s| DecodingKey::from_secret(s.as_bytes()));
        let jwks = jwks
            .filter(|s| !s.is_empty())
            .map(|s| {
                serde_json::from_str::<JwkSet>(s)
                    .map_err(|e| AuthConfigError::BadJwks(e.to_string()))
            })
            .transpose()?;
        if hs256.is_none() && jwks.is_none() {
            return Err(AuthConfigError::NoKey);
        }
        Ok(Self {
            hs256,
            jwks,
            issuer,
            audience,
            max_lifetime_seconds: MAX_TOKEN_LIFETIME_SECONDS,
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_required_spec_claims(&["exp", "sub"]);
        v.leeway = LEEWAY_SECONDS;
        v.validate_nbf = true;
        match &self.issuer {
            Some(iss) => v.set_issuer(&[iss]),
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        v
    }

    /// Verifies an `Authorization` header value and returns the principal.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let header = authorization
            .ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <token>".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
            })?;
        let invalid = |e: jsonwebtoken::errors::Error| ApiError::Unauthorized(why_invalid(&e));
        let head = decode_header(token).map_err(invalid)?;
        let claims = match (head.alg, &self.hs256, &self.jwks) {
            (Algorithm::HS256, Some(key), _) => {
                decode::<Claims>(token, key, &self.validation(Algorithm::HS256)).map_err(invalid)?
            }
            (Algorithm::RS256, _, Some(jwks)) => {
                let jwk = head
                    .kid
                    .as_deref()
                    .and_then(|kid| jwks.find(kid))
                    .ok_or_else(|| {
                        ApiError::Unauthorized("the token's key id is unknown".into())
                    })?;
                let key = DecodingKey::from_jwk(jwk).map_err(invalid)?;
                decode::<Claims>(token, &key, &self.validation(Algorithm::RS256))
                    .map_err(invalid)?
            }
            _ => {
                return Err(ApiError::Unauthorized(
                    "the token's algorithm is not accepted".into(),
                ))
            }
        }
        .claims;
        if claims.sub.trim().is_empty() {
            return Err(ApiError::Unauthorized("the token's sub is empty".into()));
        }
        let now = crate::state::SystemClock::now_utc().timestamp();
        if claims.exp.saturating_sub(now) > self.max_lifetime_seconds + LEEWAY_SECONDS as i64 {
            return Err(ApiError::Unauthorized(format!(
                "the token is valid for more than {} seconds; mint a shorter-lived one",
                self.max_lifetime_seconds
            )));
        }
        let customer_id = claims
            .customer_id
            .map(|id| {
                id.parse::<CustomerId>().map_err(|_| {
                    ApiError::Unauthorized("the token's customer_id is not a customer id".into())
                })
            })
            .transpose()?;
        let roles: BTreeSet<Role> = claims.roles.iter().filter_map(|r| r.parse().ok()).collect();
        if roles.contains(&Role::Customer) && customer_id.is_none() {
            return Err(ApiError::Unauthorized(
                "a customer token must carry customer_id".into(),
            ));
        }
        Ok(Principal {
            subject: claims.sub,
            roles,
            customer_id,
        })
    }
}

/// What is wrong with a token, in our words (never the library's internals).
fn why_invalid(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidIssuer => "the token's iss is not accepted".into(),
        ErrorKind::InvalidAudience => "the token's aud is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim}"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token's algorithm is not accepted".into()
        }
        _ => "the token is malformed".into(),
    }
}

/// Fetches a JWKS document (e.g. a Cognito user pool's `/.well-known/jwks.json`) at cold start.
pub async fn fetch_jwks(url: &str) -> Result<String, String> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("JWT_JWKS_URL {url:?} is not a URL: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(uri))
        .await
        .map_err(|_| format!("fetching {url} timed out"))?
        .map_err(|e| format!("fetching {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("fetching {url}: HTTP {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading {url}: {e}"))?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| format!("{url} did not answer text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "test-secret";

    fn token(claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encodes")
    }

    fn auth() -> Authenticator {
        Authenticator::new(Some(SECRET), None, None, None).expect("config")
    }

    fn now() -> i64 {
        crate::state::SystemClock::now_utc().timestamp()
    }

    /// An hour from now: within the lifetime tokens may have.
    fn far() -> i64 {
        now() + 3600
    }

    fn refusal(a: &Authenticator, claims: serde_json::Value) -> String {
        match a.authenticate(Some(&format!("Bearer {}", token(claims)))) {
            Err(ApiError::Unauthorized(why)) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn tokens_not_yet_valid_too_long_lived_or_without_a_subject_are_refused() {
        let a = auth();
        let why = refusal(
            &a,
            json!({"sub": "x", "roles": ["admin"], "exp": far(), "nbf": now() + 600}),
        );
        assert_eq!(why, "the token is not valid yet (nbf)");
        let why = refusal(
            &a,
            json!({"sub": "x", "roles": ["admin"], "exp": now() + 2 * 86_400}),
        );
        assert!(why.contains("more than 86400 seconds"), "{why}");
        let why = refusal(&a, json!({"sub": " ", "roles": ["admin"], "exp": far()}));
        assert_eq!(why, "the token's sub is empty");
        let why = refusal(&a, json!({"roles": ["admin"], "exp": far()}));
        assert!(
            why == "the token has no sub" || why == "the token's sub is empty",
            "{why}"
        );
        let why = refusal(&a, json!({"sub": "x", "roles": ["admin"], "exp": 1_000}));
        assert_eq!(why, "the token has expired");
        assert!(a
            .authenticate(Some(&format!(
                "Bearer {}",
                token(
                    json!({"sub": "x", "roles": ["admin"], "exp": now() + 86_400, "nbf": now() - 5})
                )
            )))
            .is_ok());
        // The library's own words never reach the caller.
        match a.authenticate(Some("Bearer not.a.token")) {
            Err(ApiError::Unauthorized(why)) => assert_eq!(why, "the token is malformed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_admin_token_authorizes_everything() {
        let p = auth()
            .authenticate(Some(&format!(
                "Bearer {}",
                token(json!({"sub": "ops", "roles": ["admin"], "exp": far()}))
            )))
            .expect("valid");
        assert_eq!(p.authorize(Permission::Admin).ok(), Some(Actor::Operator));
        assert_eq!(p.authorize(Permission::Write).ok(), Some(Actor::Operator));
    }

    #[test]
    fn a_customer_acts_only_as_itself_and_never_as_operator() {
        let p = auth()
            .authenticate(Some(&format!(
                "Bearer {}",
                token(json!({"sub": "u1", "roles": ["customer"], "customer_id": "cus_a", "exp": far()}))
            )))
            .expect("valid");
        let own = Actor::Customer("cus_a".parse().expect("id"));
        assert_eq!(p.authorize(Permission::Read).ok(), Some(own.clone()));
        assert_eq!(p.authorize(Permission::Write).ok(), Some(own));
        assert!(p.authorize(Permission::OperatorRead).is_err());
        assert!(p.authorize(Permission::Admin).is_err());
    }

    #[test]
    fn an_analyst_reads_but_does_not_write() {
        let p = auth()
            .authenticate(Some(&format!(
                "Bearer {}",
                token(json!({"sub": "a", "roles": ["analyst"], "exp": far()}))
            )))
            .expect("valid");
        assert_eq!(p.authorize(Permission::Read).ok(), Some(Actor::Operator));
        assert!(p.authorize(Permission::Write).is_err());
        assert!(p.authorize(Permission::OperatorWrite).is_err());
    }

    #[test]
    fn expired_forged_and_missing_tokens_are_refused() {
        let a = auth();
        assert!(a.authenticate(None).is_err());
        assert!(a.authenticate(Some("Basic abc")).is_err());
        assert!(a
            .authenticate(Some(&format!(
                "Bearer {}",
                token(json!({"sub": "x", "roles": ["admin"], "exp": 1_000}))
            )))
            .is_err());
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "x", "roles": ["admin"], "exp": far()}),
            &EncodingKey::from_secret(b"other"),
        )
        .expect("encodes");
        assert!(a.authenticate(Some(&format!("Bearer {forged}"))).is_err());
        assert!(a
            .authenticate(Some(&format!(
                "Bearer {}",
                token(json!({"sub": "x", "roles": ["customer"], "exp": far()}))
            )))
            .is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let a = Authenticator::new(
            Some(SECRET),
            None,
            Some("https://issuer".into()),
            Some("billing".into()),
        )
        .expect("config");
        let good = token(
            json!({"sub": "x", "roles": ["admin"], "exp": far(), "iss": "https://issuer", "aud": "billing"}),
        );
        let bad = token(
            json!({"sub": "x", "roles": ["admin"], "exp": far(), "iss": "https://evil", "aud": "billing"}),
        );
        assert!(a.authenticate(Some(&format!("Bearer {good}"))).is_ok());
        assert!(a.authenticate(Some(&format!("Bearer {bad}"))).is_err());
    }
}
