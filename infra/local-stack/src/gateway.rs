//! The local gateway: HTTP in, an API Gateway HTTP API (payload 2.0) event to the same handler
//! the deployed function runs, HTTP out. Routes come from `billing_api::ROUTES`, which
//! `template.yaml` mirrors.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine;
use billing_api::{handle, match_route, unmatched_response, AppState};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// Serves until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(forward(&state, req, peer.ip().to_string()).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({"message": message}).to_string(),
    )));
    *response.status_mut() = status;
    response
}

/// An HTTP request as the gateway received it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    /// Lower-cased names; repeated headers joined with commas.
    pub headers: &'a BTreeMap<String, String>,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// Builds the payload 2.0 event API Gateway would send for this request and matched route.
pub fn api_gateway_event(
    req: &Incoming<'_>,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
) -> Value {
    let Incoming {
        method,
        path,
        raw_query,
        headers,
        body,
        source_ip,
    } = *req;
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { json!(path_parameters) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": if body.is_empty() { Value::Null } else { Value::String(body) },
        "isBase64Encoded": is_base64,
    })
}

async fn forward(
    state: &AppState,
    req: Request<hyper::body::Incoming>,
    source_ip: String,
) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().unwrap_or_default().to_owned();
    let Some((route, params)) = match_route(&method, &path) else {
        // As the deployed `$default` route: problem+json 404, or 405 with `Allow`.
        let (parts, body) = unmatched_response(&method, &path).into_parts();
        let bytes = match body {
            Body::Text(t) => Bytes::from(t),
            _ => Bytes::new(),
        };
        return Response::from_parts(parts, Full::new(bytes));
    };
    // API Gateway lower-cases header names and joins repeated headers with commas.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let params: BTreeMap<String, String> = params.into_iter().collect();
    let incoming = Incoming {
        method: &method,
        path: &path,
        raw_query: &raw_query,
        headers: &headers,
        body: &body,
        source_ip: &source_ip,
    };
    let event = api_gateway_event(&incoming, &route.key(), &params);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(error = %e, "request could not be turned into an event");
            return plain(StatusCode::BAD_REQUEST, "Bad Request");
        }
    };
    let response = handle(state, route.function, request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}
