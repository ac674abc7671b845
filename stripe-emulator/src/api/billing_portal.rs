//! `/v1/billing_portal/sessions` and `/v1/billing_portal/configurations`: a link to the hosted
//! portal for one customer, and what that portal lets them do (see `portal_config`).

use serde_json::Value;

use super::params::{absolute_url, get, required, string};
use super::{Api, ApiResult};
use crate::error::ApiError;
use crate::objects::PortalSession;
use crate::portal_config;
use crate::store::{self, Store};

pub(super) fn route(
    api: &Api,
    store: &mut Store,
    method: &str,
    path: &[&str],
    p: &Value,
) -> Option<ApiResult> {
    Some(match (method, path) {
        ("POST", ["sessions"]) => create_session(api, store, p),
        ("POST", ["configurations"]) => portal_config::create(store, p),
        ("GET", ["configurations"]) => Ok(portal_config::list(store, p)),
        ("GET", ["configurations", id]) => get(
            &store.portal_configurations,
            "billing_portal.configuration",
            id,
        )
        .map(portal_config::Configuration::json),
        ("POST", ["configurations", id]) => portal_config::update(store, id, p),
        _ => return None,
    })
}

fn create_session(api: &Api, store: &mut Store, p: &Value) -> ApiResult {
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
