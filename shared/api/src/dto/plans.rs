//! The JSON of plans (the catalogue) and their tier limits.

use super::*;

/// The tier's limits; `null` means unlimited.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub monthly_preorder_limit: Option<u32>,
    /// Decimal string in the plan's currency.
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$", example = "5000.00")]
    pub monthly_preorder_value_limit: Option<String>,
    #[schema(minimum = 0, maximum = 365)]
    pub early_access_days: u32,
    /// Per cent, as a decimal string ("2.5").
    #[schema(pattern = r"^\d{1,3}(\.\d{1,4})?$", example = "2.5")]
    pub preorder_discount_percent: String,
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub tracked_products_limit: Option<u32>,
}

impl From<&TierLimits> for PlanLimits {
    fn from(l: &TierLimits) -> Self {
        PlanLimits {
            monthly_preorder_limit: l.monthly_preorder_limit.as_option().copied(),
            monthly_preorder_value_limit: l
                .monthly_preorder_value_limit
                .as_option()
                .map(|m| m.amount().to_string()),
            early_access_days: l.early_access_days,
            preorder_discount_percent: l.preorder_discount_percent.normalize().to_string(),
            tracked_products_limit: l.tracked_products_limit.as_option().copied(),
        }
    }
}

impl PlanLimits {
    fn into_domain(self, currency: DCurrency) -> Result<TierLimits, Vec<FieldError>> {
        let mut v = Validator::new();
        let value_limit = self.monthly_preorder_value_limit.as_deref().map(|raw| {
            v.check(money_in(
                "limits.monthly_preorder_value_limit",
                raw,
                currency,
            ))
        });
        let discount = v.check(decimal(
            "limits.preorder_discount_percent",
            &self.preorder_discount_percent,
        ));
        v.finish()?;
        Ok(TierLimits {
            monthly_preorder_limit: Limit::from_option(self.monthly_preorder_limit),
            monthly_preorder_value_limit: match value_limit {
                Some(Some(m)) => Limit::Limited(m),
                _ => Limit::Unlimited,
            },
            early_access_days: self.early_access_days,
            preorder_discount_percent: discount.unwrap_or_default(),
            tracked_products_limit: Limit::from_option(self.tracked_products_limit),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    #[schema(example = "plan_premium_month")]
    pub id: String,
    #[schema(example = "Premium (monthly)")]
    pub name: String,
    pub tier: Tier,
    /// `null` for a one-off bundle.
    pub interval: Option<Interval>,
    /// Price per interval, decimal string.
    #[schema(example = "79.99")]
    pub price: String,
    pub currency: Currency,
    pub trial_days: u32,
    pub features: Vec<Feature>,
    pub limits: PlanLimits,
    /// Whether a customer may hold this plan next to another live subscription.
    pub allow_multiple: bool,
    /// Where a subscription that ends at its period end moves the customer (the free plan).
    pub fallback_plan_id: Option<String>,
    /// Days before each renewal the customer is reminded (0: never; default 7). A period not
    /// longer than that (a week) gets no reminder.
    pub renewal_reminder_days: u32,
    /// What happens to a subscription's open pre-orders when it ends.
    pub open_preorders_at_end: OpenPreordersDto,
    /// Units included each period.
    pub allowances: Vec<super::usage::AllowanceDto>,
    /// `false`: a one-off bundle, charged once, its units valid `duration_days`, never renewed.
    pub recurring: bool,
    pub duration_days: Option<u32>,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Plan> for PlanResponse {
    fn from(p: &Plan) -> Self {
        PlanResponse {
            id: p.id.to_string(),
            name: p.name.clone(),
            tier: p.tier.into(),
            interval: p.is_recurring().then(|| p.interval.into()),
            price: p.price.amount().to_string(),
            currency: p.price.currency().into(),
            trial_days: p.trial_days,
            features: p.features.iter().map(|f| (*f).into()).collect(),
            limits: (&p.limits).into(),
            allow_multiple: p.allow_multiple,
            fallback_plan_id: p.fallback_plan_id.as_ref().map(ToString::to_string),
            renewal_reminder_days: p.reminder_days(),
            open_preorders_at_end: p.open_preorders_at_end.into(),
            allowances: p
                .allowances
                .iter()
                .map(super::usage::AllowanceDto::from)
                .collect(),
            recurring: p.is_recurring(),
            duration_days: p.duration_days,
            status: p.status.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlanRequest {
    /// Optional readable id (`plan_...`); generated when absent.
    #[schema(pattern = r"^plan_[A-Za-z0-9_]{1,59}$")]
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub tier: Tier,
    /// Required for a recurring plan; absent for a one-off bundle.
    pub interval: Option<Interval>,
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$", example = "79.99")]
    pub price: String,
    pub currency: Currency,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: u32,
    /// Defaults to the tier's standard features.
    pub features: Option<BTreeSet<Feature>>,
    /// Defaults to the tier's standard limits.
    pub limits: Option<PlanLimits>,
    #[serde(default)]
    pub allow_multiple: bool,
    /// A free plan the customer moves to when a subscription on this one ends at its period end.
    #[schema(example = "plan_free_month")]
    pub fallback_plan_id: Option<String>,
    /// Days before each renewal the customer is reminded; 0 turns the reminder off. Default 7
    /// (a period not longer than that, a week, gets none).
    #[schema(minimum = 0, maximum = 60, example = 7)]
    pub renewal_reminder_days: Option<u32>,
    /// What happens to a subscription's open pre-orders when it ends (default `keep`).
    #[serde(default)]
    pub open_preorders_at_end: OpenPreordersDto,
    /// Units included each period (pages, words, characters, tokens).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub allowances: Vec<super::usage::AllowanceDto>,
    /// `false`: a one-off bundle (no `interval`; `duration_days` required). Default true.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub recurring: bool,
    /// A one-off bundle's days of validity.
    #[schema(minimum = 1, maximum = 3660, example = 30)]
    pub duration_days: Option<u32>,
}

fn yes() -> bool {
    true
}

pub(super) fn plan_id_field(
    field: &str,
    raw: &str,
) -> Result<billing_domain::kernel::ids::PlanId, FieldError> {
    raw.parse()
        .map_err(|e: billing_domain::kernel::ids::IdError| FieldError::new(field, e.to_string()))
}

impl TryFrom<CreatePlanRequest> for catalogue::NewPlan {
    type Error = Vec<FieldError>;
    fn try_from(r: CreatePlanRequest) -> Result<Self, Self::Error> {
        let currency: DCurrency = r.currency.into();
        let mut v = Validator::new();
        let id = r.id.as_deref().and_then(|raw| {
            v.check(
                raw.parse()
                    .map_err(|e: billing_domain::kernel::ids::IdError| {
                        FieldError::new("id", e.to_string())
                    }),
            )
        });
        let price = v.check(money_in("price", &r.price, currency));
        let fallback_plan_id = r
            .fallback_plan_id
            .as_deref()
            .and_then(|raw| v.check(plan_id_field("fallback_plan_id", raw)));
        let allowances = match super::usage::allowances(r.allowances) {
            Ok(a) => a,
            Err(errors) => {
                v.extend(errors);
                Vec::new()
            }
        };
        let interval = match (r.recurring, r.interval, r.duration_days) {
            (true, Some(i), None) => Some(i.into()),
            (true, None, _) => {
                v.push(FieldError::new(
                    "interval",
                    "a recurring plan needs an interval",
                ));
                None
            }
            (true, Some(_), Some(_)) => {
                v.push(FieldError::new(
                    "duration_days",
                    "only a one-off bundle (recurring: false) has duration_days",
                ));
                None
            }
            (false, None, Some(_)) => {
                // Never read for a bundle: its one period lasts duration_days.
                Some(DInterval::Month)
            }
            (false, Some(_), _) => {
                v.push(FieldError::new(
                    "interval",
                    "a one-off bundle has no interval; give duration_days",
                ));
                None
            }
            (false, None, None) => {
                v.push(FieldError::new(
                    "duration_days",
                    "a one-off bundle needs duration_days",
                ));
                None
            }
        };
        let limits = match r.limits.map(|l| l.into_domain(currency)) {
            Some(Ok(l)) => Some(l),
            Some(Err(errors)) => {
                v.extend(errors);
                None
            }
            None => None,
        };
        v.finish()?;
        Ok(catalogue::NewPlan {
            id,
            name: r.name,
            tier: r.tier.into(),
            interval: interval.unwrap_or(DInterval::Month),
            price: price.unwrap_or_else(|| Money::zero(currency)),
            trial_days: r.trial_days,
            features: r.features.map(|f| f.into_iter().map(Into::into).collect()),
            limits,
            allow_multiple: r.allow_multiple,
            fallback_plan_id,
            renewal_reminder_days: r.renewal_reminder_days,
            open_preorders_at_end: r.open_preorders_at_end.into(),
            allowances,
            duration_days: if r.recurring { None } else { r.duration_days },
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlanRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: Option<u32>,
    pub features: Option<BTreeSet<Feature>>,
    pub limits: Option<PlanLimits>,
    pub allow_multiple: Option<bool>,
    /// `null` removes the fallback.
    #[serde(default, deserialize_with = "double_option")]
    pub fallback_plan_id: Option<Option<String>>,
    /// `null` goes back to the default (7 days).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 0, maximum = 60)]
    pub renewal_reminder_days: Option<Option<u32>>,
    pub open_preorders_at_end: Option<OpenPreordersDto>,
    /// Replaces the allowances from each subscription's next period.
    #[schema(max_items = 4)]
    pub allowances: Option<Vec<super::usage::AllowanceDto>>,
}

impl UpdatePlanRequest {
    pub fn into_patch(self, currency: DCurrency) -> Result<catalogue::PlanPatch, Vec<FieldError>> {
        Ok(catalogue::PlanPatch {
            name: self.name,
            trial_days: self.trial_days,
            features: self
                .features
                .map(|f| f.into_iter().map(Into::into).collect()),
            limits: self.limits.map(|l| l.into_domain(currency)).transpose()?,
            allow_multiple: self.allow_multiple,
            fallback_plan_id: self
                .fallback_plan_id
                .map(|f| {
                    f.as_deref()
                        .map(|raw| plan_id_field("fallback_plan_id", raw))
                        .transpose()
                })
                .transpose()
                .map_err(|e| vec![e])?,
            renewal_reminder_days: self.renewal_reminder_days,
            open_preorders_at_end: self.open_preorders_at_end.map(Into::into),
            allowances: self.allowances.map(super::usage::allowances).transpose()?,
        })
    }
}

/// What happens to a subscription's open pre-orders when it ends.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OpenPreordersDto {
    /// Kept at their price: charged and shipped at the release or when stock comes in.
    #[default]
    Keep,
    /// Canceled with the subscription: stock released, nothing charged.
    Cancel,
}

impl From<OpenPreordersDto> for catalogue::OpenPreorders {
    fn from(d: OpenPreordersDto) -> Self {
        match d {
            OpenPreordersDto::Keep => catalogue::OpenPreorders::Keep,
            OpenPreordersDto::Cancel => catalogue::OpenPreorders::Cancel,
        }
    }
}

impl From<catalogue::OpenPreorders> for OpenPreordersDto {
    fn from(d: catalogue::OpenPreorders) -> Self {
        match d {
            catalogue::OpenPreorders::Keep => OpenPreordersDto::Keep,
            catalogue::OpenPreorders::Cancel => OpenPreordersDto::Cancel,
        }
    }
}
