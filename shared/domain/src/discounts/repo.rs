//! The discounts' port: where coupons and promotion codes are stored.

use async_trait::async_trait;

use crate::discounts::coupon::{Coupon, PromotionCode};
use crate::kernel::ids::{CouponId, PromotionCodeId};
use crate::kernel::ports::StoreError;

#[async_trait]
pub trait CouponRepo: Send + Sync {
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken.
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;
    async fn get_coupon(&self, id: &CouponId) -> Result<Option<Coupon>, StoreError>;
    /// Every coupon, newest first.
    async fn list_coupons(&self) -> Result<Vec<Coupon>, StoreError>;
    /// Conditional on `coupon.version` (a redemption bumps it too); bumps it.
    async fn update_coupon(&self, coupon: &mut Coupon) -> Result<(), StoreError>;
    /// Fails with [`StoreError::AlreadyExists`] when the code is taken.
    async fn insert_promotion_code(&self, code: &PromotionCode) -> Result<(), StoreError>;
    async fn get_promotion_code(
        &self,
        id: &PromotionCodeId,
    ) -> Result<Option<PromotionCode>, StoreError>;
    /// The promotion code spelled `code` (already normalized).
    async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, StoreError>;
    /// A coupon's promotion codes, newest first.
    async fn list_promotion_codes(
        &self,
        coupon_id: &CouponId,
    ) -> Result<Vec<PromotionCode>, StoreError>;
    /// Conditional on `code.version` (a redemption bumps it too); bumps it.
    async fn update_promotion_code(&self, code: &mut PromotionCode) -> Result<(), StoreError>;
}
