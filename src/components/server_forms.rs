//! Forms whose server function answers with the URL to go to: the buy button
//! (`create_checkout`), "Manage billing" (`create_portal`), the change-plan confirmation
//! (`change_plan`) and keeping the plan a change is scheduled away from (`keep_plan`).
//!
//! Each is a plain HTML form posting to its server function's route (taken from the generated
//! `ServerFn::PATH`, so it cannot drift), wrapped in a small island. With JavaScript off (or
//! before the wasm arrives) the form posts and the server answers with a redirect. Hydrated, the
//! island takes the form's submit and posts the same fields with `fetch`, asking for JSON: the
//! button shows progress (`aria-busy` and a busy label), a refusal (the typed `AppError`) appears
//! in place, and success sends the browser to the URL.
//!
//! Why not Leptos's generated client (`create_checkout(price, coupon).await`): it brings
//! `serde_qs`, `serde_json`, `gloo-net` and `http` into the wasm. Measured with the release build,
//! `/pricing`'s JS+WASM went from 58,292 B to 99,325 B gzip (landing.wasm 93,289 B), past the
//! 69,000 B budget. The island speaks the same protocol (URL-encoded fields in, JSON out, an
//! error as `AppError`'s JSON) in a few hundred bytes, and `AppError::from_kind` decodes the
//! error by its variant's name.
//!
//! The form is rendered by the server as the island's children and the island reads it from the
//! DOM: islands take no props (island props are JSON, and their parser was a fifth of the wasm)
//! and keep no reactive state.

use leptos::prelude::*;
use server_fn::ServerFn;

use crate::api::billing::{ChangePlan, CreatePortal, KeepPlan};
use crate::api::checkout::CreateCheckout;

/// `create_checkout`'s route: the buy form posts there.
const CHECKOUT: &str = <CreateCheckout as ServerFn>::PATH;
/// `create_portal`'s route.
pub const PORTAL: &str = <CreatePortal as ServerFn>::PATH;
/// `change_plan`'s route.
pub const CHANGE_PLAN: &str = <ChangePlan as ServerFn>::PATH;
/// `keep_plan`'s route.
pub const KEEP_PLAN: &str = <KeepPlan as ServerFn>::PATH;

#[component]
pub fn BuyButton(
    price: String,
    label: String,
    coupon: Option<String>,
    disabled: bool,
) -> impl IntoView {
    view! {
        <CheckoutForm>
            <form method="post" action=CHECKOUT class="buy">
                <input type="hidden" name="price" value=price/>
                {coupon.map(|c| view! { <input type="hidden" name="coupon" value=c/> })}
                <button class="button primary" type="submit" disabled=disabled>
                    {label}
                </button>
            </form>
        </CheckoutForm>
    }
}

/// Takes over the buy form inside it (submit events bubble up to this wrapper).
#[island]
pub fn CheckoutForm(children: Children) -> impl IntoView {
    view! { <div class="island" on:submit=client::checkout>{children()}</div> }
}

/// Takes over the "Manage billing" form inside it.
#[island]
pub fn PortalForm(children: Children) -> impl IntoView {
    view! { <div class="island" on:submit=client::portal>{children()}</div> }
}

/// Takes over the change-plan confirmation form inside it.
#[island]
pub fn ChangePlanForm(children: Children) -> impl IntoView {
    view! { <div class="island" on:submit=client::change_plan>{children()}</div> }
}

/// Takes over the "Keep …" form of a change scheduled for the period's end.
#[island]
pub fn KeepPlanForm(children: Children) -> impl IntoView {
    view! { <div class="island" on:submit=client::keep_plan>{children()}</div> }
}

/// The server renders the forms; only the browser handles their submit.
#[cfg(not(feature = "hydrate"))]
mod client {
    use leptos::ev::SubmitEvent;

    pub fn checkout(_: SubmitEvent) {}
    pub fn portal(_: SubmitEvent) {}
    pub fn change_plan(_: SubmitEvent) {}
    pub fn keep_plan(_: SubmitEvent) {}
}

#[cfg(feature = "hydrate")]
mod client {
    use leptos::ev::SubmitEvent;
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{FormData, HtmlFormElement, Response};

    use crate::model::error::AppError;

    pub fn checkout(ev: SubmitEvent) {
        submit(ev, "Opening checkout…");
    }

    pub fn portal(ev: SubmitEvent) {
        submit(ev, "Opening the billing portal…");
    }

    pub fn change_plan(ev: SubmitEvent) {
        submit(ev, "Changing your plan…");
    }

    pub fn keep_plan(ev: SubmitEvent) {
        submit(ev, "Keeping your plan…");
    }

    /// Takes the form's submit: marks its button busy, calls the form's server function with
    /// its fields, then goes to the URL, or shows the refusal under the form and gives the
    /// button back.
    fn submit(ev: SubmitEvent, busy: &'static str) {
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
        else {
            // Not a form: let the browser do what it does.
            return;
        };
        let Ok(Some(button)) = form.query_selector("button") else {
            // Let the browser post the form itself.
            return;
        };
        ev.prevent_default();
        // Already working (a double click): one call is enough.
        if button.has_attribute("disabled") {
            return;
        }
        if let Ok(Some(old)) = form.query_selector("[role=alert]") {
            old.remove();
        }
        let label = button.text_content().unwrap_or_default();
        let _ = button.set_attribute("disabled", "");
        let _ = button.set_attribute("aria-busy", "true");
        button.set_text_content(Some(busy));
        leptos::task::spawn_local(async move {
            match call(&form).await {
                Ok(url) => {
                    let _ = window().location().set_href(&url);
                }
                Err(refusal) => {
                    let _ = button.remove_attribute("disabled");
                    let _ = button.set_attribute("aria-busy", "false");
                    button.set_text_content(Some(&label));
                    if let Ok(alert) = document().create_element("p") {
                        let _ = alert.set_attribute("class", "error");
                        let _ = alert.set_attribute("role", "alert");
                        alert.set_text_content(Some(&refusal.to_string()));
                        let _ = form.append_child(&alert);
                    }
                }
            }
        });
    }

    /// Posts the form's fields to its server function as the generated client would
    /// (URL-encoded, asking for JSON): the URL to go to, or the server's `AppError`.
    async fn call(form: &HtmlFormElement) -> Result<String, AppError> {
        let unreachable =
            |_| AppError::Unavailable("The server could not be reached. Please try again.".into());
        let unreadable = |_| {
            AppError::Unavailable("The server's answer could not be read. Please try again.".into())
        };
        let fields = FormData::new_with_form(form).map_err(unreachable)?;
        let body = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&fields)
            .map_err(unreachable)?;
        let headers = web_sys::Headers::new().map_err(unreachable)?;
        headers
            .set("Accept", "application/json")
            .map_err(unreachable)?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&body);
        init.set_headers(&headers);
        let endpoint = form.get_attribute("action").unwrap_or_default();
        let response: Response = JsFuture::from(window().fetch_with_str_and_init(&endpoint, &init))
            .await
            .map_err(unreachable)?
            .dyn_into()
            .map_err(unreachable)?;
        let json = JsFuture::from(response.json().map_err(unreadable)?)
            .await
            .map_err(unreadable)?;
        if response.ok() {
            return json.as_string().ok_or_else(|| unreadable(JsValue::NULL));
        }
        // `AppError` as serde writes it: `"Internal"`, or `{"Kind": "message"}`.
        if let Some(kind) = json.as_string() {
            return Err(AppError::from_kind(&kind, String::new()));
        }
        let entry = js_sys::Object::entries(json.unchecked_ref::<js_sys::Object>()).get(0);
        let entry: &js_sys::Array = entry.unchecked_ref();
        match (entry.get(0).as_string(), entry.get(1).as_string()) {
            (Some(kind), Some(message)) => Err(AppError::from_kind(&kind, message)),
            _ => Err(unreadable(JsValue::NULL)),
        }
    }
}
