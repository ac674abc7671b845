//! The customer portal: a customer's subscriptions (cancel, resume, switch plan, as the
//! portal's configuration allows), their invoices, and the way back to the site.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::layout::{date, escape, money, not_found, page, recurring_label, text_field};
use crate::api::Api;
use crate::error::ApiError;
use crate::flows;
use crate::form;
use crate::objects::PortalSession;
use crate::portal_config::Configuration;
use crate::store::Store;

pub async fn portal_page(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let store = api.store.lock().expect("store lock");
    let Some(portal) = store.portal_sessions.get(&id) else {
        return not_found("This portal session does not exist.");
    };
    Html(portal_html(&store, &api.base_url, portal, None)).into_response()
}

/// The portal's configuration; a session always names one (see `portal_config`).
fn config_of<'a>(store: &'a Store, portal: &PortalSession) -> Option<&'a Configuration> {
    store.portal_configurations.get(&portal.configuration)
}

fn portal_html(
    store: &Store,
    base_url: &str,
    portal: &PortalSession,
    error: Option<&str>,
) -> String {
    let (portal_id, customer, return_url) = (
        portal.id.as_str(),
        portal.customer.as_str(),
        portal.return_url.as_deref(),
    );
    let config = config_of(store, portal);
    let email = store
        .customers
        .get(customer)
        .and_then(|c| c.email.clone())
        .unwrap_or_default();
    let mut subs: Vec<_> = store
        .subscriptions
        .values()
        .filter(|s| s.customer == customer)
        .collect();
    subs.sort_by_key(|s| std::cmp::Reverse(s.seq));
    // Only what the configuration lists may be switched to.
    let recurring: Vec<_> = store
        .prices
        .values()
        .filter(|p| p.active && config.is_some_and(|c| c.allows_price(&p.id)))
        .collect();
    let cancel_mode = config.filter(|c| c.cancel).map(|c| c.cancel_mode.as_str());
    let mut html = format!("<h1>Manage your billing</h1><p>{}</p>", escape(&email));
    if let Some(e) = error {
        html.push_str(&format!(
            r#"<p class="error" role="alert">{}</p>"#,
            escape(e)
        ));
    }
    html.push_str("<h2>Subscriptions</h2>");
    if subs.is_empty() {
        html.push_str("<p>No subscriptions.</p>");
    }
    for sub in subs {
        let price = sub.items.first().and_then(|i| store.prices.get(&i.price));
        let name = price
            .and_then(|p| store.products.get(&p.product))
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let amount = price.map(recurring_label).unwrap_or_default();
        let state = match sub.status.as_str() {
            "canceled" => "Canceled".to_string(),
            _ if sub.cancels_at().is_some() => {
                format!("Cancels on {}", date(sub.cancels_at().unwrap_or_default()))
            }
            "past_due" => "Past due".to_string(),
            "trialing" => format!(
                "Trial ends {}",
                date(sub.trial_end.unwrap_or(sub.current_period_end))
            ),
            _ => format!("Renews on {}", date(sub.current_period_end)),
        };
        // A change its schedule makes at a phase's start: "Changes to Starter on 14 January".
        let state = match scheduled_change(store, &sub.id) {
            Some((to, at)) => format!("{state}. Changes to {to} on {}", date(at)),
            None => state,
        };
        let action = |name: &str, label: &str, class: &str| {
            format!(
                r#"<form method="post" action="/p/session/{portal_id}/subscriptions/{sub}"><input type="hidden" name="action" value="{name}"><button class="{class}" type="submit">{label}</button></form>"#,
                portal_id = escape(portal_id),
                sub = escape(&sub.id)
            )
        };
        let mut actions = String::new();
        if sub.status != "canceled" {
            if sub.cancels_at().is_some() {
                actions.push_str(&action("resume", "Resume subscription", ""));
            } else if cancel_mode == Some("at_period_end") {
                actions.push_str(&action(
                    "cancel_at_period_end",
                    "Cancel at period end",
                    "secondary",
                ));
            }
            if cancel_mode == Some("immediately") {
                actions.push_str(&action("cancel_now", "Cancel now", "secondary"));
            }
            let options: String = recurring
                .iter()
                .filter(|p| Some(p.id.as_str()) != price.map(|x| x.id.as_str()))
                .map(|p| {
                    format!(
                        r#"<option value="{}">{} — {}</option>"#,
                        escape(&p.id),
                        escape(&store.product_name(p)),
                        recurring_label(p)
                    )
                })
                .collect();
            if !options.is_empty() {
                actions.push_str(&format!(
                r#"<form method="post" action="/p/session/{portal_id}/subscriptions/{sub}"><input type="hidden" name="action" value="switch"><label for="price-{sub}">Switch plan</label><select id="price-{sub}" name="price">{options}</select><button class="secondary" type="submit">Switch plan</button></form>"#,
                portal_id = escape(portal_id),
                sub = escape(&sub.id)
            ));
            }
        }
        html.push_str(&format!(
            r#"<section class="sub" aria-label="{name} subscription"><h3>{name}</h3><p>{amount}</p><p class="state">{state}</p>{actions}</section>"#,
            name = escape(&name),
            amount = escape(&amount),
            state = escape(&state),
        ));
    }
    let mut invoices: Vec<_> = store
        .invoices
        .values()
        .filter(|i| i.customer == customer && config.is_some_and(|c| c.invoice_history))
        .collect();
    invoices.sort_by_key(|i| std::cmp::Reverse(i.seq));
    html.push_str("<h2>Invoices</h2><table><tr><th scope=col>Date</th><th scope=col>Amount</th><th scope=col>Status</th></tr>");
    for inv in invoices {
        html.push_str(&format!(
            r#"<tr><td><a href="{base}/i/{id}">{date}</a></td><td>{amount}</td><td>{status}</td></tr>"#,
            base = escape(base_url),
            id = escape(&inv.id),
            date = date(inv.created),
            amount = money(inv.total, &inv.currency),
            status = escape(&inv.status)
        ));
    }
    html.push_str("</table>");
    let links: String = config
        .into_iter()
        .flat_map(|c| {
            [
                (c.terms_of_service_url.as_deref(), "Terms of service"),
                (c.privacy_policy_url.as_deref(), "Privacy policy"),
            ]
        })
        .filter_map(|(url, label)| url.map(|u| format!(r#"<a href="{}">{label}</a> "#, escape(u))))
        .collect();
    if !links.is_empty() {
        html.push_str(&format!("<p>{links}</p>"));
    }
    if let Some(url) = return_url.or(config.and_then(|c| c.default_return_url.as_deref())) {
        html.push_str(&format!(
            r#"<p><a href="{}">Return to the site</a></p>"#,
            escape(url)
        ));
    }
    page("Billing portal", &html)
}

pub async fn portal_action(
    State(api): State<Api>,
    Path((id, sub_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let typed = form::parse(&body).unwrap_or_default();
    let field = |k: &str| text_field(&typed, k);
    let mut store = api.store.lock().expect("store lock");
    let Some(portal) = store.portal_sessions.get(&id).cloned() else {
        return not_found("This portal session does not exist.");
    };
    // A portal session may act only on its own customer's subscriptions.
    if store
        .subscriptions
        .get(&sub_id)
        .map(|s| s.customer.as_str())
        != Some(portal.customer.as_str())
    {
        return not_found("This subscription does not exist.");
    }
    // Only what the portal's configuration allows, whatever the form sends.
    let config = config_of(&store, &portal).cloned();
    let cancel_mode = config
        .as_ref()
        .filter(|c| c.cancel)
        .map(|c| c.cancel_mode.clone());
    let result = match field("action").as_str() {
        "cancel_at_period_end" if cancel_mode.as_deref() == Some("at_period_end") => {
            flows::set_cancel_at_period_end(&mut store, &sub_id, true)
        }
        "resume" => flows::set_cancel_at_period_end(&mut store, &sub_id, false),
        "cancel_now" if cancel_mode.as_deref() == Some("immediately") => {
            flows::cancel_now(&mut store, &sub_id)
        }
        "cancel_at_period_end" | "cancel_now" => Err(ApiError::invalid_param(
            "action",
            "This portal does not allow cancelling that way.",
        )),
        "switch" if store.schedule_of(&sub_id).is_some() => Err(ApiError::invalid_param(
            "price",
            "This subscription has a change scheduled: it cannot be switched again here until it applies.",
        )),
        "switch" if config.as_ref().is_some_and(|c| {
            c.allows_price(&field("price")) && waits_for_period_end(&store, c, &sub_id, &field("price"))
        }) =>
        {
            flows::change_at_period_end(&mut store, &sub_id, &field("price"))
        }
        "switch" => {
            let price = field("price");
            // Stripe's default ends a trial with the switch; `continue_trial` keeps its end.
            let trialing = store.subscriptions[&sub_id].status == "trialing";
            match &config {
                Some(c) if c.allows_price(&price) => flows::change_price(
                    &mut store,
                    &api.base_url,
                    &flows::PriceChange {
                        sub_id: sub_id.clone(),
                        price_id: price,
                        proration: match c.update_proration.as_str() {
                            "always_invoice" => flows::Proration::AlwaysInvoice,
                            "create_prorations" => flows::Proration::CreateProrations,
                            _ => flows::Proration::None,
                        },
                        at: None,
                        // A switch in the portal is no API update: nothing asks it to wait.
                        pending_if_incomplete: false,
                        trial_end: (trialing && c.trial_update != "continue_trial")
                            .then_some(flows::TrialEnd::Now),
                    },
                ),
                _ => Err(ApiError::invalid_param(
                    "price",
                    "This plan is not offered here.",
                )),
            }
        }
        other => Err(ApiError::invalid_param(
            "action",
            format!("Unknown action `{other}`."),
        )),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/p/session/{id}")).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Html(portal_html(
                &store,
                &api.base_url,
                &portal,
                Some(&e.message),
            )),
        )
            .into_response(),
    }
}

/// Does the configuration schedule this switch for the period's end? `decreasing_item_amount`:
/// the new price costs less per period; `shortening_interval`: it bills more often.
fn waits_for_period_end(store: &Store, config: &Configuration, sub_id: &str, to: &str) -> bool {
    let from = store.subscriptions[sub_id]
        .items
        .first()
        .and_then(|i| store.prices.get(&i.price));
    let (Some(from), Some(to)) = (from, store.prices.get(to)) else {
        return false;
    };
    let length = |p: &crate::store::Price| {
        p.recurring.as_ref().map_or(0, |r| {
            flows::interval_seconds(&r.interval, r.interval_count)
        })
    };
    config.schedule_conditions.iter().any(|c| match c.as_str() {
        "decreasing_item_amount" => to.unit_amount < from.unit_amount,
        "shortening_interval" => length(to) < length(from),
        _ => false,
    })
}

/// The plan a subscription's schedule changes it to next, and when.
fn scheduled_change(store: &Store, sub_id: &str) -> Option<(String, i64)> {
    let schedule = store.schedule_of(sub_id)?;
    let price = &store.subscriptions.get(sub_id)?.items.first()?.price;
    let now = store.now();
    let next = schedule
        .phases
        .iter()
        .find(|p| p.start_date > now && p.items.first().is_some_and(|i| &i.price != price))?;
    let to = store.prices.get(&next.items.first()?.price)?;
    Some((
        format!("{} ({})", store.product_name(to), recurring_label(to)),
        next.start_date,
    ))
}
