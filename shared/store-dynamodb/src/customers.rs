//! Customers (`CUS#<id>` / `CUSTOMER`, listed under `CUSTOMERS`).

use std::str::FromStr;

use billing_domain::customers::{Address, Company, Customer, Email, Metadata, PaymentTerms};
use billing_domain::kernel::ids::CustomerId;
use billing_domain::kernel::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::items::{
    corrupt, customer_pk, parse_opt_ts, parse_ts, ts, EntityKeys, CUSTOMERS_GSI1PK,
};

use crate::{encode_entity, items, DynamoStore};
use async_trait::async_trait;
use billing_domain::customers::CustomerRepo;
use billing_domain::kernel::page::{Page, PageRequest};

#[async_trait]
impl CustomerRepo for DynamoStore {
    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.load::<CustomerItem, _>(items::customer_pk(id), "CUSTOMER")
            .await
    }

    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, Customer>(&CustomerItem::from(customer))?)
            .await
    }

    async fn update_customer(&self, customer: &mut Customer) -> Result<(), StoreError> {
        self.replace::<_, Customer>(&CustomerItem::from(&*customer), &mut customer.version)
            .await
    }

    async fn list_customers(&self, page: &PageRequest) -> Result<Page<Customer>, StoreError> {
        let cursor = self
            .cursor(
                page,
                |id: CustomerId| async move { self.get_customer(&id).await },
                |_| true,
                |c: &Customer| CustomerItem::from(c),
            )
            .await?;
        self.page_after(items::CUSTOMERS_GSI1PK, page, cursor).await
    }
}

// ---- the item ----

#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerItem {
    #[serde(flatten)]
    pub keys: EntityKeys,
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: Option<Company>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub payment_terms: PaymentTerms,
    pub metadata: Metadata,
    #[serde(default)]
    pub processor_customer_id: Option<String>,
    #[serde(default)]
    pub default_payment_method_id: Option<String>,
    /// Absent: the customer never had a trial.
    #[serde(default)]
    pub trial_used_at: Option<String>,
}

impl From<&Customer> for CustomerItem {
    fn from(c: &Customer) -> Self {
        CustomerItem {
            keys: EntityKeys {
                pk: customer_pk(&c.id),
                sk: "CUSTOMER".into(),
                gsi1pk: CUSTOMERS_GSI1PK.into(),
                gsi1sk: format!("{}#{}", ts(c.created_at), c.id),
                entity: "customer".into(),
                created_at: ts(c.created_at),
                updated_at: ts(c.updated_at),
                version: c.version,
            },
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.to_string(),
            company: c.company.clone(),
            billing_address: c.billing_address.clone(),
            shipping_address: c.shipping_address.clone(),
            payment_terms: c.payment_terms,
            metadata: c.metadata.clone(),
            processor_customer_id: c.processor_customer_id.clone(),
            default_payment_method_id: c.default_payment_method_id.clone(),
            trial_used_at: c.trial_used_at.map(ts),
        }
    }
}

impl TryFrom<CustomerItem> for Customer {
    type Error = StoreError;
    fn try_from(i: CustomerItem) -> Result<Self, Self::Error> {
        Ok(Customer {
            id: CustomerId::from_str(&i.id).map_err(corrupt("id"))?,
            name: i.name,
            email: Email::parse("email", &i.email).map_err(corrupt("email"))?,
            company: i.company,
            billing_address: i.billing_address,
            shipping_address: i.shipping_address,
            payment_terms: i.payment_terms,
            metadata: i.metadata,
            processor_customer_id: i.processor_customer_id,
            default_payment_method_id: i.default_payment_method_id,
            trial_used_at: parse_opt_ts("trial_used_at", &i.trial_used_at)?,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}
