//! `/v1/checkout/sessions`. Creating one is two steps: [`validate`] reads the request and
//! applies Stripe's parameter rules (what it refuses, and in which order), then [`build`] turns
//! the checked request into the open session the hosted page shows.

use serde_json::{json, Map, Value};

use super::params::{absolute_url, boolean, expands, get, integer, metadata, required, string};
use super::{Api, ApiResult};
use crate::error::ApiError;
use crate::flows;
use crate::objects::Anchor;
use crate::store::{self, LineItem, Session, Store};

/// How long an open Checkout Session lives, as Stripe's default.
const SESSION_LIFETIME: i64 = 24 * 60 * 60;

pub(super) fn route(
    api: &Api,
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", []) => create(api, store, p),
        ("GET", []) => Ok(list(api, store, p)),
        ("GET", [id]) => {
            get(&store.sessions, "checkout.session", id).map(|s| render(api, store, s, p))
        }
        ("POST", [id, "expire"]) => expire(api, store, id),
        _ => return None,
    })
}

fn create(api: &Api, store: &mut Store, p: &Value) -> ApiResult {
    let request = validate(store, p)?;
    let session = build(store, request);
    let json = render(api, store, &session, p);
    store.sessions.insert(session.id.clone(), session);
    Ok(json)
}

/// A create request that Stripe would accept: everything `build` needs, already checked.
struct NewSession {
    mode: String,
    success_url: String,
    cancel_url: String,
    customer: Option<String>,
    customer_email: Option<String>,
    customer_creation: Option<String>,
    client_reference_id: Option<String>,
    allow_promotion_codes: bool,
    coupons: Vec<String>,
    invoice_creation: bool,
    tax_id_collection: bool,
    setup_future_usage: Option<String>,
    items: Items,
    trial_period_days: Option<i64>,
    billing_cycle_anchor: Option<Anchor>,
    metadata: Map<String, Value>,
    expires_at: Option<i64>,
}

/// The line items, priced.
struct Items {
    lines: Vec<LineItem>,
    currency: String,
    subtotal: i64,
}

/// Stripe's rules for a new session, checked in a fixed order so that the same request always
/// gets the same error: the first broken rule.
fn validate(store: &Store, p: &Value) -> Result<NewSession, ApiError> {
    let mode = required(p, "mode")?;
    if !matches!(mode.as_str(), "payment" | "subscription") {
        return Err(ApiError::invalid_param(
            "mode",
            format!("Invalid mode: must be one of payment or subscription (got `{mode}`; setup mode is not emulated)"),
        ));
    }
    let subscription = mode == "subscription";
    let success_url = absolute_url(p, "success_url")?;
    let cancel_url = absolute_url(p, "cancel_url")?;

    let customer = string(p, "customer");
    let customer_email = string(p, "customer_email");
    if customer.is_some() && customer_email.is_some() {
        return Err(ApiError::exclusive("customer", "customer_email"));
    }
    if let Some(id) = &customer {
        if !store.customers.contains_key(id) {
            return Err(ApiError::no_such_param("customer", id, "customer"));
        }
    }
    let allow_promotion_codes = boolean(p, "allow_promotion_codes")?.unwrap_or(false);
    let discounts = p
        .get("discounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if allow_promotion_codes && !discounts.is_empty() {
        return Err(ApiError::exclusive("allow_promotion_codes", "discounts"));
    }
    let customer_creation = string(p, "customer_creation");
    if subscription && customer_creation.is_some() {
        return Err(ApiError::invalid_param(
            "customer_creation",
            "`customer_creation` can only be used in `payment` and `setup` mode.",
        ));
    }
    if let Some(value) = &customer_creation {
        if !matches!(value.as_str(), "always" | "if_required") {
            return Err(ApiError::invalid_param(
                "customer_creation",
                "Invalid customer_creation: must be one of always or if_required",
            ));
        }
    }
    let invoice_creation = nested_flag(p, "invoice_creation")?;
    if subscription && p.get("invoice_creation").is_some() {
        return Err(ApiError::invalid_param(
            "invoice_creation",
            "You can only enable invoice creation when `mode` is set to `payment`. Invoices are \
             created automatically when `mode` is set to `subscription`, and are unsupported when \
             set to `setup`. To learn more visit \
             https://stripe.com/docs/payments/checkout/post-payment-invoices.",
        ));
    }
    if subscription && p.get("payment_intent_data").is_some() {
        return Err(ApiError::invalid_param(
            "payment_intent_data",
            "You can not pass `payment_intent_data` in `subscription` mode.",
        ));
    }
    let setup_future_usage = p
        .get("payment_intent_data")
        .and_then(|d| d.get("setup_future_usage"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // The hosted page takes cards only, as every session's `payment_method_types` says: an
    // `allowed_payment_method_types` naming another method asks for what the emulator does not
    // do.
    if let Some(types) = p.get("allowed_payment_method_types") {
        let types = types.as_array().map(Vec::as_slice).unwrap_or_default();
        if types.is_empty() || types.iter().any(|t| t.as_str() != Some("card")) {
            return Err(ApiError::invalid_param(
                "allowed_payment_method_types",
                "This emulator's Checkout takes allowed_payment_method_types[]=card only.",
            ));
        }
    }
    let tax_id_collection = nested_flag(p, "tax_id_collection")?;
    customer_update(p, customer.is_some(), tax_id_collection)?;
    let coupons = coupons(store, &discounts)?;
    let items = line_items(store, p, &mode)?;
    let trial_period_days = trial_period_days(p, subscription)?;
    let billing_cycle_anchor = billing_cycle_anchor(store, p, &items, trial_period_days)?;
    Ok(NewSession {
        billing_cycle_anchor,
        client_reference_id: string(p, "client_reference_id"),
        tax_id_collection,
        expires_at: integer(p, "expires_at")?,
        metadata: metadata(p),
        mode,
        success_url,
        cancel_url,
        customer,
        customer_email,
        customer_creation,
        allow_promotion_codes,
        coupons,
        invoice_creation,
        setup_future_usage,
        items,
        trial_period_days,
    })
}

/// `customer_update[name]` (`auto` saves the name the buyer enters on the customer, `never` does
/// not): only with an existing `customer`, and `auto` to collect a tax ID from one (the ID is
/// saved with the name it is registered to). Address and shipping updates are not emulated.
fn customer_update(p: &Value, has_customer: bool, tax_ids: bool) -> Result<(), ApiError> {
    let update = p.get("customer_update");
    if update.is_some() && !has_customer {
        return Err(ApiError::invalid_param(
            "customer_update",
            "`customer_update` can only be used with `customer`.",
        ));
    }
    let name = update.and_then(|u| u.get("name")).and_then(Value::as_str);
    if name.is_some_and(|n| !matches!(n, "auto" | "never")) {
        return Err(ApiError::invalid_param(
            "customer_update[name]",
            "Invalid customer_update[name]: must be one of auto or never",
        ));
    }
    if tax_ids && has_customer && name != Some("auto") {
        return Err(ApiError::invalid_param(
            "tax_id_collection[enabled]",
            "Tax ID collection requires updating business name on the customer. To enable tax ID collection for an existing customer, please set `customer_update[name]` to `auto`.",
        ));
    }
    Ok(())
}

/// `<key>[enabled]`, false when absent.
fn nested_flag(p: &Value, key: &str) -> Result<bool, ApiError> {
    Ok(p.get(key)
        .map(|node| boolean(node, "enabled"))
        .transpose()?
        .flatten()
        .unwrap_or(false))
}

/// `discounts[i][coupon]`: each an existing, still valid coupon.
fn coupons(store: &Store, discounts: &[Value]) -> Result<Vec<String>, ApiError> {
    let mut coupons = Vec::new();
    for (i, discount) in discounts.iter().enumerate() {
        let param = format!("discounts[{i}][coupon]");
        let id = discount
            .get("coupon")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing(&param))?;
        match store.coupons.get(id) {
            Some(c) if c.valid => coupons.push(id.to_string()),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    &param,
                    format!("Coupon expired: {id}"),
                ))
            }
            None => return Err(ApiError::no_such_param("coupon", id, &param)),
        }
    }
    Ok(coupons)
}

/// `line_items[i][price]` and `[quantity]`: active prices of one currency, recurring ones only in
/// `subscription` mode (where at least one must be).
fn line_items(store: &Store, p: &Value, mode: &str) -> Result<Items, ApiError> {
    let items = p
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::missing("line_items"))?;
    let mut lines = Vec::new();
    let mut currency: Option<String> = None;
    let mut subtotal = 0i64;
    let mut any_recurring = false;
    for (i, item) in items.iter().enumerate() {
        let param = format!("line_items[{i}][price]");
        let price_id = item
            .get("price")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing(&param))?;
        let price = store
            .prices
            .get(price_id)
            .ok_or_else(|| ApiError::no_such_param("price", price_id, &param))?;
        if !price.active {
            return Err(ApiError::invalid_param(
                &param,
                "The price specified is inactive. This field only accepts active prices.",
            ));
        }
        if mode == "payment" && price.recurring.is_some() {
            return Err(ApiError::invalid_param(
                "mode",
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
            ));
        }
        any_recurring |= price.recurring.is_some();
        let quantity_param = format!("line_items[{i}][quantity]");
        let quantity = integer(item, "quantity")
            .map_err(|_| ApiError::invalid_param(&quantity_param, "Invalid integer"))?
            .unwrap_or(1);
        if quantity < 1 {
            return Err(ApiError::invalid_param(
                &quantity_param,
                "This value must be greater than or equal to 1.",
            ));
        }
        match &currency {
            Some(c) if *c != price.currency => {
                return Err(ApiError::invalid_param(
                    &param,
                    "All prices in a Checkout Session must have the same currency.",
                ))
            }
            _ => currency = Some(price.currency.clone()),
        }
        subtotal += price.unit_amount * quantity;
        lines.push(LineItem {
            price: price_id.to_string(),
            quantity,
        });
    }
    if mode == "subscription" && !any_recurring {
        return Err(ApiError::invalid_param(
            "mode",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
        ));
    }
    Ok(Items {
        lines,
        currency: currency.unwrap_or_else(|| "usd".into()),
        subtotal,
    })
}

/// `subscription_data[billing_cycle_anchor]` and `subscription_data[proration_behavior]`
/// (`create_prorations`, the default: the first invoice charges the share of the price up to
/// the anchor; `none`: that first period is free). The anchor must be in the future and no later
/// than the first period's natural end. With a trial, the emulator refuses it (Stripe would start
/// the anchored cycle after the trial; not emulated).
fn billing_cycle_anchor(
    store: &Store,
    p: &Value,
    items: &Items,
    trial: Option<i64>,
) -> Result<Option<Anchor>, ApiError> {
    let Some(data) = p.get("subscription_data") else {
        return Ok(None);
    };
    let proration = data.get("proration_behavior").and_then(Value::as_str);
    let prorated = match proration {
        None | Some("create_prorations") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "subscription_data[proration_behavior]",
                format!("Invalid subscription_data[proration_behavior]: must be one of create_prorations or none (got `{other}`)."),
            ))
        }
    };
    let at = integer(data, "billing_cycle_anchor").map_err(|_| {
        ApiError::invalid_param("subscription_data[billing_cycle_anchor]", "Invalid integer")
    })?;
    let Some(at) = at else {
        if proration.is_some() {
            return Err(ApiError::invalid_param(
                "subscription_data[proration_behavior]",
                "subscription_data[proration_behavior] can only be used with subscription_data[billing_cycle_anchor].",
            ));
        }
        return Ok(None);
    };
    if trial.is_some() {
        return Err(ApiError::invalid_param(
            "subscription_data[billing_cycle_anchor]",
            "This emulator does not take billing_cycle_anchor together with a trial.",
        ));
    }
    let price = items
        .lines
        .iter()
        .find(|l| {
            store
                .prices
                .get(&l.price)
                .is_some_and(|p| p.recurring.is_some())
        })
        .map(|l| l.price.clone())
        .unwrap_or_default();
    flows::check_anchor(
        store,
        at,
        prorated,
        &price,
        "subscription_data[billing_cycle_anchor]",
    )
    .map(Some)
}

/// `subscription_data[trial_period_days]`: subscription mode only, 1 to 730 days.
fn trial_period_days(p: &Value, subscription: bool) -> Result<Option<i64>, ApiError> {
    let days = match p.get("subscription_data") {
        Some(data) if subscription => integer(data, "trial_period_days").map_err(|_| {
            ApiError::invalid_param("subscription_data[trial_period_days]", "Invalid integer")
        })?,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "subscription_data",
                "You can only pass `subscription_data` in `subscription` mode.",
            ))
        }
        None => None,
    };
    if days.is_some_and(|d| !(1..=730).contains(&d)) {
        return Err(ApiError::invalid_param(
            "subscription_data[trial_period_days]",
            "The trial period must be between 1 and 730 days.",
        ));
    }
    Ok(days)
}

/// The open session a checked request makes, priced: coupons off the subtotal, and nothing due
/// today on a trial.
fn build(store: &mut Store, request: NewSession) -> Session {
    let discount: i64 = request
        .coupons
        .iter()
        .filter_map(|id| store.coupons.get(id))
        .map(|c| c.discount_on(request.items.subtotal))
        .sum();
    // A trial's first invoice is free: nothing is due today. Up to a billing cycle anchor, the
    // share of the period (of the price and of the discount alike).
    let (subtotal, discount) = match (request.trial_period_days, request.billing_cycle_anchor) {
        (Some(_), _) => (0, 0),
        (None, Some(anchor)) => {
            let now = store.now();
            let period = request
                .items
                .lines
                .iter()
                .find_map(|l| store.prices.get(&l.price)?.recurring.as_ref())
                .map(|r| flows::interval_seconds(&r.interval, r.interval_count))
                .unwrap_or(30 * 24 * 60 * 60);
            (
                anchor.first_amount(request.items.subtotal, now, period),
                anchor.first_amount(discount, now, period),
            )
        }
        (None, None) => (request.items.subtotal, discount),
    };
    let now = store.now();
    Session {
        id: store::new_id("cs_test"),
        mode: request.mode,
        status: "open".into(),
        payment_status: "unpaid".into(),
        customer: request.customer,
        customer_email: request.customer_email,
        customer_creation: request.customer_creation,
        client_reference_id: request.client_reference_id,
        line_items: request.items.lines,
        success_url: request.success_url,
        cancel_url: request.cancel_url,
        allow_promotion_codes: request.allow_promotion_codes,
        coupons: request.coupons,
        tax_id_collection: request.tax_id_collection,
        setup_future_usage: request.setup_future_usage,
        amount_subtotal: subtotal,
        amount_total: (subtotal - discount).max(0),
        currency: request.items.currency,
        subscription: None,
        payment_intent: None,
        metadata: request.metadata,
        created: now,
        expires_at: request.expires_at.unwrap_or(now + SESSION_LIFETIME),
        seq: store.next_seq(),
        invoice: None,
        invoice_creation: request.invoice_creation,
        trial_period_days: request.trial_period_days,
        billing_cycle_anchor: request.billing_cycle_anchor,
        customer_details: None,
        awaiting_authentication: false,
        card_authenticates_every_payment: false,
    }
}

fn list(api: &Api, store: &Store, p: &Value) -> Value {
    let customer = p.get("customer").and_then(Value::as_str);
    let status = p.get("status").and_then(Value::as_str);
    let items = store
        .sessions
        .values()
        .filter(|s| customer.is_none_or(|c| s.customer.as_deref() == Some(c)))
        .filter(|s| status.is_none_or(|st| s.status == st))
        .map(|s| (s.seq, s.json(&api.base_url)))
        .collect();
    store::list("/v1/checkout/sessions", items)
}

/// The session's JSON, with `expand[]=line_items`, `subscription` and `customer` honoured as
/// Stripe does.
fn render(api: &Api, store: &Store, session: &Session, p: &Value) -> Value {
    let mut json = session.json(&api.base_url);
    let expand = expands(p);
    if expand.contains(&"line_items") {
        let amounts: Vec<i64> = session
            .line_items
            .iter()
            .map(|item| {
                store
                    .prices
                    .get(&item.price)
                    .map_or(0, |p| p.unit_amount * item.quantity)
            })
            .collect();
        let discounts = split_discount(session, &amounts);
        let items: Vec<(u64, Value)> = session
            .line_items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let price = store.prices.get(&item.price)?;
                let name = store.product_name(price);
                let amount = amounts[i];
                let discount = discounts[i];
                Some((
                    u64::MAX - i as u64,
                    json!({
                        "id": format!("li_{}_{i}", &session.id[8..]),
                        "object": "item",
                        "amount_discount": discount,
                        "amount_subtotal": amount,
                        "amount_tax": 0,
                        "amount_total": amount - discount,
                        "currency": price.currency,
                        "description": name,
                        "price": price.json(),
                        "quantity": item.quantity,
                    }),
                ))
            })
            .collect();
        json["line_items"] = store::list(
            &format!("/v1/checkout/sessions/{}/line_items", session.id),
            items,
        );
    }
    if expand.contains(&"subscription") {
        if let Some(sub) = session
            .subscription
            .as_ref()
            .and_then(|id| store.subscriptions.get(id))
        {
            json["subscription"] = sub.json(store);
        }
    }
    if expand.contains(&"customer") {
        if let Some(c) = session
            .customer
            .as_ref()
            .and_then(|id| store.customers.get(id))
        {
            json["customer"] = c.json();
        }
    }
    json
}

fn expire(api: &Api, store: &mut Store, id: &str) -> ApiResult {
    let session = store
        .sessions
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("checkout.session", id))?;
    if session.status != "open" {
        return Err(ApiError::invalid_param(
            "session",
            format!(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
                session.status
            ),
        ));
    }
    session.status = "expired".into();
    let json = session.json(&api.base_url);
    store.emit("checkout.session.expired", json.clone(), None);
    Ok(json)
}

/// The session's discount (its subtotal less its total) shared among its line items in
/// proportion to their amounts, the last one taking what rounding leaves, so the items'
/// `amount_discount` add up to the session's.
fn split_discount(session: &Session, amounts: &[i64]) -> Vec<i64> {
    let discount = (session.amount_subtotal - session.amount_total).max(0);
    let sum: i64 = amounts.iter().sum();
    let mut left = discount;
    let mut shares = Vec::with_capacity(amounts.len());
    for (i, amount) in amounts.iter().enumerate() {
        let share = if i + 1 == amounts.len() || sum == 0 {
            left
        } else {
            (discount as i128 * *amount as i128 / sum as i128) as i64
        };
        left -= share;
        shares.push(share);
    }
    shares
}
