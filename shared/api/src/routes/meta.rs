//! Public endpoints: health and the OpenAPI document.

use utoipa::OpenApi;

use crate::dto::HealthResponse;
use crate::openapi::ApiDoc;
use crate::problem::{ApiError, Problem};
use crate::routes::{ApiRequest, ApiResponse, Endpoint};
use crate::state::AppState;

pub async fn dispatch(
    state: &AppState,
    endpoint: Endpoint,
    ctx: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    ctx.query(&[])?;
    match endpoint {
        Endpoint::OpenApi => openapi(),
        _ => health(state).await,
    }
}

/// Liveness and the table's reachability.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "Up", body = HealthResponse),
        (status = 405, description = "Another method than GET", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The table does not answer", body = Problem, content_type = "application/problem+json")))]
pub async fn health(state: &AppState) -> Result<ApiResponse, ApiError> {
    state.store.ping().await?;
    ApiResponse::json(
        200,
        &HealthResponse {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 405, description = "Another method than GET", body = Problem, content_type = "application/problem+json")))]
pub fn openapi() -> Result<ApiResponse, ApiError> {
    ApiResponse::json(200, &ApiDoc::openapi())
}
