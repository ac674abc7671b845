//! The parameters each endpoint takes, and Stripe's refusal of any other:
//! `parameter_unknown`, naming the first unknown key with its brackets (`line_items[0][pricee]`).
//!
//! A list holds only what the emulator reads, spelt as Stripe spells it (async-stripe's request
//! builders). A parameter Stripe takes but the emulator would ignore is refused too: a test must
//! not pass on something the emulator silently dropped.
//!
//! Patterns: `a[b]` is a nested key, `a[]` any index of a list, `a[*]` any key of a free-form map
//! (`metadata[*]`). A prefix of a pattern is known too, so `key=` (Stripe's way to clear a field)
//! passes; whether its value fits is the handler's business.

use axum::http::Method;
use serde_json::Value;

use crate::error::ApiError;

/// Taken by every endpoint.
const EVERYWHERE: &[&str] = &["expand[]"];

/// A free-form map: any key.
const METADATA: &str = "metadata[*]";

const PORTAL_CONFIGURATION: &[&str] = &[
    "business_profile[headline]",
    "business_profile[privacy_policy_url]",
    "business_profile[terms_of_service_url]",
    "default_return_url",
    METADATA,
    "features[customer_update][enabled]",
    "features[customer_update][allowed_updates][]",
    "features[invoice_history][enabled]",
    "features[payment_method_update][enabled]",
    "features[subscription_cancel][enabled]",
    "features[subscription_cancel][mode]",
    "features[subscription_cancel][proration_behavior]",
    "features[subscription_cancel][cancellation_reason][enabled]",
    "features[subscription_cancel][cancellation_reason][options][]",
    "features[subscription_update][enabled]",
    "features[subscription_update][default_allowed_updates][]",
    "features[subscription_update][proration_behavior]",
    "features[subscription_update][products][][product]",
    "features[subscription_update][products][][prices][]",
    "features[subscription_update][trial_update_behavior]",
    "features[subscription_update][schedule_at_period_end][conditions][][type]",
];

/// A list's page (see `params::page`).
const PAGE: &[&str] = &["limit", "starting_after"];

/// Method, path (`{id}` is any one segment), parameters (in groups, to share some).
#[rustfmt::skip]
const ENDPOINTS: &[(&str, &str, &[&[&str]])] = &[
    ("POST", "/v1/products", &[&["id", "name", "active", METADATA]]),
    ("GET", "/v1/products", &[PAGE]),
    ("GET", "/v1/products/{id}", &[]),
    ("POST", "/v1/products/{id}", &[&["name", "active", METADATA]]),

    ("POST", "/v1/prices", &[&[
        "currency", "unit_amount", "product", "active", "lookup_key", "transfer_lookup_key",
        "product_data[id]", "product_data[name]", "product_data[active]", "product_data[metadata][*]",
        "recurring[interval]", "recurring[interval_count]",
    ]]),
    ("GET", "/v1/prices", &[&["lookup_keys[]", "active", "product"], PAGE]),
    ("GET", "/v1/prices/{id}", &[]),
    ("POST", "/v1/prices/{id}", &[&["active"]]),

    ("POST", "/v1/customers", &[&["email", "name", METADATA]]),
    ("GET", "/v1/customers", &[&["email"], PAGE]),
    ("GET", "/v1/customers/{id}", &[]),
    ("POST", "/v1/customers/{id}", &[&["email", "name", METADATA]]),
    ("POST", "/v1/customers/{id}/balance_transactions", &[&[
        "amount", "currency", "description", METADATA,
    ]]),
    ("GET", "/v1/customers/{id}/balance_transactions", &[PAGE]),

    ("POST", "/v1/coupons", &[&[
        "id", "percent_off", "amount_off", "currency", "duration", "duration_in_months",
    ]]),
    ("GET", "/v1/coupons/{id}", &[]),

    ("POST", "/v1/promotion_codes", &[&["promotion[type]", "promotion[coupon]", "code", "active"]]),
    ("GET", "/v1/promotion_codes", &[&["code"], PAGE]),

    ("POST", "/v1/checkout/sessions", &[&[
        "mode", "success_url", "cancel_url", "customer", "customer_email", "customer_creation",
        "client_reference_id", "allow_promotion_codes", "discounts[][coupon]",
        "line_items[][price]", "line_items[][quantity]", "subscription_data[trial_period_days]",
        "subscription_data[billing_cycle_anchor]", "subscription_data[proration_behavior]",
        "invoice_creation[enabled]", "tax_id_collection[enabled]", "customer_update[name]",
        "payment_intent_data[setup_future_usage]", "expires_at", "allowed_payment_method_types[]", METADATA,
    ]]),
    ("GET", "/v1/checkout/sessions", &[&["customer", "status"], PAGE]),
    ("GET", "/v1/checkout/sessions/{id}", &[]),
    ("POST", "/v1/checkout/sessions/{id}/expire", &[]),

    ("POST", "/v1/billing_portal/sessions", &[&["customer", "return_url", "configuration"]]),
    ("POST", "/v1/billing_portal/configurations", &[PORTAL_CONFIGURATION]),
    ("GET", "/v1/billing_portal/configurations", &[&["active", "is_default"], PAGE]),
    ("GET", "/v1/billing_portal/configurations/{id}", &[]),
    // Only an update can (de)activate a configuration, as on Stripe.
    ("POST", "/v1/billing_portal/configurations/{id}", &[&["active"], PORTAL_CONFIGURATION]),

    ("GET", "/v1/subscriptions", &[&["customer", "status"], PAGE]),
    ("POST", "/v1/subscriptions", &[&[
        "customer", "items[][price]", "items[][quantity]", "billing_cycle_anchor", "proration_behavior",
    ]]),
    ("GET", "/v1/subscriptions/{id}", &[]),
    ("POST", "/v1/subscriptions/{id}", &[&[
        "cancel_at", "cancel_at_period_end", "items[][id]", "items[][price]", "proration_behavior",
        "proration_date", "payment_behavior", "trial_end", "pause_collection[behavior]", METADATA,
    ]]),
    ("DELETE", "/v1/subscriptions/{id}", &[]),

    ("POST", "/v1/subscription_schedules", &[&["from_subscription"]]),
    ("GET", "/v1/subscription_schedules/{id}", &[]),
    ("POST", "/v1/subscription_schedules/{id}", &[&[
        "end_behavior", "phases[][items][][price]", "phases[][items][][quantity]",
        "phases[][start_date]", "phases[][end_date]", "phases[][proration_behavior]",
    ]]),
    ("POST", "/v1/subscription_schedules/{id}/release", &[]),
    ("POST", "/v1/subscription_schedules/{id}/cancel", &[]),

    ("GET", "/v1/invoices", &[&["customer", "subscription"], PAGE]),
    ("POST", "/v1/invoices/create_preview", &[&[
        "customer", "subscription", "subscription_details[items][][id]",
        "subscription_details[items][][price]", "subscription_details[proration_behavior]",
        "subscription_details[proration_date]", "subscription_details[trial_end]",
        "preview_mode",
    ]]),
    ("GET", "/v1/invoices/{id}", &[]),
    ("GET", "/v1/invoice_payments", &[&["invoice", "payment[type]", "payment[payment_intent]"], PAGE]),

    ("GET", "/v1/payment_intents/{id}", &[]),
    ("GET", "/v1/charges/{id}", &[]),
    ("GET", "/v1/disputes/{id}", &[]),
    ("GET", "/v1/refunds/{id}", &[]),
    ("POST", "/v1/refunds", &[&["charge", "payment_intent", "amount"]]),

    ("GET", "/v1/events", &[&["type"], PAGE]),
    ("GET", "/v1/events/{id}", &[]),

    ("POST", "/v1/webhook_endpoints", &[&["url", "enabled_events[]", "api_version", "description"]]),
    ("GET", "/v1/webhook_endpoints", &[PAGE]),
    ("GET", "/v1/webhook_endpoints/{id}", &[]),
    ("POST", "/v1/webhook_endpoints/{id}", &[&["url", "enabled_events[]", "disabled", "description"]]),
    ("DELETE", "/v1/webhook_endpoints/{id}", &[]),
];

/// Refuses the first parameter the endpoint does not take. A path no endpoint has passes: the
/// router answers it with Stripe's 404.
pub(crate) fn check(method: &Method, path: &str, params: &Value) -> Result<(), ApiError> {
    let Some(groups) = endpoint(method.as_str(), path) else {
        return Ok(());
    };
    let patterns: Vec<Vec<&str>> = std::iter::once(EVERYWHERE)
        .chain(groups.iter().copied())
        .flatten()
        .map(|p| segments(p))
        .collect();
    let patterns: Vec<&[&str]> = patterns.iter().map(Vec::as_slice).collect();
    match first_unknown(params, "", &patterns) {
        Some(param) => Err(ApiError::unknown_param(&param)),
        None => Ok(()),
    }
}

fn endpoint(method: &str, path: &str) -> Option<&'static [&'static [&'static str]]> {
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    ENDPOINTS.iter().find_map(|(m, pattern, params)| {
        let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        let fits = *m == method
            && pattern.len() == path.len()
            && pattern
                .iter()
                .zip(&path)
                .all(|(want, got)| *want == "{id}" || want == got);
        fits.then_some(*params)
    })
}

/// `a[][b]` → `["a", "", "b"]`.
fn segments(pattern: &str) -> Vec<&str> {
    pattern
        .split('[')
        .map(|s| s.strip_suffix(']').unwrap_or(s))
        .collect()
}

/// The full name of the first key under `node` that no pattern has; `patterns` are what is
/// left of the patterns that matched `name`.
fn first_unknown(node: &Value, name: &str, patterns: &[&[&str]]) -> Option<String> {
    let children: Vec<(String, &Value, bool)> = match node {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v, false)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v, true))
            .collect(),
        _ => return None,
    };
    for (key, child, is_index) in children {
        let child_name = if name.is_empty() {
            key.clone()
        } else {
            format!("{name}[{key}]")
        };
        let matched: Vec<&[&str]> = patterns
            .iter()
            .filter_map(|p| match p.split_first() {
                Some((&seg, rest)) if seg == "*" || seg == key || (seg.is_empty() && is_index) => {
                    Some(rest)
                }
                _ => None,
            })
            .collect();
        if matched.is_empty() {
            return Some(child_name);
        }
        if let Some(unknown) = first_unknown(child, &child_name, &matched) {
            return Some(unknown);
        }
    }
    None
}
