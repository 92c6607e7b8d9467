//! Errors as `application/problem+json` (RFC 9457). The one place errors become HTTP.

use billing_domain::collection::payments::PaymentError;
use billing_domain::kernel::error::{Refusal, RefusalKind};
use billing_domain::kernel::ports::StoreError;
use billing_domain::kernel::validation::FieldError;
use billing_domain::BillingError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field at fault.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldProblem {
    /// Path of the field in the request, e.g. `billing_address.country` or `query.limit`.
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable machine-readable code.
    pub code: String,
    /// The fields at fault (validation errors only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldProblem>,
    /// The figures a refusal gives to act on (`available`, `current_on_hand`, `limit`,
    /// `alternatives`...), as members of the document.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// Every error a handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("forbidden")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route")]
    NoRoute,
    /// The path exists, with other methods (those given).
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("payment declined")]
    PaymentDeclined {
        field: String,
        code: String,
        message: String,
    },
    #[error("payment processor error: {0}")]
    PaymentProcessor(String),
    /// The processor refused the request for a reason it names: the caller's to fix.
    #[error("payment processor refused the request ({code})")]
    ProcessorRefused { code: String, message: String },
    /// Refused with its own stable code and figures ([`billing_domain::kernel::error::Refusal`]).
    #[error("{}", .0.message)]
    Refused(Refusal),
    #[error("service unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden => 403,
            ApiError::NotFound(_) | ApiError::NoRoute => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Validation(_) | ApiError::IdempotencyMismatch => 422,
            ApiError::PaymentDeclined { .. } => 402,
            ApiError::PaymentProcessor(_) => 502,
            ApiError::ProcessorRefused { .. } => 422,
            ApiError::Refused(r) => match r.kind {
                RefusalKind::Conflict => 409,
                RefusalKind::Unprocessable => 422,
            },
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (code, title, detail) = match self {
            ApiError::BadRequest(d) => ("bad_request", "Malformed request", d.clone()),
            ApiError::Unauthorized(d) => ("unauthorized", "Authentication required", d.clone()),
            ApiError::Forbidden => (
                "forbidden",
                "Forbidden",
                "your role may not perform this action".to_owned(),
            ),
            ApiError::NotFound(what) => ("not_found", "Not found", format!("no such {what}")),
            ApiError::NoRoute => ("no_route", "Not found", "no such endpoint".to_owned()),
            ApiError::MethodNotAllowed(allowed) => (
                "method_not_allowed",
                "Method not allowed",
                format!("this endpoint takes {}", allowed.join(", ")),
            ),
            ApiError::Conflict(d) => ("conflict", "Conflict", d.clone()),
            ApiError::PayloadTooLarge => (
                "payload_too_large",
                "Payload too large",
                format!(
                    "request bodies are limited to {} bytes",
                    crate::request::MAX_BODY_BYTES
                ),
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported_media_type",
                "Unsupported media type",
                "send JSON with Content-Type: application/json".to_owned(),
            ),
            ApiError::Validation(errors) => (
                "validation_failed",
                "Validation failed",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::IdempotencyMismatch => (
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used with a different request; use a new key".to_owned(),
            ),
            ApiError::PaymentDeclined { code, message, .. } => (
                "payment_declined",
                "Payment declined",
                format!("the card was declined ({code}): {message}"),
            ),
            ApiError::PaymentProcessor(_) => (
                "payment_processor_error",
                "Payment processor error",
                "the payment processor refused the request".to_owned(),
            ),
            ApiError::ProcessorRefused { code, message } => (
                "processor_refused",
                "Refused by the payment processor",
                format!("the payment processor refused the request ({code}): {message}"),
            ),
            ApiError::Refused(r) => (
                r.code,
                match r.kind {
                    RefusalKind::Conflict => "Conflict",
                    RefusalKind::Unprocessable => "Cannot be done as asked",
                },
                r.message.clone(),
            ),
            ApiError::Unavailable(_) => (
                "unavailable",
                "Service unavailable",
                "a backing service is unavailable; retry later".to_owned(),
            ),
            ApiError::Internal(_) => ("internal", "Internal error", "internal error".to_owned()),
        };
        Problem {
            kind: format!("https://billing.dev/problems/{code}"),
            title: title.to_owned(),
            status: self.status(),
            detail,
            code: code.to_owned(),
            errors: match self {
                ApiError::Validation(errors) => errors
                    .iter()
                    .map(|e| FieldProblem {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
                ApiError::PaymentDeclined {
                    field,
                    code,
                    message,
                } => vec![FieldProblem {
                    field: field.clone(),
                    message: format!("{code}: {message}"),
                }],
                ApiError::Refused(Refusal {
                    field: Some(field),
                    message,
                    ..
                }) => vec![FieldProblem {
                    field: field.clone(),
                    message: message.clone(),
                }],
                _ => Vec::new(),
            },
            extensions: match self {
                // The members a problem document has already are not overwritten.
                ApiError::Refused(r) => r
                    .details
                    .iter()
                    .filter(|(k, _)| {
                        !["type", "title", "status", "detail", "code", "errors"]
                            .contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                _ => serde_json::Map::new(),
            },
        }
    }
}

impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::NotFound(what) => ApiError::NotFound(what),
            BillingError::Validation(errors) => ApiError::Validation(errors),
            BillingError::Conflict(msg) => ApiError::Conflict(msg),
            BillingError::Money(e) => ApiError::Conflict(e.to_string()),
            BillingError::Refused(r) => ApiError::Refused(r),
            BillingError::StaleVersion(what) => ApiError::Conflict(format!(
                "the {what} was changed by another request; read it again and retry"
            )),
            BillingError::Store(e) => e.into(),
            BillingError::PaymentDeclined {
                field,
                code,
                message,
            } => ApiError::PaymentDeclined {
                field,
                code,
                message,
            },
            BillingError::Payment(PaymentError::Transient(cause))
            | BillingError::Interrupted(cause) => ApiError::Unavailable(cause),
            BillingError::Payment(PaymentError::Rejected(cause)) => {
                ApiError::PaymentProcessor(cause)
            }
            BillingError::Payment(PaymentError::Refused { code, message }) => {
                ApiError::ProcessorRefused { code, message }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict => ApiError::Conflict(
                "the item was changed by another request; read it again and retry".into(),
            ),
            StoreError::AlreadyExists => ApiError::Conflict("the item exists already".into()),
            StoreError::SubscriptionSlotTaken => {
                ApiError::Conflict("the customer already has a live subscription".into())
            }
            StoreError::UnknownCursor => {
                ApiError::field("starting_after", "names no item of this list")
            }
            StoreError::RedemptionRefused(_) => {
                ApiError::field("coupon", "the redemption limit is reached")
            }
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Corrupt(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Validation(vec![e])
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(e: Vec<FieldError>) -> Self {
        ApiError::Validation(e)
    }
}
