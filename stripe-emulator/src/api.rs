//! The `/v1` API: authentication, body decoding, idempotency, then one handler per route.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::flows;
use crate::form;
use crate::objects::{Endpoint, PaymentIntent, PortalSession, PromotionCode};
use crate::portal_config;
use crate::store::{self, Coupon, Customer, LineItem, Price, Product, Recurring, Session, Store};

/// How long an open Checkout Session lives, as Stripe's default.
const SESSION_LIFETIME: i64 = 24 * 60 * 60;

#[derive(Clone)]
pub struct Api {
    pub store: Arc<Mutex<Store>>,
    /// The emulator's own origin, for the hosted pages' URLs.
    pub base_url: Arc<str>,
    /// When set, only this key is accepted; otherwise any `sk_test_…` key is.
    pub secret_key: Option<Arc<str>>,
}

pub(crate) type ApiResult = Result<Value, ApiError>;

pub async fn handle(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match respond(&api, &method, &uri, &headers, &body) {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn respond(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    authenticate(api, headers)?;
    let params = if *method == Method::GET || *method == Method::DELETE {
        form::parse(uri.query().unwrap_or("").as_bytes())
    } else {
        form::parse(body)
    }
    .map_err(|e| ApiError::invalid_param("body", e.to_string()))?;

    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| *method == Method::POST)
        .map(str::to_string);
    let fingerprint = format!("{method} {} {}", uri.path(), String::from_utf8_lossy(body));
    let mut store = api.store.lock().expect("store lock");
    if let Some(key) = &idempotency_key {
        if let Some(reply) = store.idempotency.get(key) {
            if reply.fingerprint != fingerprint {
                return Err(ApiError::idempotency(format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                )));
            }
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            return Ok((status, reply.body.clone()));
        }
    }

    let result = route(api, &mut store, method, uri.path(), &params);
    let (status, value) = match &result {
        Ok(v) => (StatusCode::OK, v.clone()),
        Err(e) => (e.status, e.body()),
    };
    // Stripe stores the outcome of every request that reached the API, errors included.
    if let Some(key) = idempotency_key {
        store.idempotency.insert(
            key,
            store::IdempotentReply {
                fingerprint,
                status: status.as_u16(),
                body: value.clone(),
            },
        );
    }
    result.map(|v| (StatusCode::OK, v))
}

fn authenticate(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        })?;
    let key = if let Some(token) = raw.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else if let Some(basic) = raw.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    let accepted = match &api.secret_key {
        Some(expected) => key == **expected,
        None => key.starts_with("sk_test_") && key.len() > "sk_test_".len(),
    };
    if accepted {
        Ok(())
    } else {
        let tail: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: sk_test_****{tail}"
        )))
    }
}

fn route(api: &Api, store: &mut Store, method: &Method, path: &str, p: &Value) -> ApiResult {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "products"]) => create_product(store, p),
        ("GET", ["v1", "products"]) => Ok(list_products(store)),
        ("GET", ["v1", "products", id]) => get(&store.products, "product", id).map(Product::json),
        ("POST", ["v1", "products", id]) => update_product(store, id, p),
        ("POST", ["v1", "prices"]) => create_price(store, p),
        ("GET", ["v1", "prices"]) => Ok(list_prices(store, p)),
        ("GET", ["v1", "prices", id]) => get(&store.prices, "price", id)
            .map(|price| price_json(store, price, expands(p).contains(&"product"))),
        ("POST", ["v1", "prices", id]) => update_price(store, id, p),
        ("POST", ["v1", "customers"]) => create_customer(store, p),
        ("GET", ["v1", "customers"]) => Ok(list_customers(store, p)),
        ("GET", ["v1", "customers", id]) => {
            get(&store.customers, "customer", id).map(Customer::json)
        }
        ("POST", ["v1", "customers", id]) => update_customer(store, id, p),
        ("POST", ["v1", "coupons"]) => create_coupon(store, p),
        ("GET", ["v1", "coupons", id]) => get(&store.coupons, "coupon", id).map(Coupon::json),
        ("POST", ["v1", "checkout", "sessions"]) => create_session(api, store, p),
        ("GET", ["v1", "checkout", "sessions"]) => Ok(list_sessions(api, store, p)),
        ("GET", ["v1", "checkout", "sessions", id]) => {
            let session = get(&store.sessions, "checkout.session", id)?;
            Ok(render_session(api, store, session, p))
        }
        ("POST", ["v1", "checkout", "sessions", id, "expire"]) => expire_session(api, store, id),
        ("POST", ["v1", "billing_portal", "sessions"]) => create_portal_session(api, store, p),
        ("POST", ["v1", "billing_portal", "configurations"]) => portal_config::create(store, p),
        ("GET", ["v1", "billing_portal", "configurations"]) => Ok(portal_config::list(store, p)),
        ("GET", ["v1", "billing_portal", "configurations", id]) => get(
            &store.portal_configurations,
            "billing_portal.configuration",
            id,
        )
        .map(portal_config::Configuration::json),
        ("POST", ["v1", "billing_portal", "configurations", id]) => {
            portal_config::update(store, id, p)
        }
        ("GET", ["v1", "subscriptions"]) => Ok(list_subscriptions(store, p)),
        ("GET", ["v1", "subscriptions", id]) => {
            get(&store.subscriptions, "subscription", id).map(|s| s.json(store))
        }
        ("POST", ["v1", "subscriptions", id]) => update_subscription(store, &api.base_url, id, p),
        ("DELETE", ["v1", "subscriptions", id]) => {
            get(&store.subscriptions, "subscription", id)?;
            flows::cancel_now(store, id)
        }
        ("GET", ["v1", "invoices"]) => Ok(list_invoices(api, store, p)),
        ("POST", ["v1", "invoices", "create_preview"]) => preview_invoice(api, store, p),
        ("GET", ["v1", "invoices", id]) => {
            get(&store.invoices, "invoice", id).map(|i| i.json(&api.base_url))
        }
        ("GET", ["v1", "payment_intents", id]) => {
            get(&store.payment_intents, "payment_intent", id).map(PaymentIntent::json)
        }
        ("GET", ["v1", "charges", id]) => get(&store.charges, "charge", id).map(|c| c.json()),
        ("GET", ["v1", "disputes", id]) => get(&store.disputes, "dispute", id).map(|d| d.json()),
        ("GET", ["v1", "refunds", id]) => get(&store.refunds, "refund", id).map(|r| r.json()),
        ("POST", ["v1", "refunds"]) => create_refund(store, p),
        ("GET", ["v1", "events"]) => Ok(list_events(store, p)),
        ("GET", ["v1", "events", id]) => store
            .event(id)
            .map(|e| e.json(store.pending_webhooks(&e.type_)))
            .ok_or_else(|| ApiError::not_found("event", id)),
        ("POST", ["v1", "webhook_endpoints"]) => create_endpoint(store, p),
        ("GET", ["v1", "webhook_endpoints"]) => Ok(store::list(
            "/v1/webhook_endpoints",
            store
                .endpoints
                .values()
                .map(|e| (e.created as u64, e.json(false)))
                .collect(),
        )),
        ("GET", ["v1", "webhook_endpoints", id]) => {
            get(&store.endpoints, "webhook_endpoint", id).map(|e| e.json(false))
        }
        ("POST", ["v1", "webhook_endpoints", id]) => update_endpoint(store, id, p),
        ("DELETE", ["v1", "webhook_endpoints", id]) => {
            get(&store.endpoints, "webhook_endpoint", id)?;
            store.endpoints.remove(*id);
            Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
        }
        ("POST", ["v1", "promotion_codes"]) => create_promotion_code(store, p),
        ("GET", ["v1", "promotion_codes"]) => Ok(list_promotion_codes(store, p)),
        _ => Err(ApiError::unknown_route(method.as_str(), path)),
    }
}

pub(crate) fn get<'a, T>(
    map: &'a std::collections::BTreeMap<String, T>,
    object: &str,
    id: &str,
) -> Result<&'a T, ApiError> {
    map.get(id).ok_or_else(|| ApiError::not_found(object, id))
}

pub(crate) fn string(p: &Value, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn required(p: &Value, key: &str) -> Result<String, ApiError> {
    string(p, key)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing(key))
}

pub(crate) fn boolean(p: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid_param(
            key,
            format!("Invalid boolean: {other}"),
        )),
    }
}

pub(crate) fn integer(p: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_param(key, format!("Invalid integer: {raw}"))),
    }
}

pub(crate) fn metadata(p: &Value) -> Map<String, Value> {
    p.get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn create_product(store: &mut Store, p: &Value) -> ApiResult {
    let name = required(p, "name")?;
    let now = store.now();
    let product = Product {
        id: string(p, "id").unwrap_or_else(|| store::new_id("prod")),
        name,
        active: boolean(p, "active")?.unwrap_or(true),
        metadata: metadata(p),
        created: now,
        updated: now,
        seq: store.next_seq(),
    };
    if store.products.contains_key(&product.id) {
        return Err(ApiError::invalid_param(
            "id",
            format!("Product already exists with ID: {}", product.id),
        ));
    }
    let json = product.json();
    store.products.insert(product.id.clone(), product);
    store.emit("product.created", json.clone(), None);
    Ok(json)
}

fn update_product(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let active = boolean(p, "active")?;
    let now = store.now();
    let product = store
        .products
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("product", id))?;
    let before = product.json();
    if let Some(name) = string(p, "name").filter(|n| !n.is_empty()) {
        product.name = name;
    }
    if let Some(active) = active {
        product.active = active;
    }
    merge_metadata(&mut product.metadata, p);
    product.updated = now;
    let json = product.json();
    store.emit(
        "product.updated",
        json.clone(),
        Some(portal_config::changed(&before, &json)),
    );
    Ok(json)
}

/// Stripe's metadata update: keys given are set, keys given empty are removed.
fn merge_metadata(into: &mut Map<String, Value>, p: &Value) {
    for (k, v) in metadata(p) {
        if v.as_str() == Some("") {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

fn list_products(store: &Store) -> Value {
    store::list(
        "/v1/products",
        store.products.values().map(|p| (p.seq, p.json())).collect(),
    )
}

fn create_price(store: &mut Store, p: &Value) -> ApiResult {
    let currency = required(p, "currency")?.to_ascii_lowercase();
    let unit_amount = integer(p, "unit_amount")?.ok_or_else(|| ApiError::missing("unit_amount"))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid_param(
            "unit_amount",
            "This value must be greater than or equal to 0.",
        ));
    }
    let product = match (string(p, "product"), p.get("product_data")) {
        (Some(id), _) => {
            if !store.products.contains_key(&id) {
                return Err(ApiError::no_such_param("product", &id, "product"));
            }
            id
        }
        (None, Some(data)) => {
            let created = create_product(store, data)?;
            created["id"].as_str().unwrap_or_default().to_string()
        }
        (None, None) => return Err(ApiError::missing("product")),
    };
    let recurring = match p.get("recurring") {
        None => None,
        Some(r) => {
            let interval =
                required(r, "interval").map_err(|_| ApiError::missing("recurring[interval]"))?;
            if !matches!(interval.as_str(), "day" | "week" | "month" | "year") {
                return Err(ApiError::invalid_param(
                    "recurring[interval]",
                    "Invalid recurring[interval]: must be one of day, week, month, or year",
                ));
            }
            let interval_count = integer(r, "interval_count")?.unwrap_or(1);
            Some(Recurring {
                interval,
                interval_count,
            })
        }
    };
    let lookup_key = string(p, "lookup_key");
    if let Some(key) = &lookup_key {
        if let Some(existing) = store.price_by_lookup_key(key) {
            if boolean(p, "transfer_lookup_key")? != Some(true) {
                return Err(ApiError::invalid_param(
                    "lookup_key",
                    format!("A price (`{}`) already uses that lookup key.", existing.id),
                ));
            }
            let existing = existing.id.clone();
            if let Some(old) = store.prices.get_mut(&existing) {
                old.lookup_key = None;
            }
        }
    }
    let price = Price {
        id: store::new_id("price"),
        product,
        lookup_key,
        unit_amount,
        currency,
        recurring,
        active: boolean(p, "active")?.unwrap_or(true),
        created: store.now(),
        seq: store.next_seq(),
    };
    let json = price.json();
    store.prices.insert(price.id.clone(), price);
    store.emit("price.created", json.clone(), None);
    Ok(json)
}

fn update_price(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let active = boolean(p, "active")?;
    let price = store
        .prices
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("price", id))?;
    let before = price.json();
    if let Some(active) = active {
        price.active = active;
    }
    let json = price.json();
    if json != before {
        store.emit(
            "price.updated",
            json.clone(),
            Some(portal_config::changed(&before, &json)),
        );
    }
    Ok(json)
}

/// The `expand[]` paths a request asks for.
pub(crate) fn expands(p: &Value) -> Vec<&str> {
    p.get("expand")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A price, with its product expanded when asked (`expand[]=product`, or `data.product` on a
/// list), as Stripe does.
fn price_json(store: &Store, price: &Price, expand_product: bool) -> Value {
    let mut json = price.json();
    if let (true, Some(product)) = (expand_product, store.products.get(&price.product)) {
        json["product"] = product.json();
    }
    json
}

fn list_prices(store: &Store, p: &Value) -> Value {
    let expand_product = expands(p).contains(&"data.product");
    let keys: Option<Vec<&str>> = p
        .get("lookup_keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let active = p.get("active").and_then(Value::as_str).map(|a| a == "true");
    let product = p.get("product").and_then(Value::as_str);
    let items = store
        .prices
        .values()
        .filter(|price| {
            keys.as_ref().is_none_or(|keys| {
                price
                    .lookup_key
                    .as_deref()
                    .is_some_and(|k| keys.contains(&k))
            })
        })
        .filter(|price| active.is_none_or(|a| price.active == a))
        .filter(|price| product.is_none_or(|id| price.product == id))
        .map(|price| (price.seq, price_json(store, price, expand_product)))
        .collect();
    store::list("/v1/prices", items)
}

fn create_customer(store: &mut Store, p: &Value) -> ApiResult {
    let customer = Customer {
        id: store::new_id("cus"),
        email: string(p, "email"),
        name: string(p, "name"),
        metadata: metadata(p),
        created: store.now(),
        seq: store.next_seq(),
        authenticates_every_payment: false,
    };
    let json = customer.json();
    store.customers.insert(customer.id.clone(), customer);
    store.emit("customer.created", json.clone(), None);
    Ok(json)
}

fn update_customer(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let customer = store
        .customers
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("customer", id))?;
    let before = customer.json();
    if let Some(email) = string(p, "email") {
        customer.email = Some(email).filter(|e| !e.is_empty());
    }
    if let Some(name) = string(p, "name") {
        customer.name = Some(name).filter(|n| !n.is_empty());
    }
    merge_metadata(&mut customer.metadata, p);
    let json = customer.json();
    // Stripe sends `customer.updated` only when something changed.
    if json != before {
        store.emit(
            "customer.updated",
            json.clone(),
            Some(portal_config::changed(&before, &json)),
        );
    }
    Ok(json)
}

fn list_customers(store: &Store, p: &Value) -> Value {
    let email = p.get("email").and_then(Value::as_str);
    let items = store
        .customers
        .values()
        .filter(|c| email.is_none_or(|e| c.email.as_deref() == Some(e)))
        .map(|c| (c.seq, c.json()))
        .collect();
    store::list("/v1/customers", items)
}

fn create_coupon(store: &mut Store, p: &Value) -> ApiResult {
    let percent_off = match p.get("percent_off").and_then(Value::as_str) {
        None => None,
        Some(raw) => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && *v <= 100.0)
                .ok_or_else(|| {
                    ApiError::invalid_param("percent_off", "percent_off must be between 0 and 100.")
                })?,
        ),
    };
    let amount_off = integer(p, "amount_off")?;
    if percent_off.is_some() == amount_off.is_some() {
        return Err(ApiError::invalid_param(
            "percent_off",
            "You must pass exactly one of percent_off or amount_off.",
        ));
    }
    let currency = string(p, "currency");
    if amount_off.is_some() && currency.is_none() {
        return Err(ApiError::missing("currency"));
    }
    let coupon = Coupon {
        id: string(p, "id").unwrap_or_else(|| store::new_id("co")),
        percent_off,
        amount_off,
        currency,
        valid: true,
        created: store.now(),
    };
    if store.coupons.contains_key(&coupon.id) {
        return Err(ApiError::invalid_param(
            "id",
            format!("Coupon already exists with ID: {}", coupon.id),
        ));
    }
    let json = coupon.json();
    store.coupons.insert(coupon.id.clone(), coupon);
    store.emit("coupon.created", json.clone(), None);
    Ok(json)
}

pub(crate) fn absolute_url(p: &Value, key: &str) -> Result<String, ApiError> {
    let raw = required(p, key)?;
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(raw),
        _ => Err(ApiError::invalid_param(key, "Not a valid URL")),
    }
}

fn create_session(api: &Api, store: &mut Store, p: &Value) -> ApiResult {
    let mode = required(p, "mode")?;
    if !matches!(mode.as_str(), "payment" | "subscription") {
        return Err(ApiError::invalid_param(
            "mode",
            format!("Invalid mode: must be one of payment or subscription (got `{mode}`; setup mode is not emulated)"),
        ));
    }
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
    if mode == "subscription" && customer_creation.is_some() {
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
    let invoice_creation = p
        .get("invoice_creation")
        .map(|i| boolean(i, "enabled"))
        .transpose()?
        .flatten()
        .unwrap_or(false);
    if mode == "subscription" && p.get("invoice_creation").is_some() {
        return Err(ApiError::invalid_param(
            "invoice_creation",
            "You can only enable invoice creation when `mode` is set to `payment`. Invoices are \
             created automatically when `mode` is set to `subscription`, and are unsupported when \
             set to `setup`. To learn more visit \
             https://stripe.com/docs/payments/checkout/post-payment-invoices.",
        ));
    }
    if mode == "subscription" && p.get("payment_intent_data").is_some() {
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

    let items = p
        .get("line_items")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::missing("line_items"))?;
    let mut line_items = Vec::new();
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
        let quantity = integer(item, "quantity")
            .map_err(|_| {
                ApiError::invalid_param(&format!("line_items[{i}][quantity]"), "Invalid integer")
            })?
            .unwrap_or(1);
        if quantity < 1 {
            return Err(ApiError::invalid_param(
                &format!("line_items[{i}][quantity]"),
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
        line_items.push(LineItem {
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
    let discount: i64 = coupons
        .iter()
        .filter_map(|id| store.coupons.get(id))
        .map(|c| c.discount_on(subtotal))
        .sum();

    let trial_period_days = match p.get("subscription_data") {
        Some(data) if mode == "subscription" => {
            integer(data, "trial_period_days").map_err(|_| {
                ApiError::invalid_param("subscription_data[trial_period_days]", "Invalid integer")
            })?
        }
        Some(_) => {
            return Err(ApiError::invalid_param(
                "subscription_data",
                "You can only pass `subscription_data` in `subscription` mode.",
            ))
        }
        None => None,
    };
    if trial_period_days.is_some_and(|d| !(1..=730).contains(&d)) {
        return Err(ApiError::invalid_param(
            "subscription_data[trial_period_days]",
            "The trial period must be between 1 and 730 days.",
        ));
    }
    // A trial's first invoice is free: nothing is due today.
    let (subtotal, discount) = if trial_period_days.is_some() {
        (0, 0)
    } else {
        (subtotal, discount)
    };
    let now = store.now();
    let session = Session {
        id: store::new_id("cs_test"),
        mode,
        status: "open".into(),
        payment_status: "unpaid".into(),
        customer,
        customer_email,
        customer_creation,
        client_reference_id: string(p, "client_reference_id"),
        line_items,
        success_url,
        cancel_url,
        allow_promotion_codes,
        coupons,
        tax_id_collection: p
            .get("tax_id_collection")
            .map(|t| boolean(t, "enabled"))
            .transpose()?
            .flatten()
            .unwrap_or(false),
        setup_future_usage,
        amount_subtotal: subtotal,
        amount_total: (subtotal - discount).max(0),
        currency: currency.unwrap_or_else(|| "usd".into()),
        subscription: None,
        payment_intent: None,
        metadata: metadata(p),
        created: now,
        expires_at: integer(p, "expires_at")?.unwrap_or(now + SESSION_LIFETIME),
        seq: store.next_seq(),
        invoice: None,
        invoice_creation,
        trial_period_days,
        customer_details: None,
        awaiting_authentication: false,
        card_authenticates_every_payment: false,
    };
    let json = render_session(api, store, &session, p);
    store.sessions.insert(session.id.clone(), session);
    Ok(json)
}

/// The session's JSON, with `expand[]=line_items` honoured as Stripe does.
fn list_sessions(api: &Api, store: &Store, p: &Value) -> Value {
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

fn render_session(api: &Api, store: &Store, session: &Session, p: &Value) -> Value {
    let mut json = session.json(&api.base_url);
    let expand = expands(p);
    if expand.contains(&"line_items") {
        let items: Vec<(u64, Value)> = session
            .line_items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let price = store.prices.get(&item.price)?;
                let name = store.product_name(price);
                let amount = price.unit_amount * item.quantity;
                Some((
                    u64::MAX - i as u64,
                    json!({
                        "id": format!("li_{}_{i}", &session.id[8..]),
                        "object": "item",
                        "amount_discount": 0,
                        "amount_subtotal": amount,
                        "amount_tax": 0,
                        "amount_total": amount,
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

fn expire_session(api: &Api, store: &mut Store, id: &str) -> ApiResult {
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

fn list_subscriptions(store: &Store, p: &Value) -> Value {
    let customer = p.get("customer").and_then(Value::as_str);
    let status = p.get("status").and_then(Value::as_str);
    let items = store
        .subscriptions
        .values()
        .filter(|s| customer.is_none_or(|c| s.customer == c))
        .filter(|s| match status {
            None => s.status != "canceled",
            Some("all") => true,
            Some(wanted) => s.status == wanted,
        })
        .map(|s| (s.seq, s.json(store)))
        .collect();
    store::list("/v1/subscriptions", items)
}

fn update_subscription(store: &mut Store, base_url: &str, id: &str, p: &Value) -> ApiResult {
    get(&store.subscriptions, "subscription", id)?;
    let mut result = None;
    if let Some(cancel) = boolean(p, "cancel_at_period_end")? {
        result = Some(
            flows::set_cancel_at_period_end(store, id, cancel)
                .map_err(|e| e.for_param("cancel_at_period_end"))?,
        );
    }
    if let Some(item) = p
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| items.first())
    {
        let change = price_change(store, id, item, p)?;
        result = Some(
            flows::change_price(store, base_url, &change)
                .map_err(|e| e.for_param("items[0][price]"))?,
        );
    }
    match result {
        Some(json) => Ok(json),
        None => Ok(store.subscriptions[id].json(store)),
    }
}

/// A subscription item's new price (`items[0][price]`, with `items[0][id]` naming the item if
/// given) and how to bill it (`proration_behavior`, `proration_date`), as the update and the
/// preview take them.
fn price_change(
    store: &Store,
    sub_id: &str,
    item: &Value,
    p: &Value,
) -> Result<flows::PriceChange, ApiError> {
    let sub = get(&store.subscriptions, "subscription", sub_id)?;
    if let Some(item_id) = item.get("id").and_then(Value::as_str) {
        if !sub.items.iter().any(|i| i.id == item_id) {
            return Err(ApiError::invalid_param(
                "items[0][id]",
                format!("Subscription item `{item_id}` is not part of subscription `{sub_id}`."),
            ));
        }
    }
    let price_id = item.get("price").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_param(
            "items[0][price]",
            "Missing required param: items[0][price].",
        )
    })?;
    let proration = flows::Proration::parse(p.get("proration_behavior").and_then(Value::as_str))?;
    Ok(flows::PriceChange {
        sub_id: sub_id.to_string(),
        price_id: price_id.to_string(),
        proration,
        at: integer(p, "proration_date")?,
    })
}

/// `POST /v1/invoices/create_preview` for a subscription's price change
/// (`subscription_details[items][0][…]`, `[proration_behavior]`, `[proration_date]`).
fn preview_invoice(api: &Api, store: &Store, p: &Value) -> ApiResult {
    let sub_id = required(p, "subscription")?;
    let sub = get(&store.subscriptions, "subscription", &sub_id)?;
    if let Some(customer) = string(p, "customer").filter(|c| *c != sub.customer) {
        return Err(ApiError::invalid_param(
            "customer",
            format!("Subscription `{sub_id}` does not belong to customer `{customer}`."),
        ));
    }
    let details = p
        .get("subscription_details")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(item) = details
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| items.first())
    else {
        return Err(ApiError::invalid_param(
            "subscription_details[items]",
            "This emulator previews price changes only: give subscription_details[items][0][price].",
        ));
    };
    let change = price_change(store, &sub_id, item, &details)?;
    flows::preview_change(store, &api.base_url, &change)
        .map_err(|e| e.for_param("subscription_details[items][0][price]"))
}

/// `POST /v1/refunds` with `charge` or `payment_intent`, and an optional `amount`.
fn create_refund(store: &mut Store, p: &Value) -> ApiResult {
    let charge = match (string(p, "charge"), string(p, "payment_intent")) {
        (Some(charge), _) => charge,
        (None, Some(pi)) => get(&store.payment_intents, "payment_intent", &pi)?
            .latest_charge
            .clone()
            .ok_or_else(|| {
                ApiError::invalid_param(
                    "payment_intent",
                    "This PaymentIntent has no charge to refund.",
                )
            })?,
        (None, None) => {
            return Err(ApiError::invalid_param(
                "charge",
                "One of `charge` or `payment_intent` is required.",
            ))
        }
    };
    get(&store.charges, "charge", &charge)?;
    flows::refund(store, &charge, integer(p, "amount")?).map_err(|e| e.for_param("amount"))
}

fn list_invoices(api: &Api, store: &Store, p: &Value) -> Value {
    let customer = p.get("customer").and_then(Value::as_str);
    let subscription = p.get("subscription").and_then(Value::as_str);
    let items = store
        .invoices
        .values()
        .filter(|i| customer.is_none_or(|c| i.customer == c))
        .filter(|i| subscription.is_none_or(|s| i.subscription.as_deref() == Some(s)))
        .map(|i| (i.seq, i.json(&api.base_url)))
        .collect();
    store::list("/v1/invoices", items)
}

fn list_events(store: &Store, p: &Value) -> Value {
    let type_ = p.get("type").and_then(Value::as_str);
    let items = store
        .events
        .iter()
        .filter(|e| type_.is_none_or(|t| e.type_ == t))
        .map(|e| (e.seq, e.json(store.pending_webhooks(&e.type_))))
        .collect();
    store::list("/v1/events", items)
}

/// `enabled_events[]`: at least one, each a type Stripe sends or `*`.
fn enabled_events(p: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = p.get("enabled_events") else {
        return Ok(None);
    };
    let events: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    if let Some(bad) = events.iter().find(|e| {
        *e != "*"
            && !(e.contains('.')
                && e.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
    }) {
        return Err(ApiError::invalid_param(
            "enabled_events",
            format!("Invalid enabled_events: `{bad}` is not an event type."),
        ));
    }
    Ok(Some(events))
}

fn create_endpoint(store: &mut Store, p: &Value) -> ApiResult {
    let url = absolute_url(p, "url")?;
    let enabled_events = enabled_events(p)?.ok_or_else(|| ApiError::missing("enabled_events"))?;
    let endpoint = Endpoint {
        id: store::new_id("we"),
        url,
        secret: store::new_id("whsec"),
        enabled_events,
        created: store.now(),
        disabled: false,
        api_version: string(p, "api_version"),
        description: string(p, "description").filter(|d| !d.is_empty()),
    };
    let json = endpoint.json(true);
    store.endpoints.insert(endpoint.id.clone(), endpoint);
    Ok(json)
}

fn update_endpoint(store: &mut Store, id: &str, p: &Value) -> ApiResult {
    let events = enabled_events(p)?;
    let url = match p.get("url") {
        Some(_) => Some(absolute_url(p, "url")?),
        None => None,
    };
    let disabled = boolean(p, "disabled")?;
    let endpoint = store
        .endpoints
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("webhook_endpoint", id))?;
    if let Some(events) = events {
        endpoint.enabled_events = events;
    }
    if let Some(url) = url {
        endpoint.url = url;
    }
    if let Some(disabled) = disabled {
        endpoint.disabled = disabled;
    }
    if let Some(d) = string(p, "description") {
        endpoint.description = Some(d).filter(|d| !d.is_empty());
    }
    Ok(endpoint.json(false))
}

fn create_promotion_code(store: &mut Store, p: &Value) -> ApiResult {
    // The current API nests the coupon under `promotion`; older clients send `coupon`.
    let coupon = p
        .get("promotion")
        .and_then(|pr| pr.get("coupon"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| string(p, "coupon"))
        .ok_or_else(|| ApiError::missing("promotion[coupon]"))?;
    if !store.coupons.contains_key(&coupon) {
        return Err(ApiError::no_such_param(
            "coupon",
            &coupon,
            "promotion[coupon]",
        ));
    }
    let code = string(p, "code").unwrap_or_else(|| store::new_id("PROMO").to_uppercase());
    if store
        .promotion_codes
        .values()
        .any(|c| c.active && c.code.eq_ignore_ascii_case(&code))
    {
        return Err(ApiError::invalid_param(
            "code",
            "An active promotion code with `code` already exists.",
        ));
    }
    let promo = PromotionCode {
        id: store::new_id("promo"),
        code,
        coupon,
        active: boolean(p, "active")?.unwrap_or(true),
        created: store.now(),
    };
    let json = promo.json(store);
    store.promotion_codes.insert(promo.id.clone(), promo);
    store.emit("promotion_code.created", json.clone(), None);
    Ok(json)
}

fn list_promotion_codes(store: &Store, p: &Value) -> Value {
    let code = p.get("code").and_then(Value::as_str);
    let items = store
        .promotion_codes
        .values()
        .filter(|c| code.is_none_or(|x| c.code.eq_ignore_ascii_case(x)))
        .map(|c| (c.created as u64, c.json(store)))
        .collect();
    store::list("/v1/promotion_codes", items)
}

fn create_portal_session(api: &Api, store: &mut Store, p: &Value) -> ApiResult {
    let customer = required(p, "customer")?;
    if !store.customers.contains_key(&customer) {
        return Err(ApiError::no_such_param("customer", &customer, "customer"));
    }
    let return_url = match p.get("return_url") {
        Some(_) => Some(absolute_url(p, "return_url")?),
        None => None,
    };
    let configuration = portal_config::for_session(store, string(p, "configuration").as_deref())?;
    let session = PortalSession {
        id: store::new_id("bps"),
        customer,
        return_url,
        configuration,
        created: store.now(),
    };
    let json = session.json(&api.base_url);
    store.portal_sessions.insert(session.id.clone(), session);
    Ok(json)
}
