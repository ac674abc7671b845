//! Events, the webhook endpoints they are sent to, and the log of delivery attempts.

use serde_json::{json, Value};

use super::API_VERSION;
use crate::store::{self, Store};

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// `*` for every type.
    pub enabled_events: Vec<String>,
    pub created: i64,
    /// A disabled endpoint is sent nothing.
    pub disabled: bool,
    /// The version its events are rendered in; `None` for the account's default.
    pub api_version: Option<String>,
    pub description: Option<String>,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled
            && self
                .enabled_events
                .iter()
                .any(|e| e == "*" || e == event_type)
    }

    /// The secret is shown only when the endpoint is created, as Stripe does.
    pub fn json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": self.api_version,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": {},
            "status": if self.disabled { "disabled" } else { "enabled" },
            "url": self.url,
        });
        if with_secret {
            v["secret"] = json!(self.secret);
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub type_: String,
    pub created: i64,
    pub object: Value,
    pub previous_attributes: Option<Value>,
    pub seq: u64,
}

impl Event {
    pub fn json(&self, pending_webhooks: usize) -> Value {
        let mut data = json!({ "object": self.object });
        if let Some(prev) = &self.previous_attributes {
            data["previous_attributes"] = prev.clone();
        }
        json!({
            "id": self.id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.created,
            "data": data,
            "livemode": false,
            "pending_webhooks": pending_webhooks,
            "request": { "id": null, "idempotency_key": null },
            "type": self.type_,
        })
    }
}

/// One attempt to deliver one event to one endpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_url: String,
    pub attempt: u32,
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The start of the endpoint's answer (at most 200 bytes), as Stripe's dashboard shows it.
    pub response: Option<String>,
    pub error: Option<String>,
    /// Wall-clock unix seconds.
    pub at: i64,
}

impl Store {
    /// Records an event and hands it to the webhook worker.
    pub fn emit(
        &mut self,
        type_: &str,
        object: Value,
        previous_attributes: Option<Value>,
    ) -> String {
        let event = Event {
            id: store::new_id("evt"),
            type_: type_.to_string(),
            created: self.now(),
            object,
            previous_attributes,
            seq: self.next_seq(),
        };
        let id = event.id.clone();
        self.events.push(event);
        if let Some(tx) = &self.outbox {
            let _ = tx.send(id.clone());
        }
        id
    }

    pub fn event(&self, id: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }

    pub fn pending_webhooks(&self, type_: &str) -> usize {
        self.endpoints.values().filter(|e| e.wants(type_)).count()
    }
}
