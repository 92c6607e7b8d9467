//! Operators manage coupons and promotion codes; customers redeem them on subscriptions.

pub mod coupon;
mod repo;
pub use repo::CouponRepo;

use chrono::{DateTime, Utc};

use crate::catalogue::Plan;
use crate::discounts::coupon::{
    normalize_code, Coupon, Discount, DiscountRequest, NewCoupon, NewPromotionCode, PromotionCode,
    Redemption, RedemptionLimit,
};
use crate::kernel::access::Actor;
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CouponId, CustomerId, PromotionCodeId, SubscriptionId};
use crate::kernel::ports::StoreError;
use crate::kernel::retry::{retry_on_conflict, written, Written};
use crate::kernel::service::Billing;
use crate::subscriptions::Subscription;

/// A discount ready to be stored with the redemption that pays for it.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub discount: Discount,
    pub redemption: Redemption,
}

/// A refused redemption, as the field the caller gave.
pub(crate) fn refused(limit: RedemptionLimit, request: &DiscountRequest) -> BillingError {
    let field = if request.promotion_code.is_some() {
        "promotion_code"
    } else {
        "coupon"
    };
    BillingError::field(
        field,
        match limit {
            RedemptionLimit::Coupon => "the coupon has been fully redeemed or is no longer valid",
            RedemptionLimit::PromotionCode => {
                "the code has been fully redeemed or is no longer valid"
            }
            RedemptionLimit::Customer => {
                "the customer has redeemed this coupon as often as allowed"
            }
        },
    )
}

impl Billing {
    // ---- coupons (operators) ---------------------------------------------------------------

    pub async fn create_coupon(&self, new: NewCoupon) -> Result<Coupon, BillingError> {
        for plan in &new.applies_to_plans {
            if self.plans.get_plan(plan).await?.is_none() {
                return Err(BillingError::field(
                    "applies_to.plans",
                    format!("no plan with id {plan}"),
                ));
            }
        }
        let coupon = Coupon::create(new, self.now())?;
        match self.coupons.insert_coupon(&coupon).await {
            Err(StoreError::AlreadyExists) => Err(BillingError::field(
                "id",
                "a coupon with this id exists already",
            )),
            other => Ok(other.map(|()| coupon)?),
        }
    }

    pub async fn get_coupon(&self, id: &CouponId) -> Result<Coupon, BillingError> {
        self.coupons
            .get_coupon(id)
            .await?
            .ok_or(BillingError::NotFound("coupon"))
    }

    pub async fn list_coupons(&self) -> Result<Vec<Coupon>, BillingError> {
        Ok(self.coupons.list_coupons().await?)
    }

    /// No new redemptions; the discounts already given continue.
    pub async fn archive_coupon(&self, id: &CouponId) -> Result<Coupon, BillingError> {
        // Redeemed meanwhile: read the new count and archive again.
        retry_on_conflict!("coupon", {
            let mut coupon = self.get_coupon(id).await?;
            if !coupon.active {
                return Ok(Written::Done(coupon));
            }
            coupon.archive(self.now());
            let write = self.coupons.update_coupon(&mut coupon).await;
            written(write, coupon)
        })
    }

    // ---- promotion codes (operators) -------------------------------------------------------

    pub async fn create_promotion_code(
        &self,
        new: NewPromotionCode,
    ) -> Result<PromotionCode, BillingError> {
        let coupon = match self.coupons.get_coupon(&new.coupon_id).await? {
            Some(coupon) => coupon,
            None => return Err(BillingError::field("coupon_id", "no coupon with this id")),
        };
        let code = PromotionCode::create(new, &coupon, self.now())?;
        match self.coupons.insert_promotion_code(&code).await {
            Err(StoreError::AlreadyExists) => {
                Err(BillingError::field("code", "this code exists already"))
            }
            other => Ok(other.map(|()| code)?),
        }
    }

    pub async fn get_promotion_code(
        &self,
        id: &PromotionCodeId,
    ) -> Result<PromotionCode, BillingError> {
        self.coupons
            .get_promotion_code(id)
            .await?
            .ok_or(BillingError::NotFound("promotion code"))
    }

    pub async fn list_promotion_codes(
        &self,
        coupon_id: &CouponId,
    ) -> Result<Vec<PromotionCode>, BillingError> {
        self.get_coupon(coupon_id).await?;
        Ok(self.coupons.list_promotion_codes(coupon_id).await?)
    }

    /// Turns a promotion code on or off.
    pub async fn set_promotion_code_active(
        &self,
        id: &PromotionCodeId,
        active: bool,
    ) -> Result<PromotionCode, BillingError> {
        retry_on_conflict!("promotion code", {
            let mut code = self.get_promotion_code(id).await?;
            if code.active == active {
                return Ok(Written::Done(code));
            }
            code.active = active;
            code.updated_at = self.now();
            let write = self.coupons.update_promotion_code(&mut code).await;
            written(write, code)
        })
    }

    // ---- redeeming -------------------------------------------------------------------------

    /// Checks `request` for `plan` and `customer_id` and prepares the discount, to apply from
    /// the billed period starting at `first_period_start`. Customers may only use promotion
    /// codes; operators may also give a coupon by id.
    pub(crate) async fn prepare_discount(
        &self,
        actor: &Actor,
        request: &DiscountRequest,
        plan: &Plan,
        customer_id: &CustomerId,
        first_period_start: DateTime<Utc>,
    ) -> Result<Option<Redeemed>, BillingError> {
        let now = self.now();
        let (coupon, code) = match (&request.coupon_id, &request.promotion_code) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(BillingError::field(
                    "promotion_code",
                    "give either a coupon or a promotion code, not both",
                ))
            }
            (Some(_), None) if *actor != Actor::Operator => {
                return Err(BillingError::field(
                    "coupon",
                    "customers redeem coupons with a promotion code",
                ))
            }
            (Some(id), None) => match self.coupons.get_coupon(id).await? {
                Some(coupon) => (coupon, None),
                None => return Err(BillingError::field("coupon", "no coupon with this id")),
            },
            (None, Some(raw)) => {
                let typed = normalize_code("promotion_code", raw)?;
                let unknown = || BillingError::field("promotion_code", "no such code");
                let code = self
                    .coupons
                    .find_promotion_code(&typed)
                    .await?
                    .ok_or_else(unknown)?;
                code.check_redeemable("promotion_code", now)?;
                let coupon = self
                    .coupons
                    .get_coupon(&code.coupon_id)
                    .await?
                    .ok_or_else(unknown)?;
                (coupon, Some(code))
            }
        };
        let field = if code.is_some() {
            "promotion_code"
        } else {
            "coupon"
        };
        coupon.check_redeemable(field, plan, now)?;
        Ok(Some(Redeemed {
            discount: Discount::new(&coupon, code.as_ref(), first_period_start, plan.interval)?,
            redemption: Redemption::new(&coupon, code.as_ref(), customer_id.clone()),
        }))
    }

    /// Applies a coupon or promotion code to a live subscription from its next billed period
    /// (replacing any discount it had), counting the redemption in the same write.
    pub async fn apply_discount(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        request: DiscountRequest,
    ) -> Result<Subscription, BillingError> {
        if request.is_empty() {
            return Err(BillingError::field(
                "promotion_code",
                "give a coupon or a promotion code",
            ));
        }
        let mut sub = self.get_subscription(actor, id).await?;
        if sub.status.is_ended() {
            return Err(BillingError::Conflict(format!(
                "cannot discount a {} subscription",
                sub.status
            )));
        }
        let plan = self.plan(&sub.plan_id).await?;
        let Some(redeemed) = self
            .prepare_discount(
                actor,
                &request,
                &plan,
                &sub.customer_id,
                // The current period is invoiced already (or is a trial): the next one.
                sub.current_period_end,
            )
            .await?
        else {
            return Ok(sub);
        };
        sub.discount = Some(redeemed.discount);
        sub.updated_at = self.now();
        match self
            .subscriptions
            .update_subscription_redeeming(&mut sub, &redeemed.redemption)
            .await
        {
            Ok(()) => Ok(sub),
            Err(StoreError::RedemptionRefused(limit)) => Err(refused(limit, &request)),
            Err(StoreError::VersionConflict) => Err(BillingError::StaleVersion("subscription")),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a subscription's discount; invoices from now on are at the full price.
    pub async fn remove_discount(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
    ) -> Result<Subscription, BillingError> {
        let mut sub = self.get_subscription(actor, id).await?;
        if sub.discount.is_none() {
            return Ok(sub);
        }
        sub.discount = None;
        sub.updated_at = self.now();
        self.store_changed(sub).await
    }
}
