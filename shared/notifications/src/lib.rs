//! Customer email. Which domain event becomes which email, what it says (templates in
//! `templates/`, rendered here in HTML and plain text) and that it is sent once: the
//! [`notifier::Notifier`]. Sending goes through the [`notifier::Mailer`] port (SES in the jobs
//! crate); reading goes through the domain's repository ports.
//!
//! Depends on the domain only; no AWS, HTTP or runtime.

pub mod links;
pub mod notifier;
pub mod render;

pub use links::Links;
pub use notifier::{MailError, Mailer, Notifier, NotifyError, Outcome, OutgoingEmail};
pub use render::{RenderedEmail, View};
