//! The one error type of the domain's operations.

use crate::collection::payments::PaymentError;
use crate::kernel::money::MoneyError;
use crate::kernel::ports::StoreError;
use crate::kernel::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The thing does not exist, or the caller may not see it (never say which).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is well-formed but invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The action is not allowed in the current state.
    #[error("{0}")]
    Conflict(String),
    /// Someone else changed the thing since it was read.
    #[error("{0} was changed by another request; read it again and retry")]
    StaleVersion(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The payment processor declined the card named by `field`.
    #[error("payment declined ({code}): {message}")]
    PaymentDeclined {
        field: String,
        code: String,
        message: String,
    },
    /// The work stopped at a checkpoint (a fault-injection test's simulated crash).
    #[error("interrupted at {0}")]
    Interrupted(String),
    /// The payment processor could not be used.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// Amounts that cannot be combined (two currencies) or that overflow: a conflict with the
    /// state, as [`BillingError::Conflict`].
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A request refused for a reason with its own stable `code` and the figures the caller
    /// needs to act on it (`insufficient_stock` with what is available, ...).
    #[error("{}", .0.message)]
    Refused(Refusal),
}

/// How a refusal answers: the state refuses it (409), or the request cannot be done as asked
/// (422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    Conflict,
    Unprocessable,
}

/// A refusal with a stable `code`, a message, the field at fault if one is, and the figures
/// (`details`) that become members of the problem document.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Refusal {
    pub fn new(kind: RefusalKind, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            code,
            message: message.into(),
            field: None,
            details: serde_json::Map::new(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Conflict, code, message)
    }

    /// Names the request's field at fault.
    pub fn at(mut self, field: impl Into<String>) -> Refusal {
        self.field = Some(field.into());
        self
    }

    /// Adds a figure the caller needs (`available`, `current_on_hand`, ...).
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Refusal {
        self.details.insert(name.to_owned(), value.into());
        self
    }
}

impl From<Refusal> for BillingError {
    fn from(refusal: Refusal) -> Self {
        BillingError::Refused(refusal)
    }
}

impl BillingError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        BillingError::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<Vec<FieldError>> for BillingError {
    fn from(errors: Vec<FieldError>) -> Self {
        BillingError::Validation(errors)
    }
}

impl From<FieldError> for BillingError {
    fn from(error: FieldError) -> Self {
        BillingError::Validation(vec![error])
    }
}
