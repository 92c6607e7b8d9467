//! The JSON of notification preferences and suppressed addresses.

use super::*;

/// `GET/PUT /customers/{id}/notification-preferences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPreferencesResponse {
    pub customer_id: String,
    /// Every kind of email and whether it is sent.
    #[schema(example = json!({"renewal_reminder": true, "payment_receipt": true}))]
    pub kinds: BTreeMap<String, bool>,
    /// The kinds that are always sent (receipts, payment failures, payments waiting for the
    /// customer, refunds).
    pub always_sent: Vec<String>,
    /// The addresses chosen; none confirmed: the customer's own email address.
    pub addresses: Vec<String>,
    /// Addresses a customer added that get no email until their owner follows the link in
    /// the confirmation email sent to them (operators' additions are confirmed at once).
    pub pending_confirmation: Vec<String>,
    /// Where email goes now: the confirmed addresses, or the customer's own.
    pub recipients: Vec<String>,
    /// Recipients that get no email at all since they bounced or complained; lift with
    /// `DELETE /customers/{id}/email-suppressions/{address}` once the mailbox works.
    pub suppressed: Vec<SuppressedAddress>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// An address that gets no more email.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressedAddress {
    #[schema(example = "ap@acme.example")]
    pub address: String,
    pub reason: SuppressionReason,
    /// What the receiving mail server said, when it said something.
    #[schema(example = "smtp; 550 5.1.1 user unknown")]
    pub detail: Option<String>,
    pub suppressed_at: DateTime<Utc>,
}

impl From<&EmailSuppression> for SuppressedAddress {
    fn from(s: &EmailSuppression) -> Self {
        SuppressedAddress {
            address: s.address.clone(),
            reason: s.reason.into(),
            detail: s.detail.clone(),
            suppressed_at: s.suppressed_at,
        }
    }
}

impl NotificationPreferencesResponse {
    pub fn new(
        prefs: &billing_domain::notifications::NotificationPreferences,
        customer: &Customer,
        suppressed: &[EmailSuppression],
    ) -> Self {
        use billing_domain::notifications::NotificationKind;
        NotificationPreferencesResponse {
            customer_id: customer.id.to_string(),
            kinds: NotificationKind::ALL
                .into_iter()
                .map(|k| (k.as_str().to_owned(), prefs.is_enabled(k)))
                .collect(),
            always_sent: NotificationKind::ALL
                .into_iter()
                .filter(|k| k.always_sent())
                .map(|k| k.as_str().to_owned())
                .collect(),
            addresses: prefs
                .addresses
                .iter()
                .map(|a| a.email.as_str().to_owned())
                .collect(),
            pending_confirmation: prefs.pending().map(|a| a.as_str().to_owned()).collect(),
            recipients: prefs
                .recipients(customer)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            suppressed: suppressed.iter().map(SuppressedAddress::from).collect(),
            updated_at: prefs.updated_at,
        }
    }
}

/// `PUT /customers/{id}/notification-preferences`: what is given replaces what was there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationPreferencesRequest {
    /// Kind → on or off. Turning off a kind that is always sent is a 422.
    #[schema(example = json!({"renewal_reminder": false}))]
    pub kinds: Option<BTreeMap<String, bool>>,
    /// Up to 5 addresses; `[]` goes back to the customer's own.
    #[schema(max_items = 5, example = json!(["accounts@acme.example"]))]
    pub addresses: Option<Vec<String>>,
}

impl From<UpdateNotificationPreferencesRequest>
    for billing_domain::notifications::PreferencesUpdate
{
    fn from(r: UpdateNotificationPreferencesRequest) -> Self {
        billing_domain::notifications::PreferencesUpdate {
            kinds: r.kinds,
            addresses: r.addresses,
        }
    }
}
