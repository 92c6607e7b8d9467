//! The JSON of metered allowances: plans' allowances, usage records, promotional unit grants,
//! the usage summary and entitlements. Units are decimal strings (requests may send integers).

use billing_domain::usage::{
    self as usage, AllowanceLimit as DAllowanceLimit, AllowancePeriod, Unit as DUnit, UsageRecord,
    UsageRecordStatus as DUsageRecordStatus,
};

use super::*;

api_enum!(
    /// What an allowance counts.
    Unit => DUnit { Pages = "pages", Words = "words", Characters = "characters", Tokens = "tokens" });
api_enum!(
    /// `hard`: usage past the balance is refused; `soft`: it is recorded as overage, billed on the
    /// next invoice.
    AllowanceLimit => DAllowanceLimit { Hard = "hard", Soft = "soft" });
api_enum!(UsageRecordStatus => DUsageRecordStatus { Recorded = "recorded", Voided = "voided" });

/// A count of units: a decimal string (`"150"`, `"12.5"`) or an integer. Never a float.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UnitsValue {
    Integer(u64),
    /// A decimal string, at most 6 decimal places.
    #[schema(example = "150")]
    Text(String),
}

impl UnitsValue {
    pub fn read(&self, field: &str) -> Result<Decimal, FieldError> {
        let value = match self {
            UnitsValue::Integer(n) => Decimal::from(*n),
            UnitsValue::Text(raw) => decimal(field, raw)?,
        };
        usage::check_units(field, value, false)
    }
}

fn units_text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Unused included units carried into the next period, at most `max`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloverDto {
    #[schema(value_type = String, example = "5000")]
    pub max: String,
}

/// Units a plan includes each period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowanceDto {
    pub unit: Unit,
    /// Decimal string.
    #[schema(example = "10000")]
    pub included: String,
    pub limit: AllowanceLimit,
    /// Price of one unit past the balance in the plan's currency (soft limits); `null`: overage
    /// is counted and not charged.
    #[serde(default)]
    #[schema(example = "0.002")]
    pub overage_unit_price: Option<String>,
    #[serde(default)]
    pub rollover: Option<RolloverDto>,
    /// Price of one unit bought as a top-up (`POST /subscriptions/{id}/top-ups`); `null`: no
    /// top-ups of this unit.
    #[serde(default)]
    #[schema(example = "0.06")]
    pub top_up_unit_price: Option<String>,
}

impl From<&usage::Allowance> for AllowanceDto {
    fn from(a: &usage::Allowance) -> Self {
        AllowanceDto {
            unit: a.unit.into(),
            included: units_text(a.included),
            limit: a.limit.into(),
            overage_unit_price: a.overage_unit_price.map(|p| p.normalize().to_string()),
            rollover: a.rollover_max.map(|m| RolloverDto { max: units_text(m) }),
            top_up_unit_price: a.top_up_unit_price.map(|p| p.normalize().to_string()),
        }
    }
}

/// The allowances of a request, each read (fields named `allowances[n].…`).
pub fn allowances(list: Vec<AllowanceDto>) -> Result<Vec<usage::Allowance>, Vec<FieldError>> {
    let mut v = Validator::new();
    let read: Vec<Option<usage::Allowance>> = list
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            let at = |f: &str| format!("allowances[{n}].{f}");
            let included = v.check(decimal(&at("included"), &a.included));
            let price = a
                .overage_unit_price
                .as_deref()
                .map(|p| v.check(decimal(&at("overage_unit_price"), p)));
            let max = a
                .rollover
                .as_ref()
                .map(|r| v.check(decimal(&at("rollover.max"), &r.max)));
            let top_up = a
                .top_up_unit_price
                .as_deref()
                .map(|p| v.check(decimal(&at("top_up_unit_price"), p)));
            Some(usage::Allowance {
                unit: a.unit.into(),
                included: included?,
                limit: a.limit.into(),
                overage_unit_price: price.map(|p| p.ok_or(())).transpose().ok()?,
                rollover_max: max.map(|m| m.ok_or(())).transpose().ok()?,
                top_up_unit_price: top_up.map(|p| p.ok_or(())).transpose().ok()?,
            })
        })
        .collect();
    v.finish()?;
    Ok(read.into_iter().flatten().collect())
}

/// `POST /subscriptions/{id}/usage-records`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUsageRecordRequest {
    pub unit: Unit,
    pub units: UnitsValue,
    #[schema(max_length = 500, example = "translated contract.pdf")]
    pub description: Option<String>,
    /// When the usage happened (default: now); at most 5 minutes ahead, not before the current
    /// period.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Where a record's units came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownDto {
    #[schema(example = "100")]
    pub promotional: String,
    #[schema(example = "50")]
    pub included: String,
    #[schema(example = "0")]
    pub overage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordResponse {
    #[schema(example = "ur_5f0e3dad99908345f7439f8f")]
    pub id: String,
    pub subscription_id: String,
    pub unit: Unit,
    #[schema(example = "150")]
    pub units: String,
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The allowance period it counts in.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub breakdown: BreakdownDto,
    /// Included and promotional units of this unit left after this record (as it saw them).
    #[schema(example = "950")]
    pub remaining: String,
    pub status: UsageRecordStatus,
    pub created_at: DateTime<Utc>,
    pub voided_at: Option<DateTime<Utc>>,
}

impl From<&UsageRecord> for UsageRecordResponse {
    fn from(r: &UsageRecord) -> Self {
        UsageRecordResponse {
            id: r.id.to_string(),
            subscription_id: r.subscription_id.to_string(),
            unit: r.unit.into(),
            units: units_text(r.units),
            description: r.description.clone(),
            occurred_at: r.occurred_at,
            period_start: r.period_start,
            period_end: r.period_end,
            breakdown: BreakdownDto {
                promotional: units_text(r.breakdown.promotional),
                included: units_text(r.breakdown.included),
                overage: units_text(r.breakdown.overage),
            },
            remaining: units_text(r.remaining),
            status: r.status.into(),
            created_at: r.created_at,
            voided_at: r.voided_at,
        }
    }
}

/// `POST /subscriptions/{id}/unit-grants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUnitGrantRequest {
    pub unit: Unit,
    pub units: UnitsValue,
    /// The grant's units stop counting at this time (across periods).
    #[serde(deserialize_with = "crate::request::required_time")]
    pub expires_at: DateTime<Utc>,
    #[schema(max_length = 500, example = "launch promotion")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitGrantResponse {
    #[schema(example = "ugr_5f0e3dad99908345f7439f8f")]
    pub id: String,
    pub subscription_id: String,
    pub unit: Unit,
    pub units: String,
    pub expires_at: DateTime<Utc>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One unit of one allowance period.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitPeriodDto {
    pub unit: Unit,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub limit: AllowanceLimit,
    /// Included units of the period, rollover included.
    pub allocated: String,
    pub rolled_over: String,
    /// Promotional units usable in the period (what lapsed unused is left out).
    pub promotional_allocated: String,
    /// Included and promotional units used (overage apart).
    pub used: String,
    pub promotional_used: String,
    pub overage_units: String,
    /// `allocated + promotional_allocated − used`.
    pub remaining: String,
    /// Invoiced: takes no more usage.
    pub closed: bool,
}

/// One unit over every period.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitTotalsDto {
    pub unit: Unit,
    pub allocated: String,
    pub promotional_allocated: String,
    pub used: String,
    pub promotional_used: String,
    pub overage_units: String,
    /// What the current (open) period has left.
    pub remaining: String,
}

/// One day's (or month's) usage of a unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageHistoryDto {
    /// `2026-12-07` (by day) or `2026-12` (by month).
    pub period: String,
    pub unit: Unit,
    pub used: String,
    pub overage_units: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSummaryResponse {
    pub subscription_id: String,
    /// Per unit and period, oldest first.
    pub units: Vec<UnitPeriodDto>,
    pub totals: Vec<UnitTotalsDto>,
    /// With `group_by`: each day of the last 30 days, or each month of the last 12, that had
    /// usage (the last ones are today and this month).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<UsageHistoryDto>>,
}

/// How the summary's history (and the usage report) is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    Month,
}

impl GroupBy {
    /// The period `day` falls in: `2026-12-07` by day, `2026-12` by month.
    fn period_of(self, day: chrono::NaiveDate) -> String {
        match self {
            GroupBy::Day => day.format("%Y-%m-%d").to_string(),
            GroupBy::Month => day.format("%Y-%m").to_string(),
        }
    }
}

impl UsageSummaryResponse {
    pub fn new(summary: &usage::UsageSummary, group_by: Option<GroupBy>) -> Self {
        let at = summary.at;
        let mut units = Vec::new();
        let mut totals: BTreeMap<DUnit, UnitTotalsDto> = BTreeMap::new();
        let mut sums: BTreeMap<DUnit, [Decimal; 5]> = BTreeMap::new();
        let open: Option<&AllowancePeriod> = summary.periods.iter().rev().find(|p| !p.closed);
        for p in &summary.periods {
            for u in p.usage(at) {
                let s = sums.entry(u.unit).or_default();
                s[0] += u.allocated;
                s[1] += u.promotional_allocated;
                s[2] += u.used;
                s[3] += u.promotional_used;
                s[4] += u.overage_units;
                units.push(UnitPeriodDto {
                    unit: u.unit.into(),
                    period_start: p.start,
                    period_end: p.end,
                    limit: u.limit.into(),
                    allocated: units_text(u.allocated),
                    rolled_over: units_text(u.rolled_over),
                    promotional_allocated: units_text(u.promotional_allocated),
                    used: units_text(u.used),
                    promotional_used: units_text(u.promotional_used),
                    overage_units: units_text(u.overage_units),
                    remaining: units_text(u.remaining),
                    closed: p.closed,
                });
            }
        }
        for (unit, s) in sums {
            let remaining = open.map_or(Decimal::ZERO, |p| {
                p.usage(at)
                    .into_iter()
                    .find(|u| u.unit == unit)
                    .map_or(Decimal::ZERO, |u| u.remaining)
            });
            totals.insert(
                unit,
                UnitTotalsDto {
                    unit: unit.into(),
                    allocated: units_text(s[0]),
                    promotional_allocated: units_text(s[1]),
                    used: units_text(s[2]),
                    promotional_used: units_text(s[3]),
                    overage_units: units_text(s[4]),
                    remaining: units_text(remaining),
                },
            );
        }
        let history = group_by.map(|g| {
            let mut grouped: BTreeMap<(String, DUnit), (Decimal, Decimal)> = BTreeMap::new();
            for d in &summary.daily {
                let key = g.period_of(d.day);
                let e = grouped.entry((key, d.unit)).or_default();
                e.0 += d.used;
                e.1 += d.overage;
            }
            grouped
                .into_iter()
                .map(|((period, unit), (used, overage))| UsageHistoryDto {
                    period,
                    unit: unit.into(),
                    used: units_text(used),
                    overage_units: units_text(overage),
                })
                .collect()
        });
        UsageSummaryResponse {
            subscription_id: summary.subscription_id.to_string(),
            units,
            totals: totals.into_values().collect(),
            history,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementResponse {
    pub unit: Unit,
    /// The subscription is active (or trialing) and has units left, or a soft limit.
    pub has_access: bool,
    /// Included and promotional units left in the current period.
    pub remaining: String,
    pub limit: AllowanceLimit,
}

impl From<&usage::Entitlement> for EntitlementResponse {
    fn from(e: &usage::Entitlement) -> Self {
        EntitlementResponse {
            unit: e.unit.into(),
            has_access: e.has_access,
            remaining: units_text(e.remaining),
            limit: e.limit.into(),
        }
    }
}

/// One row of the operators' usage report: a day's (or month's) usage of a unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReportRow {
    /// `2026-12-07` (by day) or `2026-12` (by month).
    pub period: String,
    pub unit: Unit,
    pub used: String,
    pub overage_units: String,
    /// Subscriptions with usage in the period.
    pub subscriptions: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReportResponse {
    pub from: String,
    pub to: String,
    /// Oldest first, then by unit.
    pub data: Vec<UsageReportRow>,
    /// Per unit over the whole range.
    pub totals: Vec<UsageReportRow>,
}

impl UsageReportResponse {
    pub fn new(
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        rows: &[(
            billing_domain::kernel::ids::SubscriptionId,
            usage::DailyUsage,
        )],
        group_by: GroupBy,
    ) -> Self {
        type Sums = (Decimal, Decimal, BTreeSet<String>);
        let mut grouped: BTreeMap<(String, DUnit), Sums> = BTreeMap::new();
        let mut totals: BTreeMap<DUnit, Sums> = BTreeMap::new();
        for (sub, d) in rows {
            let key = group_by.period_of(d.day);
            for sums in [
                grouped.entry((key, d.unit)).or_default(),
                totals.entry(d.unit).or_default(),
            ] {
                sums.0 += d.used;
                sums.1 += d.overage;
                sums.2.insert(sub.to_string());
            }
        }
        let row = |period: String, unit: DUnit, s: Sums| UsageReportRow {
            period,
            unit: unit.into(),
            used: units_text(s.0),
            overage_units: units_text(s.1),
            subscriptions: s.2.len() as u64,
        };
        let range = format!("{}..{}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"));
        UsageReportResponse {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            data: grouped
                .into_iter()
                .map(|((period, unit), s)| row(period, unit, s))
                .collect(),
            totals: totals
                .into_iter()
                .map(|(unit, s)| row(range.clone(), unit, s))
                .collect(),
        }
    }
}

/// `POST /subscriptions/{id}/top-ups`: `{"unit", "units"}` at the plan's top-up price, or
/// `{"plan_id"}` of a one-off bundle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopUpRequest {
    pub unit: Option<Unit>,
    pub units: Option<UnitsValue>,
    #[schema(example = "plan_tokens_1000_30d")]
    pub plan_id: Option<String>,
}

impl CreateTopUpRequest {
    pub fn into_domain(self) -> Result<usage::TopUpRequest, Vec<FieldError>> {
        match (self.unit, self.units, self.plan_id) {
            (Some(unit), Some(units), None) => Ok(usage::TopUpRequest::Units {
                unit: unit.into(),
                units: units.read("units").map_err(|e| vec![e])?,
            }),
            (None, None, Some(plan)) => Ok(usage::TopUpRequest::Bundle {
                plan_id: super::plans::plan_id_field("plan_id", &plan).map_err(|e| vec![e])?,
            }),
            _ => Err(vec![FieldError::new(
                "body",
                "give unit and units, or plan_id (a one-off bundle)",
            )]),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopUpResponse {
    /// The top-up's invoice (paid).
    pub invoice_id: String,
    #[schema(example = "30.00")]
    pub amount: String,
    pub currency: Currency,
    /// The units granted.
    pub grants: Vec<UnitGrantResponse>,
}

impl From<&usage::TopUp> for TopUpResponse {
    fn from(t: &usage::TopUp) -> Self {
        TopUpResponse {
            invoice_id: t.invoice.id.to_string(),
            amount: t.invoice.amount_paid.amount().to_string(),
            currency: t.invoice.currency.into(),
            grants: t
                .grants
                .iter()
                .map(|(id, g)| UnitGrantResponse::of(id, &t.invoice.subscription_id, g))
                .collect(),
        }
    }
}

impl UnitGrantResponse {
    pub fn of(
        id: &billing_domain::kernel::ids::UnitGrantId,
        subscription: &billing_domain::kernel::ids::SubscriptionId,
        g: &usage::GrantBalance,
    ) -> Self {
        UnitGrantResponse {
            id: id.to_string(),
            subscription_id: subscription.to_string(),
            unit: g.unit.into(),
            units: units_text(g.units),
            expires_at: g.expires_at,
            description: g.description.clone(),
            created_at: g.granted_at,
        }
    }
}

/// An entry of the unit ledger: units granted (promotional or a top-up), or what lapsed when a
/// grant expired unused.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryResponse {
    pub grant_id: String,
    /// `granted` or `expired`.
    #[schema(example = "expired")]
    pub kind: String,
    pub unit: Unit,
    pub units: String,
    pub at: DateTime<Utc>,
    pub description: Option<String>,
}

impl From<&usage::LedgerEntry> for LedgerEntryResponse {
    fn from(e: &usage::LedgerEntry) -> Self {
        LedgerEntryResponse {
            grant_id: e.grant_id.to_string(),
            kind: e.kind.as_str().to_owned(),
            unit: e.unit.into(),
            units: units_text(e.units),
            at: e.at,
            description: e.description.clone(),
        }
    }
}
