//! Subscriptions (`SUB#<id>` / `SUBSCRIPTION`): stored with their events, the customer's
//! single slot and a discount's redemption in one transaction where they apply.

use std::str::FromStr;

use billing_domain::customers::Metadata;
use billing_domain::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::period::Interval;
use billing_domain::kernel::ports::StoreError;
use billing_domain::subscriptions::{
    Cancellation, CancellationReason, Pause, Subscription, SubscriptionStatus,
};
use serde::{Deserialize, Serialize};

use crate::invoices::InvoiceLineItem;
use crate::items::{
    corrupt, customer_subscriptions_gsi1pk, due_pk, due_shard, parse_opt_ts, parse_ts,
    subscription_pk, ts, EntityKeys,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use billing_domain::discounts::coupon::Redemption;
use billing_domain::kernel::page::{Page, PageRequest};

use crate::{canceled, encode_entity, failed, items, key, refusal, s, unavailable, DynamoStore};
use billing_domain::subscriptions::SubscriptionRepo;

#[async_trait]
impl SubscriptionRepo for DynamoStore {
    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.load::<SubscriptionItem, _>(items::subscription_pk(id), "SUBSCRIPTION")
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
        let item = encode_entity::<_, Subscription>(&SubscriptionItem::from(&*subscription))?;
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
        let item = encode_entity::<_, Subscription>(&SubscriptionItem::from(&*subscription))?;
        let events = self.event_writes(&subscription.outgoing_events(subscription.version + 1))?;
        let ends = subscription.exclusive && subscription.status.is_ended();
        let allocation = match subscription.new_allowance_period.as_deref() {
            Some(p) => self.allowance_period_writes(p)?,
            None => Vec::new(),
        };
        if !ends && events.is_empty() && allocation.is_empty() {
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
        writes.extend(allocation.iter().cloned());
        let outcome = match self.transact(writes).await? {
            // The slot is another subscription's already (the one that followed this one):
            // nothing to give back.
            Err(codes) if ends && !failed(&codes, 0) && failed(&codes, 1) => {
                let mut writes = vec![put];
                writes.extend(events);
                writes.extend(allocation);
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
                |s: &Subscription| SubscriptionItem::from(s),
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
        let item = encode_entity::<_, Subscription>(&SubscriptionItem::from(subscription))?;
        let takes_slot = subscription.exclusive && !subscription.status.is_ended();
        let mut events = self.event_writes(&subscription.outgoing_events(subscription.version))?;
        // The first period's allocation (after the events: only the first writes are checked).
        if let Some(period) = subscription.new_allowance_period.as_deref() {
            events.extend(self.allowance_period_writes(period)?);
        }
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

// ---- the item ----

#[derive(Debug, Serialize, Deserialize)]
pub struct SubscriptionItem {
    #[serde(flatten)]
    pub keys: EntityKeys,
    /// Due index: present only while something is due (a sparse index).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_at: Option<String>,
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub interval: Interval,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    pub billing_cycle_anchor: String,
    pub periods_elapsed: u32,
    pub current_period_start: String,
    pub current_period_end: String,
    pub trial_end: Option<String>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<String>,
    pub ended_at: Option<String>,
    pub cancellation_reason: Option<CancellationReason>,
    pub cancellation_comment: Option<String>,
    pub canceled: bool,
    pub paused_at: Option<String>,
    pub resumes_at: Option<String>,
    pub metadata: Metadata,
    pub exclusive: bool,
    #[serde(default)]
    pub latest_invoice_id: Option<String>,
    #[serde(default)]
    pub next_payment_attempt: Option<String>,
    #[serde(default)]
    pub scheduled_plan_id: Option<String>,
    #[serde(default)]
    pub pending_lines: Vec<PendingLineItem>,
    #[serde(default)]
    pub successor_plan_id: Option<String>,
    #[serde(default)]
    pub discount: Option<crate::coupons::DiscountItem>,
    #[serde(default)]
    pub trial_reminder_sent: bool,
    #[serde(default)]
    pub renewal_reminder_days: u32,
    #[serde(default)]
    pub reminded_period_end: Option<String>,
    /// The products shipped each period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<RecurringItemRow>,
    /// Absent (written before allowances): true.
    #[serde(default)]
    pub promotional_first: Option<bool>,
    #[serde(default)]
    pub metered: bool,
    #[serde(default)]
    pub one_off: bool,
}

/// A recurring item as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecurringItemRow {
    pub product_id: String,
    pub quantity: u32,
}

impl From<&Subscription> for SubscriptionItem {
    fn from(s: &Subscription) -> Self {
        let due = s.next_due_at();
        SubscriptionItem {
            keys: EntityKeys {
                pk: subscription_pk(&s.id),
                sk: "SUBSCRIPTION".into(),
                gsi1pk: customer_subscriptions_gsi1pk(&s.customer_id),
                gsi1sk: format!("{}#{}", ts(s.created_at), s.id),
                entity: "subscription".into(),
                created_at: ts(s.created_at),
                updated_at: ts(s.updated_at),
                version: s.version,
            },
            due_pk: due.map(|_| due_pk(due_shard(&s.id))),
            due_at: due.map(|t| format!("{}#{}", ts(t), s.id)),
            id: s.id.to_string(),
            customer_id: s.customer_id.to_string(),
            plan_id: s.plan_id.to_string(),
            interval: s.interval,
            status: s.status,
            auto_renew: s.auto_renew,
            payment_method_id: s.payment_method_id.clone(),
            billing_cycle_anchor: ts(s.billing_cycle_anchor),
            periods_elapsed: s.periods_elapsed,
            current_period_start: ts(s.current_period_start),
            current_period_end: ts(s.current_period_end),
            trial_end: s.trial_end.map(ts),
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at.map(ts),
            ended_at: s.ended_at.map(ts),
            cancellation_reason: s.cancellation.as_ref().and_then(|c| c.reason),
            cancellation_comment: s.cancellation.as_ref().and_then(|c| c.comment.clone()),
            canceled: s.cancellation.is_some(),
            paused_at: s.pause.as_ref().map(|p| ts(p.paused_at)),
            resumes_at: s.pause.as_ref().and_then(|p| p.resumes_at).map(ts),
            metadata: s.metadata.clone(),
            exclusive: s.exclusive,
            latest_invoice_id: s.latest_invoice_id.as_ref().map(ToString::to_string),
            next_payment_attempt: s.next_payment_attempt.map(ts),
            scheduled_plan_id: s.scheduled_plan_id.as_ref().map(ToString::to_string),
            pending_lines: s
                .pending_lines
                .iter()
                .map(|l| PendingLineItem {
                    currency: l.amount.currency(),
                    line: InvoiceLineItem::from(l),
                })
                .collect(),
            successor_plan_id: s.successor_plan_id.as_ref().map(ToString::to_string),
            discount: s.discount.as_ref().map(crate::coupons::DiscountItem::from),
            trial_reminder_sent: s.trial_reminder_sent,
            renewal_reminder_days: s.renewal_reminder_days,
            reminded_period_end: s.reminded_period_end.map(ts),
            items: s
                .items
                .iter()
                .map(|i| RecurringItemRow {
                    product_id: i.product_id.to_string(),
                    quantity: i.quantity,
                })
                .collect(),
            promotional_first: Some(s.promotional_first),
            metered: s.metered,
            one_off: s.one_off,
        }
    }
}

impl TryFrom<SubscriptionItem> for Subscription {
    type Error = StoreError;
    fn try_from(i: SubscriptionItem) -> Result<Self, Self::Error> {
        let pause = match &i.paused_at {
            Some(at) => Some(Pause {
                paused_at: parse_ts("paused_at", at)?,
                resumes_at: parse_opt_ts("resumes_at", &i.resumes_at)?,
            }),
            None => None,
        };
        let mut subscription = Subscription {
            id: SubscriptionId::from_str(&i.id).map_err(corrupt("id"))?,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            plan_id: PlanId::from_str(&i.plan_id).map_err(corrupt("plan_id"))?,
            interval: i.interval,
            status: i.status,
            auto_renew: i.auto_renew,
            payment_method_id: i.payment_method_id,
            billing_cycle_anchor: parse_ts("billing_cycle_anchor", &i.billing_cycle_anchor)?,
            periods_elapsed: i.periods_elapsed,
            current_period_start: parse_ts("current_period_start", &i.current_period_start)?,
            current_period_end: parse_ts("current_period_end", &i.current_period_end)?,
            trial_end: parse_opt_ts("trial_end", &i.trial_end)?,
            cancel_at_period_end: i.cancel_at_period_end,
            canceled_at: parse_opt_ts("canceled_at", &i.canceled_at)?,
            ended_at: parse_opt_ts("ended_at", &i.ended_at)?,
            cancellation: i.canceled.then_some(Cancellation {
                reason: i.cancellation_reason,
                comment: i.cancellation_comment,
            }),
            pause,
            metadata: i.metadata,
            exclusive: i.exclusive,
            latest_invoice_id: i
                .latest_invoice_id
                .as_deref()
                .map(InvoiceId::from_str)
                .transpose()
                .map_err(corrupt("latest_invoice_id"))?,
            next_payment_attempt: parse_opt_ts("next_payment_attempt", &i.next_payment_attempt)?,
            scheduled_plan_id: i
                .scheduled_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("scheduled_plan_id"))?,
            pending_lines: i
                .pending_lines
                .into_iter()
                .map(|p| p.line.into_line(p.currency))
                .collect::<Result<_, _>>()?,
            successor_plan_id: i
                .successor_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("successor_plan_id"))?,
            discount: i
                .discount
                .map(billing_domain::discounts::coupon::Discount::try_from)
                .transpose()?,
            trial_reminder_sent: i.trial_reminder_sent,
            renewal_reminder_days: i.renewal_reminder_days,
            reminded_period_end: parse_opt_ts("reminded_period_end", &i.reminded_period_end)?,
            items: i
                .items
                .iter()
                .map(|row| {
                    Ok(billing_domain::subscriptions::RecurringItem {
                        product_id: billing_domain::kernel::ids::ProductId::from_str(
                            &row.product_id,
                        )
                        .map_err(corrupt("items.product_id"))?,
                        quantity: row.quantity,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            promotional_first: i.promotional_first.unwrap_or(true),
            metered: i.metered,
            one_off: i.one_off,
            new_allowance_period: None,
            events: Default::default(),
            as_stored: None,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        };
        subscription.mark_stored();
        Ok(subscription)
    }
}

/// A subscription's pending invoice line, with its currency (the subscription has none).
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLineItem {
    currency: Currency,
    #[serde(flatten)]
    line: InvoiceLineItem,
}
