//! The plan catalogue (`PLAN#<id>` / `PLAN`, listed under `PLANS`).

use crate::{encode_entity, items, DynamoStore};
use async_trait::async_trait;
use billing_domain::catalogue::Plan;
use billing_domain::catalogue::PlanRepo;
use billing_domain::kernel::ids::PlanId;
use billing_domain::kernel::ports::StoreError;

#[async_trait]
impl PlanRepo for DynamoStore {
    async fn get_plan(&self, id: &PlanId) -> Result<Option<Plan>, StoreError> {
        self.load::<items::PlanItem, _>(items::plan_pk(id), "PLAN")
            .await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        self.query_all::<items::PlanItem>(items::PLANS_GSI1PK)
            .await?
            .into_iter()
            .map(Plan::try_from)
            .collect()
    }

    async fn insert_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, Plan>(&items::PlanItem::from(plan))?)
            .await
    }

    async fn update_plan(&self, plan: &mut Plan) -> Result<(), StoreError> {
        self.replace::<_, Plan>(&items::PlanItem::from(&*plan), &mut plan.version)
            .await
    }
}
