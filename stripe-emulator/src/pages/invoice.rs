//! A hosted invoice page, where an invoice waiting on the bank's authentication is paid.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::layout::{date, escape, money, not_found, page};
use crate::api::Api;
use crate::flows;

pub async fn invoice_page(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let store = api.store.lock().expect("store lock");
    let Some(inv) = store.invoices.get(&id) else {
        return not_found("This invoice does not exist.");
    };
    let lines: String = inv
        .lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&l.description),
                money(l.amount, &inv.currency)
            )
        })
        .collect();
    // An open invoice is paid here, as on Stripe's page: the bank's authentication, then the
    // charge.
    let pay = if inv.status == "open" {
        format!(
            r#"<form method="post" action="/i/{}/pay"><button type="submit">Authenticate and pay {}</button></form>"#,
            escape(&inv.id),
            money(inv.amount_due, &inv.currency)
        )
    } else {
        String::new()
    };
    // What the customer's balance paid (or, for a credit, received), as Stripe's page shows it.
    let applied = inv.amount_due - inv.total;
    let credit = if applied == 0 {
        String::new()
    } else {
        format!(
            "<tr><td>Applied balance</td><td>{}{}</td></tr>",
            if applied < 0 { "−" } else { "" },
            money(applied.abs(), &inv.currency)
        )
    };
    Html(page(
        &format!("Invoice {}", inv.number),
        &format!(
            "<h1>Invoice {}</h1><p>Status: {}</p><p>Period {} to {}</p><table>{lines}<tr><th scope=row>Total</th><th>{}</th></tr>{credit}<tr><th scope=row>Amount due</th><th>{}</th></tr></table>{pay}",
            escape(&inv.number),
            escape(&inv.status),
            date(inv.period_start),
            date(inv.period_end),
            money(inv.total, &inv.currency),
            money(inv.amount_due, &inv.currency),
        ),
    ))
    .into_response()
}

/// The hosted invoice page's "Authenticate and pay".
pub async fn invoice_pay(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let mut store = api.store.lock().expect("store lock");
    match flows::pay_invoice(&mut store, &api.base_url, &id) {
        Ok(_) => Redirect::to(&format!("/i/{id}")).into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            Html(page(
                "Invoice",
                &format!(
                    "<h1>Invoice</h1><p class=\"error\" role=\"alert\">{}</p>",
                    escape(&e.message)
                ),
            )),
        )
            .into_response(),
    }
}
