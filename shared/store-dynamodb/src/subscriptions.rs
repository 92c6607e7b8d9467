//! Subscriptions (`SUB#<id>` / `SUBSCRIPTION`): stored with their events, the customer's
//! single slot and a discount's redemption in one transaction where they apply.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use billing_domain::discounts::coupon::Redemption;
use billing_domain::kernel::ids::{CustomerId, SubscriptionId};
use billing_domain::kernel::page::{Page, PageRequest};

use crate::{canceled, encode_entity, failed, items, key, refusal, s, unavailable, DynamoStore};
use billing_domain::kernel::ports::StoreError;
use billing_domain::subscriptions::Subscription;
use billing_domain::subscriptions::SubscriptionRepo;

#[async_trait]
impl SubscriptionRepo for DynamoStore {
    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.load::<items::SubscriptionItem, _>(items::subscription_pk(id), "SUBSCRIPTION")
            .await
    }

    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        self.insert_subscription_with(subscription, None).await
    }

    async fn insert_subscription_redeeming(
        &self,
        subscription: &Subscription,
        redemption: &Redemption,
    ) -> Result<(), StoreError> {
        self.insert_subscription_with(subscription, Some(redemption))
            .await
    }

    async fn update_subscription_redeeming(
        &self,
        subscription: &mut Subscription,
        redemption: &Redemption,
    ) -> Result<(), StoreError> {
        let item =
            encode_entity::<_, Subscription>(&items::SubscriptionItem::from(&*subscription))?;
        let put = self.versioned_put(item, subscription.version)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        let redemption = self.redemption_writes(redemption)?;
        writes.extend(redemption.iter().map(|(w, _)| w.clone()));
        writes.extend(self.event_writes(&subscription.outgoing_events(subscription.version + 1))?);
        match self.transact(writes).await? {
            Ok(()) => {
                subscription.version += 1;
                subscription.mark_stored();
                Ok(())
            }
            Err(codes) if failed(&codes, 0) => Err(StoreError::VersionConflict),
            Err(codes) => Err(refusal(&codes, 1, &redemption)),
        }
    }

    async fn update_subscription(&self, subscription: &mut Subscription) -> Result<(), StoreError> {
        let item =
            encode_entity::<_, Subscription>(&items::SubscriptionItem::from(&*subscription))?;
        let events = self.event_writes(&subscription.outgoing_events(subscription.version + 1))?;
        let ends = subscription.exclusive && subscription.status.is_ended();
        if !ends && events.is_empty() {
            self.update(item, subscription.version).await?;
            subscription.version += 1;
            subscription.mark_stored();
            return Ok(());
        }
        let put = TransactWriteItem::builder()
            .put(self.versioned_put(item, subscription.version)?)
            .build();
        let mut writes = vec![put.clone()];
        if ends {
            // The subscription ends: give the customer's single slot back in the same
            // transaction.
            let release_slot = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    items::customer_pk(&subscription.customer_id),
                    items::SINGLE_SLOT_SK,
                )))
                .condition_expression("attribute_not_exists(pk) OR subscription_id = :id")
                .expression_attribute_values(":id", s(subscription.id.to_string()))
                .build()
                .map_err(unavailable)?;
            writes.push(TransactWriteItem::builder().delete(release_slot).build());
        }
        writes.extend(events.iter().cloned());
        let outcome = match self.transact(writes).await? {
            // The slot is another subscription's already (the one that followed this one):
            // nothing to give back.
            Err(codes) if ends && !failed(&codes, 0) && failed(&codes, 1) => {
                let mut writes = vec![put];
                writes.extend(events);
                self.transact(writes).await?
            }
            other => other,
        };
        match outcome {
            Ok(()) => {
                subscription.version += 1;
                subscription.mark_stored();
                Ok(())
            }
            Err(codes) if failed(&codes, 0) => Err(StoreError::VersionConflict),
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn list_subscriptions(
        &self,
        customer_id: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let cursor = self
            .cursor(
                page,
                |id: SubscriptionId| async move { self.get_subscription(&id).await },
                |s: &Subscription| &s.customer_id == customer_id,
                |s: &Subscription| items::SubscriptionItem::from(s),
            )
            .await?;
        self.page_after(
            &items::customer_subscriptions_gsi1pk(customer_id),
            page,
            cursor,
        )
        .await
    }
}

impl DynamoStore {
    /// Stores a new subscription: with the customer's single slot when it is exclusive, and with
    /// the redemption of its discount when there is one, all in one transaction.
    async fn insert_subscription_with(
        &self,
        subscription: &Subscription,
        redemption: Option<&Redemption>,
    ) -> Result<(), StoreError> {
        let item = encode_entity::<_, Subscription>(&items::SubscriptionItem::from(subscription))?;
        let takes_slot = subscription.exclusive && !subscription.status.is_ended();
        let events = self.event_writes(&subscription.outgoing_events(subscription.version))?;
        if !takes_slot && redemption.is_none() && events.is_empty() {
            return self.insert(item).await;
        }
        let put_subscription = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)?;
        let mut writes = vec![TransactWriteItem::builder().put(put_subscription).build()];
        if takes_slot {
            let mut slot = key(
                items::customer_pk(&subscription.customer_id),
                items::SINGLE_SLOT_SK,
            );
            slot.insert("entity".into(), s("subscription_slot"));
            slot.insert("subscription_id".into(), s(subscription.id.to_string()));
            let put_slot = Put::builder()
                .table_name(&self.table)
                .set_item(Some(slot))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(unavailable)?;
            writes.push(TransactWriteItem::builder().put(put_slot).build());
        }
        let first_redemption = writes.len();
        let redemption = match redemption {
            Some(r) => self.redemption_writes(r)?,
            None => Vec::new(),
        };
        writes.extend(redemption.iter().map(|(w, _)| w.clone()));
        writes.extend(events);
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(codes) if failed(&codes, 0) => Err(StoreError::AlreadyExists),
            Err(codes) if takes_slot && failed(&codes, 1) => Err(StoreError::SubscriptionSlotTaken),
            Err(codes) => Err(refusal(&codes, first_redemption, &redemption)),
        }
    }
}
