//! The test clock: local stack and tests only (`TEST_CLOCK=1`); 404 everywhere else.

use billing_wiring::AdvanceError;
use chrono::Duration;

use crate::auth::{Permission, Principal};
use crate::dto::{AdvanceTestClockRequest, TestClockResponse};
use crate::openapi::ErrorResponses;
use crate::problem::ApiError;
use crate::request::json_body;
use crate::routes::{ApiRequest, ApiResponse};
use crate::state::AppState;

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.services.time.is_test_clock() {
        Ok(())
    } else {
        Err(ApiError::NoRoute)
    }
}

/// The test clock's time (local stack only).
#[utoipa::path(get, path = "/api/v1/test-clock", tag = "test-clock",
    responses((status = 200, description = "The clock every function reads", body = TestClockResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn get(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    enabled(state)?;
    principal.authorize(Permission::Read)?;
    ctx.query(&[])?;
    let now = state.services.time.now().await?;
    ApiResponse::json(200, &TestClockResponse { now })
}

/// Move the test clock forward (operators, local stack only), running every scheduled job that
/// falls due on the way, in time order, through the scheduler, the queue and the worker.
#[utoipa::path(post, path = "/api/v1/test-clock/advance", tag = "test-clock",
    request_body = AdvanceTestClockRequest,
    responses((status = 200, description = "The clock's new time, every job due by then done", body = TestClockResponse), ErrorResponses),
    security(("bearer" = [])))]
pub async fn advance(
    state: &AppState,
    ctx: &ApiRequest,
    principal: &Principal,
) -> Result<ApiResponse, ApiError> {
    enabled(state)?;
    principal.authorize(Permission::OperatorWrite)?;
    let request: AdvanceTestClockRequest = json_body(&ctx.body, &ctx.headers)?;
    let now = state.services.time.now().await?;
    let target = match (request.to, request.by_seconds) {
        (Some(to), None) => to,
        (None, Some(seconds)) if seconds >= 0 => Duration::try_seconds(seconds)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| ApiError::field("by_seconds", "too far"))?,
        (None, Some(_)) => return Err(ApiError::field("by_seconds", "must not be negative")),
        _ => {
            return Err(ApiError::field(
                "to",
                "give exactly one of `to` (RFC 3339) or `by_seconds`",
            ))
        }
    };
    if target < now {
        return Err(ApiError::field("to", "the clock never goes back"));
    }
    if target > now {
        let field = if request.to.is_some() {
            "to"
        } else {
            "by_seconds"
        };
        billing_domain::kernel::validation::future_time(field, target, now)?;
    }
    let jobs = state.test_clock.as_ref().ok_or_else(|| {
        ApiError::Unavailable("no jobs run in this process to advance the test clock".into())
    })?;
    let now = jobs.advance(target).await.map_err(|e| match e {
        AdvanceError::Store(e) => e.into(),
        AdvanceError::Jobs(why) => ApiError::Unavailable(why),
    })?;
    ApiResponse::json(200, &TestClockResponse { now })
}
