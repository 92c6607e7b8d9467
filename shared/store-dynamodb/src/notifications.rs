//! Notification preferences (`CUS#<id>` / `NOTIFYPREFS`, versioned) and the send log
//! (`SENT#<key>` / `SENT`): one item per email, claimed with a lease before the send and marked
//! sent after it, expired by TTL after [`SENT_LOG_DAYS`]; suppressed addresses
//! (`SUPPRESSED#<address>` / `SUPPRESSION`).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use billing_domain::customers::Email;
use billing_domain::kernel::ids::CustomerId;
use billing_domain::kernel::ports::StoreError;
use billing_domain::notifications::NotificationRepo;
use billing_domain::notifications::{
    EmailSuppression, NotificationAddress, NotificationKind, NotificationPreferences, SendClaim,
    SuppressionReason,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, customer_pk, parse_ts, ts};
use crate::{encode, encode_entity, is_condition_failure, key, s, unavailable, DynamoStore};

/// How long the send log remembers an email: longer than any redelivery (SQS keeps a message
/// 14 days at most).
pub const SENT_LOG_DAYS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct PreferencesItem {
    pk: String,
    sk: String,
    entity: String,
    customer_id: String,
    disabled: Vec<String>,
    addresses: Vec<String>,
    /// When each confirmed address (as in `addresses`) was confirmed; an address not here
    /// waits for its owner's confirmation.
    #[serde(default)]
    confirmed: BTreeMap<String, String>,
    updated_at: Option<String>,
    version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SentItem {
    pk: String,
    sk: String,
    entity: String,
    lease_until: i64,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default)]
    message_id: Option<String>,
    expires_at: i64,
}

fn sent_pk(key: &str) -> String {
    format!("SENT#{key}")
}

#[derive(Debug, Serialize, Deserialize)]
struct SuppressionItem {
    pk: String,
    sk: String,
    entity: String,
    address: String,
    reason: SuppressionReason,
    detail: Option<String>,
    suppressed_at: String,
    /// A string set: the customers whose mail was refused there. Absent: none known (reports
    /// without the customer tag).
    #[serde(default)]
    customers: Vec<String>,
}

fn suppression_pk(address: &str) -> String {
    format!("SUPPRESSED#{address}")
}

const SUPPRESSION_SK: &str = "SUPPRESSION";

impl TryFrom<SuppressionItem> for EmailSuppression {
    type Error = StoreError;

    fn try_from(i: SuppressionItem) -> Result<Self, StoreError> {
        Ok(EmailSuppression {
            address: i.address,
            reason: i.reason,
            detail: i.detail,
            suppressed_at: parse_ts("suppressed_at", &i.suppressed_at)?,
            customers: i
                .customers
                .iter()
                .map(|id| id.parse::<CustomerId>().map_err(corrupt("customers")))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&NotificationPreferences> for PreferencesItem {
    fn from(p: &NotificationPreferences) -> Self {
        PreferencesItem {
            pk: customer_pk(&p.customer_id),
            sk: "NOTIFYPREFS".into(),
            entity: "notification_preferences".into(),
            customer_id: p.customer_id.to_string(),
            disabled: p.disabled.iter().map(|k| k.as_str().to_owned()).collect(),
            addresses: p
                .addresses
                .iter()
                .map(|a| a.email.as_str().to_owned())
                .collect(),
            confirmed: p
                .addresses
                .iter()
                .filter_map(|a| Some((a.email.as_str().to_owned(), ts(a.confirmed_at?))))
                .collect(),
            updated_at: p.updated_at.map(ts),
            version: p.version,
        }
    }
}

impl TryFrom<PreferencesItem> for NotificationPreferences {
    type Error = StoreError;

    fn try_from(i: PreferencesItem) -> Result<Self, StoreError> {
        Ok(NotificationPreferences {
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            disabled: i
                .disabled
                .iter()
                .map(|k| NotificationKind::from_str(k))
                .collect::<Result<_, _>>()
                .map_err(corrupt("disabled"))?,
            addresses: i
                .addresses
                .iter()
                .map(|a| {
                    Ok(NotificationAddress {
                        email: Email::parse("addresses", a)
                            .map_err(|e| StoreError::Corrupt(e.message))?,
                        confirmed_at: i
                            .confirmed
                            .get(a)
                            .map(|t| parse_ts("confirmed", t))
                            .transpose()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            updated_at: i
                .updated_at
                .as_deref()
                .map(|t| parse_ts("updated_at", t))
                .transpose()?,
            events: Default::default(),
            version: i.version,
        })
    }
}

#[async_trait]
impl NotificationRepo for DynamoStore {
    async fn get_preferences(
        &self,
        customer_id: &CustomerId,
    ) -> Result<Option<NotificationPreferences>, StoreError> {
        self.load::<PreferencesItem, _>(customer_pk(customer_id), "NOTIFYPREFS")
            .await
    }

    async fn put_preferences(&self, prefs: &mut NotificationPreferences) -> Result<(), StoreError> {
        let item = encode_entity::<_, NotificationPreferences>(&PreferencesItem::from(&*prefs))?;
        let events = prefs.outgoing_events(prefs.version + 1);
        if events.is_empty() {
            if prefs.version == 0 {
                match self.insert(Self::bump_version(item, 0)).await {
                    Err(StoreError::AlreadyExists) => return Err(StoreError::VersionConflict),
                    other => other?,
                }
            } else {
                self.update(item, prefs.version).await?;
            }
        } else {
            // With the confirmation requests it records, in one transaction.
            let put = if prefs.version == 0 {
                Put::builder()
                    .table_name(self.table())
                    .set_item(Some(Self::bump_version(item, 0)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(unavailable)?
            } else {
                self.versioned_put(item, prefs.version)?
            };
            let mut writes = vec![TransactWriteItem::builder().put(put).build()];
            writes.extend(self.event_writes(&events)?);
            match self.transact(writes).await? {
                Ok(()) => {}
                Err(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    return Err(StoreError::VersionConflict)
                }
                Err(codes) => {
                    return Err(StoreError::Unavailable(format!(
                        "transaction canceled: {codes:?}"
                    )))
                }
            }
        }
        prefs.version += 1;
        prefs.events.clear();
        Ok(())
    }

    async fn claim_send(
        &self,
        key_value: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<SendClaim, StoreError> {
        let item = encode(&SentItem {
            pk: sent_pk(key_value),
            sk: "SENT".into(),
            entity: "sent_email".into(),
            lease_until: lease_until.timestamp(),
            sent_at: None,
            message_id: None,
            expires_at: (now + Duration::days(SENT_LOG_DAYS)).timestamp(),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (attribute_not_exists(sent_at) AND lease_until < :now)",
            )
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(SendClaim::Claimed),
            Err(e) if is_condition_failure(&e) => {
                let existing: Option<SentItem> = self.get(sent_pk(key_value), "SENT").await?;
                Ok(match existing {
                    Some(item) if item.sent_at.is_some() => SendClaim::AlreadySent,
                    // Released in between: the next attempt claims it.
                    Some(_) | None => SendClaim::InProgress,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_sent(
        &self,
        key_value: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(sent_pk(key_value), "SENT")))
            .update_expression("SET sent_at = :at, message_id = :id")
            .expression_attribute_values(":at", s(ts(now)))
            .expression_attribute_values(":id", s(message_id))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn release_send(&self, key_value: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(sent_pk(key_value), "SENT")))
            .condition_expression("attribute_not_exists(sent_at)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Sent meanwhile: the log keeps it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The first report's reason, detail and time stand (a redelivered notification, another
    /// bounce); the customers whose mail was refused there add up, in one update.
    async fn suppress(&self, suppression: &EmailSuppression) -> Result<(), StoreError> {
        let reason = serde_json::to_value(suppression.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| StoreError::Corrupt("a suppression's reason".into()))?;
        let mut set = vec![
            "#entity = :entity",
            "#address = if_not_exists(#address, :address)",
            "#reason = if_not_exists(#reason, :reason)",
            "#at = if_not_exists(#at, :at)",
        ];
        let mut names = HashMap::from([
            ("#entity".to_owned(), "entity".to_owned()),
            ("#address".to_owned(), "address".to_owned()),
            ("#reason".to_owned(), "reason".to_owned()),
            ("#at".to_owned(), "suppressed_at".to_owned()),
        ]);
        let mut values = HashMap::from([
            (":entity".to_owned(), s("email_suppression")),
            (":address".to_owned(), s(suppression.address.clone())),
            (":reason".to_owned(), s(reason)),
            (":at".to_owned(), s(ts(suppression.suppressed_at))),
        ]);
        if let Some(detail) = &suppression.detail {
            set.push("#detail = if_not_exists(#detail, :detail)");
            names.insert("#detail".into(), "detail".into());
            values.insert(":detail".into(), s(detail.clone()));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !suppression.customers.is_empty() {
            expression.push_str(" ADD #customers :customers");
            names.insert("#customers".into(), "customers".into());
            values.insert(
                ":customers".into(),
                AttributeValue::Ss(
                    suppression
                        .customers
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                ),
            );
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                suppression_pk(&suppression.address),
                SUPPRESSION_SK,
            )))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn suppressions(&self, addresses: &[Email]) -> Result<Vec<EmailSuppression>, StoreError> {
        let mut found = Vec::new();
        for address in addresses {
            let key = EmailSuppression::key(address.as_str());
            if let Some(s) = self
                .load::<SuppressionItem, EmailSuppression>(suppression_pk(&key), SUPPRESSION_SK)
                .await?
            {
                found.push(s);
            }
        }
        Ok(found)
    }

    async fn lift_suppression(&self, address: &str) -> Result<(), StoreError> {
        self.remove(suppression_pk(address), SUPPRESSION_SK).await
    }
}
