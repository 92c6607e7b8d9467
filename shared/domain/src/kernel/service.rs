//! The application service: every operation the API offers, expressed on the ports.
//! Each one loads, calls a domain method, and stores under the optimistic-concurrency condition.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::catalogue::PlanRepo;
use crate::catalogue::{NewPlan, Plan, PlanPatch};
use crate::collection::dunning::DunningPolicy;
use crate::collection::payments::PaymentGateway;
use crate::collection::{Checkpoints, TrialEndWithoutPaymentMethod};
use crate::customers::{CreditRepo, CustomerRepo};
use crate::customers::{Customer, CustomerPatch, NewCustomer};
use crate::discounts::CouponRepo;
use crate::inventory::ProductRepo;
use crate::invoicing::Invoice;
use crate::invoicing::InvoiceRepo;
use crate::kernel::access::Actor;
use crate::kernel::clock::{Clock, FixedClock};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::notifications::NotificationRepo;
use crate::preorders::PreorderRepo;
use crate::subscriptions::SubscriptionRepo;
use crate::subscriptions::{CancelRequest, Subscription, SubscriptionPatch};
use crate::usage::UsageRepo;

/// The ports the service works through.
#[derive(Clone)]
pub struct Billing {
    pub plans: Arc<dyn PlanRepo>,
    pub customers: Arc<dyn CustomerRepo>,
    pub subscriptions: Arc<dyn SubscriptionRepo>,
    pub invoices: Arc<dyn InvoiceRepo>,
    pub coupons: Arc<dyn CouponRepo>,
    pub products: Arc<dyn ProductRepo>,
    pub preorders: Arc<dyn PreorderRepo>,
    pub credits: Arc<dyn CreditRepo>,
    pub notifications: Arc<dyn NotificationRepo>,
    pub usage: Arc<dyn UsageRepo>,
    pub payments: Arc<dyn PaymentGateway>,
    pub clock: Arc<dyn Clock>,
    /// When failed renewals are retried, and what follows the last failure.
    pub dunning: DunningPolicy,
    pub trial_end_without_payment_method: TrialEndWithoutPaymentMethod,
    /// Where a renewal can be interrupted on purpose (fault-injection tests); a no-op otherwise.
    pub checkpoints: Arc<dyn Checkpoints>,
}

/// A version conflict is a stale version of `what`; other store errors pass through.
pub(crate) fn stale_on_conflict(what: &'static str) -> impl Fn(StoreError) -> BillingError {
    move |e| match e {
        StoreError::VersionConflict => BillingError::StaleVersion(what),
        other => BillingError::Store(other),
    }
}

fn check_version(
    what: &'static str,
    current: u64,
    expected: Option<u64>,
) -> Result<(), BillingError> {
    match expected {
        Some(expected) if expected != current => Err(BillingError::StaleVersion(what)),
        _ => Ok(()),
    }
}

impl Billing {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same service with its clock stopped at `now` (one request or job at the test
    /// clock's time).
    pub fn at(&self, now: DateTime<Utc>) -> Billing {
        Billing {
            clock: Arc::new(FixedClock(now)),
            ..self.clone()
        }
    }

    // ---- catalogue -------------------------------------------------------------------------

    /// Active plans for everyone; archived ones too when asked.
    pub async fn list_plans(&self, include_archived: bool) -> Result<Vec<Plan>, BillingError> {
        let plans = self.plans.list_plans().await?;
        Ok(plans
            .into_iter()
            .filter(|p| include_archived || p.is_active())
            .collect())
    }

    pub async fn get_plan(&self, id: &PlanId) -> Result<Plan, BillingError> {
        self.plans
            .get_plan(id)
            .await?
            .ok_or(BillingError::NotFound("plan"))
    }

    /// A plan's fallback must exist (it is where its subscriptions go when they end).
    async fn check_fallback(&self, plan: &Plan) -> Result<(), BillingError> {
        match &plan.fallback_plan_id {
            Some(id) if self.plans.get_plan(id).await?.is_none() => Err(BillingError::field(
                "fallback_plan_id",
                "no plan with this id",
            )),
            _ => Ok(()),
        }
    }

    pub async fn create_plan(&self, new: NewPlan) -> Result<Plan, BillingError> {
        let plan = Plan::create(new, self.now())?;
        self.check_fallback(&plan).await?;
        match self.plans.insert_plan(&plan).await {
            Ok(()) => Ok(plan),
            Err(StoreError::AlreadyExists) => Err(BillingError::Conflict(format!(
                "a plan with id {} exists already",
                plan.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update_plan(
        &self,
        id: &PlanId,
        patch: PlanPatch,
        expected_version: Option<u64>,
    ) -> Result<Plan, BillingError> {
        let mut plan = self.get_plan(id).await?;
        check_version("plan", plan.version, expected_version)?;
        plan.apply(patch, self.now())?;
        self.check_fallback(&plan).await?;
        self.plans
            .update_plan(&mut plan)
            .await
            .map_err(stale_on_conflict("plan"))?;
        Ok(plan)
    }

    pub async fn archive_plan(&self, id: &PlanId) -> Result<Plan, BillingError> {
        let mut plan = self.get_plan(id).await?;
        plan.archive(self.now());
        self.plans
            .update_plan(&mut plan)
            .await
            .map_err(stale_on_conflict("plan"))?;
        Ok(plan)
    }

    // ---- customers -------------------------------------------------------------------------

    pub async fn create_customer(&self, new: NewCustomer) -> Result<Customer, BillingError> {
        let customer = Customer::create(new, self.now())?;
        self.customers.insert_customer(&customer).await?;
        Ok(customer)
    }

    pub async fn get_customer(
        &self,
        actor: &Actor,
        id: &CustomerId,
    ) -> Result<Customer, BillingError> {
        if !actor.can_access(id) {
            return Err(BillingError::NotFound("customer"));
        }
        self.customers
            .get_customer(id)
            .await?
            .ok_or(BillingError::NotFound("customer"))
    }

    pub async fn update_customer(
        &self,
        actor: &Actor,
        id: &CustomerId,
        patch: CustomerPatch,
        expected_version: Option<u64>,
    ) -> Result<Customer, BillingError> {
        let mut customer = self.get_customer(actor, id).await?;
        check_version("customer", customer.version, expected_version)?;
        customer.apply(patch, self.now())?;
        self.customers
            .update_customer(&mut customer)
            .await
            .map_err(stale_on_conflict("customer"))?;
        Ok(customer)
    }

    pub async fn list_customers(&self, page: &PageRequest) -> Result<Page<Customer>, BillingError> {
        Ok(self.customers.list_customers(page).await?)
    }

    // ---- subscriptions ---------------------------------------------------------------------

    pub async fn get_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
    ) -> Result<Subscription, BillingError> {
        match self.subscriptions.get_subscription(id).await? {
            Some(sub) if actor.can_access(&sub.customer_id) => Ok(sub),
            Some(_) | None => Err(BillingError::NotFound("subscription")),
        }
    }

    /// Loads, checks ownership and version, applies `change`, stores conditionally.
    async fn modify_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        expected_version: Option<u64>,
        change: impl FnOnce(&mut Subscription, DateTime<Utc>) -> Result<(), BillingError>,
    ) -> Result<Subscription, BillingError> {
        let mut sub = self.get_subscription(actor, id).await?;
        check_version("subscription", sub.version, expected_version)?;
        change(&mut sub, self.now())?;
        self.subscriptions
            .update_subscription(&mut sub)
            .await
            .map_err(stale_on_conflict("subscription"))?;
        Ok(sub)
    }

    pub async fn pause_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        resumes_at: Option<DateTime<Utc>>,
        expected_version: Option<u64>,
    ) -> Result<Subscription, BillingError> {
        self.modify_subscription(actor, id, expected_version, |sub, now| {
            sub.pause(now, resumes_at)
        })
        .await
    }

    pub async fn resume_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        expected_version: Option<u64>,
    ) -> Result<Subscription, BillingError> {
        self.modify_subscription(actor, id, expected_version, |sub, now| sub.resume(now))
            .await
    }

    pub async fn cancel_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        request: CancelRequest,
        expected_version: Option<u64>,
    ) -> Result<Subscription, BillingError> {
        let sub = self
            .modify_subscription(actor, id, expected_version, |sub, now| {
                sub.cancel(request, now)
            })
            .await?;
        self.end_open_preorders(&sub).await?;
        self.bill_final_usage(&sub).await?;
        Ok(sub)
    }

    pub async fn update_subscription(
        &self,
        actor: &Actor,
        id: &SubscriptionId,
        patch: SubscriptionPatch,
        expected_version: Option<u64>,
    ) -> Result<Subscription, BillingError> {
        self.modify_subscription(actor, id, expected_version, |sub, now| {
            sub.apply(patch, now)
        })
        .await
    }

    /// A customer's subscriptions, newest first. Customers see only their own.
    pub async fn list_subscriptions(
        &self,
        actor: &Actor,
        customer_id: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, BillingError> {
        let customer = self.get_customer(actor, customer_id).await?;
        match self
            .subscriptions
            .list_subscriptions(&customer.id, page)
            .await
        {
            Err(StoreError::UnknownCursor) => Err(BillingError::field(
                "starting_after",
                "names no subscription of this customer",
            )),
            other => Ok(other?),
        }
    }

    // ---- invoices --------------------------------------------------------------------------

    /// One invoice; customers see only their own.
    pub async fn get_invoice(
        &self,
        actor: &Actor,
        id: &InvoiceId,
    ) -> Result<Invoice, BillingError> {
        match self.invoices.get_invoice(id).await? {
            Some(invoice) if actor.can_access(&invoice.customer_id) => Ok(invoice),
            Some(_) | None => Err(BillingError::NotFound("invoice")),
        }
    }

    /// A subscription's invoices, newest first.
    pub async fn list_invoices(
        &self,
        actor: &Actor,
        subscription_id: &SubscriptionId,
        page: &PageRequest,
    ) -> Result<Page<Invoice>, BillingError> {
        let sub = self.get_subscription(actor, subscription_id).await?;
        match self.invoices.list_invoices(&sub.id, page).await {
            Err(StoreError::UnknownCursor) => Err(BillingError::field(
                "starting_after",
                "names no invoice of this subscription",
            )),
            other => Ok(other?),
        }
    }
}
