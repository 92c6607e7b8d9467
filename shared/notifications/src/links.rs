//! The links in an email: where customers manage their billing (the operator's portal) and the
//! signed unsubscribe link, which works without logging in and cannot be forged for another
//! customer or kind.

use billing_domain::customers::Email;
use billing_domain::kernel::ids::CustomerId;
use billing_domain::notifications::NotificationKind;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct Links {
    /// The customer portal (`CUSTOMER_PORTAL_URL`), without a trailing slash.
    portal_url: String,
    /// This API's public base URL (`PUBLIC_API_URL`), for the unsubscribe link.
    api_url: String,
    /// `UNSUBSCRIBE_SECRET`: signs the unsubscribe links.
    secret: Vec<u8>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("portal_url", &self.portal_url)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The path of the unsubscribe endpoint (GET shows a confirmation page, POST unsubscribes).
pub const UNSUBSCRIBE_PATH: &str = "/api/v1/notification-preferences/unsubscribe";

/// The path of the address confirmation endpoint (GET shows a page, POST confirms).
pub const CONFIRM_ADDRESS_PATH: &str = "/api/v1/notification-preferences/confirm-address";

impl Links {
    pub fn new(portal_url: &str, api_url: &str, secret: &[u8]) -> Self {
        Links {
            portal_url: portal_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, customer_id: &CustomerId, kind: NotificationKind) -> HmacSha256 {
        self.mac_of(&format!("unsubscribe:{customer_id}:{kind}"))
    }

    /// An address confirmation's: another prefix, so no unsubscribe signature confirms.
    fn address_mac(&self, customer_id: &CustomerId, address: &Email) -> HmacSha256 {
        self.mac_of(&format!(
            "confirm-address:{customer_id}:{}",
            address.as_str().to_ascii_lowercase()
        ))
    }

    fn mac_of(&self, message: &str) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(message.as_bytes());
        mac
    }

    /// Whether `signature` (hex) confirms `address` for this customer (constant time).
    pub fn verify_address(
        &self,
        customer_id: &CustomerId,
        address: &Email,
        signature: &str,
    ) -> bool {
        match hex::decode(signature) {
            Ok(bytes) => self
                .address_mac(customer_id, address)
                .verify_slice(&bytes)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// The link in an address confirmation email.
    pub fn confirm_address(&self, customer_id: &CustomerId, address: &Email) -> String {
        let signature = hex::encode(
            self.address_mac(customer_id, address)
                .finalize()
                .into_bytes(),
        );
        format!(
            "{}{CONFIRM_ADDRESS_PATH}?customer_id={customer_id}&address={}&signature={signature}",
            self.api_url,
            query_escape(address.as_str())
        )
    }

    /// The signature of an unsubscribe link (hex).
    pub fn signature(&self, customer_id: &CustomerId, kind: NotificationKind) -> String {
        hex::encode(self.mac(customer_id, kind).finalize().into_bytes())
    }

    /// Whether `signature` is this customer's and kind's (constant time).
    pub fn verify(
        &self,
        customer_id: &CustomerId,
        kind: NotificationKind,
        signature: &str,
    ) -> bool {
        match hex::decode(signature) {
            Ok(bytes) => self.mac(customer_id, kind).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    pub fn unsubscribe(&self, customer_id: &CustomerId, kind: NotificationKind) -> String {
        format!(
            "{}{UNSUBSCRIBE_PATH}?customer_id={customer_id}&kind={kind}&signature={}",
            self.api_url,
            self.signature(customer_id, kind)
        )
    }

    pub fn update_payment_method(&self, customer_id: &CustomerId) -> String {
        format!("{}/customers/{customer_id}/payment-method", self.portal_url)
    }

    pub fn subscription(&self, subscription_id: &str) -> String {
        format!("{}/subscriptions/{subscription_id}", self.portal_url)
    }

    pub fn invoice(&self, invoice_id: &str) -> String {
        format!("{}/invoices/{invoice_id}", self.portal_url)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn query_escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_signature_is_good_only_for_its_customer_and_kind() {
        let links = Links::new("https://portal.example/", "https://api.example", b"secret");
        let acme: CustomerId = "cus_acme".parse().expect("id");
        let other: CustomerId = "cus_other".parse().expect("id");
        let sig = links.signature(&acme, NotificationKind::RenewalReminder);
        assert!(links.verify(&acme, NotificationKind::RenewalReminder, &sig));
        assert!(!links.verify(&other, NotificationKind::RenewalReminder, &sig));
        assert!(!links.verify(&acme, NotificationKind::TrialEnding, &sig));
        assert!(!links.verify(&acme, NotificationKind::RenewalReminder, "zz"));
        let forged =
            Links::new("", "", b"guess").signature(&acme, NotificationKind::RenewalReminder);
        assert!(!links.verify(&acme, NotificationKind::RenewalReminder, &forged));
        assert!(links
            .unsubscribe(&acme, NotificationKind::RenewalReminder)
            .starts_with("https://api.example/api/v1/notification-preferences/unsubscribe?customer_id=cus_acme&kind=renewal_reminder&signature="));
        assert_eq!(
            links.update_payment_method(&acme),
            "https://portal.example/customers/cus_acme/payment-method"
        );
    }

    #[test]
    fn an_address_confirmation_is_good_only_for_its_customer_and_address() {
        let links = Links::new("https://portal.example/", "https://api.example", b"secret");
        let acme: CustomerId = "cus_acme".parse().expect("id");
        let other: CustomerId = "cus_other".parse().expect("id");
        let ap = Email::parse("a", "ap+billing@acme.example").expect("email");
        let cfo = Email::parse("a", "cfo@acme.example").expect("email");
        let url = links.confirm_address(&acme, &ap);
        assert!(url.starts_with("https://api.example/api/v1/notification-preferences/confirm-address?customer_id=cus_acme&address=ap%2Bbilling%40acme.example&signature="));
        let signature = url.rsplit_once("signature=").expect("signed").1;
        assert!(links.verify_address(&acme, &ap, signature));
        let shouted = Email::parse("a", "AP+Billing@ACME.example").expect("email");
        assert!(links.verify_address(&acme, &shouted, signature));
        assert!(!links.verify_address(&other, &ap, signature));
        assert!(!links.verify_address(&acme, &cfo, signature));
        // An unsubscribe signature confirms nothing.
        let unsubscribe = links.signature(&acme, NotificationKind::RenewalReminder);
        assert!(!links.verify_address(&acme, &ap, &unsubscribe));
    }
}
