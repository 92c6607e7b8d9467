//! Renewals and the rest of the scheduler's work: whatever is due for one subscription at the
//! clock's time (renew, retry a failed payment, end at the period end, start the fallback
//! plan, resume after a pause, expire an incomplete subscription, send a reminder), done by
//! [`Billing::process_due`] for each message of the renewal queue.

use chrono::{DateTime, Utc};

use crate::collection::{Checkpoint, TrialEndWithoutPaymentMethod};
use crate::invoicing::{BillingReason, InvoiceStatus, LineKind};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{PlanId, SubscriptionId};
use crate::kernel::ports::StoreError;
use crate::kernel::retry::CONFLICT_RETRIES;
use crate::kernel::service::Billing;
use crate::subscriptions::{DueStep, NewSubscription, Subscription, SubscriptionStatus};
use crate::usage::AllowancePeriod;

/// How many state changes one call of [`Billing::process_due`] makes at most (a subscription
/// that fell far behind catches up over several calls).
const MAX_STEPS: usize = 8;

/// What one call of [`Billing::process_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueOutcome {
    pub steps: Vec<&'static str>,
}

impl Billing {
    /// Does whatever is due for one subscription at the clock's time: renew (invoice, charge,
    /// next period), retry a failed payment, end at the period end, resume after a pause, expire
    /// an incomplete subscription. Safe to call any number of times, concurrently too.
    pub async fn process_due(&self, id: &SubscriptionId) -> Result<DueOutcome, BillingError> {
        let mut outcome = DueOutcome::default();
        let mut conflicts = 0;
        // The subscription as stored: loaded once, then kept (with its new version) after each
        // step; loaded again only when another writer changed it.
        let mut stored = self.subscriptions.get_subscription(id).await?;
        while outcome.steps.len() < MAX_STEPS {
            let Some(mut sub) = stored.take() else {
                return Ok(outcome);
            };
            let now = self.now();
            let Some(work) = sub.due_step(now) else {
                return Ok(outcome);
            };
            let step = match &work {
                DueStep::Renew => "renew",
                DueStep::End(_) => "end",
                DueStep::RetryPayment(_) => "retry_payment",
                DueStep::Resume => "resume",
                DueStep::ExpireIncomplete => "expire_incomplete",
                DueStep::StartSuccessor(_) => "start_successor",
                DueStep::RemindTrialEnd => "remind_trial_end",
                DueStep::RemindRenewal => "remind_renewal",
            };
            self.take_step(&mut sub, work, now).await?;
            match self.subscriptions.update_subscription(&mut sub).await {
                Ok(()) => {
                    self.checkpoints.reach(Checkpoint::AfterPeriodUpdate)?;
                    // Ended by this step (at its period end, after dunning, unpaid): its open
                    // pre-orders follow its plan.
                    self.end_open_preorders(&sub).await?;
                    // and its last period's overage is billed.
                    self.bill_final_usage(&sub).await?;
                    outcome.steps.push(step);
                    stored = Some(sub);
                }
                Err(StoreError::VersionConflict) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    stored = self.subscriptions.get_subscription(id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(outcome)
    }

    async fn take_step(
        &self,
        sub: &mut Subscription,
        work: DueStep,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        match work {
            DueStep::Resume => sub.resume(now),
            DueStep::RemindTrialEnd => {
                sub.remind_trial_end(now);
                Ok(())
            }
            DueStep::RemindRenewal => {
                // The reminder goes without an amount rather than not at all.
                let upcoming = if sub.will_renew() {
                    self.next_period_preview(sub.clone())
                        .await?
                        .amount_due()
                        .ok()
                } else {
                    None
                };
                sub.remind_renewal(upcoming, now);
                Ok(())
            }
            DueStep::End(status) => {
                let at = sub.current_period_end;
                sub.end(status, at, now);
                sub.successor_plan_id = self.plan(&sub.plan_id).await?.fallback_plan_id;
                Ok(())
            }
            DueStep::StartSuccessor(plan_id) => {
                self.start_successor(sub, &plan_id).await?;
                // Nothing a reader sees changes (`updated_at` stays).
                sub.successor_plan_id = None;
                Ok(())
            }
            DueStep::ExpireIncomplete => {
                if let Some(id) = &sub.latest_invoice_id {
                    if let Some(mut invoice) = self.invoices.get_invoice(id).await? {
                        if invoice.status == InvoiceStatus::Open {
                            invoice.void(now)?;
                            self.store_invoice(&mut invoice).await?;
                        }
                    }
                }
                sub.end(SubscriptionStatus::Expired, now, now);
                Ok(())
            }
            DueStep::RetryPayment(invoice_id) => {
                let customer = self.customer_of(sub).await?;
                self.collect_open_invoice(sub, &customer, &invoice_id, true)
                    .await
                    .map(|_| ())
            }
            DueStep::Renew => self.renew(sub, now).await,
        }
    }

    /// Subscribes the customer of an ended subscription to its plan's fallback (a free plan),
    /// from the moment it ended. Nothing happens if the customer subscribed to something else
    /// meanwhile, or the fallback is not free (it would need a payment).
    async fn start_successor(
        &self,
        ended: &Subscription,
        plan_id: &PlanId,
    ) -> Result<(), BillingError> {
        let Some(plan) = self.plans.get_plan(plan_id).await? else {
            return Ok(());
        };
        if !plan.price.amount().is_zero() || !plan.is_active() {
            return Ok(());
        }
        let at = ended.ended_at.unwrap_or(ended.updated_at);
        let mut successor = Subscription::start(
            NewSubscription {
                customer_id: ended.customer_id.clone(),
                plan_id: plan.id.clone(),
                payment_method_id: None,
                auto_renew: true,
                metadata: [("previous_subscription_id".to_owned(), ended.id.to_string())].into(),
                trial_days: Some(0),
                discount: Default::default(),
                items: Vec::new(),
                promotional_first: true,
            },
            &plan,
            at,
        )?;
        successor.id = ended.successor_id()?;
        successor.record_created(at);
        match self.subscriptions.insert_subscription(&successor).await {
            Ok(()) | Err(StoreError::AlreadyExists) | Err(StoreError::SubscriptionSlotTaken) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The period has ended: invoice the next one (once), charge it off-session (once per
    /// attempt), and move the subscription into it.
    async fn renew(&self, sub: &mut Subscription, now: DateTime<Utc>) -> Result<(), BillingError> {
        let customer = self.customer_of(sub).await?;
        let has_payment_method =
            sub.payment_method_id.is_some() || customer.default_payment_method_id.is_some();
        if sub.status == SubscriptionStatus::Trialing && !has_payment_method {
            return match self.trial_end_without_payment_method {
                TrialEndWithoutPaymentMethod::Pause => sub.pause(now, None),
                TrialEndWithoutPaymentMethod::Cancel => {
                    let at = sub.current_period_end;
                    sub.end(SubscriptionStatus::Canceled, at, now);
                    Ok(())
                }
            };
        }
        if let Some(next) = sub.scheduled_plan_id.clone() {
            let plan = self.plan(&next).await?;
            sub.take_scheduled_plan(&plan, now);
        }
        let plan = self.plan(&sub.plan_id).await?;
        let (period, _) = sub.next_period()?;
        // The ending period takes no more usage; its overage is billed on this invoice.
        let previous = if sub.metered {
            self.usage
                .close_allowance_period(&sub.id, sub.current_period_start)
                .await?
        } else {
            None
        };
        let usage_lines = match &previous {
            Some(p) => p.overage_lines(period)?,
            None => Vec::new(),
        };
        self.checkpoints.reach(Checkpoint::BeforeInvoiceWrite)?;
        let mut invoice = self
            .period_invoice(
                sub,
                &plan,
                period,
                BillingReason::SubscriptionCycle,
                usage_lines,
            )
            .await?;
        self.checkpoints.reach(Checkpoint::AfterInvoiceWrite)?;
        // Charged once by the renewal; after that, only dunning retries charge it.
        if invoice.attempt_count == 0 {
            self.collect(&mut invoice, sub, &customer, true, Some(now))
                .await?;
        }
        // The pending lines (proration credits) are on this invoice now.
        let included = invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Proration)
            .count();
        sub.pending_lines
            .drain(..included.min(sub.pending_lines.len()));
        sub.enter_next_period(invoice.id.clone(), now)?;
        // The new period's allocation is stored with the subscription's move into it.
        let next = AllowancePeriod::allocate(
            &sub.id,
            &sub.customer_id,
            &plan,
            sub.current_period(),
            previous.as_ref(),
        );
        sub.metered = next.is_some();
        sub.new_allowance_period = next.map(Box::new);
        self.settle(sub, &mut invoice).await
    }
}
