//! A subscription's last allowance period: when the subscription ends, the period is closed
//! and its overage billed on a final invoice (there is no next period's invoice to carry it).

use std::str::FromStr;

use crate::invoicing::{BillingReason, Invoice};
use crate::kernel::error::BillingError;
use crate::kernel::ids::InvoiceId;
use crate::kernel::ports::StoreError;
use crate::kernel::service::Billing;
use crate::subscriptions::Subscription;

/// The id of a subscription's final usage invoice: one per subscription.
fn final_invoice_id(sub: &Subscription) -> Result<InvoiceId, BillingError> {
    let suffix = sub.id.as_str().trim_start_matches("sub_");
    InvoiceId::from_str(&format!("{}fin_{suffix}", InvoiceId::PREFIX))
        .map_err(|e| BillingError::Conflict(format!("final invoice id: {e}")))
}

impl Billing {
    /// An ended subscription's last allowance period: closed (no more usage), and its overage
    /// (soft limits with a price) billed once on a final invoice (`billing_reason:
    /// subscription_final`), charged off-session once; unpaid, it stays open to be paid with
    /// `POST /invoices/{id}/pay`. Nothing for a subscription without units, or still live.
    pub(crate) async fn bill_final_usage(&self, sub: &Subscription) -> Result<(), BillingError> {
        if !sub.status.is_ended() || !sub.metered {
            return Ok(());
        }
        let id = final_invoice_id(sub)?;
        if self.invoices.get_invoice(&id).await?.is_some() {
            return Ok(());
        }
        let Some(period) = self
            .usage
            .close_allowance_period(&sub.id, sub.current_period_start)
            .await?
        else {
            return Ok(());
        };
        let lines = period.overage_lines(sub.current_period())?;
        if lines.is_empty() {
            return Ok(());
        }
        let mut draft = Invoice::draft(
            sub.id.clone(),
            sub.customer_id.clone(),
            period.currency,
            sub.current_period(),
            lines,
            self.now(),
        )?
        .because(BillingReason::SubscriptionFinal)
        .for_plan(period.plan_id.clone());
        draft.id = id.clone();
        let mut invoice = match self.open_invoice(draft).await {
            Ok(invoice) => invoice,
            Err(BillingError::Store(StoreError::AlreadyExists)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let customer = self.customer_of(sub).await?;
        self.collect(&mut invoice, sub, &customer, true, None).await
    }
}
