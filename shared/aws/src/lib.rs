//! The AWS adapters of the jobs: SQS queues, the EventBridge bus and the SES mailer (with SES's
//! bounce and complaint reports as SNS delivers them). Only the functions that call them link
//! them: the API functions build none of these clients (DynamoDB is the store's adapter).

pub mod eventbridge;
pub mod ses;
pub mod sqs;

pub use eventbridge::EventBus;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

/// What an AWS adapter answers when a call fails or a message cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The service refused the call, failed, or answered what cannot be used.
    #[error("{0}")]
    Call(String),
    /// A message on a queue is not what its consumer reads.
    #[error("{0}")]
    Unreadable(String),
    /// A resource the adapter needs is not set up (an unverified sender).
    #[error("{0}")]
    Config(String),
}
