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
