//! Top-ups: units bought on top of an allowance, at the plan's top-up price, or a one-off
//! bundle's units; charged at once with the customer present (its own invoice), then granted
//! to the current allowance period like promotional units.

use std::str::FromStr;

use chrono::Duration;
use rust_decimal::Decimal;

use crate::invoicing::{BillingReason, Invoice, InvoiceLine, InvoiceStatus, LineKind};
use crate::kernel::access::Actor;
use crate::kernel::error::{BillingError, Refusal, RefusalKind};
use crate::kernel::ids::{InvoiceId, PlanId, SubscriptionId, UnitGrantId};
use crate::kernel::money::Money;
use crate::kernel::ports::StoreError;
use crate::kernel::service::Billing;
use crate::subscriptions::Subscription;
use crate::usage::period::{AllowancePeriod, GrantBalance};
use crate::usage::recording::{key_reused, not_active};
use crate::usage::{check_units, Unit};

/// How long units bought as a top-up last.
pub const TOP_UP_VALID_DAYS: i64 = 365;

/// What a top-up buys.
#[derive(Debug, Clone)]
pub enum TopUpRequest {
    /// `units` of `unit` at the subscription's plan's top-up price.
    Units { unit: Unit, units: Decimal },
    /// A one-off bundle's units, at its price.
    Bundle { plan_id: PlanId },
}

/// A paid top-up: its invoice and the grants it made.
#[derive(Debug, Clone)]
pub struct TopUp {
    pub invoice: Invoice,
    pub grants: Vec<(UnitGrantId, GrantBalance)>,
}

fn refused(code: &'static str, field: &str, message: impl Into<String>) -> BillingError {
    Refusal::new(RefusalKind::Unprocessable, code, message)
        .at(field)
        .into()
}

/// A top-up's invoice id: from the request's (scoped, hashed) idempotency key, so a retry finds
/// the invoice it already charged; random without one.
fn top_up_invoice_id(key: Option<&str>) -> Result<InvoiceId, BillingError> {
    let suffix = match key {
        Some(k) => k.to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    InvoiceId::from_str(&format!("{}tu_{suffix}", InvoiceId::PREFIX))
        .map_err(|e| BillingError::field("header.Idempotency-Key", e.to_string()))
}

impl Billing {
    /// Buys units for a subscription: charged at once (the customer present), then granted to
    /// its current allowance period until they expire ([`TOP_UP_VALID_DAYS`], or a bundle's
    /// days). A declined charge is 402 and grants nothing; the same key answers the same top-up.
    pub async fn top_up(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        request: TopUpRequest,
        key: Option<&str>,
    ) -> Result<TopUp, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        let invoice_id = top_up_invoice_id(key)?;
        if let Some(existing) = self.invoices.get_invoice(&invoice_id).await? {
            if existing.subscription_id != sub.id {
                return Err(key_reused().at("header.Idempotency-Key").into());
            }
            if existing.status == InvoiceStatus::Paid {
                let (_, grants, _) = self.top_up_terms(&sub, &request).await?;
                return self.grant_top_up(&sub, existing, grants).await;
            }
        }
        if !sub.status.is_in_service() {
            return Err(not_active(sub.status, "top-ups need it active").into());
        }
        let (lines, grants, plan_id) = self.top_up_terms(&sub, &request).await?;
        let currency = lines
            .first()
            .map(|l| l.amount.currency())
            .ok_or_else(|| BillingError::Conflict("a top-up without a line".into()))?;
        let now = self.now();
        let mut draft = Invoice::draft(
            sub.id.clone(),
            sub.customer_id.clone(),
            currency,
            sub.current_period(),
            lines,
            now,
        )?
        .because(BillingReason::TopUp)
        .for_plan(plan_id);
        draft.id = invoice_id.clone();
        let mut invoice = match self.open_invoice(draft).await {
            Ok(invoice) => invoice,
            Err(BillingError::Store(StoreError::AlreadyExists)) => self
                .invoices
                .get_invoice(&invoice_id)
                .await?
                .ok_or(BillingError::NotFound("invoice"))?,
            Err(e) => return Err(e),
        };
        let customer = self.customer_of(&sub).await?;
        self.collect(&mut invoice, &sub, &customer, false, None)
            .await?;
        if invoice.status != InvoiceStatus::Paid {
            // Declined, or waiting for authentication: nothing is bought.
            if invoice.status == InvoiceStatus::Open {
                invoice.void(self.now())?;
                self.store_invoice(&mut invoice).await?;
            }
            return Err(invoice.declined());
        }
        self.grant_top_up(&sub, invoice, grants).await
    }

    /// The invoice lines and the grants of a top-up, checked against the subscription's open
    /// allowance period.
    async fn top_up_terms(
        &self,
        sub: &Subscription,
        request: &TopUpRequest,
    ) -> Result<(Vec<InvoiceLine>, Vec<GrantBalance>, PlanId), BillingError> {
        let period = self.open_period(sub).await?;
        let now = self.now();
        let grant = |unit: Unit, units: Decimal, days: i64| GrantBalance {
            unit,
            units,
            left: units,
            expires_at: now + Duration::days(days),
            description: Some("top-up".into()),
            granted_at: now,
        };
        match request {
            TopUpRequest::Units { unit, units } => {
                let units = check_units("units", *units, true)?;
                let plan = self.plan(&period.plan_id).await?;
                let Some(price) = plan
                    .allowances
                    .iter()
                    .find(|a| a.unit == *unit)
                    .and_then(|a| a.top_up_unit_price)
                else {
                    return Err(refused(
                        "top_up_not_offered",
                        "unit",
                        format!("this subscription's plan sells no {unit} as top-ups"),
                    ));
                };
                let amount = Money::round(
                    units
                        .checked_mul(price)
                        .ok_or_else(|| BillingError::field("units", "too many units"))?,
                    plan.price.currency(),
                );
                if amount.amount() <= Decimal::ZERO {
                    return Err(BillingError::field(
                        "units",
                        "too few units to charge anything",
                    ));
                }
                let line = InvoiceLine {
                    kind: LineKind::Usage,
                    description: format!(
                        "Top-up: {} {unit} × {}",
                        units.normalize(),
                        price.normalize()
                    ),
                    amount,
                    period: sub.current_period(),
                };
                Ok((
                    vec![line],
                    vec![grant(*unit, units, TOP_UP_VALID_DAYS)],
                    plan.id,
                ))
            }
            TopUpRequest::Bundle { plan_id } => {
                let bundle = match self.plans.get_plan(plan_id).await? {
                    Some(p) if p.is_active() && !p.is_recurring() => p,
                    _ => {
                        return Err(BillingError::field(
                            "plan_id",
                            "names no active one-off bundle",
                        ))
                    }
                };
                if bundle.price.currency() != period.currency {
                    return Err(BillingError::field(
                        "plan_id",
                        "the bundle is priced in another currency than the subscription",
                    ));
                }
                let days = i64::from(bundle.duration_days.unwrap_or(0));
                let grants = bundle
                    .allowances
                    .iter()
                    .filter(|a| a.included > Decimal::ZERO)
                    .map(|a| grant(a.unit, a.included, days))
                    .collect();
                let line = InvoiceLine {
                    kind: LineKind::Usage,
                    description: format!("Top-up: {}", bundle.name),
                    amount: bundle.price,
                    period: sub.current_period(),
                };
                Ok((vec![line], grants, bundle.id))
            }
        }
    }

    /// The subscription's current allowance period, open (a top-up goes into it).
    async fn open_period(&self, sub: &Subscription) -> Result<AllowancePeriod, BillingError> {
        match self
            .usage
            .allowance_period(&sub.id, sub.current_period_start)
            .await?
        {
            Some(p) if !p.closed => Ok(p),
            Some(_) => Err(Refusal::conflict(
                "period_closed",
                "the current allowance period is being invoiced; retry in a moment",
            )
            .into()),
            None => Err(refused(
                "unit_not_included",
                "subscription",
                "this subscription's plan includes no units to top up",
            )),
        }
    }

    /// Grants a paid top-up's units, each grant once (its id comes from the invoice's): a
    /// period that closed meanwhile passes them to the next one.
    async fn grant_top_up(
        &self,
        sub: &Subscription,
        invoice: Invoice,
        grants: Vec<GrantBalance>,
    ) -> Result<TopUp, BillingError> {
        let base = invoice
            .id
            .as_str()
            .trim_start_matches(InvoiceId::PREFIX)
            .to_owned();
        let mut granted = Vec::new();
        for (n, grant) in grants.into_iter().enumerate() {
            let id = UnitGrantId::from_str(&format!("{}{base}_{n}", UnitGrantId::PREFIX))
                .map_err(|e| BillingError::Conflict(format!("grant id: {e}")))?;
            let mut current = sub.clone();
            let mut done = false;
            for _ in 0..3 {
                done = self
                    .usage
                    .add_grant(&current.id, current.current_period_start, &id, &grant)
                    .await?
                    || self
                        .usage
                        .allowance_period(&current.id, current.current_period_start)
                        .await?
                        .is_some_and(|p| p.grants.contains_key(&id));
                if done {
                    break;
                }
                // Closed by a renewal: the subscription has moved on (or is about to).
                current = self.get_subscription(&Actor::Operator, &sub.id).await?;
            }
            if !done {
                // Paid and not yet granted: the same request (key) grants it.
                return Err(StoreError::Unavailable(
                    "the allowance period is being renewed; retry the top-up with its key".into(),
                )
                .into());
            }
            granted.push((id, grant));
        }
        Ok(TopUp {
            invoice,
            grants: granted,
        })
    }
}
