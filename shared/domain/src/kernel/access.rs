//! Who is acting: an operator of the platform, or a customer acting for itself.

use crate::kernel::ids::CustomerId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Staff (admin, support, analyst): may act on any customer. Which actions each role may take
    /// is decided at the API edge.
    Operator,
    /// A customer's own credentials: reach only that customer's data.
    Customer(CustomerId),
}

impl Actor {
    /// Whether this actor may see data belonging to `owner`.
    pub fn can_access(&self, owner: &CustomerId) -> bool {
        match self {
            Actor::Operator => true,
            Actor::Customer(own) => own == owner,
        }
    }
}
