//! The hosted pages: Checkout (with Stripe's test cards and a 3D Secure step), the customer
//! portal, invoices, and a dashboard of events and webhook deliveries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::Value;

use crate::api::Api;
use crate::error::ApiError;
use crate::flows::{self, CardOutcome};
use crate::form;
use crate::objects::PortalSession;
use crate::portal_config::Configuration;
use crate::store::{CustomerDetails, Session, Store};

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `$9.00 USD per month`.
fn recurring_label(price: &crate::store::Price) -> String {
    let interval = price
        .recurring
        .as_ref()
        .map(|r| r.interval.as_str())
        .unwrap_or("period");
    format!(
        "{} per {interval}",
        money(price.unit_amount, &price.currency)
    )
}

/// A posted form field, trimmed ("" when absent).
fn text_field(form: &Value, key: &str) -> String {
    form.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string()
}

fn money(amount: i64, currency: &str) -> String {
    let zero_decimal = ["jpy", "krw", "vnd", "clp"].contains(&currency);
    if zero_decimal {
        format!("{amount} {}", currency.to_uppercase())
    } else {
        format!(
            "{}.{:02} {}",
            amount / 100,
            amount % 100,
            currency.to_uppercase()
        )
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}}
main{{max-width:30rem;margin:2rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 4px 16px rgb(0 0 0/.08)}}
.test{{background:#ffde92;color:#7a4a00;font-size:.8rem;font-weight:700;padding:.2rem .6rem;border-radius:4px;display:inline-block}}
label{{display:block;margin:.9rem 0 .3rem;font-weight:600;font-size:.9rem}}
input,select{{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #cfd7df;border-radius:6px;font:inherit}}
input[readonly]{{background:#f0f3f7}}
button{{margin-top:1.2rem;width:100%;padding:.8rem;border:0;border-radius:6px;background:#635bff;color:#fff;font:inherit;font-weight:700;cursor:pointer}}
button.secondary{{background:#fff;color:#635bff;border:1px solid #635bff}}
.error{{color:#b42318;background:#fef3f2;border:1px solid #fecdca;padding:.6rem;border-radius:6px}}
.row{{display:flex;gap:.8rem}} .row>div{{flex:1}}
table{{width:100%;border-collapse:collapse}} td,th{{padding:.4rem;border-bottom:1px solid #e3e8ee;text-align:left;font-size:.9rem}}
.sub{{border:1px solid #e3e8ee;border-radius:8px;padding:1rem;margin:1rem 0}}
</style></head><body><main><p class="test">TEST MODE — Stripe emulator</p>{body}</main></body></html>"#,
        title = escape(title),
    )
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Not found",
            &format!("<h1>Not found</h1><p>{}</p>", escape(what)),
        )),
    )
        .into_response()
}

// ---- Checkout -------------------------------------------------------------------------------

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

fn checkout_html(
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
            r#"<h1>Checkout</h1><table>{lines}{trial_row}{discount_row}<tr><th>Total due today</th><th>{total}</th></tr></table>
{error}<form method="post" action="/c/pay/{id}">{email_field}
<label for="name">Name on card</label><input id="name" name="name" autocomplete="cc-name" value="{name}">
<label for="card">Card number</label><input id="card" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required>
<div class="row"><div><label for="exp">Expiry (MM / YY)</label><input id="exp" name="expiry" placeholder="12 / 34" required></div>
<div><label for="cvc">CVC</label><input id="cvc" name="cvc" inputmode="numeric" placeholder="123" required></div></div>
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
                        let charge = store
                            .sessions
                            .get(&id)
                            .and_then(|s| s.payment_intent.as_ref())
                            .and_then(|pi| store.payment_intents.get(pi))
                            .and_then(|pi| pi.latest_charge.clone());
                        if let Some(charge) = charge {
                            let _ = flows::open_dispute(&mut store, &charge);
                        }
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
                    &format!("<p class=\"error\">{}</p>", escape(&e.message)),
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

// ---- Customer portal ------------------------------------------------------------------------

pub async fn portal_page(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let store = api.store.lock().expect("store lock");
    let Some(portal) = store.portal_sessions.get(&id) else {
        return not_found("This portal session does not exist.");
    };
    Html(portal_html(&store, &api.base_url, portal, None)).into_response()
}

fn date(ts: i64) -> String {
    // Civil date from unix seconds (Howard Hinnant's algorithm).
    let days = ts.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
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
            _ if sub.cancel_at_period_end => format!("Cancels on {}", date(sub.current_period_end)),
            "past_due" => "Past due".to_string(),
            "trialing" => format!(
                "Trial ends {}",
                date(sub.trial_end.unwrap_or(sub.current_period_end))
            ),
            _ => format!("Renews on {}", date(sub.current_period_end)),
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
            if sub.cancel_at_period_end {
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
    html.push_str("<h2>Invoices</h2><table><tr><th>Date</th><th>Amount</th><th>Status</th></tr>");
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
        "switch" => {
            let price = field("price");
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

// ---- Invoices and the dashboard -------------------------------------------------------------

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
            money(inv.total.max(0), &inv.currency)
        )
    } else {
        String::new()
    };
    Html(page(
        &format!("Invoice {}", inv.number),
        &format!(
            "<h1>Invoice {}</h1><p>Status: {}</p><p>Period {} to {}</p><table>{lines}<tr><th>Total</th><th>{}</th></tr></table>{pay}",
            escape(&inv.number),
            escape(&inv.status),
            date(inv.period_start),
            date(inv.period_end),
            money(inv.total, &inv.currency)
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
                &format!("<p class=\"error\">{}</p>", escape(&e.message)),
            )),
        )
            .into_response(),
    }
}

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
    html.push_str("</ul><h2>Recent deliveries</h2><table><tr><th>Event</th><th>Attempt</th><th>Answer</th></tr>");
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
