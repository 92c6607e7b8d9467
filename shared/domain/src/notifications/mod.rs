//! Customer notifications: which email each domain event becomes, and what a customer chose to
//! receive. Rendering and sending live in the notifications crate; this module decides.
//!
//! Receipts, payment failures, payments waiting for the customer and refunds are transactional:
//! they always go, whatever the preferences say (the customer needs them to pay or to account).
//! Every other kind can be turned off, by the preferences API or by the signed unsubscribe link
//! in the email.
//!
//! An address that bounced for good or whose owner marked our email as spam is suppressed: no
//! email goes to it, of any kind, until an operator lifts the suppression
//! (mailing it again would hurt the sender's reputation, and SES pauses senders that bounce).

mod repo;
pub use repo::NotificationRepo;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customers::{Customer, Email};
use crate::events::{DomainEvent, EventFacts, EventKind, Outbox};
use crate::kernel::access::Actor;
use crate::kernel::error::BillingError;
use crate::kernel::ids::CustomerId;
use crate::kernel::ports::StoreError;
use crate::kernel::retry::CONFLICT_RETRIES;
use crate::kernel::validation::{FieldError, Validator};

/// One kind of email, one template each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    SubscriptionConfirmed,
    PaymentReceipt,
    PaymentFailed,
    PaymentActionRequired,
    RenewalReminder,
    TrialEnding,
    ExpiryWarning,
    SubscriptionExpired,
    CancellationConfirmed,
    RefundIssued,
    /// To an address a customer added: confirm it before it gets email.
    AddressConfirmation,
    /// A pre-order placed, holding stock.
    PreorderConfirmed,
    /// A pre-order placed that waits for stock.
    PreorderDelayed,
    /// A pre-order paid and shipped (the receipt comes with its invoice).
    PreorderShipped,
    PreorderCanceled,
    /// A subscription's recurring item that will ship later than its period.
    ItemDelayed,
    /// A product the customer tracks is back in stock.
    TrackedBackInStock,
    /// A product the customer tracks opened for pre-order to its tier.
    TrackedPreorderOpen,
    UsageAlert,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 19] = [
        NotificationKind::SubscriptionConfirmed,
        NotificationKind::PaymentReceipt,
        NotificationKind::PaymentFailed,
        NotificationKind::PaymentActionRequired,
        NotificationKind::RenewalReminder,
        NotificationKind::TrialEnding,
        NotificationKind::ExpiryWarning,
        NotificationKind::SubscriptionExpired,
        NotificationKind::CancellationConfirmed,
        NotificationKind::RefundIssued,
        NotificationKind::AddressConfirmation,
        NotificationKind::PreorderConfirmed,
        NotificationKind::PreorderDelayed,
        NotificationKind::PreorderShipped,
        NotificationKind::PreorderCanceled,
        NotificationKind::ItemDelayed,
        NotificationKind::TrackedBackInStock,
        NotificationKind::TrackedPreorderOpen,
        NotificationKind::UsageAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::SubscriptionConfirmed => "subscription_confirmed",
            NotificationKind::PaymentReceipt => "payment_receipt",
            NotificationKind::PaymentFailed => "payment_failed",
            NotificationKind::PaymentActionRequired => "payment_action_required",
            NotificationKind::RenewalReminder => "renewal_reminder",
            NotificationKind::TrialEnding => "trial_ending",
            NotificationKind::ExpiryWarning => "expiry_warning",
            NotificationKind::SubscriptionExpired => "subscription_expired",
            NotificationKind::CancellationConfirmed => "cancellation_confirmed",
            NotificationKind::RefundIssued => "refund_issued",
            NotificationKind::AddressConfirmation => "address_confirmation",
            NotificationKind::PreorderConfirmed => "preorder_confirmed",
            NotificationKind::PreorderDelayed => "preorder_delayed",
            NotificationKind::PreorderShipped => "preorder_shipped",
            NotificationKind::PreorderCanceled => "preorder_canceled",
            NotificationKind::ItemDelayed => "item_delayed",
            NotificationKind::TrackedBackInStock => "tracked_back_in_stock",
            NotificationKind::TrackedPreorderOpen => "tracked_preorder_open",
            NotificationKind::UsageAlert => "usage_alert",
        }
    }

    /// The email an event becomes, if any (`subscription.renewed` has none: its invoice's
    /// `invoice.paid` sends the receipt).
    pub fn for_event(kind: EventKind) -> Option<NotificationKind> {
        match kind {
            EventKind::SubscriptionCreated => Some(NotificationKind::SubscriptionConfirmed),
            EventKind::InvoicePaid => Some(NotificationKind::PaymentReceipt),
            EventKind::InvoicePaymentFailed => Some(NotificationKind::PaymentFailed),
            EventKind::InvoicePaymentActionRequired => {
                Some(NotificationKind::PaymentActionRequired)
            }
            EventKind::InvoiceUpcoming => Some(NotificationKind::RenewalReminder),
            EventKind::SubscriptionTrialWillEnd => Some(NotificationKind::TrialEnding),
            EventKind::SubscriptionExpiring => Some(NotificationKind::ExpiryWarning),
            EventKind::SubscriptionExpired => Some(NotificationKind::SubscriptionExpired),
            EventKind::SubscriptionCancelScheduled | EventKind::SubscriptionCanceled => {
                Some(NotificationKind::CancellationConfirmed)
            }
            EventKind::InvoiceRefunded => Some(NotificationKind::RefundIssued),
            EventKind::CustomerNotificationAddressAdded => {
                Some(NotificationKind::AddressConfirmation)
            }
            EventKind::PreorderCreated => Some(NotificationKind::PreorderConfirmed),
            EventKind::PreorderBackordered => Some(NotificationKind::PreorderDelayed),
            EventKind::PreorderFulfilled => Some(NotificationKind::PreorderShipped),
            EventKind::PreorderCanceled => Some(NotificationKind::PreorderCanceled),
            EventKind::SubscriptionItemBackordered => Some(NotificationKind::ItemDelayed),
            // Sent to each customer who tracks the product (the notifier fans it out).
            EventKind::ProductRestocked => Some(NotificationKind::TrackedBackInStock),
            EventKind::ProductPreorderOpened => Some(NotificationKind::TrackedPreorderOpen),
            EventKind::UsageThresholdReached => Some(NotificationKind::UsageAlert),
            // Allocated: it is charged next, and says so then. Declined: the invoice's
            // `invoice.payment_failed` sends the email.
            // A product's events are the operators' and the supplier's, not a customer's (the
            // notifier mails `product.low_stock` and `purchase_order.sent` to them).
            EventKind::PreorderAllocated
            | EventKind::PreorderPaymentFailed
            | EventKind::ProductLowStock
            | EventKind::PurchaseOrderSent
            | EventKind::SubscriptionRenewed
            | EventKind::SubscriptionPaused
            | EventKind::SubscriptionResumed
            | EventKind::SubscriptionPlanChanged
            | EventKind::SubscriptionUpdated
            | EventKind::InvoiceMarkedUncollectible
            | EventKind::InvoiceDisputeOpened
            | EventKind::InvoiceDisputeClosed => None,
        }
    }

    /// Transactional kinds go whatever the preferences say.
    pub fn always_sent(self) -> bool {
        match self {
            NotificationKind::PaymentReceipt
            | NotificationKind::PaymentFailed
            | NotificationKind::PaymentActionRequired
            | NotificationKind::RefundIssued
            | NotificationKind::AddressConfirmation
            | NotificationKind::PreorderConfirmed
            | NotificationKind::PreorderDelayed
            | NotificationKind::PreorderShipped
            | NotificationKind::PreorderCanceled
            | NotificationKind::ItemDelayed => true,
            NotificationKind::SubscriptionConfirmed
            | NotificationKind::RenewalReminder
            | NotificationKind::TrialEnding
            | NotificationKind::ExpiryWarning
            | NotificationKind::SubscriptionExpired
            | NotificationKind::CancellationConfirmed
            | NotificationKind::TrackedBackInStock
            | NotificationKind::TrackedPreorderOpen
            | NotificationKind::UsageAlert => false,
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("no notification kind {s:?}"))
    }
}

/// The most addresses a customer's email goes to.
pub const MAX_NOTIFICATION_ADDRESSES: usize = 5;

/// An address a customer's email goes to. One a customer adds gets email only once its owner
/// confirmed it (the link in the confirmation email), so a customer cannot have our email sent
/// to a stranger; one an operator adds, and the customer's own address, are confirmed at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAddress {
    pub email: Email,
    /// `None`: waiting for confirmation.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// What a customer receives, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPreferences {
    pub customer_id: CustomerId,
    /// Kinds turned off (never a transactional one).
    pub disabled: BTreeSet<NotificationKind>,
    /// Where email goes once confirmed; none confirmed: the customer's own email address.
    pub addresses: Vec<NotificationAddress>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Events recorded since the last stored write (the confirmation requests).
    pub events: Outbox,
    /// 0 until first stored.
    pub version: u64,
}

/// A change to the preferences (PUT): what is given replaces what was there.
#[derive(Debug, Clone, Default)]
pub struct PreferencesUpdate {
    /// Kind name → on or off. Names that are not kinds, and turning off a transactional kind,
    /// are field errors (`kinds.<name>`).
    pub kinds: Option<BTreeMap<String, bool>>,
    /// `Some(vec![])` goes back to the customer's own address.
    pub addresses: Option<Vec<String>>,
}

impl NotificationPreferences {
    /// Everything on, sent to the customer's own address.
    pub fn default_for(customer_id: CustomerId) -> Self {
        NotificationPreferences {
            customer_id,
            disabled: BTreeSet::new(),
            addresses: Vec::new(),
            updated_at: None,
            events: Outbox::default(),
            version: 0,
        }
    }

    pub fn is_enabled(&self, kind: NotificationKind) -> bool {
        kind.always_sent() || !self.disabled.contains(&kind)
    }

    /// Who gets the email: the confirmed addresses, or (none confirmed) the customer's own.
    pub fn recipients(&self, customer: &Customer) -> Vec<Email> {
        let confirmed: Vec<Email> = self
            .addresses
            .iter()
            .filter(|a| a.confirmed_at.is_some())
            .map(|a| a.email.clone())
            .collect();
        if confirmed.is_empty() {
            vec![customer.email.clone()]
        } else {
            confirmed
        }
    }

    /// The addresses waiting for their owner's confirmation.
    pub fn pending(&self) -> impl Iterator<Item = &Email> {
        self.addresses
            .iter()
            .filter(|a| a.confirmed_at.is_none())
            .map(|a| &a.email)
    }

    /// Whether `address` is one of the addresses and still waits for confirmation.
    pub fn awaits_confirmation(&self, address: &Email) -> bool {
        self.pending().any(|a| same_address(a, address))
    }

    /// Applies a PUT by `actor`. An address that was there keeps its confirmation; a new one
    /// is confirmed at once when an operator gives it or it is the customer's own, and
    /// otherwise records `customer.notification_address_added` (its confirmation email).
    pub fn apply(
        &mut self,
        update: PreferencesUpdate,
        actor: &Actor,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        let mut disabled = self.disabled.clone();
        for (name, on) in update.kinds.iter().flatten() {
            let field = format!("kinds.{name}");
            match name.parse::<NotificationKind>() {
                Err(_) => v.push(FieldError::new(
                    field,
                    format!(
                        "not a notification kind; kinds are {}",
                        NotificationKind::ALL
                            .map(NotificationKind::as_str)
                            .join(", ")
                    ),
                )),
                Ok(kind) if kind.always_sent() && !on => v.push(FieldError::new(
                    field,
                    "receipts, payment failures and refunds are always sent",
                )),
                Ok(kind) if *on => {
                    disabled.remove(&kind);
                }
                Ok(kind) => {
                    if !kind.always_sent() {
                        disabled.insert(kind);
                    }
                }
            }
        }
        let mut addresses: Vec<Email> = Vec::new();
        if let Some(raw) = &update.addresses {
            if raw.len() > MAX_NOTIFICATION_ADDRESSES {
                v.push(FieldError::new(
                    "addresses",
                    format!("at most {MAX_NOTIFICATION_ADDRESSES} addresses"),
                ));
            }
            for (i, address) in raw.iter().enumerate() {
                if let Some(email) = v.check(Email::parse(&format!("addresses[{i}]"), address)) {
                    if !addresses.iter().any(|a| same_address(a, &email)) {
                        addresses.push(email);
                    }
                }
            }
        }
        v.finish()?;
        self.disabled = disabled;
        if update.addresses.is_some() {
            let mut chosen = Vec::new();
            for email in addresses {
                let known = self
                    .addresses
                    .iter()
                    .find(|a| same_address(&a.email, &email))
                    .map(|a| a.confirmed_at);
                let confirmed_at = match known {
                    Some(confirmed_at) => confirmed_at,
                    None if *actor == Actor::Operator || same_address(&email, &customer.email) => {
                        Some(now)
                    }
                    None => {
                        self.events.record(
                            EventKind::CustomerNotificationAddressAdded,
                            now,
                            EventFacts {
                                address: Some(email.clone()),
                                ..EventFacts::default()
                            },
                        );
                        None
                    }
                };
                chosen.push(NotificationAddress {
                    email,
                    confirmed_at,
                });
            }
            self.addresses = chosen;
        }
        self.updated_at = Some(now);
        Ok(())
    }

    /// Confirms `address` (its owner followed the link). Answers whether it was waiting; an
    /// address no longer among the addresses is a not-found error.
    pub fn confirm(&mut self, address: &Email, now: DateTime<Utc>) -> Result<bool, BillingError> {
        let entry = self
            .addresses
            .iter_mut()
            .find(|a| same_address(&a.email, address))
            .ok_or(BillingError::NotFound("notification address"))?;
        if entry.confirmed_at.is_some() {
            return Ok(false);
        }
        entry.confirmed_at = Some(now);
        self.updated_at = Some(now);
        Ok(true)
    }

    /// Turns `kind` off (the unsubscribe link); a transactional kind stays on. Answers whether
    /// anything changed.
    pub fn unsubscribe(&mut self, kind: NotificationKind, now: DateTime<Utc>) -> bool {
        if kind.always_sent() || !self.disabled.insert(kind) {
            return false;
        }
        self.updated_at = Some(now);
        true
    }

    /// The events the write that takes the preferences to `sequence` stores.
    pub fn outgoing_events(&self, sequence: u64) -> Vec<DomainEvent> {
        self.events.stamped(
            &format!("{}_notifications", self.customer_id),
            &self.customer_id,
            None,
            sequence,
        )
    }
}

/// Addresses are the same whatever the case (as mail providers treat them).
fn same_address(a: &Email, b: &Email) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

impl crate::kernel::service::Billing {
    /// A customer's preferences (the defaults until set), and the customer.
    pub async fn notification_preferences(
        &self,
        actor: &Actor,
        customer_id: &CustomerId,
    ) -> Result<(NotificationPreferences, Customer), BillingError> {
        let customer = self.get_customer(actor, customer_id).await?;
        let prefs = self
            .notifications
            .get_preferences(&customer.id)
            .await?
            .unwrap_or_else(|| NotificationPreferences::default_for(customer.id.clone()));
        Ok((prefs, customer))
    }

    /// `PUT /customers/{id}/notification-preferences`.
    pub async fn update_notification_preferences(
        &self,
        actor: &Actor,
        customer_id: &CustomerId,
        update: PreferencesUpdate,
    ) -> Result<(NotificationPreferences, Customer), BillingError> {
        let customer = self.get_customer(actor, customer_id).await?;
        let prefs = self
            .change_preferences(&customer.id, |prefs, now| {
                prefs
                    .apply(update.clone(), actor, &customer, now)
                    .map_err(BillingError::Validation)
            })
            .await?;
        Ok((prefs, customer))
    }

    /// Turns `kind` off for the customer: the unsubscribe link, whose signature the caller
    /// checked (it stands for the customer's consent; no login).
    pub async fn unsubscribe(
        &self,
        customer_id: &CustomerId,
        kind: NotificationKind,
    ) -> Result<NotificationPreferences, BillingError> {
        if self.customers.get_customer(customer_id).await?.is_none() {
            return Err(BillingError::NotFound("customer"));
        }
        self.change_preferences(customer_id, |prefs, now| {
            prefs.unsubscribe(kind, now);
            Ok(())
        })
        .await
    }

    /// Confirms one of a customer's notification addresses: the link of the confirmation
    /// email, whose signature the caller checked (it stands for the address's owner; no login).
    pub async fn confirm_notification_address(
        &self,
        customer_id: &CustomerId,
        address: &Email,
    ) -> Result<NotificationPreferences, BillingError> {
        if self.customers.get_customer(customer_id).await?.is_none() {
            return Err(BillingError::NotFound("customer"));
        }
        self.change_preferences(customer_id, |prefs, now| {
            prefs.confirm(address, now).map(|_| ())
        })
        .await
    }

    /// Load, change and store the preferences, again on a concurrent change.
    async fn change_preferences(
        &self,
        customer_id: &CustomerId,
        change: impl Fn(&mut NotificationPreferences, DateTime<Utc>) -> Result<(), BillingError>,
    ) -> Result<NotificationPreferences, BillingError> {
        let mut conflicts = 0;
        loop {
            let mut prefs = self
                .notifications
                .get_preferences(customer_id)
                .await?
                .unwrap_or_else(|| NotificationPreferences::default_for(customer_id.clone()));
            change(&mut prefs, self.now())?;
            match self.notifications.put_preferences(&mut prefs).await {
                Ok(()) => return Ok(prefs),
                Err(StoreError::VersionConflict) if conflicts < CONFLICT_RETRIES => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Why an address gets no more email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// A permanent bounce: the mailbox does not exist or refuses mail for good.
    Bounce,
    /// The recipient marked an email as spam.
    Complaint,
}

/// An address that gets no more email (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSuppression {
    /// Lower-cased: mail systems treat addresses case-insensitively in practice.
    pub address: String,
    pub reason: SuppressionReason,
    /// What the receiving mail server said (a bounce's diagnostic), when known.
    pub detail: Option<String>,
    pub suppressed_at: DateTime<Utc>,
    /// The customers whose email bounced or was marked spam there (each email carries its
    /// customer's id as a tag, and SES's report gives it back): the only customers shown the
    /// suppression. The address is suppressed for everyone all the same.
    pub customers: Vec<CustomerId>,
}

impl EmailSuppression {
    /// The key an address is suppressed under.
    pub fn key(address: &str) -> String {
        address.trim().to_lowercase()
    }
}

/// What the mail service reported about email already sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailFeedback {
    /// A bounce; `permanent: false` (a full mailbox, a timeout) suppresses nothing.
    Bounce {
        permanent: bool,
        addresses: Vec<String>,
        detail: Option<String>,
        /// The customer the email was for (its tag), when the report names one.
        customer: Option<CustomerId>,
    },
    Complaint {
        addresses: Vec<String>,
        customer: Option<CustomerId>,
    },
}

impl MailFeedback {
    /// The suppressions it calls for, at `now`.
    pub fn suppressions(&self, now: DateTime<Utc>) -> Vec<EmailSuppression> {
        let (reason, addresses, detail, customer) = match self {
            MailFeedback::Bounce {
                permanent: false, ..
            } => return Vec::new(),
            MailFeedback::Bounce {
                addresses,
                detail,
                customer,
                ..
            } => (
                SuppressionReason::Bounce,
                addresses,
                detail.clone(),
                customer,
            ),
            MailFeedback::Complaint {
                addresses,
                customer,
            } => (SuppressionReason::Complaint, addresses, None, customer),
        };
        addresses
            .iter()
            .map(|a| EmailSuppression {
                address: EmailSuppression::key(a),
                reason,
                detail: detail.clone(),
                suppressed_at: now,
                customers: customer.iter().cloned().collect(),
            })
            .collect()
    }
}

impl crate::kernel::service::Billing {
    /// The suppressed addresses among those the customer's email goes to, as `actor` may see
    /// them: an operator sees each; a customer only those its own email caused (an address it
    /// added that bounced for another customer says nothing of that customer's mail).
    pub async fn suppressed_recipients(
        &self,
        actor: &Actor,
        prefs: &NotificationPreferences,
        customer: &Customer,
    ) -> Result<Vec<EmailSuppression>, BillingError> {
        let mut suppressed = self
            .notifications
            .suppressions(&prefs.recipients(customer))
            .await?;
        if *actor != Actor::Operator {
            suppressed.retain(|s| s.customers.contains(&customer.id));
        }
        Ok(suppressed)
    }

    /// Lifts the suppression of one of the customer's addresses (the mailbox works again):
    /// operators only. `NotFound` unless the address is one the customer's email goes to and
    /// is suppressed.
    pub async fn lift_suppression(
        &self,
        actor: &Actor,
        customer_id: &CustomerId,
        address: &str,
    ) -> Result<EmailSuppression, BillingError> {
        // An operator's to lift: a suppression protects the sender's reputation for everyone.
        if *actor != Actor::Operator {
            return Err(BillingError::NotFound("email suppression"));
        }
        let (prefs, customer) = self.notification_preferences(actor, customer_id).await?;
        let key = EmailSuppression::key(address);
        let suppression = self
            .suppressed_recipients(actor, &prefs, &customer)
            .await?
            .into_iter()
            .find(|s| s.address == key)
            .ok_or(BillingError::NotFound("email suppression"))?;
        self.notifications.lift_suppression(&key).await?;
        Ok(suppression)
    }
}

/// Where the sending of one email stands ([`crate::notifications::NotificationRepo::claim_send`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendClaim {
    /// This caller sends it now.
    Claimed,
    /// It was sent already: nothing to do.
    AlreadySent,
    /// Another caller is sending it (its claim has not expired): try again later.
    InProgress,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::NewCustomer;
    use crate::kernel::testing::{customer_id, days, t0};

    fn acme() -> Customer {
        Customer::create(
            NewCustomer {
                name: "Acme Wholesale".into(),
                email: "billing@acme.example".into(),
                ..NewCustomer::default()
            },
            t0(),
        )
        .expect("customer")
    }

    fn addresses(list: &[&str]) -> PreferencesUpdate {
        PreferencesUpdate {
            kinds: None,
            addresses: Some(list.iter().map(|a| (*a).to_owned()).collect()),
        }
    }

    fn emails(list: &[Email]) -> Vec<&str> {
        list.iter().map(Email::as_str).collect()
    }

    #[test]
    fn an_address_a_customer_adds_gets_nothing_until_its_owner_confirms_it() {
        let customer = acme();
        let me = Actor::Customer(customer.id.clone());
        let mut prefs = NotificationPreferences::default_for(customer.id.clone());
        prefs
            .apply(
                addresses(&["cfo@acme.example", "Billing@Acme.example"]),
                &me,
                &customer,
                t0(),
            )
            .expect("valid");
        // The customer's own address is confirmed; the new one waits, and its confirmation
        // email is asked for.
        assert_eq!(
            emails(&prefs.recipients(&customer)),
            ["Billing@Acme.example"]
        );
        let cfo = Email::parse("a", "cfo@acme.example").expect("email");
        assert!(prefs.awaits_confirmation(&cfo));
        let events = prefs.outgoing_events(1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::CustomerNotificationAddressAdded);
        assert_eq!(events[0].facts.address.as_ref(), Some(&cfo));
        assert_eq!(events[0].subscription_id, None);
        prefs.events.clear();

        // Given again, it keeps waiting and is not asked for twice.
        prefs
            .apply(addresses(&["CFO@acme.example"]), &me, &customer, t0())
            .expect("valid");
        assert!(prefs.outgoing_events(2).is_empty());
        assert_eq!(
            emails(&prefs.recipients(&customer)),
            ["billing@acme.example"]
        );

        let shouted = Email::parse("a", "CFO@ACME.EXAMPLE").expect("email");
        assert!(prefs.confirm(&shouted, t0() + days(1)).expect("listed"));
        assert!(!prefs.confirm(&cfo, t0() + days(2)).expect("listed"));
        assert_eq!(emails(&prefs.recipients(&customer)), ["CFO@acme.example"]);
        let stranger = Email::parse("a", "x@elsewhere.example").expect("email");
        assert!(matches!(
            prefs.confirm(&stranger, t0()),
            Err(BillingError::NotFound("notification address"))
        ));
    }

    #[test]
    fn an_address_an_operator_adds_is_confirmed_at_once() {
        let customer = acme();
        let mut prefs = NotificationPreferences::default_for(customer.id.clone());
        prefs
            .apply(
                addresses(&["ap@acme.example"]),
                &Actor::Operator,
                &customer,
                t0(),
            )
            .expect("valid");
        assert_eq!(emails(&prefs.recipients(&customer)), ["ap@acme.example"]);
        assert!(prefs.outgoing_events(1).is_empty());
    }

    #[test]
    fn every_kind_has_a_name_that_parses_back() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
        }
    }

    #[test]
    fn transactional_kinds_cannot_be_turned_off() {
        let mut prefs = NotificationPreferences::default_for(customer_id());
        let update = PreferencesUpdate {
            kinds: Some(BTreeMap::from([
                ("payment_receipt".into(), false),
                ("renewal_reminder".into(), false),
                ("birthday".into(), true),
            ])),
            addresses: Some(vec!["ap@acme.example".into(), "nope".into()]),
        };
        let errors = prefs
            .apply(update, &Actor::Operator, &acme(), t0())
            .expect_err("refused");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["kinds.birthday", "kinds.payment_receipt", "addresses[1]"]
        );
        assert!(
            prefs.is_enabled(NotificationKind::RenewalReminder),
            "unchanged"
        );
        assert!(!prefs.unsubscribe(NotificationKind::PaymentFailed, t0()));
        assert!(prefs.is_enabled(NotificationKind::PaymentFailed));
    }

    #[test]
    fn reminders_can_be_turned_off_and_on_again() {
        let mut prefs = NotificationPreferences::default_for(customer_id());
        assert!(prefs.unsubscribe(NotificationKind::RenewalReminder, t0()));
        assert!(!prefs.unsubscribe(NotificationKind::RenewalReminder, t0()));
        assert!(!prefs.is_enabled(NotificationKind::RenewalReminder));
        let update = PreferencesUpdate {
            kinds: Some(BTreeMap::from([("renewal_reminder".into(), true)])),
            addresses: None,
        };
        prefs
            .apply(update, &Actor::Operator, &acme(), t0())
            .expect("valid");
        assert!(prefs.is_enabled(NotificationKind::RenewalReminder));
    }

    #[test]
    fn every_event_that_concerns_the_customer_has_an_email() {
        let emailed: BTreeSet<_> = EventKind::ALL
            .into_iter()
            .filter_map(NotificationKind::for_event)
            .collect();
        assert_eq!(emailed.len(), NotificationKind::ALL.len());
    }

    #[test]
    fn permanent_bounces_and_complaints_suppress_and_transient_bounces_do_not() {
        let bounce = |permanent| MailFeedback::Bounce {
            permanent,
            addresses: vec!["AP@Acme.example ".into(), "cfo@acme.example".into()],
            detail: Some("smtp; 550 5.1.1 user unknown".into()),
            customer: Some(customer_id()),
        };
        assert!(bounce(false).suppressions(t0()).is_empty());
        let suppressed = bounce(true).suppressions(t0());
        let addresses: Vec<_> = suppressed.iter().map(|s| s.address.as_str()).collect();
        assert_eq!(addresses, ["ap@acme.example", "cfo@acme.example"]);
        assert!(suppressed
            .iter()
            .all(|s| s.reason == SuppressionReason::Bounce && s.suppressed_at == t0()));
        assert_eq!(
            suppressed[0].detail.as_deref(),
            Some("smtp; 550 5.1.1 user unknown")
        );
        // Shown to the customer whose mail bounced.
        assert!(suppressed.iter().all(|s| s.customers == [customer_id()]));
        let complaint = MailFeedback::Complaint {
            addresses: vec!["ap@acme.example".into()],
            customer: None,
        }
        .suppressions(t0());
        assert_eq!(complaint[0].reason, SuppressionReason::Complaint);
        assert_eq!(complaint[0].detail, None);
        assert!(complaint[0].customers.is_empty());
    }
}
