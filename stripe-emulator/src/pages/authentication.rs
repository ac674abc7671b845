//! The bank's 3D Secure step a card may ask for at checkout: complete or fail it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::Value;

use super::checkout::checkout_html;
use super::layout::{escape, money, not_found, page};
use crate::api::Api;
use crate::flows;
use crate::form;
use crate::store::CustomerDetails;

pub async fn authentication_page(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let store = api.store.lock().expect("store lock");
    match store.sessions.get(&id) {
        Some(s) if s.awaiting_authentication => Html(page(
            "Authenticate your payment",
            &format!(
                r#"<h1>3D Secure authentication</h1><p>Your bank asks you to confirm this payment of {}.</p>
<form method="post" action="/c/3ds/{id}"><input type="hidden" name="action" value="complete"><button type="submit">Complete authentication</button></form>
<form method="post" action="/c/3ds/{id}"><input type="hidden" name="action" value="fail"><button class="secondary" type="submit">Fail authentication</button></form>"#,
                money(s.amount_total, &s.currency),
                id = escape(&id)
            ),
        ))
        .into_response(),
        Some(_) => Redirect::to(&format!("/c/pay/{id}")).into_response(),
        None => not_found("This Checkout Session does not exist."),
    }
}

pub async fn authentication_submit(
    State(api): State<Api>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let typed = form::parse(&body).unwrap_or_default();
    let action = typed.get("action").and_then(Value::as_str).unwrap_or("");
    let mut store = api.store.lock().expect("store lock");
    let Some(session) = store.sessions.get(&id).cloned() else {
        return not_found("This Checkout Session does not exist.");
    };
    if !session.awaiting_authentication {
        return Redirect::to(&format!("/c/pay/{id}")).into_response();
    }
    if action == "complete" {
        let details = session.customer_details.clone().unwrap_or(CustomerDetails {
            email: String::new(),
            name: None,
            tax_id: None,
        });
        match flows::complete_checkout(&mut store, &api.base_url, &id, details) {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(e) => (
                StatusCode::CONFLICT,
                Html(page(
                    "Checkout",
                    &format!(
                        "<h1>Checkout</h1><p class=\"error\" role=\"alert\">{}</p>",
                        escape(&e.message)
                    ),
                )),
            )
                .into_response(),
        }
    } else {
        if let Some(s) = store.sessions.get_mut(&id) {
            s.awaiting_authentication = false;
        }
        let session = store.sessions[&id].clone();
        (
            StatusCode::PAYMENT_REQUIRED,
            Html(checkout_html(
                &store,
                &session,
                Some("We are unable to authenticate your payment method. Please choose a different payment method and try again."),
                None,
            )),
        )
            .into_response()
    }
}
