//! Forms whose server function answers with the URL to go to: the buy button
//! (`create_checkout`), "Manage billing" (`create_portal`) and the change-plan confirmation
//! (`change_plan`).
//!
//! Each is a plain HTML form posting to its server function, wrapped in a small island. With
//! JavaScript off (or before the wasm arrives) the form posts and the server answers with a
//! redirect. Hydrated, the island takes the form's submit and calls the server function through
//! Leptos's generated client: the button shows progress (`aria-busy` and a busy label), a refusal
//! (the typed `AppError`) appears in place, and success sends the browser to the URL.
//!
//! The form is rendered by the server as the island's children and the island reads its fields
//! from the DOM: islands take no props (island props are JSON, and their parser was a fifth of
//! the wasm) and keep no reactive state.

use leptos::prelude::*;

/// `api::checkout::create_checkout`'s route: the buy form posts there without JavaScript.
const CHECKOUT: &str = "/api/checkout";
/// `api::billing::create_portal`'s route.
pub const PORTAL: &str = "/api/billing/portal";
/// `api::billing::change_plan`'s route.
pub const CHANGE_PLAN: &str = "/api/billing/change";

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

/// The server renders the forms; only the browser handles their submit.
#[cfg(not(feature = "hydrate"))]
mod client {
    use leptos::ev::SubmitEvent;

    pub fn checkout(_: SubmitEvent) {}
    pub fn portal(_: SubmitEvent) {}
    pub fn change_plan(_: SubmitEvent) {}
}

#[cfg(feature = "hydrate")]
mod client {
    use std::future::Future;
    use std::pin::Pin;

    use leptos::ev::SubmitEvent;
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{FormData, HtmlFormElement};

    use crate::api::billing::{change_plan as change_plan_fn, create_portal};
    use crate::api::checkout::create_checkout;
    use crate::model::error::AppError;

    /// A server function's call, already made: the URL to go to, or the refusal.
    type Call = Pin<Box<dyn Future<Output = Result<String, AppError>>>>;

    pub fn checkout(ev: SubmitEvent) {
        submit(ev, "Opening checkout…", |fields| {
            Box::pin(create_checkout(
                text(fields, "price"),
                fields.get("coupon").as_string(),
            ))
        });
    }

    pub fn portal(ev: SubmitEvent) {
        submit(ev, "Opening the billing portal…", |_| {
            Box::pin(create_portal())
        });
    }

    pub fn change_plan(ev: SubmitEvent) {
        submit(ev, "Changing your plan…", |fields| {
            match text(fields, "proration_date").parse() {
                Ok(date) => Box::pin(change_plan_fn(text(fields, "price"), date)),
                // The server rendered this field; without it the preview is stale.
                Err(_) => Box::pin(async {
                    Err(AppError::BadRequest(
                        "This page is out of date. Please reload it and confirm again.".into(),
                    ))
                }),
            }
        });
    }

    fn text(fields: &FormData, name: &str) -> String {
        fields.get(name).as_string().unwrap_or_default()
    }

    /// Takes the form's submit: marks its button busy, makes the call with the form's fields,
    /// then goes to the URL, or shows the refusal under the form and gives the button back.
    fn submit(ev: SubmitEvent, busy: &str, call: impl FnOnce(&FormData) -> Call) {
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
        else {
            // Not a form: let the browser do what it does.
            return;
        };
        let (Ok(Some(button)), Ok(fields)) = (
            form.query_selector("button"),
            FormData::new_with_form(&form),
        ) else {
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
        let call = call(&fields);
        leptos::task::spawn_local(async move {
            match call.await {
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
}
