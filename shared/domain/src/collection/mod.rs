//! Collecting payments: the first period's charge at subscription time, renewals, dunning
//! retries, and a new payment method. Every step is safe to repeat: the invoice of a period is
//! created once (a guard item), every charge carries the idempotency key of its invoice and
//! attempt, and every stored change is conditional on the version that was read. A worker that
//! dies anywhere and runs again changes nothing twice and skips nothing.

pub mod dunning;
pub mod payments;
pub mod renewal;

pub use renewal::DueOutcome;

use chrono::{DateTime, Utc};

use crate::catalogue::Plan;
use crate::collection::dunning::FinalAction;
use crate::collection::payments::{AttachOutcome, ChargeOutcome, ChargeRequest, PaymentError};
use crate::customers::Customer;
use crate::invoicing::{BillingReason, Invoice, InvoiceLine, InvoiceStatus, LineKind};
use crate::kernel::access::Actor;
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use crate::kernel::page::PageRequest;
use crate::kernel::period::Period;
use crate::kernel::ports::StoreError;
use crate::kernel::service::Billing;
use crate::subscriptions::{NewSubscription, Subscription, SubscriptionStatus};

/// A period's invoice before it is stored: the plan's price for `period`, then the
/// subscription's pending lines (credits of an immediate downgrade), then its discount.
pub(crate) fn period_draft(
    sub: &Subscription,
    plan: &Plan,
    period: Period,
    items: Vec<InvoiceLine>,
    now: DateTime<Utc>,
) -> Result<Invoice, BillingError> {
    let mut lines = vec![InvoiceLine {
        kind: LineKind::Subscription,
        description: format!("{} ({})", plan.name, plan.interval),
        amount: plan.price,
        period,
    }];
    lines.extend(items);
    lines.extend(sub.pending_lines.iter().cloned());
    if let Some(discount) = &sub.discount {
        lines.extend(discount.period_line(&plan.id, &lines, period)?);
    }
    Ok(Invoice::draft(
        sub.id.clone(),
        sub.customer_id.clone(),
        plan.price.currency(),
        period,
        lines,
        now,
    )?
    .for_plan(plan.id.clone()))
}

/// What happens when a trial ends and no payment method is on file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrialEndWithoutPaymentMethod {
    /// Pause the subscription until the customer adds a card and resumes it.
    #[default]
    Pause,
    Cancel,
}

/// The steps of a renewal where a worker can die (and where fault-injection tests kill it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checkpoint {
    BeforeInvoiceWrite,
    AfterInvoiceWrite,
    /// Before the charge is sent to the processor.
    BeforeCharge,
    /// The processor charged, and nothing is recorded yet.
    AfterCharge,
    /// The charge's outcome is on the invoice; the subscription is not moved yet.
    AfterChargeRecorded,
    /// The subscription is in its next period; the queue message is not deleted yet.
    AfterPeriodUpdate,
    /// The work is done; the message is about to be deleted.
    BeforeMessageDelete,
}

/// Called at each [`Checkpoint`]; an error stops the work there, as a crash would.
pub trait Checkpoints: Send + Sync {
    fn reach(&self, point: Checkpoint) -> Result<(), BillingError>;
}

/// Production: nothing happens at checkpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCheckpoints;

impl Checkpoints for NoCheckpoints {
    fn reach(&self, _: Checkpoint) -> Result<(), BillingError> {
        Ok(())
    }
}

fn payment_error(e: PaymentError) -> BillingError {
    BillingError::Payment(e)
}

use crate::kernel::retry::{retry_on_conflict, written, Written, CONFLICT_RETRIES};

/// The trial a new subscription gets ([`Billing::claim_trial`]).
#[derive(Debug)]
struct Trial {
    /// Its length in days (0: none).
    days: u32,
    /// Whether this subscription claimed the customer's one trial (given back if it is not
    /// stored).
    claimed: bool,
}

impl Billing {
    // ---- payment methods -------------------------------------------------------------------

    /// Makes sure the customer has a processor customer, and attaches `payment_method_id` to it
    /// as the default. Declined cards are a 402 naming `field`. Returns the customer and the
    /// id of the attached payment method (the processor's: a test token such as `pm_card_visa`
    /// becomes a payment method of its own when attached).
    async fn attach_payment_method(
        &self,
        customer: Customer,
        payment_method_id: &str,
        field: &str,
    ) -> Result<(Customer, String), BillingError> {
        let customer = self.ensure_processor_customer(customer).await?;
        let Some(processor_id) = customer.processor_customer_id.clone() else {
            return Err(BillingError::StaleVersion("customer"));
        };
        let outcome = self
            .payments
            .attach_payment_method(
                &processor_id,
                payment_method_id,
                &format!("attach:{processor_id}:{payment_method_id}"),
            )
            .await
            .map_err(|e| match e {
                PaymentError::Rejected(message) | PaymentError::Refused { message, .. } => {
                    BillingError::field(field, message)
                }
                transient => payment_error(transient),
            })?;
        let attached = match outcome {
            AttachOutcome::Attached { payment_method_id } => payment_method_id,
            AttachOutcome::Declined { code, message } => {
                return Err(BillingError::PaymentDeclined {
                    field: field.to_owned(),
                    code,
                    message,
                })
            }
        };
        let now = self.now();
        let customer = self
            .update_customer_with(&customer.id, Some(customer.clone()), |c| {
                if c.default_payment_method_id.as_deref() == Some(attached.as_str()) {
                    return false;
                }
                c.set_default_payment_method(&attached, now);
                true
            })
            .await?
            .0;
        Ok((customer, attached))
    }

    /// Loads customer `id` (or starts from `loaded`), applies `change` (`false`: nothing to
    /// change) and stores it conditionally; when another writer came first, loads it again and
    /// decides again. Returns the customer as stored and whether this call changed it.
    pub(crate) async fn update_customer_with(
        &self,
        id: &CustomerId,
        mut loaded: Option<Customer>,
        mut change: impl FnMut(&mut Customer) -> bool + Send,
    ) -> Result<(Customer, bool), BillingError> {
        retry_on_conflict!("customer", {
            let mut customer = match loaded.take() {
                Some(c) => c,
                None => self
                    .customers
                    .get_customer(id)
                    .await?
                    .ok_or(BillingError::NotFound("customer"))?,
            };
            if !change(&mut customer) {
                return Ok(Written::Done((customer, false)));
            }
            let write = self.customers.update_customer(&mut customer).await;
            written(write, (customer, true))
        })
    }

    /// [`Billing::update_customer_with`] for invoices; `change` may fail (an illegal move).
    pub(crate) async fn update_invoice_with(
        &self,
        id: &InvoiceId,
        mut change: impl FnMut(&mut Invoice) -> Result<bool, BillingError> + Send,
    ) -> Result<(Invoice, bool), BillingError> {
        retry_on_conflict!("invoice", {
            let mut invoice = self
                .invoices
                .get_invoice(id)
                .await?
                .ok_or(BillingError::NotFound("invoice"))?;
            if !change(&mut invoice)? {
                return Ok(Written::Done((invoice, false)));
            }
            let write = self.invoices.update_invoice(&mut invoice).await;
            written(write, (invoice, true))
        })
    }

    /// The customer with its processor customer, created and stored first if it has none. The
    /// key carries the customer's version: a retry of the same request gets the same processor
    /// customer, and a changed customer (name, email) is not refused as a reused key.
    async fn ensure_processor_customer(
        &self,
        mut customer: Customer,
    ) -> Result<Customer, BillingError> {
        for _ in 0..CONFLICT_RETRIES {
            if customer.processor_customer_id.is_some() {
                return Ok(customer);
            }
            let processor_id = self
                .payments
                .create_customer(
                    customer.id.as_str(),
                    &customer.name,
                    customer.email.as_str(),
                    &format!("customer:{}:v{}", customer.id, customer.version),
                )
                .await
                .map_err(payment_error)?;
            customer.processor_customer_id = Some(processor_id);
            customer.updated_at = self.now();
            match self.customers.update_customer(&mut customer).await {
                Ok(()) => return Ok(customer),
                Err(StoreError::VersionConflict) => {
                    customer = self
                        .customers
                        .get_customer(&customer.id)
                        .await?
                        .ok_or(BillingError::NotFound("customer"))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(BillingError::StaleVersion("customer"))
    }

    /// `PUT /customers/{id}/payment-method`: attaches and makes it the default, moves the
    /// customer's live subscriptions to it, and retries what they owe at once.
    pub async fn set_payment_method(
        &self,
        actor: &Actor,
        customer_id: &CustomerId,
        payment_method_id: &str,
    ) -> Result<Customer, BillingError> {
        crate::kernel::validation::text("payment_method_id", payment_method_id, 255)?;
        let customer = self.get_customer(actor, customer_id).await?;
        let (customer, attached) = self
            .attach_payment_method(customer, payment_method_id, "payment_method_id")
            .await?;
        for sub in self.live_subscriptions(&customer.id).await? {
            self.move_to_payment_method(&sub.id, &customer, &attached)
                .await?;
        }
        Ok(customer)
    }

    /// The customer's subscriptions that have not ended, every page of them.
    pub(crate) async fn live_subscriptions(
        &self,
        customer_id: &CustomerId,
    ) -> Result<Vec<Subscription>, BillingError> {
        let mut live = Vec::new();
        let mut page = PageRequest {
            limit: 100,
            starting_after: None,
        };
        loop {
            let subs = self
                .subscriptions
                .list_subscriptions(customer_id, &page)
                .await?;
            let next = match subs.data.last() {
                Some(last) if subs.has_more => Some(last.id.to_string()),
                _ => None,
            };
            live.extend(subs.data.into_iter().filter(|s| !s.status.is_ended()));
            match next {
                Some(cursor) => page.starting_after = Some(cursor),
                None => return Ok(live),
            }
        }
    }

    async fn move_to_payment_method(
        &self,
        id: &SubscriptionId,
        customer: &Customer,
        payment_method_id: &str,
    ) -> Result<(), BillingError> {
        retry_on_conflict!("subscription", {
            let Some(mut sub) = self.subscriptions.get_subscription(id).await? else {
                return Ok(Written::Done(()));
            };
            sub.payment_method_id = Some(payment_method_id.to_owned());
            sub.updated_at = self.now();
            let owes = matches!(
                sub.status,
                SubscriptionStatus::PastDue | SubscriptionStatus::Incomplete
            );
            if owes {
                if let Some(invoice_id) = sub.latest_invoice_id.clone() {
                    self.collect_open_invoice(&mut sub, customer, &invoice_id, false)
                        .await?;
                }
            }
            let write = self.subscriptions.update_subscription(&mut sub).await;
            written(write, ())
        })
    }

    // ---- subscribing -----------------------------------------------------------------------

    /// Subscribes a customer: attaches the payment method given, then (unless trialing or
    /// free) invoices the first period and charges it with the customer present. A card that
    /// needs authentication leaves the subscription `incomplete` with the invoice open; a
    /// declined card ends it at once and answers 402.
    pub async fn subscribe(
        &self,
        actor: &Actor,
        new: NewSubscription,
    ) -> Result<Subscription, BillingError> {
        if new.trial_days.is_some() && *actor != Actor::Operator {
            return Err(BillingError::field(
                "trial_days",
                "only operators set trial_days; customers get the plan's trial, once",
            ));
        }
        let customer = self.get_customer(actor, &new.customer_id).await?;
        let plan = match self.plans.get_plan(&new.plan_id).await? {
            Some(plan) => plan,
            None => {
                return Err(BillingError::field(
                    "subscription_plan_id",
                    "no plan with this id",
                ))
            }
        };
        if !new.items.is_empty() {
            self.check_recurring_items(&new.items, plan.price.currency())
                .await?;
        }
        let now = self.now();
        let (customer, trial) = self.claim_trial(actor, customer, &new, &plan, now).await?;
        let new = NewSubscription {
            customer_id: customer.id.clone(),
            trial_days: Some(trial.days),
            ..new
        };
        let customer_id = customer.id.clone();
        let started = self
            .start_subscription(actor, customer, new, plan, now)
            .await;
        if started.is_err() && trial.claimed {
            // A trialing subscription is answered as soon as it is stored: this one was not,
            // and the customer keeps its trial.
            self.update_customer_with(&customer_id, None, |c| c.trial_used_at.take().is_some())
                .await?;
        }
        started
    }

    /// [`Billing::subscribe`] once the trial is settled.
    async fn start_subscription(
        &self,
        actor: &Actor,
        customer: Customer,
        new: NewSubscription,
        plan: Plan,
        now: DateTime<Utc>,
    ) -> Result<Subscription, BillingError> {
        let discount = new.discount.clone();
        let mut sub = Subscription::start(new, &plan, now)?;
        let charge_now = sub.status == SubscriptionStatus::Active;
        // The first billed period: this one, or the one after the trial.
        let first_billed = if charge_now {
            sub.current_period_start
        } else {
            sub.current_period_end
        };
        let redeemed = self
            .prepare_discount(actor, &discount, &plan, &sub.customer_id, first_billed)
            .await?;
        sub.discount = redeemed.as_ref().map(|r| r.discount.clone());
        let payable = !plan.price.amount().is_zero();
        let customer = match sub.payment_method_id.clone() {
            Some(pm) => {
                let (customer, attached) = self
                    .attach_payment_method(customer, &pm, "payment_method_id")
                    .await?;
                sub.payment_method_id = Some(attached);
                customer
            }
            None if charge_now && payable && customer.default_payment_method_id.is_none() => {
                return Err(BillingError::field(
                    "payment_method_id",
                    "a paid plan without a trial needs a payment method",
                ))
            }
            None => customer,
        };
        if charge_now {
            sub.status = SubscriptionStatus::Incomplete;
        } else {
            sub.record_created(now);
        }
        let inserted = match &redeemed {
            Some(r) => {
                self.subscriptions
                    .insert_subscription_redeeming(&sub, &r.redemption)
                    .await
            }
            None => self.subscriptions.insert_subscription(&sub).await,
        };
        match inserted {
            Ok(()) => {}
            Err(StoreError::SubscriptionSlotTaken) => return Err(BillingError::Conflict(
                "the customer already has a live subscription; change its plan or cancel it first"
                    .into(),
            )),
            Err(StoreError::RedemptionRefused(limit)) => {
                return Err(crate::discounts::refused(limit, &discount))
            }
            Err(e) => return Err(e.into()),
        }
        // The insert stored the events.
        sub.mark_stored();
        if !sub.items.is_empty() {
            let carried: Vec<_> = sub.items.iter().map(|i| i.product_id.clone()).collect();
            self.products.link_box_items(&sub.id, &[], &carried).await?;
        }
        if !charge_now {
            return Ok(sub);
        }
        let mut invoice = self
            .period_invoice(
                &sub,
                &plan,
                sub.current_period(),
                BillingReason::SubscriptionCreate,
                Vec::new(),
            )
            .await?;
        sub.latest_invoice_id = Some(invoice.id.clone());
        // A processor that stays unreachable leaves the subscription incomplete with its
        // invoice open, to be paid with `POST /invoices/{id}/pay`; other errors are answered.
        let charge_error = match self
            .collect(&mut invoice, &sub, &customer, false, None)
            .await
        {
            Ok(()) | Err(BillingError::Payment(PaymentError::Transient(_))) => None,
            Err(e) => Some(e),
        };
        match invoice.status {
            InvoiceStatus::Paid => {
                sub.payment_succeeded(self.now());
                self.ship_paid_period(&sub, &invoice).await?;
            }
            _ if invoice
                .payments
                .last()
                .is_some_and(|p| p.status == crate::invoicing::PaymentStatus::Failed) =>
            {
                // Declined with the customer present: nothing was bought.
                invoice.void(self.now())?;
                self.invoices.update_invoice(&mut invoice).await?;
                sub.end(SubscriptionStatus::Expired, self.now(), self.now());
                self.subscriptions.update_subscription(&mut sub).await?;
                return Err(invoice.declined());
            }
            // Needs authentication, or the processor is unreachable: incomplete, and the
            // invoice can be paid later (`POST /invoices/{id}/pay` or the webhook).
            _ => {}
        }
        self.subscriptions.update_subscription(&mut sub).await?;
        match charge_error {
            Some(e) => Err(e),
            None => Ok(sub),
        }
    }

    /// The trial a new subscription gets. A customer gets the plan's trial once: the first
    /// trial is claimed by a conditional write of the customer (`trial_used_at`), so of racing
    /// subscriptions one trials and the others start paid, and a customer who had a trial
    /// starts paid. An operator's `trial_days` overrides the plan's and is given regardless
    /// (it counts as the customer's trial).
    async fn claim_trial(
        &self,
        actor: &Actor,
        customer: Customer,
        new: &NewSubscription,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> Result<(Customer, Trial), BillingError> {
        let days = new.trial_days.unwrap_or(plan.trial_days);
        if days > crate::catalogue::MAX_TRIAL_DAYS {
            return Err(BillingError::field(
                "trial_days",
                format!("must be at most {}", crate::catalogue::MAX_TRIAL_DAYS),
            ));
        }
        if days == 0 {
            return Ok((
                customer,
                Trial {
                    days,
                    claimed: false,
                },
            ));
        }
        let id = customer.id.clone();
        let (customer, claimed) = self
            .update_customer_with(&id, Some(customer), |c| {
                if c.trial_used_at.is_some() {
                    return false;
                }
                c.trial_used_at = Some(now);
                c.updated_at = now;
                true
            })
            .await?;
        let days = match (actor, claimed) {
            (Actor::Operator, _) | (_, true) => days,
            (_, false) => 0,
        };
        Ok((customer, Trial { days, claimed }))
    }

    // ---- invoices and charges --------------------------------------------------------------

    /// The invoice of `period`, created (open) if this is the first time it is asked for: the
    /// plan's price plus the subscription's pending lines.
    async fn period_invoice(
        &self,
        sub: &Subscription,
        plan: &Plan,
        period: Period,
        reason: BillingReason,
        usage_lines: Vec<InvoiceLine>,
    ) -> Result<Invoice, BillingError> {
        if let Some(existing) = self
            .invoices
            .find_period_invoice(&sub.id, period.start)
            .await?
        {
            return Ok(existing);
        }
        let now = self.now();
        let mut items = self.item_lines(sub, period).await?;
        items.extend(usage_lines);
        let draft = period_draft(sub, plan, period, items, now)?.because(reason);
        match self.open_invoice(draft).await {
            Ok(invoice) => Ok(invoice),
            Err(BillingError::Store(StoreError::AlreadyExists)) => self
                .invoices
                .find_period_invoice(&sub.id, period.start)
                .await?
                .ok_or_else(|| {
                    BillingError::Conflict("the period's invoice vanished while created".into())
                }),
            Err(e) => Err(e),
        }
    }

    /// Stores a draft as an open invoice (or paid, when credit or nothing is due): the
    /// customer's credit is applied first, and spent in the same transaction that stores the
    /// invoice. When the balance changed meanwhile, it is read again.
    /// [`StoreError::AlreadyExists`] comes back as it is (a second invoice for the period).
    pub(crate) async fn open_invoice(&self, draft: Invoice) -> Result<Invoice, BillingError> {
        retry_on_conflict!("credit balance", {
            let mut invoice = draft.clone();
            let now = self.now();
            let balance = self
                .credits
                .credit_balance(&invoice.customer_id, invoice.currency)
                .await?;
            invoice.apply_credit(balance, now)?;
            invoice.finalize(now)?;
            let write = self.invoices.insert_invoice(&invoice).await;
            invoice.events.clear();
            invoice.credit_changes.clear();
            written(write, invoice)
        })
    }

    /// Charges what `invoice` still owes and records the outcome on it (stored). A transient
    /// processor error records nothing: the caller's retry repeats the same attempt with the
    /// same idempotency key. `first_failure` starts the dunning clock for renewals.
    pub(crate) async fn collect(
        &self,
        invoice: &mut Invoice,
        sub: &Subscription,
        customer: &Customer,
        off_session: bool,
        retry_schedule_from: Option<DateTime<Utc>>,
    ) -> Result<(), BillingError> {
        if invoice.status != InvoiceStatus::Open {
            return Ok(());
        }
        let amount = invoice.amount_due()?;
        let now = self.now();
        let (first_failure, failures) = invoice.unsuccessful_attempts();
        // With the customer present there is no schedule: they are told at once.
        let next_attempt = if off_session || retry_schedule_from.is_some() {
            self.dunning.next_attempt(
                first_failure.or(retry_schedule_from).unwrap_or(now),
                failures + 1,
            )
        } else {
            None
        };
        let payment_method = sub
            .payment_method_id
            .clone()
            .or_else(|| customer.default_payment_method_id.clone());
        let (Some(processor_customer_id), Some(payment_method_id)) =
            (customer.processor_customer_id.clone(), payment_method)
        else {
            invoice.record_failure(
                None,
                "no_payment_method",
                "no payment method on file",
                next_attempt,
                now,
            )?;
            return self.store_invoice(invoice).await;
        };
        let request = ChargeRequest {
            processor_customer_id,
            payment_method_id,
            amount,
            off_session,
            idempotency_key: invoice.next_attempt_key(),
            description: format!("Invoice {}", invoice.id),
            metadata: vec![
                ("invoice_id".into(), invoice.id.to_string()),
                ("subscription_id".into(), sub.id.to_string()),
                ("customer_id".into(), customer.id.to_string()),
            ],
        };
        self.checkpoints.reach(Checkpoint::BeforeCharge)?;
        let charged = self.payments.charge(&request).await;
        self.checkpoints.reach(Checkpoint::AfterCharge)?;
        match charged {
            Ok(ChargeOutcome::Succeeded { payment_id }) => {
                invoice.record_payment(&payment_id, amount, now)?
            }
            Ok(ChargeOutcome::RequiresAction { payment_id }) => {
                invoice.record_requires_action(&payment_id, next_attempt, now)?
            }
            Ok(ChargeOutcome::Processing { payment_id }) => {
                invoice.record_processing(&payment_id, now)?
            }
            Ok(ChargeOutcome::Declined {
                payment_id,
                code,
                message,
            }) => {
                invoice.record_failure(payment_id.as_deref(), &code, &message, next_attempt, now)?
            }
            Err(PaymentError::Rejected(message)) => {
                invoice.record_failure(None, "processor_rejected", &message, next_attempt, now)?
            }
            Err(PaymentError::Refused { code, message }) => {
                invoice.record_failure(None, &code, &message, next_attempt, now)?
            }
            Err(transient) => return Err(payment_error(transient)),
        }
        self.store_invoice(invoice).await?;
        self.checkpoints.reach(Checkpoint::AfterChargeRecorded)
    }

    /// Stores a charged invoice. If another worker recorded the same attempt first, its
    /// version wins and is loaded instead (the charge itself was the same idempotent call).
    pub(crate) async fn store_invoice(&self, invoice: &mut Invoice) -> Result<(), BillingError> {
        match self.invoices.update_invoice(invoice).await {
            Ok(()) => Ok(()),
            Err(StoreError::VersionConflict) => {
                *invoice = self
                    .invoices
                    .get_invoice(&invoice.id)
                    .await?
                    .ok_or(BillingError::NotFound("invoice"))?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Charges the open invoice `invoice_id` of `sub` again and moves `sub` accordingly (the
    /// caller stores `sub`).
    async fn collect_open_invoice(
        &self,
        sub: &mut Subscription,
        customer: &Customer,
        invoice_id: &InvoiceId,
        off_session: bool,
    ) -> Result<Invoice, BillingError> {
        let mut invoice = self
            .invoices
            .get_invoice(invoice_id)
            .await?
            .ok_or(BillingError::NotFound("invoice"))?;
        let schedule_from = invoice.unsuccessful_attempts().0;
        self.collect(&mut invoice, sub, customer, off_session, schedule_from)
            .await?;
        self.settle(sub, &mut invoice).await?;
        Ok(invoice)
    }

    /// Moves `sub` after its latest invoice was charged: active when paid; past due while
    /// dunning retries; after the last retry, the configured final action.
    pub(crate) async fn settle(
        &self,
        sub: &mut Subscription,
        invoice: &mut Invoice,
    ) -> Result<(), BillingError> {
        let now = self.now();
        match invoice.status {
            InvoiceStatus::Paid => {
                sub.payment_succeeded(now);
                self.ship_paid_period(sub, invoice).await?;
            }
            InvoiceStatus::Open if sub.status == SubscriptionStatus::Incomplete => {}
            InvoiceStatus::Open if invoice.next_attempt_at.is_some() => {
                sub.payment_failed(invoice.next_attempt_at, now)
            }
            InvoiceStatus::Open => {
                invoice.mark_uncollectible(now)?;
                self.store_invoice(invoice).await?;
                match self.dunning.final_action {
                    FinalAction::Cancel => {
                        sub.end(SubscriptionStatus::Canceled, now, now);
                        // Where the plan says so, the customer drops to its free plan, as at
                        // a period end.
                        sub.successor_plan_id = self.plan(&sub.plan_id).await?.fallback_plan_id;
                    }
                    FinalAction::LeaveUnpaid => sub.payment_failed(None, now),
                }
            }
            InvoiceStatus::Draft | InvoiceStatus::Void | InvoiceStatus::Uncollectible => {
                sub.payment_failed(None, now)
            }
        }
        Ok(())
    }

    /// `POST /invoices/{id}/pay`: charges an open invoice now, with the customer present.
    pub async fn pay_invoice(
        &self,
        actor: &Actor,
        id: &InvoiceId,
    ) -> Result<Invoice, BillingError> {
        let invoice = self.get_invoice(actor, id).await?;
        if invoice.status != InvoiceStatus::Open {
            return Err(BillingError::Conflict(format!(
                "the invoice is {}; only open invoices can be paid",
                invoice.status.as_str()
            )));
        }
        retry_on_conflict!("subscription", {
            let mut sub = self
                .subscriptions
                .get_subscription(&invoice.subscription_id)
                .await?
                .ok_or(BillingError::NotFound("subscription"))?;
            let customer = self
                .customers
                .get_customer(&sub.customer_id)
                .await?
                .ok_or(BillingError::NotFound("customer"))?;
            let paid = self
                .collect_open_invoice(&mut sub, &customer, id, false)
                .await?;
            if sub.latest_invoice_id.as_ref() != Some(id) {
                // An older invoice: the subscription's state belongs to a newer one.
                return Ok(Written::Done(paid));
            }
            let write = self.subscriptions.update_subscription(&mut sub).await;
            written(write, paid)
        })
    }

    pub(crate) async fn plan(&self, id: &PlanId) -> Result<Plan, BillingError> {
        self.plans
            .get_plan(id)
            .await?
            .ok_or(BillingError::NotFound("plan"))
    }

    pub(crate) async fn customer_of(&self, sub: &Subscription) -> Result<Customer, BillingError> {
        self.customers
            .get_customer(&sub.customer_id)
            .await?
            .ok_or(BillingError::NotFound("customer"))
    }
}
