//! The notifier: one published event in, at most one email out, exactly once per event.
//!
//! For an event that has an email ([`NotificationKind::for_event`]) it reads what the email
//! shows (customer, plan, subscription, invoice), skips kinds the customer turned off and
//! addresses that are suppressed (they bounced for good or complained), renders
//! the templates, then claims the send in the send log, sends through the [`Mailer`] and marks
//! it sent. A redelivered event finds it sent and sends nothing; a sender that died between
//! claim and send leaves a lease that runs out, and the next delivery sends.

use std::sync::Arc;

use async_trait::async_trait;
use billing_domain::catalogue::Plan;
use billing_domain::catalogue::PlanRepo;
use billing_domain::customers::CustomerRepo;
use billing_domain::customers::{Customer, Email};
use billing_domain::events::{DomainEvent, EventKind};
use billing_domain::inventory::ProductRepo;
use billing_domain::invoicing::Invoice;
use billing_domain::invoicing::InvoiceRepo;
use billing_domain::kernel::clock::Clock;
use billing_domain::kernel::ids::CustomerId;
use billing_domain::kernel::ports::StoreError;
use billing_domain::notifications::NotificationRepo;
use billing_domain::notifications::{
    EmailSuppression, NotificationKind, NotificationPreferences, SendClaim,
};
use billing_domain::subscriptions::SubscriptionRepo;
use billing_domain::subscriptions::{Subscription, SubscriptionStatus};
use chrono::Duration;

use crate::links::Links;
use crate::render::{date, money, LineView, RenderedEmail, View};

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: Vec<Email>,
    pub content: RenderedEmail,
    /// Whose email it is: the mail service tags it, and gives the tag back with a bounce or a
    /// complaint, so a suppression is shown to the customer whose mail caused it. `None`: an
    /// operators' alert.
    pub customer_id: Option<CustomerId>,
}

#[derive(Debug, thiserror::Error)]
#[error("mail: {message}")]
pub struct MailError {
    pub message: String,
    /// Whether trying again may work (throttling, the service unavailable).
    pub retryable: bool,
}

/// Sends email (SES when deployed and locally, through the emulator).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email; answers the mail service's message id.
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError>;
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("template: {0}")]
    Render(String),
    /// Another delivery of the same event is sending it: try again later.
    #[error("the email of {0} is being sent by another delivery")]
    InProgress(String),
}

/// What the notifier did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        kind: NotificationKind,
        message_id: String,
    },
    /// An operators' alert (`product.low_stock`) was sent.
    AlertSent {
        message_id: String,
    },
    AlreadySent,
    /// A product's event told to the customers who track it: how many were emailed (or had
    /// been).
    FannedOut {
        sent: usize,
    },
    /// Nothing to send, and why.
    Skipped(&'static str),
}

/// How long a claimed send may take before another delivery may send instead.
const SEND_LEASE_MINUTES: i64 = 5;

#[derive(Clone)]
pub struct Notifier {
    pub customers: Arc<dyn CustomerRepo>,
    pub plans: Arc<dyn PlanRepo>,
    pub subscriptions: Arc<dyn SubscriptionRepo>,
    pub invoices: Arc<dyn InvoiceRepo>,
    pub products: Arc<dyn ProductRepo>,
    /// To say, when a subscription ends, how many of its pre-orders stay open.
    pub preorders: Arc<dyn billing_domain::preorders::PreorderRepo>,
    pub notifications: Arc<dyn NotificationRepo>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub links: Links,
    /// The verified sender, e.g. `Billing <billing@example.com>` (`MAIL_FROM`).
    pub from: String,
    /// The product's name in greetings and footers (`PRODUCT_NAME`).
    pub product_name: String,
    /// Where operators' alerts go (`OPERATIONS_EMAIL`).
    pub operations_email: Option<String>,
}

impl Notifier {
    /// Handles one event (see the module's doc).
    pub async fn handle(&self, event: &DomainEvent) -> Result<Outcome, NotifyError> {
        match event.kind {
            EventKind::ProductLowStock => return self.alert_low_stock(event).await,
            EventKind::PurchaseOrderSent => return self.send_purchase_order(event).await,
            EventKind::ProductRestocked | EventKind::ProductPreorderOpened
                if event.customer_id.is_none() =>
            {
                return self.tell_trackers(event).await
            }
            _ => {}
        }
        let Some(kind) = NotificationKind::for_event(event.kind) else {
            return Ok(Outcome::Skipped("this event has no email"));
        };
        let Some(customer_id) = &event.customer_id else {
            return Ok(Outcome::Skipped("no customer to tell"));
        };
        let Some(customer) = self.customers.get_customer(customer_id).await? else {
            return Ok(Outcome::Skipped("the customer is gone"));
        };
        let prefs = self
            .notifications
            .get_preferences(&customer.id)
            .await?
            .unwrap_or_else(|| NotificationPreferences::default_for(customer.id.clone()));
        if !prefs.is_enabled(kind) {
            return Ok(Outcome::Skipped("the customer turned this kind off"));
        }
        let Some(view) = self.view(kind, event, &customer).await? else {
            return Ok(Outcome::Skipped("nothing to tell the customer"));
        };
        let mut to = match kind {
            // Only to the address to confirm, while it waits.
            NotificationKind::AddressConfirmation => match &event.facts.address {
                Some(address) if prefs.awaits_confirmation(address) => vec![address.clone()],
                _ => {
                    return Ok(Outcome::Skipped(
                        "the address is confirmed already, or no longer chosen",
                    ))
                }
            },
            _ => prefs.recipients(&customer),
        };
        let suppressed = self.notifications.suppressions(&to).await?;
        to.retain(|a| {
            let key = EmailSuppression::key(a.as_str());
            !suppressed.iter().any(|s| s.address == key)
        });
        if to.is_empty() {
            return Ok(Outcome::Skipped(
                "every address is suppressed (it bounced or complained)",
            ));
        }
        let content = view
            .render()
            .map_err(|e| NotifyError::Render(e.to_string()))?;
        let email = OutgoingEmail {
            from: self.from.clone(),
            to,
            content,
            customer_id: Some(customer.id.clone()),
        };
        Ok(match self.send_once(event, &email).await? {
            Some(message_id) => {
                tracing::info!(event = %event.id, kind = %kind, "email sent");
                Outcome::Sent { kind, message_id }
            }
            None => Outcome::AlreadySent,
        })
    }

    /// A product's event that its trackers are told of: one email per customer who tracks it,
    /// each sent once (the send log keys it by the event and the customer), with the
    /// customer's preferences and suppressions as for every customer email.
    async fn tell_trackers(&self, event: &DomainEvent) -> Result<Outcome, NotifyError> {
        let Some(product) = &event.facts.product_id else {
            return Ok(Outcome::Skipped("a product event without its product"));
        };
        let mut sent = 0;
        for customer in self.products.trackers(product).await? {
            let mut own = event.clone();
            own.id = format!("{}_{}", event.id, customer);
            own.customer_id = Some(customer);
            if matches!(
                Box::pin(self.handle(&own)).await?,
                Outcome::Sent { .. } | Outcome::AlreadySent
            ) {
                sent += 1;
            }
        }
        Ok(Outcome::FannedOut { sent })
    }

    /// A customer's early access to pre-orders: the most generous of its live subscriptions'
    /// plans (0 without one).
    async fn early_access_days(
        &self,
        customer: &billing_domain::kernel::ids::CustomerId,
    ) -> Result<u32, NotifyError> {
        use billing_domain::subscriptions::SubscriptionStatus;
        let page = billing_domain::kernel::page::PageRequest {
            limit: billing_domain::kernel::page::MAX_LIMIT,
            starting_after: None,
        };
        let mut best = 0;
        for sub in self
            .subscriptions
            .list_subscriptions(customer, &page)
            .await?
            .data
        {
            if !matches!(
                sub.status,
                SubscriptionStatus::Active
                    | SubscriptionStatus::Trialing
                    | SubscriptionStatus::PastDue
            ) {
                continue;
            }
            if let Some(plan) = self.plans.get_plan(&sub.plan_id).await? {
                best = best.max(plan.limits.early_access_days);
            }
        }
        Ok(best)
    }

    /// The product an event names, if it names one that still exists.
    async fn event_product(
        &self,
        facts: &billing_domain::events::EventFacts,
    ) -> Result<Option<billing_domain::inventory::product::Product>, NotifyError> {
        match &facts.product_id {
            Some(id) => Ok(self.products.get_product(id).await?),
            None => Ok(None),
        }
    }

    /// How many of a subscription's pre-orders are open (kept when it ends).
    async fn open_preorders(
        &self,
        subscription: &billing_domain::kernel::ids::SubscriptionId,
    ) -> Result<usize, NotifyError> {
        use billing_domain::preorders::preorder::PreorderStatus;
        let page = billing_domain::kernel::page::PageRequest {
            limit: billing_domain::kernel::page::MAX_LIMIT,
            starting_after: None,
        };
        let mut open = 0;
        for status in [
            PreorderStatus::Reserved,
            PreorderStatus::Backordered,
            PreorderStatus::Allocated,
            PreorderStatus::RequiresAction,
            PreorderStatus::PaymentFailed,
        ] {
            open += self
                .preorders
                .list_preorders(subscription, Some(status), &page)
                .await?
                .data
                .len();
        }
        Ok(open)
    }

    /// How many of a subscription's pre-orders were canceled when it ended (at or after
    /// `ended_at`).
    async fn ended_with(
        &self,
        subscription: &billing_domain::kernel::ids::SubscriptionId,
        ended_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<usize, NotifyError> {
        let Some(ended_at) = ended_at else {
            return Ok(0);
        };
        let page = billing_domain::kernel::page::PageRequest {
            limit: billing_domain::kernel::page::MAX_LIMIT,
            starting_after: None,
        };
        Ok(self
            .preorders
            .list_preorders(
                subscription,
                Some(billing_domain::preorders::preorder::PreorderStatus::Canceled),
                &page,
            )
            .await?
            .data
            .iter()
            .filter(|p| p.updated_at >= ended_at)
            .count())
    }

    /// Sends `email` for `event` once: claimed in the send log first, marked sent after.
    /// `None`: it was sent already.
    async fn send_once(
        &self,
        event: &DomainEvent,
        email: &OutgoingEmail,
    ) -> Result<Option<String>, NotifyError> {
        let now = self.clock.now();
        match self
            .notifications
            .claim_send(&event.id, now, now + Duration::minutes(SEND_LEASE_MINUTES))
            .await?
        {
            SendClaim::AlreadySent => return Ok(None),
            SendClaim::InProgress => return Err(NotifyError::InProgress(event.id.clone())),
            SendClaim::Claimed => {}
        }
        match self.mailer.send(email).await {
            Ok(message_id) => {
                self.notifications
                    .mark_sent(&event.id, &message_id, self.clock.now())
                    .await?;
                Ok(Some(message_id))
            }
            Err(e) => {
                self.notifications.release_send(&event.id).await?;
                Err(e.into())
            }
        }
    }

    /// `product.low_stock`: one plain email to the operators (`OPERATIONS_EMAIL`) and the
    /// product's supplier, sent once per event like every other (the send log). Not a
    /// customer's email: no preferences or unsubscribe link apply.
    async fn alert_low_stock(&self, event: &DomainEvent) -> Result<Outcome, NotifyError> {
        let f = &event.facts;
        let (Some(product_id), Some(available)) = (&f.product_id, f.available) else {
            return Ok(Outcome::Skipped("a low-stock event without its product"));
        };
        let Some(product) = self.products.get_product(product_id).await? else {
            return Ok(Outcome::Skipped("the product is gone"));
        };
        let subject = format!(
            "Low stock: {} ({}) has {available} available",
            product.name, product.sku
        );
        let mut text = format!(
            "{} ({}) has {available} units available, at or below its low-stock threshold of {}.\n\n\
             On hand: {}. Reserved for pre-orders: {}. Backordered: {}. Incoming: {}.\n",
            product.name,
            product.sku,
            product.low_stock_threshold,
            product.stock.on_hand,
            product.stock.reserved,
            product.backordered,
            product.incoming,
        );
        if let Some(supplier) = &product.supplier {
            text.push_str(&format!(
                "\nThe reorder quantity is {} units (lead time {} days).\n",
                supplier.reorder_quantity, supplier.lead_time_days
            ));
        }
        let supplier = product.supplier.as_ref().map(|s| s.email.clone());
        self.mail_operations(event, &product.id, supplier, subject, text)
            .await
    }

    /// `purchase_order.sent`: the purchase order, to the product's supplier (the operators
    /// copied), once.
    async fn send_purchase_order(&self, event: &DomainEvent) -> Result<Outcome, NotifyError> {
        let f = &event.facts;
        let (Some(product_id), Some(order), Some(quantity)) =
            (&f.product_id, &f.purchase_order_id, f.quantity)
        else {
            return Ok(Outcome::Skipped(
                "a purchase order event without its figures",
            ));
        };
        let Some(product) = self.products.get_product(product_id).await? else {
            return Ok(Outcome::Skipped("the product is gone"));
        };
        let Some(supplier) = product.supplier.as_ref().map(|s| s.email.clone()) else {
            return Ok(Outcome::Skipped("the product has no supplier"));
        };
        let subject = format!(
            "Purchase order {order}: {quantity} × {} ({})",
            product.name, product.sku
        );
        let mut text = format!(
            "Please supply {quantity} units of {} (SKU {}).\n\nPurchase order: {order}.\n",
            product.name, product.sku
        );
        if let Some(expected) = f.ends_at {
            text.push_str(&format!(
                "Expected by {} (the agreed lead time).\n",
                expected.format("%-d %B %Y")
            ));
        }
        text.push_str("Please quote the purchase order with the delivery.\n");
        self.mail_operations(event, &product.id, Some(supplier), subject, text)
            .await
    }

    /// A plain email about a product to the operators (`OPERATIONS_EMAIL`) and `supplier`, sent
    /// once per event (the send log). Not a customer's email: no preferences or unsubscribe
    /// link apply.
    async fn mail_operations(
        &self,
        event: &DomainEvent,
        product: &billing_domain::kernel::ids::ProductId,
        supplier: Option<Email>,
        subject: String,
        mut text: String,
    ) -> Result<Outcome, NotifyError> {
        let mut to: Vec<Email> = Vec::new();
        if let Some(raw) = &self.operations_email {
            to.push(
                Email::parse("OPERATIONS_EMAIL", raw)
                    .map_err(|e| NotifyError::Render(e.to_string()))?,
            );
        }
        to.extend(supplier);
        if to.is_empty() {
            return Ok(Outcome::Skipped("no operations address and no supplier"));
        }
        text.push_str(&format!("\n{}\n", self.product_name));
        let html = format!(
            "<p>{}</p>",
            askama::filters::escape(&text, askama::filters::Html)
                .map(|escaped| escaped.to_string())
                .unwrap_or_default()
                .replace('\n', "<br>")
        );
        let email = OutgoingEmail {
            from: self.from.clone(),
            to,
            content: crate::render::RenderedEmail {
                subject,
                html,
                text,
            },
            customer_id: None,
        };
        Ok(match self.send_once(event, &email).await? {
            Some(message_id) => {
                tracing::info!(event = %event.id, product = %product, kind = %event.kind.as_str(), "operations email sent");
                Outcome::AlertSent { message_id }
            }
            None => Outcome::AlreadySent,
        })
    }

    /// The figures of the email, or `None` when there is nothing worth telling (a receipt for
    /// nothing charged).
    async fn view(
        &self,
        kind: NotificationKind,
        event: &DomainEvent,
        customer: &Customer,
    ) -> Result<Option<View>, NotifyError> {
        let f = &event.facts;
        let sub = match &event.subscription_id {
            Some(id) => self.subscriptions.get_subscription(id).await?,
            None => None,
        };
        let plan_id = f
            .plan_id
            .clone()
            .or_else(|| sub.as_ref().map(|s| s.plan_id.clone()));
        let plan = match &plan_id {
            Some(id) => self.plans.get_plan(id).await?,
            None => None,
        };
        let invoice = match &f.invoice_id {
            Some(id) => self.invoices.get_invoice(id).await?,
            None => None,
        };

        let mut view = View {
            kind,
            recipient_name: recipient_name(customer),
            plan_name: plan.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            plan_price: plan.as_ref().map(plan_price).unwrap_or_default(),
            amount: f.amount.as_ref().map(money).unwrap_or_default(),
            date: String::new(),
            ended: false,
            trialing: false,
            invoice_id: f
                .invoice_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            period: String::new(),
            lines: Vec::new(),
            totals: Vec::new(),
            reason: f.reason.clone().unwrap_or_default().replace('_', " "),
            action_url: event
                .subscription_id
                .as_ref()
                .map(|id| self.links.subscription(id.as_str()))
                .unwrap_or_default(),
            unsubscribe_url: (!kind.always_sent())
                .then(|| self.links.unsubscribe(&customer.id, kind)),
            product_name: self.product_name.clone(),
            item: String::new(),
            expected: String::new(),
            open_preorders: 0,
            canceled_preorders: 0,
            threshold: 0,
            allocated: String::new(),
            remaining: String::new(),
        };
        match kind {
            NotificationKind::SubscriptionConfirmed => {
                let Some(sub) = &sub else { return Ok(None) };
                view.trialing = sub.status == SubscriptionStatus::Trialing;
                view.date = date(sub.current_period_end);
            }
            NotificationKind::PaymentReceipt => {
                let Some(invoice) = &invoice else {
                    return Ok(None);
                };
                if !receipt(&mut view, invoice) {
                    return Ok(None);
                }
                view.action_url = self.links.invoice(&invoice.id.to_string());
            }
            NotificationKind::PaymentFailed => {
                view.date = f.next_attempt_at.map(date).unwrap_or_default();
                view.action_url = self.links.update_payment_method(&customer.id);
            }
            NotificationKind::PaymentActionRequired => {
                view.action_url = self.links.invoice(&view.invoice_id);
            }
            NotificationKind::RenewalReminder => {
                view.date = f.period_end.map(date).unwrap_or_default();
            }
            NotificationKind::TrialEnding | NotificationKind::ExpiryWarning => {
                view.date = f.ends_at.map(date).unwrap_or_default();
            }
            NotificationKind::SubscriptionExpired => {
                view.date = date(ended_at(sub.as_ref(), event));
            }
            NotificationKind::CancellationConfirmed => {
                if let Some(id) = &event.subscription_id {
                    view.open_preorders = self.open_preorders(id).await?;
                    if let (Some(sub), Some(plan)) = (&sub, &plan) {
                        if plan.open_preorders_at_end
                            == billing_domain::catalogue::OpenPreorders::Cancel
                        {
                            view.canceled_preorders = self.ended_with(id, sub.ended_at).await?;
                            // Whatever is still open is canceled as this email goes.
                            view.canceled_preorders += view.open_preorders;
                            view.open_preorders = 0;
                        }
                    }
                }
                view.ended = event.kind == EventKind::SubscriptionCanceled;
                view.date = date(if view.ended {
                    ended_at(sub.as_ref(), event)
                } else {
                    f.ends_at
                        .or(sub.as_ref().map(|s| s.current_period_end))
                        .unwrap_or(event.occurred_at)
                });
            }
            NotificationKind::RefundIssued => {
                view.action_url = self.links.invoice(&view.invoice_id);
            }
            NotificationKind::AddressConfirmation => {
                let Some(address) = &f.address else {
                    return Ok(None);
                };
                view.action_url = self.links.confirm_address(&customer.id, address);
            }
            NotificationKind::PreorderCanceled
                if f.reason.as_deref()
                    == Some(billing_domain::preorders::placing::SUBSCRIPTION_ENDED) =>
            {
                // Told in the subscription's cancellation email, once.
                return Ok(None);
            }
            NotificationKind::PreorderConfirmed
            | NotificationKind::PreorderDelayed
            | NotificationKind::PreorderShipped
            | NotificationKind::PreorderCanceled => {
                let (Some(product), Some(quantity)) = (self.event_product(f).await?, f.quantity)
                else {
                    return Ok(None);
                };
                view.item = format!("{quantity} × {}", product.name);
                view.date = product.preorder.release_at.map(date).unwrap_or_default();
                view.expected = product.incoming_expected_at.map(date).unwrap_or_default();
                if kind == NotificationKind::PreorderShipped {
                    view.action_url = self.links.invoice(&view.invoice_id);
                }
            }
            NotificationKind::TrackedPreorderOpen => {
                let Some(product) = self.event_product(f).await? else {
                    return Ok(None);
                };
                let Some(window) = product.preorder.window else {
                    return Ok(None);
                };
                // Only the trackers whose own opening this announcement covers.
                let days = self.early_access_days(&customer.id).await?;
                let opens = window.opens_for(days);
                let covered = f.period_start.is_none_or(|from| opens > from)
                    && f.period_end.is_some_and(|to| opens <= to);
                if !covered {
                    return Ok(None);
                }
                view.item = product.name.clone();
                view.date = date(window.closes_at);
            }
            NotificationKind::TrackedBackInStock => {
                let Some(product) = self.event_product(f).await? else {
                    return Ok(None);
                };
                view.item = product.name.clone();
            }
            NotificationKind::UsageAlert => {
                let Some(usage) = &f.usage else {
                    return Ok(None);
                };
                view.item = usage.unit.as_str().to_owned();
                view.threshold = usage.threshold;
                view.allocated = usage.allocated.normalize().to_string();
                view.remaining = usage.remaining.normalize().to_string();
                view.date = f.period_end.map(date).unwrap_or_default();
            }
            NotificationKind::ItemDelayed => {
                let (Some(product), Some(quantity)) = (self.event_product(f).await?, f.quantity)
                else {
                    return Ok(None);
                };
                view.item = format!("{quantity} × {}", product.name);
                view.date = f.period_start.map(date).unwrap_or_default();
                view.expected = product.incoming_expected_at.map(date).unwrap_or_default();
            }
        }
        Ok(Some(view))
    }
}

fn recipient_name(customer: &Customer) -> String {
    customer
        .company
        .as_ref()
        .and_then(|c| c.legal_name.clone())
        .unwrap_or_else(|| customer.name.clone())
}

fn plan_price(plan: &Plan) -> String {
    let per = match plan.interval {
        billing_domain::kernel::period::Interval::Week => "week",
        billing_domain::kernel::period::Interval::TwoWeeks => "two weeks",
        billing_domain::kernel::period::Interval::Month => "month",
        billing_domain::kernel::period::Interval::Quarter => "quarter",
        billing_domain::kernel::period::Interval::Year => "year",
    };
    format!("{} per {per}", money(&plan.price))
}

fn ended_at(sub: Option<&Subscription>, event: &DomainEvent) -> chrono::DateTime<chrono::Utc> {
    sub.and_then(|s| s.ended_at).unwrap_or(event.occurred_at)
}

/// Fills the receipt's lines and totals; `false` when nothing was charged (no receipt).
fn receipt(view: &mut View, invoice: &Invoice) -> bool {
    let (Ok(subtotal), Ok(discount), Ok(total)) =
        (invoice.subtotal(), invoice.discount(), invoice.total())
    else {
        return false;
    };
    if invoice.amount_paid.amount().is_zero() && invoice.credit_applied.amount().is_zero() {
        return false;
    }
    view.period = format!(
        "{} to {}",
        date(invoice.period.start),
        date(invoice.period.end)
    );
    view.lines = invoice
        .lines
        .iter()
        .map(|l| LineView {
            description: l.description.clone(),
            amount: money(&l.amount),
        })
        .collect();
    let mut totals = vec![("Subtotal", subtotal)];
    if !discount.amount().is_zero() {
        totals.push(("Discount", discount));
    }
    totals.push(("Total", total));
    if !invoice.credit_applied.amount().is_zero() {
        totals.push(("Paid from your credit balance", invoice.credit_applied));
    }
    totals.push(("Amount paid", invoice.amount_paid));
    view.amount = money(if invoice.amount_paid.amount().is_zero() {
        &total
    } else {
        &invoice.amount_paid
    });
    view.totals = totals
        .into_iter()
        .map(|(label, amount)| LineView {
            description: label.into(),
            amount: money(&amount),
        })
        .collect();
    true
}
