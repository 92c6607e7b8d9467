//! The catalogue's port: where plans are stored.

use async_trait::async_trait;

use crate::catalogue::Plan;
use crate::kernel::ids::PlanId;
use crate::kernel::ports::StoreError;

#[async_trait]
pub trait PlanRepo: Send + Sync {
    async fn get_plan(&self, id: &PlanId) -> Result<Option<Plan>, StoreError>;
    /// Every plan, archived ones included, ordered by tier, interval and id.
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError>;
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken.
    async fn insert_plan(&self, plan: &Plan) -> Result<(), StoreError>;
    /// Stores `plan` if the stored version is `plan.version`, then bumps `plan.version`.
    async fn update_plan(&self, plan: &mut Plan) -> Result<(), StoreError>;
}
