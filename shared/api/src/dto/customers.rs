//! The JSON of customers, their payment method and their credit balance.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    #[schema(max_length = 200, example = "1 Market St")]
    pub line1: String,
    pub line2: Option<String>,
    #[schema(max_length = 100, example = "San Francisco")]
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "US")]
    pub country: String,
}

impl From<AddressDto> for customer::Address {
    fn from(a: AddressDto) -> Self {
        customer::Address {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<&customer::Address> for AddressDto {
    fn from(a: &customer::Address) -> Self {
        AddressDto {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyDto {
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub registration_number: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub phone: Option<String>,
}

impl From<CompanyDto> for customer::Company {
    fn from(c: CompanyDto) -> Self {
        customer::Company {
            legal_name: c.legal_name,
            tax_id: c.tax_id,
            registration_number: c.registration_number,
            industry: c.industry,
            website: c.website,
            phone: c.phone,
        }
    }
}

impl From<&customer::Company> for CompanyDto {
    fn from(c: &customer::Company) -> Self {
        CompanyDto {
            legal_name: c.legal_name.clone(),
            tax_id: c.tax_id.clone(),
            registration_number: c.registration_number.clone(),
            industry: c.industry.clone(),
            website: c.website.clone(),
            phone: c.phone.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    #[schema(min_length = 1, max_length = 200, example = "Acme Wholesale Ltd")]
    pub name: String,
    #[schema(example = "billing@acme.example")]
    pub email: String,
    pub company: Option<CompanyDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_address: Option<AddressDto>,
    pub payment_terms: Option<PaymentTerms>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl From<CreateCustomerRequest> for customer::NewCustomer {
    fn from(r: CreateCustomerRequest) -> Self {
        customer::NewCustomer {
            name: r.name,
            email: r.email,
            company: r.company.map(Into::into),
            billing_address: r.billing_address.map(Into::into),
            shipping_address: r.shipping_address.map(Into::into),
            payment_terms: r.payment_terms.map(Into::into),
            metadata: r.metadata,
        }
    }
}

/// Fields to change; `null` clears an optional one. Metadata merges; an empty value removes a key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub company: Option<Option<CompanyDto>>,
    #[serde(default, deserialize_with = "double_option")]
    pub billing_address: Option<Option<AddressDto>>,
    #[serde(default, deserialize_with = "double_option")]
    pub shipping_address: Option<Option<AddressDto>>,
    pub payment_terms: Option<PaymentTerms>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<UpdateCustomerRequest> for customer::CustomerPatch {
    fn from(r: UpdateCustomerRequest) -> Self {
        customer::CustomerPatch {
            name: r.name,
            email: r.email,
            company: r.company.map(|c| c.map(Into::into)),
            billing_address: r.billing_address.map(|a| a.map(Into::into)),
            shipping_address: r.shipping_address.map(|a| a.map(Into::into)),
            payment_terms: r.payment_terms.map(Into::into),
            metadata: r.metadata,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    #[schema(example = "cus_8f14e45fceea167a5a36dedd")]
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: Option<CompanyDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_address: Option<AddressDto>,
    pub payment_terms: PaymentTerms,
    pub metadata: BTreeMap<String, String>,
    /// The Stripe customer, created with the first payment method.
    #[schema(example = "cus_NffrFeUfNV2Hib")]
    pub stripe_customer_id: Option<String>,
    /// Charged when a subscription names no payment method of its own.
    pub default_payment_method_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Customer> for CustomerResponse {
    fn from(c: &Customer) -> Self {
        CustomerResponse {
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.to_string(),
            company: c.company.as_ref().map(Into::into),
            billing_address: c.billing_address.as_ref().map(Into::into),
            shipping_address: c.shipping_address.as_ref().map(Into::into),
            payment_terms: c.payment_terms.into(),
            metadata: c.metadata.clone(),
            stripe_customer_id: c.processor_customer_id.clone(),
            default_payment_method_id: c.default_payment_method_id.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `PUT /customers/{id}/payment-method`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    /// A Stripe PaymentMethod id, e.g. `pm_card_visa` in test mode.
    #[schema(example = "pm_card_visa")]
    pub payment_method_id: String,
}

/// A customer's credit in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceDto {
    pub currency: Currency,
    #[schema(example = "20.00")]
    pub amount: String,
}

/// `GET /customers/{id}/credit-balance`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceResponse {
    pub customer_id: String,
    /// One entry per currency the customer has or had credit in.
    pub balances: Vec<CreditBalanceDto>,
}

impl CreditBalanceResponse {
    pub fn new(customer_id: &str, balances: &[Money]) -> Self {
        CreditBalanceResponse {
            customer_id: customer_id.to_owned(),
            balances: balances
                .iter()
                .map(|m| CreditBalanceDto {
                    currency: m.currency().into(),
                    amount: m.amount().to_string(),
                })
                .collect(),
        }
    }
}

api_enum!(
    /// Why a customer's credit changed.
    CreditTransactionKind => DCreditTransactionKind {
    AppliedToInvoice = "applied_to_invoice", InvoiceCredit = "invoice_credit",
    InvoiceVoided = "invoice_voided", Refund = "refund",
});

/// One change of a customer's credit balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditTransactionDto {
    #[schema(example = "in_0cc175b9c0f1b6a831c399e2:applied")]
    pub id: String,
    pub kind: CreditTransactionKind,
    /// Positive adds credit, negative spends it.
    #[schema(example = "-20.00")]
    pub amount: String,
    pub currency: Currency,
    pub invoice_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&billing_domain::customers::credit::CreditTransaction> for CreditTransactionDto {
    fn from(t: &billing_domain::customers::credit::CreditTransaction) -> Self {
        CreditTransactionDto {
            id: t.id.clone(),
            kind: t.kind.into(),
            amount: t.amount.amount().to_string(),
            currency: t.amount.currency().into(),
            invoice_id: t.invoice_id.as_ref().map(ToString::to_string),
            created_at: t.created_at,
        }
    }
}
