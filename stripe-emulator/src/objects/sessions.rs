//! Customer-portal sessions and promotion codes.

use serde_json::{json, Value};

use crate::store::Store;

#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub customer: String,
    pub return_url: Option<String>,
    pub configuration: String,
    pub created: i64,
}

impl PortalSession {
    pub fn json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "object": "billing_portal.session",
            "configuration": self.configuration,
            "flow": null,
            "locale": null,
            "on_behalf_of": null,
            "created": self.created,
            "customer": self.customer,
            "livemode": false,
            "return_url": self.return_url,
            "url": format!("{base_url}/p/session/{}", self.id),
        })
    }
}

#[derive(Debug, Clone)]
pub struct PromotionCode {
    pub id: String,
    pub code: String,
    pub coupon: String,
    pub active: bool,
    pub created: i64,
}

impl PromotionCode {
    pub fn json(&self, store: &Store) -> Value {
        json!({
            "id": self.id,
            "object": "promotion_code",
            "active": self.active,
            "code": self.code,
            "created": self.created,
            "livemode": false,
            "metadata": {},
            // An id, as Stripe sends it unless `expand[]=promotion.coupon` asks for the object.
            "promotion": { "type": "coupon", "coupon": store.coupons.get(&self.coupon).map(|c| c.id.clone()) },
            "restrictions": { "first_time_transaction": false },
            "times_redeemed": 0,
        })
    }
}
