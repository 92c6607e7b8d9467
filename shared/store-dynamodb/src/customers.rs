//! Customers (`CUS#<id>` / `CUSTOMER`, listed under `CUSTOMERS`).

use crate::{encode_entity, items, DynamoStore};
use async_trait::async_trait;
use billing_domain::customers::Customer;
use billing_domain::customers::CustomerRepo;
use billing_domain::kernel::ids::CustomerId;
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;

#[async_trait]
impl CustomerRepo for DynamoStore {
    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.load::<items::CustomerItem, _>(items::customer_pk(id), "CUSTOMER")
            .await
    }

    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, Customer>(&items::CustomerItem::from(
            customer,
        ))?)
        .await
    }

    async fn update_customer(&self, customer: &mut Customer) -> Result<(), StoreError> {
        self.replace::<_, Customer>(
            &items::CustomerItem::from(&*customer),
            &mut customer.version,
        )
        .await
    }

    async fn list_customers(&self, page: &PageRequest) -> Result<Page<Customer>, StoreError> {
        let cursor = self
            .cursor(
                page,
                |id: CustomerId| async move { self.get_customer(&id).await },
                |_| true,
                |c: &Customer| items::CustomerItem::from(c),
            )
            .await?;
        self.page_after(items::CUSTOMERS_GSI1PK, page, cursor).await
    }
}
