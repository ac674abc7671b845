//! The hosted Checkout page: the order, the buyer's email and card, Stripe's test cards and
//! their outcomes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::Value;

use super::layout::{escape, money, not_found, page, text_field};
use crate::api::Api;
use crate::flows::{self, CardOutcome};
use crate::form;
use crate::store::{CustomerDetails, Session, Store};

pub async fn checkout_page(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let store = api.store.lock().expect("store lock");
    match store.sessions.get(&id) {
        None => not_found("This Checkout Session does not exist."),
        Some(session) => Html(checkout_html(&store, session, None, None)).into_response(),
    }
}

fn line_summary(store: &Store, session: &Session) -> String {
    session
        .line_items
        .iter()
        .filter_map(|li| {
            let price = store.prices.get(&li.price)?;
            let name = store
                .products
                .get(&price.product)
                .map(|p| p.name.as_str())
                .unwrap_or("");
            let period = price
                .recurring
                .as_ref()
                .map(|r| format!(" per {}", r.interval))
                .unwrap_or_default();
            Some(format!(
                "<tr><td>{} × {}</td><td>{}{}</td></tr>",
                li.quantity,
                escape(name),
                money(price.unit_amount * li.quantity, &price.currency),
                period
            ))
        })
        .collect()
}

pub(super) fn checkout_html(
    store: &Store,
    session: &Session,
    error: Option<&str>,
    typed: Option<&Value>,
) -> String {
    if session.status != "open" {
        return page(
            "Checkout",
            &format!(
                "<h1>This Checkout Session is no longer active</h1><p>Its status is {}.</p><p><a href=\"{}\">Return to the site</a></p>",
                escape(&session.status),
                escape(&session.cancel_url)
            ),
        );
    }
    let typed_str = |k: &str| {
        typed
            .and_then(|t| t.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let locked_email = session
        .customer
        .as_ref()
        .and_then(|c| store.customers.get(c))
        .and_then(|c| c.email.clone())
        .or_else(|| session.customer_email.clone());
    let email_field = match &locked_email {
        Some(email) => format!(
            r#"<label for="email">Email</label><input id="email" name="email" type="email" value="{}" readonly>"#,
            escape(email)
        ),
        None => format!(
            r#"<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email" required value="{}">"#,
            escape(typed_str("email"))
        ),
    };
    let promo = if session.allow_promotion_codes {
        format!(
            r#"<label for="promo">Promotion code</label><input id="promo" name="promotion_code" value="{}">"#,
            escape(typed_str("promotion_code"))
        )
    } else {
        String::new()
    };
    let tax = if session.tax_id_collection {
        format!(
            r#"<label for="tax_id">Tax ID (optional)</label><input id="tax_id" name="tax_id" value="{}">"#,
            escape(typed_str("tax_id"))
        )
    } else {
        String::new()
    };
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let total = money(session.amount_total, &session.currency);
    let button = match (session.mode.as_str(), session.trial_period_days) {
        ("subscription", Some(_)) => "Start trial".to_string(),
        ("subscription", None) => format!("Subscribe {total}"),
        _ => format!("Pay {total}"),
    };
    // A trial: free for its days, then the price, as Stripe's page says it.
    let trial_row = session
        .trial_period_days
        .and_then(|days| {
            let item = session.line_items.first()?;
            let price = store.prices.get(&item.price)?;
            let interval = price.recurring.as_ref()?.interval.clone();
            Some(format!(
                "<tr><td>{days} days free</td><td>then {} per {}</td></tr>",
                money(price.unit_amount * item.quantity, &price.currency),
                escape(&interval)
            ))
        })
        .unwrap_or_default();
    let discount = session.amount_subtotal - session.amount_total;
    let discount_row = if discount > 0 {
        format!(
            "<tr><td>Discount</td><td>−{}</td></tr>",
            money(discount, &session.currency)
        )
    } else {
        String::new()
    };
    page(
        "Checkout",
        &format!(
            r#"<h1>Checkout</h1><table>{lines}{trial_row}{discount_row}<tr><th scope="row">Total due today</th><th>{total}</th></tr></table>
{error}<form method="post" action="/c/pay/{id}">{email_field}
<label for="name">Name on card</label><input id="name" name="name" autocomplete="cc-name" value="{name}">
<label for="card">Card number</label><input id="card" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required>
<div class="row"><div><label for="exp">Expiry (MM / YY)</label><input id="exp" name="expiry" autocomplete="cc-exp" placeholder="12 / 34" required></div>
<div><label for="cvc">CVC</label><input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="123" required></div></div>
{promo}{tax}<button type="submit">{button}</button></form>
<details class="cards"><summary>Test cards</summary><ul>
<li>4242 4242 4242 4242: succeeds</li><li>4000 0000 0000 0002: declined</li>
<li>4000 0025 0000 3155: asks for 3D Secure</li><li>4000 0000 0000 9995: insufficient funds</li>
<li>4000 0000 0000 0259: succeeds, then disputed</li>
<li>4000 0027 6000 3184: asks for 3D Secure on every payment, renewals too</li></ul></details>
<p><a href="{cancel}">Cancel and return to the site</a></p>"#,
            lines = line_summary(store, session),
            id = escape(&session.id),
            name = escape(typed_str("name")),
            cancel = escape(&session.cancel_url),
        ),
    )
}

fn valid_expiry(raw: &str, now: i64) -> bool {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return false;
    }
    let month: i64 = digits[..2].parse().unwrap_or(0);
    let year: i64 = 2000 + digits[2..].parse::<i64>().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return false;
    }
    // Days since 1970 → year and month, roughly enough for "is this card expired".
    let current_year = 1970 + now / 31_556_952;
    let current_month = (now % 31_556_952) / 2_629_746 + 1;
    (year, month) >= (current_year, current_month)
}

pub async fn checkout_submit(
    State(api): State<Api>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let typed = form::parse(&body).unwrap_or_default();
    let field = |k: &str| text_field(&typed, k);
    let mut store = api.store.lock().expect("store lock");
    let Some(session) = store.sessions.get(&id).cloned() else {
        return not_found("This Checkout Session does not exist.");
    };
    let fail = |store: &Store, message: &str| -> Response {
        (
            StatusCode::PAYMENT_REQUIRED,
            Html(checkout_html(store, &session, Some(message), Some(&typed))),
        )
            .into_response()
    };
    if session.status != "open" {
        return Html(checkout_html(&store, &session, None, None)).into_response();
    }
    let locked = session
        .customer
        .as_ref()
        .and_then(|c| store.customers.get(c))
        .and_then(|c| c.email.clone())
        .or_else(|| session.customer_email.clone());
    let email = locked.unwrap_or_else(|| field("email"));
    if !email.contains('@') || email.len() < 3 {
        return fail(&store, "Your email address is incomplete.");
    }
    if !valid_expiry(&field("expiry"), store.now()) {
        return fail(
            &store,
            "Your card's expiration date is incomplete or in the past.",
        );
    }
    let cvc = field("cvc");
    if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
        return fail(&store, "Your card's security code is incomplete.");
    }
    let promo = field("promotion_code");
    if !promo.is_empty() {
        let found = store
            .promotion_codes
            .values()
            .find(|p| p.active && p.code.eq_ignore_ascii_case(&promo))
            .cloned();
        match found {
            Some(code) if session.allow_promotion_codes => {
                apply_coupon(&mut store, &id, &code.coupon)
            }
            _ => return fail(&store, "This code is invalid."),
        }
    }
    let details = CustomerDetails {
        email,
        name: Some(field("name")).filter(|n| !n.is_empty()),
        tax_id: Some(field("tax_id")).filter(|t| !t.is_empty() && session.tax_id_collection),
    };
    match flows::card_outcome(&field("card_number")) {
        CardOutcome::Incorrect => fail(&store, "Your card number is incorrect."),
        CardOutcome::Declined => fail(&store, "Your card was declined."),
        CardOutcome::InsufficientFunds => fail(&store, "Your card has insufficient funds."),
        outcome
        @ (CardOutcome::RequiresAuthentication | CardOutcome::AuthenticatesEveryPayment) => {
            if let Some(s) = store.sessions.get_mut(&id) {
                s.awaiting_authentication = true;
                s.card_authenticates_every_payment =
                    outcome == CardOutcome::AuthenticatesEveryPayment;
                s.customer_details = Some(details);
            }
            Redirect::to(&format!("/c/3ds/{id}")).into_response()
        }
        outcome @ (CardOutcome::Succeeds | CardOutcome::Disputed) => {
            match flows::complete_checkout(&mut store, &api.base_url, &id, details) {
                Ok(url) => {
                    if outcome == CardOutcome::Disputed {
                        flows::dispute_checkout(&mut store, &id);
                    }
                    Redirect::to(&url).into_response()
                }
                Err(e) => fail(&store, &e.message),
            }
        }
    }
}

fn apply_coupon(store: &mut Store, session_id: &str, coupon_id: &str) {
    let Some(coupon) = store.coupons.get(coupon_id).cloned() else {
        return;
    };
    if let Some(s) = store.sessions.get_mut(session_id) {
        let off = coupon.discount_on(s.amount_subtotal);
        s.coupons = vec![coupon_id.to_string()];
        s.amount_total = (s.amount_subtotal - off).max(0);
    }
}
