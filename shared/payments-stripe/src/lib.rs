//! Stripe adapter: the domain's [`PaymentGateway`] on async-stripe.
//!
//! Every write carries the caller's idempotency key. 429s, 5xx and network failures are retried
//! with exponential backoff and jitter under that same key, so a write that Stripe performed but
//! whose answer was lost is answered from Stripe's idempotency store on the retry, never done twice.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use billing_domain::collection::payments::{
    AttachOutcome, ChargeOutcome, ChargeRequest, PaymentError, PaymentGateway, ProcessorPayment,
    ProcessorRefund,
};
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::money::Money;
use stripe::{ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::customer::{
    CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned, UpdateCustomer,
    UpdateCustomerInvoiceSettings,
};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentOffSession, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, ListRefund};
use stripe_payment::payment_method::{AttachPaymentMethod, RetrievePaymentMethod};

/// The most one Stripe call takes by default, retries included: inside the API functions'
/// 10-second timeout, with room to record the outcome.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(7);

/// The Stripe gateway. Build once at cold start.
#[derive(Clone)]
pub struct StripeGateway {
    client: stripe::Client,
    max_attempts: u32,
    base_backoff: Duration,
    /// The most one call may take, retries and backoff included (within the function's
    /// timeout): past it the call is given up as transient, under the same idempotency key.
    deadline: Duration,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// How a failed call should be treated.
enum Failure {
    Retry(String),
    Declined {
        payment_id: Option<String>,
        code: String,
        message: String,
    },
    /// 404: no such object.
    Missing(String),
    /// A 4xx with Stripe's error code: the request cannot succeed as it is.
    Refused {
        code: String,
        message: String,
    },
    Rejected(String),
}

fn classify(error: StripeError) -> Failure {
    match error {
        StripeError::Stripe(e, status) if status == 429 || status >= 500 => {
            Failure::Retry(format!("HTTP {status}: {}", e.message.unwrap_or_default()))
        }
        StripeError::Stripe(e, 402) => Failure::Declined {
            payment_id: e
                .payment_intent
                .as_ref()
                .map(|pi| pi.id.as_str().to_owned()),
            code: e
                .decline_code
                .clone()
                .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
                .unwrap_or_else(|| "card_declined".into()),
            message: e.message.unwrap_or_default(),
        },
        StripeError::Stripe(e, 404) => Failure::Missing(e.message.unwrap_or_default()),
        StripeError::Stripe(e, status) if (400..500).contains(&status) && e.code.is_some() => {
            Failure::Refused {
                code: e
                    .code
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                message: e.message.unwrap_or_default(),
            }
        }
        StripeError::Stripe(e, status) => {
            Failure::Rejected(format!("HTTP {status}: {}", e.message.unwrap_or_default()))
        }
        StripeError::ClientError(e) => Failure::Retry(e),
        StripeError::Timeout => Failure::Retry("timeout".into()),
        other => Failure::Rejected(other.to_string()),
    }
}

fn key(k: &str) -> Result<RequestStrategy, PaymentError> {
    IdempotencyKey::new(k)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentError::Rejected(format!("idempotency key: {e:?}")))
}

impl StripeGateway {
    /// `api_base` points the client elsewhere than api.stripe.com (the local simulator).
    pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, String> {
        let mut builder = ClientBuilder::new(secret_key);
        if let Some(base) = api_base {
            builder = builder.url(base.trim_end_matches('/'));
        }
        Ok(Self {
            client: builder.build().map_err(|e| e.to_string())?,
            max_attempts: 6,
            base_backoff: Duration::from_millis(200),
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// The total time one call may take, retries included ([`DEFAULT_DEADLINE`] unless set).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Retry budget: attempts per call and the first backoff (doubled each time, plus jitter).
    pub fn with_retries(mut self, max_attempts: u32, base_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.base_backoff = base_backoff;
        self
    }

    async fn call<T, F, Fut>(
        &self,
        operation: &str,
        mut attempt: F,
    ) -> Result<Result<T, Failure>, PaymentError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StripeError>>,
    {
        let started = tokio::time::Instant::now();
        let mut last = String::new();
        for n in 0..self.max_attempts {
            let left = self.deadline.saturating_sub(started.elapsed());
            let outcome = match tokio::time::timeout(left, attempt()).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    last = "no answer within the call's deadline".into();
                    break;
                }
            };
            match outcome {
                Ok(value) => return Ok(Ok(value)),
                Err(error) => match classify(error) {
                    Failure::Retry(why) => {
                        last = why;
                        let backoff = self.base_backoff.saturating_mul(2u32.saturating_pow(n));
                        let jitter_ms =
                            (uuid::Uuid::new_v4().as_u128() % (backoff.as_millis().max(1))) as u64;
                        let pause = backoff + Duration::from_millis(jitter_ms);
                        if started.elapsed() + pause >= self.deadline {
                            break;
                        }
                        tracing::warn!(operation, attempt = n + 1, error = %last, "stripe call failed; retrying");
                        tokio::time::sleep(pause).await;
                    }
                    other => return Ok(Err(other)),
                },
            }
        }
        Err(PaymentError::Transient(format!("{operation}: {last}")))
    }
}

fn rejected<T>(failure: Failure) -> Result<T, PaymentError> {
    match failure {
        Failure::Retry(why) | Failure::Rejected(why) | Failure::Missing(why) => {
            Err(PaymentError::Rejected(why))
        }
        Failure::Declined { code, message, .. } => {
            Err(PaymentError::Rejected(format!("{code}: {message}")))
        }
        Failure::Refused { code, message } => Err(PaymentError::Refused { code, message }),
    }
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    async fn create_customer(
        &self,
        our_id: &str,
        name: &str,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String, PaymentError> {
        let strategy = key(idempotency_key)?;
        let request = CreateCustomer::new()
            .name(name)
            .email(email)
            .metadata(HashMap::from([(
                "customer_id".to_owned(),
                our_id.to_owned(),
            )]));
        match self
            .call("create_customer", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?
        {
            Ok(customer) => Ok(customer.id.as_str().to_owned()),
            Err(failure) => rejected(failure),
        }
    }

    async fn attach_payment_method(
        &self,
        processor_customer_id: &str,
        payment_method_id: &str,
        idempotency_key: &str,
    ) -> Result<AttachOutcome, PaymentError> {
        let attach = AttachPaymentMethod::new(payment_method_id).customer(processor_customer_id);
        let strategy = key(&format!("{idempotency_key}:attach"))?;
        let attached = match self
            .call("attach_payment_method", || {
                attach
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?
        {
            Ok(pm) => pm.id.as_str().to_owned(),
            Err(Failure::Declined { code, message, .. }) => {
                return Ok(AttachOutcome::Declined { code, message })
            }
            Err(failure) => return rejected(failure),
        };
        let mut settings = UpdateCustomerInvoiceSettings::new();
        settings.default_payment_method = Some(attached.clone());
        let update = UpdateCustomer::new(processor_customer_id).invoice_settings(settings);
        let strategy = key(&format!("{idempotency_key}:default"))?;
        match self
            .call("set_default_payment_method", || {
                update
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?
        {
            Ok(_) => Ok(AttachOutcome::Attached {
                payment_method_id: attached,
            }),
            Err(failure) => rejected(failure),
        }
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        let amount = request
            .amount
            .to_minor_units()
            .map_err(|e| PaymentError::Rejected(e.to_string()))?;
        let currency =
            stripe_types::Currency::from_str(request.amount.currency().code()).map_err(|_| {
                PaymentError::Rejected(format!(
                    "Stripe does not know the currency {}",
                    request.amount.currency()
                ))
            })?;
        let intent = CreatePaymentIntent::new(amount, currency)
            .customer(request.processor_customer_id.as_str())
            .payment_method(request.payment_method_id.as_str())
            .confirm(true)
            .off_session(CreatePaymentIntentOffSession::Bool(request.off_session))
            .description(request.description.as_str())
            .metadata(request.metadata.iter().cloned().collect::<HashMap<_, _>>());
        let strategy = key(&request.idempotency_key)?;
        match self
            .call("charge", || {
                intent
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?
        {
            Ok(pi) => {
                let payment_id = pi.id.as_str().to_owned();
                Ok(match pi.status.as_str() {
                    "succeeded" => ChargeOutcome::Succeeded { payment_id },
                    // Not money yet: paid only when Stripe reports it succeeded.
                    "processing" => ChargeOutcome::Processing { payment_id },
                    "requires_action" | "requires_confirmation" => {
                        ChargeOutcome::RequiresAction { payment_id }
                    }
                    _ => ChargeOutcome::Declined {
                        payment_id: Some(payment_id),
                        code: pi
                            .last_payment_error
                            .and_then(|e| e.decline_code)
                            .unwrap_or_else(|| "card_declined".into()),
                        message: "the payment did not complete".into(),
                    },
                })
            }
            Err(Failure::Declined {
                payment_id: Some(payment_id),
                code,
                ..
            }) if code == "authentication_required" => {
                Ok(ChargeOutcome::RequiresAction { payment_id })
            }
            Err(Failure::Declined {
                payment_id,
                code,
                message,
            }) => Ok(ChargeOutcome::Declined {
                payment_id,
                code,
                message,
            }),
            Err(failure) => rejected(failure),
        }
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, PaymentError> {
        let minor = amount
            .to_minor_units()
            .map_err(|e| PaymentError::Rejected(e.to_string()))?;
        let refund = CreateRefund::new()
            .payment_intent(payment_id)
            .amount(minor)
            .metadata(HashMap::from([(
                "refund_key".to_owned(),
                idempotency_key.to_owned(),
            )]));
        let strategy = key(idempotency_key)?;
        match self
            .call("refund", || {
                refund
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?
        {
            Ok(refund) => Ok(refund.id.as_str().to_owned()),
            Err(failure) => rejected(failure),
        }
    }

    async fn payment(&self, payment_id: &str) -> Result<Option<ProcessorPayment>, PaymentError> {
        let retrieve = RetrievePaymentIntent::new(payment_id);
        let intent = match self
            .call("retrieve_payment_intent", || retrieve.send(&self.client))
            .await?
        {
            Ok(pi) => pi,
            Err(Failure::Missing(_)) => return Ok(None),
            Err(failure) => return rejected(failure),
        };
        let list = ListRefund::new().payment_intent(payment_id).limit(100);
        let refunds = match self
            .call("list_refunds", || list.send(&self.client))
            .await?
        {
            Ok(list) => list.data,
            Err(failure) => return rejected(failure),
        };
        // A currency we cannot read is an error, never a default: the refund is not dropped.
        let currency = |code: String| {
            code.parse::<Currency>()
                .map_err(|e| PaymentError::Rejected(format!("payment {payment_id}: {e}")))
        };
        let mut refunds: Vec<ProcessorRefund> = refunds
            .into_iter()
            .map(|r| {
                Ok(ProcessorRefund {
                    key: r
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get("refund_key").cloned()),
                    refund_id: r.id.as_str().to_owned(),
                    amount: Money::from_minor_units(r.amount, currency(r.currency.to_string())?),
                    gave_back: !matches!(r.status.as_deref(), Some("failed" | "canceled")),
                })
            })
            .collect::<Result<_, PaymentError>>()?;
        // Stripe lists newest first.
        refunds.reverse();
        Ok(Some(ProcessorPayment {
            payment_id: intent.id.as_str().to_owned(),
            invoice_id: intent.metadata.get("invoice_id").cloned(),
            refunds,
            succeeded: intent.status.as_str() == "succeeded",
            amount_received: Money::from_minor_units(
                intent.amount_received,
                currency(intent.currency.to_string())?,
            ),
        }))
    }

    async fn payment_method_owner(
        &self,
        payment_method_id: &str,
    ) -> Result<Option<String>, PaymentError> {
        let retrieve = RetrievePaymentMethod::new(payment_method_id);
        match self
            .call("retrieve_payment_method", || retrieve.send(&self.client))
            .await?
        {
            Ok(pm) => Ok(pm.customer.map(|c| c.id().as_str().to_owned())),
            Err(Failure::Missing(_)) => Ok(None),
            Err(failure) => rejected(failure),
        }
    }

    async fn customer_reference(
        &self,
        processor_customer_id: &str,
    ) -> Result<Option<String>, PaymentError> {
        let retrieve = RetrieveCustomer::new(processor_customer_id);
        match self
            .call("retrieve_customer", || retrieve.send(&self.client))
            .await?
        {
            Ok(RetrieveCustomerReturned::Customer(customer)) => Ok(customer
                .metadata
                .and_then(|m| m.get("customer_id").cloned())),
            Ok(RetrieveCustomerReturned::DeletedCustomer(_)) | Err(Failure::Missing(_)) => Ok(None),
            Err(failure) => rejected(failure),
        }
    }
}
