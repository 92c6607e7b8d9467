//! Upgrades and downgrades, and the upcoming-invoice preview.
//!
//! By default an upgrade (a higher tier, or another interval) applies at once and a downgrade at
//! the period's end (no months of credit). An immediate change is prorated by the second (see
//! [`crate::subscriptions::proration`]): a credit for the unused time of the old price and a charge for the
//! remaining time of the new. An upgrade's net is charged at once, with the customer present,
//! and the plan changes only once it is paid; a downgrade's net credit goes on the next invoice.
//! A new interval resets the billing anchor: the credit, plus the new price for a full period
//! from now.

use chrono::{DateTime, Utc};

use crate::catalogue::Plan;
use crate::collection::period_draft;
use crate::invoicing::{Invoice, InvoiceLine, InvoiceStatus, LineKind};
use crate::kernel::access::Actor;
use crate::kernel::error::BillingError;
use crate::kernel::ids::{PlanId, SubscriptionId};
use crate::kernel::money::Money;
use crate::kernel::period::Period;
use crate::kernel::ports::StoreError;
use crate::kernel::service::{stale_on_conflict, Billing};
use crate::subscriptions::proration::prorate;
use crate::subscriptions::{Subscription, SubscriptionStatus};

/// `POST /subscriptions/{id}/change-plan`.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub plan_id: PlanId,
    /// Prorate an immediate change (default true). Operators only: a customer's immediate
    /// change is always prorated.
    pub prorate: Option<bool>,
    /// `None`: upgrades now, downgrades at the period end.
    pub at_period_end: Option<bool>,
}

/// What an immediate change bills.
struct ChangeBill {
    lines: Vec<InvoiceLine>,
    /// The period the bill covers: the rest of the current one, or a new one from now.
    period: Period,
}

fn is_downgrade(from: &Plan, to: &Plan) -> bool {
    to.tier < from.tier
}

fn bill_for_change(
    sub: &Subscription,
    from: &Plan,
    to: &Plan,
    prorate_it: bool,
    now: DateTime<Utc>,
) -> Result<ChangeBill, BillingError> {
    if from.price.currency() != to.price.currency() {
        return Err(BillingError::field(
            "plan_id",
            "the plan is priced in another currency",
        ));
    }
    let conflict =
        |e: crate::subscriptions::proration::ProrationError| BillingError::Conflict(e.to_string());
    let proration = prorate(from.price, to.price, sub.current_period(), now).map_err(conflict)?;
    let credit = InvoiceLine {
        kind: LineKind::Proration,
        description: format!("Unused time on {} ({})", from.name, from.interval),
        amount: proration.credit,
        period: proration.remaining,
    };
    if to.interval != from.interval {
        let period = Period {
            start: now,
            end: to
                .interval
                .nth_period_end(now, 1)
                .ok_or_else(|| BillingError::field("plan_id", "date out of range"))?,
        };
        let mut lines = Vec::new();
        if prorate_it {
            lines.push(credit);
        }
        lines.push(InvoiceLine {
            kind: LineKind::Subscription,
            description: format!("{} ({})", to.name, to.interval),
            amount: to.price,
            period,
        });
        return Ok(ChangeBill { lines, period });
    }
    let lines = if prorate_it {
        vec![
            credit,
            InvoiceLine {
                kind: LineKind::Proration,
                description: format!("Remaining time on {} ({})", to.name, to.interval),
                amount: proration.charge,
                period: proration.remaining,
            },
        ]
    } else {
        Vec::new()
    };
    Ok(ChangeBill {
        lines,
        period: proration.remaining,
    })
}

/// The draft invoice of an immediate change (charged now, or previewed).
fn change_invoice(
    sub: &Subscription,
    to: &Plan,
    bill: ChangeBill,
    now: DateTime<Utc>,
) -> Result<Invoice, BillingError> {
    let mut lines = bill.lines;
    if let Some(discount) = &sub.discount {
        lines.extend(discount.change_line(&to.id, &lines, bill.period, now)?);
    }
    Ok(Invoice::draft(
        sub.id.clone(),
        sub.customer_id.clone(),
        to.price.currency(),
        bill.period,
        lines,
        now,
    )?
    .changing(sub.version)
    .for_plan(to.id.clone()))
}

fn sum(lines: &[InvoiceLine], zero: Money) -> Result<Money, BillingError> {
    lines
        .iter()
        .try_fold(zero, |acc, l| acc.checked_add(&l.amount))
        .map_err(|e| BillingError::Conflict(e.to_string()))
}

impl Billing {
    /// Changes the plan now (prorated, an upgrade charged at once) or at the period end.
    pub async fn change_plan(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        change: PlanChange,
    ) -> Result<Subscription, BillingError> {
        if change.prorate.is_some() && *actor != Actor::Operator {
            return Err(BillingError::field(
                "prorate",
                "only operators choose whether a change is prorated",
            ));
        }
        let mut sub = self.get_subscription(actor, id).await?;
        let to = match self.plans.get_plan(&change.plan_id).await? {
            Some(plan) => plan,
            None => return Err(BillingError::field("plan_id", "no plan with this id")),
        };
        sub.ensure_plan_can_change(&to)?;
        let from = self.plan(&sub.plan_id).await?;
        let now = self.now();
        let at_period_end = change
            .at_period_end
            .unwrap_or_else(|| is_downgrade(&from, &to));
        if at_period_end {
            sub.scheduled_plan_id = Some(to.id.clone());
            sub.updated_at = now;
            return self.store_changed(sub).await;
        }
        if sub.status == SubscriptionStatus::Trialing {
            // Nothing was paid yet: the trial simply continues on the new plan.
            sub.switch_plan(&to, now)?;
            return self.store_changed(sub).await;
        }
        let bill = bill_for_change(&sub, &from, &to, change.prorate.unwrap_or(true), now)?;
        let net = sum(&bill.lines, Money::zero(to.price.currency()))?;
        if net.is_negative() && *actor != Actor::Operator {
            // Credit for unused time is an operator's to give (else a customer could move
            // down and up again for less than the plan's price).
            return Err(BillingError::field(
                "at_period_end",
                "a change that leaves credit takes effect at the period's end; an operator can \
                 apply it now",
            ));
        }
        if net.is_negative() || net.amount().is_zero() {
            // A downgrade now: its credit goes on the next invoice.
            sub.pending_lines.extend(bill.lines);
            sub.switch_plan(&to, now)?;
            return self.store_changed(sub).await;
        }
        let customer = self.customer_of(&sub).await?;
        let draft = change_invoice(&sub, &to, bill, now)?;
        let mut invoice = self.open_invoice(draft).await.map_err(|e| match e {
            BillingError::Store(StoreError::AlreadyExists) => BillingError::Conflict(
                "another change of this subscription is being charged; read it again".into(),
            ),
            other => other,
        })?;
        self.collect(&mut invoice, &sub, &customer, false, None)
            .await?;
        if invoice.status != InvoiceStatus::Paid {
            // Stripe's `pending_if_incomplete`: nothing changes until the upgrade is paid.
            invoice.void(self.now())?;
            self.store_invoice(&mut invoice).await?;
            return Err(invoice.declined());
        }
        sub.switch_plan(&to, now)?;
        sub.latest_invoice_id = Some(invoice.id.clone());
        self.store_changed(sub).await
    }

    /// Stores a changed subscription; a concurrent change is a stale version.
    pub(crate) async fn store_changed(
        &self,
        mut sub: Subscription,
    ) -> Result<Subscription, BillingError> {
        self.subscriptions
            .update_subscription(&mut sub)
            .await
            .map_err(stale_on_conflict("subscription"))?;
        Ok(sub)
    }

    /// A preview of the next invoice, as Stripe's upcoming invoice: the next renewal (with a
    /// scheduled plan and pending credits), or with `plan_id` what changing to it would bill.
    /// Nothing is stored or charged.
    pub async fn upcoming_invoice(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        plan_id: Option<&PlanId>,
    ) -> Result<Invoice, BillingError> {
        let sub = self.get_subscription(actor, id).await?;
        if sub.status.is_ended() {
            return Err(BillingError::Conflict(
                "an ended subscription has no upcoming invoice".into(),
            ));
        }
        let now = self.now();
        let mut next = sub.clone();
        if let Some(plan_id) = plan_id {
            let to = match self.plans.get_plan(plan_id).await? {
                Some(plan) => plan,
                None => return Err(BillingError::field("query.plan_id", "no plan with this id")),
            };
            next.ensure_plan_can_change(&to).map_err(|e| match e {
                BillingError::Validation(mut errors) => {
                    for error in &mut errors {
                        error.field = format!("query.{}", error.field);
                    }
                    BillingError::Validation(errors)
                }
                other => other,
            })?;
            let from = self.plan(&sub.plan_id).await?;
            if is_downgrade(&from, &to) || sub.status == SubscriptionStatus::Trialing {
                next.scheduled_plan_id = Some(to.id.clone());
            } else {
                let bill = bill_for_change(&sub, &from, &to, true, now)?;
                return self
                    .with_credit(change_invoice(&sub, &to, bill, now)?)
                    .await;
            }
        }
        self.next_period_preview(next).await
    }

    /// What the next period's invoice of `next` will be, with the customer's credit as it
    /// stands (nothing is stored or spent).
    pub(crate) async fn next_period_preview(
        &self,
        mut next: Subscription,
    ) -> Result<Invoice, BillingError> {
        let now = self.now();
        if let Some(scheduled) = next.scheduled_plan_id.clone() {
            let plan = self.plan(&scheduled).await?;
            next.take_scheduled_plan(&plan, now);
        }
        let plan = self.plan(&next.plan_id).await?;
        let (period, _) = next.next_period()?;
        let mut items = self.item_lines(&next, period).await?;
        // The current period's overage so far (billed on that invoice unless more is used or
        // some is voided).
        if next.metered {
            if let Some(current) = self
                .usage
                .allowance_period(&next.id, next.current_period_start)
                .await?
            {
                items.extend(current.overage_lines(period)?);
            }
        }
        self.with_credit(period_draft(&next, &plan, period, items, now)?)
            .await
    }

    /// A preview with the customer's credit as it stands applied (nothing is spent).
    async fn with_credit(&self, mut draft: Invoice) -> Result<Invoice, BillingError> {
        let balance = self
            .credits
            .credit_balance(&draft.customer_id, draft.currency)
            .await?;
        draft.apply_credit(balance, self.now())?;
        draft.credit_changes.clear();
        Ok(draft)
    }
}
