//! Rendering: a [`View`] (the figures of one email, already formatted) through the templates in
//! `templates/`. The layouts `email.html` and `email.txt` include one file per kind. askama
//! compiles them into the crate, so a template that does not parse or names a field that does
//! not exist fails the build; `.html` output escapes every value, `.txt` output is plain.

use askama::Template;
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::notifications::NotificationKind;
use chrono::{DateTime, Utc};

/// One line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub description: String,
    pub amount: String,
}

/// What one email says, formatted for people. Fields a kind does not use stay empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub kind: NotificationKind,
    /// Whom the email greets: the company's legal name, or the customer's name.
    pub recipient_name: String,
    pub plan_name: String,
    /// The plan's price per period, e.g. "$79.99 per month".
    pub plan_price: String,
    /// The amount paid, due, failed or refunded.
    pub amount: String,
    /// The date the email is about: the renewal, the next retry, the end, the trial's end.
    pub date: String,
    /// Whether the subscription has already ended (a cancellation that took effect).
    pub ended: bool,
    /// Whether the subscription is in its trial (`date` is the trial's end).
    pub trialing: bool,
    pub invoice_id: String,
    /// The invoice's period, e.g. "1 November 2026 to 1 December 2026".
    pub period: String,
    pub lines: Vec<LineView>,
    /// Receipt totals in order: label and amount.
    pub totals: Vec<LineView>,
    /// A decline code or cancellation reason, in words.
    pub reason: String,
    /// Where the customer acts: update the card, authenticate, manage the subscription.
    pub action_url: String,
    /// The signed one-click unsubscribe link (non-transactional kinds only).
    pub unsubscribe_url: Option<String>,
    pub product_name: String,
    /// What a pre-order is of, e.g. "2 × Gizmo".
    pub item: String,
    /// When stock is expected (a sent purchase order), for a delay email; empty when unknown.
    pub expected: String,
    /// A subscription's open pre-orders, kept when it ends (the cancellation email says so).
    pub open_preorders: usize,
    /// Its pre-orders canceled with it (its plan says so).
    pub canceled_preorders: usize,
    /// A usage alert: the threshold reached (per cent), and the units, e.g. "1,000 pages"
    /// (`item` names the unit).
    pub threshold: u8,
    pub allocated: String,
    pub remaining: String,
}

/// A rendered email, ready for the mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlEmail<'a> {
    v: &'a View,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextEmail<'a> {
    v: &'a View,
    kind: &'static str,
}

impl View {
    /// The subject line (plain text).
    pub fn subject(&self) -> String {
        let product = &self.product_name;
        match self.kind {
            NotificationKind::SubscriptionConfirmed => {
                format!(
                    "Welcome to {}: your subscription is confirmed",
                    self.plan_name
                )
            }
            NotificationKind::PaymentReceipt => format!("Your {product} receipt: {}", self.amount),
            NotificationKind::PaymentFailed => {
                format!("Action needed: your payment of {} failed", self.amount)
            }
            NotificationKind::PaymentActionRequired => {
                format!("Please confirm your payment of {}", self.amount)
            }
            NotificationKind::RenewalReminder => {
                format!(
                    "Your {} subscription renews on {}",
                    self.plan_name, self.date
                )
            }
            NotificationKind::TrialEnding => format!("Your trial ends on {}", self.date),
            NotificationKind::ExpiryWarning => {
                format!("Your {} subscription ends on {}", self.plan_name, self.date)
            }
            NotificationKind::SubscriptionExpired => {
                format!("Your {} subscription has expired", self.plan_name)
            }
            NotificationKind::CancellationConfirmed if self.ended => {
                format!("Your {} subscription is canceled", self.plan_name)
            }
            NotificationKind::CancellationConfirmed => format!(
                "Your {} subscription will end on {}",
                self.plan_name, self.date
            ),
            NotificationKind::RefundIssued => format!("We refunded {}", self.amount),
            NotificationKind::AddressConfirmation => {
                format!("Confirm this address for {product} billing email")
            }
            NotificationKind::PreorderConfirmed => format!("Your pre-order of {}", self.item),
            NotificationKind::PreorderDelayed => {
                format!("Your pre-order of {} is waiting for stock", self.item)
            }
            NotificationKind::PreorderShipped => {
                format!("Your pre-order of {} has shipped", self.item)
            }
            NotificationKind::PreorderCanceled => {
                format!("Your pre-order of {} is canceled", self.item)
            }
            NotificationKind::ItemDelayed => {
                format!("{} of your subscription will ship later", self.item)
            }
            NotificationKind::TrackedBackInStock => format!("{} is back in stock", self.item),
            NotificationKind::TrackedPreorderOpen => {
                format!("{} is open for pre-order for you", self.item)
            }
            NotificationKind::UsageAlert if self.threshold >= 100 => {
                format!(
                    "You have used all {} {} of this period",
                    self.allocated, self.item
                )
            }
            NotificationKind::UsageAlert => format!(
                "You have used {}% of your {} {}",
                self.threshold, self.allocated, self.item
            ),
        }
    }

    pub fn render(&self) -> Result<RenderedEmail, askama::Error> {
        let kind = self.kind.as_str();
        Ok(RenderedEmail {
            subject: self.subject(),
            html: HtmlEmail { v: self, kind }.render()?,
            text: TextEmail { v: self, kind }.render()?,
        })
    }
}

/// "$79.99", "€10.00", "¥500", "CHF 12.50": the amount at its minor unit with its currency.
pub fn money(m: &Money) -> String {
    let sign = if m.is_negative() { "-" } else { "" };
    let amount = m.amount().abs();
    match m.currency() {
        Currency::Usd => format!("{sign}${amount}"),
        Currency::Eur => format!("{sign}€{amount}"),
        Currency::Gbp => format!("{sign}£{amount}"),
        Currency::Cad => format!("{sign}CA${amount}"),
        Currency::Aud => format!("{sign}A${amount}"),
        Currency::Chf => format!("{sign}CHF {amount}"),
        Currency::Jpy => format!("{sign}¥{amount}"),
    }
}

/// "1 December 2026" (UTC).
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%-d %B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn view(kind: NotificationKind) -> View {
        View {
            kind,
            recipient_name: "Acme <script>alert(1)</script> & Co".into(),
            plan_name: "Premium (monthly)".into(),
            plan_price: "$79.99 per month".into(),
            amount: "$79.99".into(),
            date: "1 December 2026".into(),
            ended: false,
            trialing: false,
            invoice_id: "in_123".into(),
            period: "1 November 2026 to 1 December 2026".into(),
            lines: vec![LineView {
                description: "Premium <b>monthly</b>".into(),
                amount: "$79.99".into(),
            }],
            totals: vec![LineView {
                description: "Total".into(),
                amount: "$79.99".into(),
            }],
            reason: "card_declined".into(),
            action_url: "https://billing.example.com/update?customer=cus_1&x=<y>".into(),
            unsubscribe_url: (!kind.always_sent())
                .then(|| "https://billing.example.com/unsubscribe?sig=1".into()),
            product_name: "Billing".into(),
            item: "2 × Gizmo".into(),
            expected: String::new(),
            open_preorders: 0,
            canceled_preorders: 0,
            threshold: 90,
            allocated: "1000".into(),
            remaining: "100".into(),
        }
    }

    #[test]
    fn every_kind_renders_html_that_escapes_customer_text_and_plain_text_that_keeps_it() {
        for kind in NotificationKind::ALL {
            let email = view(kind).render().expect("renders");
            assert!(!email.html.contains("<script>"), "{kind}: {}", email.html);
            assert!(
                email
                    .html
                    .contains("Acme &#60;script&#62;alert(1)&#60;/script&#62; &#38; Co"),
                "{kind}: {}",
                email.html
            );
            assert!(email.text.contains("Acme <script>alert(1)</script> & Co"));
            assert!(!email.text.contains("&#"), "{kind}: {}", email.text);
            assert_eq!(
                email.html.contains("unsubscribe"),
                !kind.always_sent(),
                "{kind}"
            );
            assert!(!email.subject.is_empty());
        }
    }

    #[test]
    fn a_receipt_lists_the_invoice_lines_and_totals() {
        let email = view(NotificationKind::PaymentReceipt).render().expect("ok");
        assert!(email.text.contains("Premium <b>monthly</b>"));
        assert!(email
            .html
            .contains("Premium &#60;b&#62;monthly&#60;/b&#62;"));
        assert!(email.text.contains("Total"));
        assert!(email.text.contains("$79.99"));
        assert!(email.text.contains("in_123"));
    }

    #[test]
    fn a_payment_failure_gives_the_next_retry_and_the_link_to_update_the_card() {
        let email = view(NotificationKind::PaymentFailed).render().expect("ok");
        assert!(email.text.contains("1 December 2026"), "{}", email.text);
        assert!(email
            .text
            .contains("https://billing.example.com/update?customer=cus_1&x=<y>"));
        assert!(email.html.contains(
            "href=\"https://billing.example.com/update?customer=cus_1&#38;x=&#60;y&#62;\""
        ));
    }

    #[test]
    fn amounts_are_written_with_their_currency() {
        let usd = Money::new(dec!(79.99), Currency::Usd).expect("ok");
        assert_eq!(money(&usd), "$79.99");
        let credit = Money::new(dec!(-18.34), Currency::Eur).expect("ok");
        assert_eq!(money(&credit), "-€18.34");
        let yen = Money::new(dec!(500), Currency::Jpy).expect("ok");
        assert_eq!(money(&yen), "¥500");
        assert_eq!(money(&Money::zero(Currency::Usd)), "$0.00");
    }
}
