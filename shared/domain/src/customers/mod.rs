//! Customers: the companies that subscribe, with their billing details.

pub mod credit;
mod repo;
pub use repo::{CreditRepo, CustomerRepo};

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::kernel::ids::CustomerId;
use crate::kernel::validation::{self, FieldError, Validator};

/// A syntactically valid email address (`local@domain.tld`), trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// An address SES takes: 7-bit ASCII (an internationalised domain in its `xn--` form), a
    /// local part of at most 64 characters of letters, digits and ``!#$%&'*+/=?^_`{|}~.-``
    /// (no leading, trailing or double dot), and a domain of dot-separated labels of letters,
    /// digits and inner hyphens ending in a top-level domain of letters.
    pub fn parse(field: &str, raw: &str) -> Result<Email, FieldError> {
        let s = raw.trim();
        let invalid =
            || FieldError::new(field, "must be an email address like billing@example.com");
        if s.len() > 254 || !s.is_ascii() {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let tld_ok = labels.last().is_some_and(|tld| {
            tld.len() >= 2
                && (tld.chars().all(|c| c.is_ascii_alphabetic()) || tld.starts_with("xn--"))
        });
        if !local_ok || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
            return Err(invalid());
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ISO 3166-1 alpha-2 codes assigned to countries and territories.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A postal address; `country` is an ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

impl Address {
    pub fn validate(self, field: &str) -> Result<Address, Vec<FieldError>> {
        let mut v = Validator::new();
        let line1 = v.check(validation::text("line1", &self.line1, 200));
        let line2 = v.check(validation::optional_text(
            "line2",
            self.line2.as_deref(),
            200,
        ));
        let city = v.check(validation::text("city", &self.city, 100));
        let state = v.check(validation::optional_text(
            "state",
            self.state.as_deref(),
            100,
        ));
        let postal_code = v.check(validation::optional_text(
            "postal_code",
            self.postal_code.as_deref(),
            20,
        ));
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !COUNTRIES.split(' ').any(|c| c == country) {
            v.push(FieldError::new(
                "country",
                "must be a two-letter ISO 3166-1 country code",
            ));
        }
        v.finish_under(field)?;
        Ok(Address {
            line1: line1.unwrap_or_default(),
            line2: line2.flatten(),
            city: city.unwrap_or_default(),
            state: state.flatten(),
            postal_code: postal_code.flatten(),
            country,
        })
    }
}

/// The business details of a company.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Company {
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub registration_number: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub phone: Option<String>,
}

impl Company {
    pub fn validate(self, field: &str) -> Result<Company, Vec<FieldError>> {
        let mut v = Validator::new();
        let mut take = |name: &str, value: Option<String>, max: usize| {
            v.check(validation::optional_text(name, value.as_deref(), max))
                .flatten()
        };
        let company = Company {
            legal_name: take("legal_name", self.legal_name, 200),
            tax_id: take("tax_id", self.tax_id, 50),
            registration_number: take("registration_number", self.registration_number, 50),
            industry: take("industry", self.industry, 100),
            website: take("website", self.website, 200),
            phone: take("phone", self.phone, 40),
        };
        v.finish_under(field)?;
        Ok(company)
    }
}

/// When invoices are due (B2B terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentTerms {
    #[default]
    DueOnReceipt,
    #[serde(rename = "net_15")]
    Net15,
    #[serde(rename = "net_30")]
    Net30,
    #[serde(rename = "net_45")]
    Net45,
    #[serde(rename = "net_60")]
    Net60,
    #[serde(rename = "net_90")]
    Net90,
}

impl PaymentTerms {
    pub const ALL: [PaymentTerms; 6] = [
        PaymentTerms::DueOnReceipt,
        PaymentTerms::Net15,
        PaymentTerms::Net30,
        PaymentTerms::Net45,
        PaymentTerms::Net60,
        PaymentTerms::Net90,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentTerms::DueOnReceipt => "due_on_receipt",
            PaymentTerms::Net15 => "net_15",
            PaymentTerms::Net30 => "net_30",
            PaymentTerms::Net45 => "net_45",
            PaymentTerms::Net60 => "net_60",
            PaymentTerms::Net90 => "net_90",
        }
    }

    /// Days after the invoice date that payment is due.
    pub fn days(self) -> u32 {
        match self {
            PaymentTerms::DueOnReceipt => 0,
            PaymentTerms::Net15 => 15,
            PaymentTerms::Net30 => 30,
            PaymentTerms::Net45 => 45,
            PaymentTerms::Net60 => 60,
            PaymentTerms::Net90 => 90,
        }
    }
}

/// Free-form key/value pairs, with Stripe's limits: 50 keys, keys up to 40 characters, values up
/// to 500. In a patch, an empty value removes the key (as in Stripe).
pub type Metadata = BTreeMap<String, String>;

pub const METADATA_MAX_KEYS: usize = 50;

/// Merges `patch` into `current` with Stripe's rules and checks the limits.
pub fn merge_metadata(current: &Metadata, patch: &Metadata) -> Result<Metadata, FieldError> {
    let mut merged = current.clone();
    for (key, value) in patch {
        if key.is_empty() || key.chars().count() > 40 {
            return Err(FieldError::new(
                format!("metadata.{key}"),
                "keys must be 1 to 40 characters",
            ));
        }
        if value.chars().count() > 500 {
            return Err(FieldError::new(
                format!("metadata.{key}"),
                "values must be at most 500 characters",
            ));
        }
        if value.is_empty() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    if merged.len() > METADATA_MAX_KEYS {
        return Err(FieldError::new(
            "metadata",
            format!("at most {METADATA_MAX_KEYS} keys"),
        ));
    }
    Ok(merged)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub email: Email,
    pub company: Option<Company>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub payment_terms: PaymentTerms,
    pub metadata: Metadata,
    /// The payment processor's customer (`cus_...` at Stripe), created with the first payment
    /// method.
    pub processor_customer_id: Option<String>,
    /// The payment method charged when a subscription names none.
    pub default_payment_method_id: Option<String>,
    /// When the customer's first trial began: a customer gets a plan's trial once.
    pub trial_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// What a request to create a customer carries, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
    pub company: Option<Company>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub payment_terms: Option<PaymentTerms>,
    pub metadata: Metadata,
}

/// A change to a customer; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<Option<Company>>,
    pub billing_address: Option<Option<Address>>,
    pub shipping_address: Option<Option<Address>>,
    pub payment_terms: Option<PaymentTerms>,
    pub metadata: Option<Metadata>,
}

fn validate_optional<T>(
    v: &mut Validator,
    value: Option<T>,
    check: impl FnOnce(T) -> Result<T, Vec<FieldError>>,
) -> Option<T> {
    match value.map(check) {
        Some(Ok(value)) => Some(value),
        Some(Err(errors)) => {
            v.extend(errors);
            None
        }
        None => None,
    }
}

impl Customer {
    pub fn create(new: NewCustomer, now: DateTime<Utc>) -> Result<Customer, Vec<FieldError>> {
        let mut v = Validator::new();
        let name = v.check(validation::text("name", &new.name, 200));
        let email = v.check(Email::parse("email", &new.email));
        let company = validate_optional(&mut v, new.company, |c| c.validate("company"));
        let billing_address = validate_optional(&mut v, new.billing_address, |a| {
            a.validate("billing_address")
        });
        let shipping_address = validate_optional(&mut v, new.shipping_address, |a| {
            a.validate("shipping_address")
        });
        let metadata = v.check(merge_metadata(&Metadata::new(), &new.metadata));
        v.finish()?;
        match (name, email, metadata) {
            (Some(name), Some(email), Some(metadata)) => Ok(Customer {
                id: CustomerId::generate(),
                name,
                email,
                company,
                billing_address,
                shipping_address,
                payment_terms: new.payment_terms.unwrap_or_default(),
                metadata,
                processor_customer_id: None,
                default_payment_method_id: None,
                trial_used_at: None,
                created_at: now,
                updated_at: now,
                version: 0,
            }),
            _ => Err(vec![FieldError::new("body", "invalid customer")]),
        }
    }

    pub fn apply(
        &mut self,
        patch: CustomerPatch,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        let name = patch
            .name
            .as_deref()
            .and_then(|n| v.check(validation::text("name", n, 200)));
        let email = patch
            .email
            .as_deref()
            .and_then(|e| v.check(Email::parse("email", e)));
        let company = patch
            .company
            .map(|c| validate_optional(&mut v, c, |c| c.validate("company")));
        let billing_address = patch
            .billing_address
            .map(|a| validate_optional(&mut v, a, |a| a.validate("billing_address")));
        let shipping_address = patch
            .shipping_address
            .map(|a| validate_optional(&mut v, a, |a| a.validate("shipping_address")));
        let metadata = patch
            .metadata
            .as_ref()
            .and_then(|m| v.check(merge_metadata(&self.metadata, m)));
        v.finish()?;
        if let Some(name) = name {
            self.name = name;
        }
        if let Some(email) = email {
            self.email = email;
        }
        if let Some(company) = company {
            self.company = company;
        }
        if let Some(address) = billing_address {
            self.billing_address = address;
        }
        if let Some(address) = shipping_address {
            self.shipping_address = address;
        }
        if let Some(terms) = patch.payment_terms {
            self.payment_terms = terms;
        }
        if let Some(metadata) = metadata {
            self.metadata = metadata;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Makes `payment_method_id` (already attached at the processor) the default.
    pub fn set_default_payment_method(&mut self, payment_method_id: &str, now: DateTime<Utc>) {
        self.default_payment_method_id = Some(payment_method_id.to_owned());
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::t0;
    use proptest::prelude::*;

    fn acme() -> NewCustomer {
        NewCustomer {
            name: "Acme Wholesale".into(),
            email: "billing@acme.example".into(),
            ..NewCustomer::default()
        }
    }

    #[test]
    fn a_customer_needs_a_name_and_a_valid_email() {
        assert!(Customer::create(acme(), t0()).is_ok());
        let errors = Customer::create(
            NewCustomer {
                name: "".into(),
                email: "not-an-email".into(),
                ..NewCustomer::default()
            },
            t0(),
        )
        .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email"]);
    }

    #[test]
    fn addresses_ses_would_refuse_are_refused() {
        for bad in [
            "josé@acme.example",
            "billing@acmé.example",
            ".billing@acme.example",
            "bill..ing@acme.example",
            "billing.@acme.example",
            "billing@-acme.example",
            "billing@acme-.example",
            "billing@acme..example",
            "billing@acme.e",
            "billing@acme.123",
            "bill ing@acme.example",
            "bill\"ing@acme.example",
            "billing@localhost",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
        for good in [
            "billing+invoices@acme.example",
            "o'brien@acme.co.uk",
            "ap@xn--acm-bma.example",
            "ap@sub.acme.xn--p1ai",
        ] {
            assert!(Email::parse("email", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn countries_are_assigned_iso_codes() {
        let with = |country: &str| {
            Address {
                line1: "1 Main St".into(),
                line2: None,
                city: "Springfield".into(),
                state: None,
                postal_code: None,
                country: country.into(),
            }
            .validate("billing_address")
        };
        for good in ["US", "gb", "DE", "JP"] {
            assert!(with(good).is_ok(), "{good}");
        }
        for bad in ["XX", "ZZ", "UK", "EU", "U1"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn address_errors_name_the_nested_field() {
        let errors = Customer::create(
            NewCustomer {
                billing_address: Some(Address {
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Springfield".into(),
                    state: None,
                    postal_code: None,
                    country: "USA".into(),
                }),
                ..acme()
            },
            t0(),
        )
        .expect_err("bad country");
        assert_eq!(errors[0].field, "billing_address.country");
    }

    #[test]
    fn country_codes_are_normalised_to_upper_case() {
        let customer = Customer::create(
            NewCustomer {
                shipping_address: Some(Address {
                    line1: "1 Main St".into(),
                    line2: Some("  ".into()).filter(|s: &String| !s.trim().is_empty()),
                    city: "Springfield".into(),
                    state: Some("IL".into()),
                    postal_code: Some("62701".into()),
                    country: "us".into(),
                }),
                ..acme()
            },
            t0(),
        )
        .expect("valid");
        assert_eq!(
            customer.shipping_address.map(|a| a.country),
            Some("US".into())
        );
    }

    #[test]
    fn metadata_patch_merges_and_empty_values_remove() {
        let current: Metadata = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let patch: Metadata = [("b".into(), "".into()), ("c".into(), "3".into())].into();
        let merged = merge_metadata(&current, &patch).expect("valid");
        assert_eq!(
            merged,
            [("a".into(), "1".into()), ("c".into(), "3".into())].into()
        );
        let too_many: Metadata = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(merge_metadata(&Metadata::new(), &too_many).is_err());
    }

    #[test]
    fn a_patch_can_clear_the_shipping_address() {
        let mut customer = Customer::create(acme(), t0()).expect("valid");
        customer
            .apply(
                CustomerPatch {
                    shipping_address: Some(None),
                    payment_terms: Some(PaymentTerms::Net30),
                    ..CustomerPatch::default()
                },
                t0(),
            )
            .expect("valid patch");
        assert_eq!(customer.shipping_address, None);
        assert_eq!(customer.payment_terms, PaymentTerms::Net30);
    }

    proptest! {
        #[test]
        fn email_parsing_never_panics(s in "\\PC{0,300}") {
            let _ = Email::parse("email", &s);
        }

        #[test]
        fn plausible_emails_parse(
            local in "[a-z0-9+_-]{1,10}(\\.[a-z0-9+_-]{1,10}){0,2}",
            domain in "[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?",
            tld in "[a-z]{2,6}",
        ) {
            let raw = format!("{local}@{domain}.{tld}");
            prop_assert!(Email::parse("email", &raw).is_ok(), "{}", raw);
        }
    }
}
