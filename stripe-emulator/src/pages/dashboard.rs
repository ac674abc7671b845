//! The emulator's own dashboard: webhook endpoints and the latest delivery attempts.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use super::layout::{escape, page};
use crate::api::Api;

pub async fn dashboard(State(api): State<Api>) -> Response {
    let store = api.store.lock().expect("store lock");
    let mut html = String::from("<h1>Stripe emulator</h1><h2>Webhook endpoints</h2><ul>");
    for e in store.endpoints.values() {
        html.push_str(&format!(
            "<li>{} ({})</li>",
            escape(&e.url),
            escape(&e.enabled_events.join(", "))
        ));
    }
    html.push_str("</ul><h2>Recent deliveries</h2><table><tr><th scope=col>Event</th><th scope=col>Attempt</th><th scope=col>Answer</th></tr>");
    for d in store.deliveries.iter().rev().take(100) {
        let answer = d
            .status
            .map(|s| s.to_string())
            .or_else(|| d.error.clone())
            .unwrap_or_default();
        html.push_str(&format!(
            "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}</td></tr>",
            escape(&d.event_type),
            escape(&d.event_id),
            d.attempt,
            escape(&answer)
        ));
    }
    html.push_str("</table>");
    Html(page("Stripe emulator", &html)).into_response()
}
