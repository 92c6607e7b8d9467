//! The JSON of the test clock (local stack only).

use super::*;

/// The test clock's time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestClockResponse {
    pub now: DateTime<Utc>,
}

/// `POST /test-clock/advance`: one of `to` or `by_seconds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClockRequest {
    /// RFC 3339, at most ten years ahead.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub to: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    pub by_seconds: Option<i64>,
}
