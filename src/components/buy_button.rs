//! The buy button: a plain HTML form posting to the checkout server function, inside a small
//! island. With JavaScript off (or before the wasm arrives) the form posts and the server answers
//! with a redirect to Checkout. Hydrated, the island takes the form's submit: it posts the same
//! fields itself (`fetch`, asking for JSON), shows progress on the button and any refusal in
//! place, then sends the browser to Checkout. The change-plan confirmation uses the same island
//! (`ServerForm`): any form whose server function answers with the URL to go to.
//!
//! The form is rendered by the server as the island's children, and the island works on the DOM
//! it finds: it takes no props (island props are JSON, and their parser was a fifth of the wasm)
//! and keeps no reactive state. The whole wasm every visitor downloads is this file and Leptos's
//! islands loader.

use leptos::prelude::*;

/// The buy form's endpoint: `api::checkout::create_checkout`.
const ENDPOINT: &str = "/api/checkout";

#[component]
pub fn BuyButton(
    price: String,
    label: String,
    coupon: Option<String>,
    disabled: bool,
) -> impl IntoView {
    view! {
        <ServerForm>
            <form method="post" action=ENDPOINT class="buy" data-busy="Opening checkout…">
                <input type="hidden" name="price" value=price/>
                {coupon.map(|c| view! { <input type="hidden" name="coupon" value=c/> })}
                <button class="button primary" type="submit" disabled=disabled>
                    {label}
                </button>
            </form>
        </ServerForm>
    }
}

/// Takes over the submit of the form inside it (submit events bubble up to this wrapper): the
/// form's `action` is a server function that answers with a URL, and its `data-busy` is what
/// the button says meanwhile.
#[island]
pub fn ServerForm(children: Children) -> impl IntoView {
    view! {
        <div class="buy-island" on:submit=take_over>
            {children()}
        </div>
    }
}

#[cfg(not(feature = "hydrate"))]
fn take_over(_: leptos::ev::SubmitEvent) {}

#[cfg(feature = "hydrate")]
fn take_over(ev: leptos::ev::SubmitEvent) {
    use wasm_bindgen::JsCast;

    /// What the button says while the server works, unless the form says otherwise.
    const BUSY_LABEL: &str = "Working…";
    let Some(form) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
    else {
        // Not our form: let the browser post it.
        return;
    };
    ev.prevent_default();
    let Ok(Some(button)) = form.query_selector("button") else {
        return;
    };
    // Already opening checkout (a double click): one session is enough.
    if button.has_attribute("disabled") {
        return;
    }
    if let Ok(Some(old)) = form.query_selector("[role=alert]") {
        old.remove();
    }
    let label = button.text_content().unwrap_or_default();
    let busy = form
        .get_attribute("data-busy")
        .unwrap_or_else(|| BUSY_LABEL.to_string());
    let _ = button.set_attribute("disabled", "");
    let _ = button.set_attribute("aria-busy", "true");
    button.set_text_content(Some(&busy));
    leptos::task::spawn_local(async move {
        match post_form(&form).await {
            Ok(url) => {
                let _ = window().location().set_href(&url);
            }
            Err(message) => {
                let _ = button.remove_attribute("disabled");
                let _ = button.set_attribute("aria-busy", "false");
                button.set_text_content(Some(&label));
                if let Ok(alert) = document().create_element("p") {
                    let _ = alert.set_attribute("class", "error");
                    let _ = alert.set_attribute("role", "alert");
                    alert.set_text_content(Some(&message));
                    let _ = form.append_child(&alert);
                }
            }
        }
    });
}

/// Posts the form's fields as the server function expects them (URL-encoded, JSON answer): the
/// Checkout URL, or the server's message for a refusal.
#[cfg(feature = "hydrate")]
async fn post_form(form: &web_sys::HtmlFormElement) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    const UNREACHABLE: &str = "The server could not be reached. Please try again.";
    const UNREADABLE: &str = "The server's answer could not be read. Please try again.";
    let unreachable = |_| UNREACHABLE.to_string();
    let fields = web_sys::FormData::new_with_form(form).map_err(unreachable)?;
    let body =
        web_sys::UrlSearchParams::new_with_str_sequence_sequence(&fields).map_err(unreachable)?;
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers
        .set("Accept", "application/json")
        .map_err(unreachable)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body);
    init.set_headers(&headers);
    let endpoint = form
        .get_attribute("action")
        .unwrap_or_else(|| ENDPOINT.to_string());
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str_and_init(&endpoint, &init))
            .await
            .map_err(unreachable)?
            .dyn_into()
            .map_err(unreachable)?;
    let json = JsFuture::from(response.json().map_err(|_| UNREADABLE.to_string())?)
        .await
        .map_err(|_| UNREADABLE.to_string())?;
    if response.ok() {
        json.as_string().ok_or_else(|| UNREADABLE.to_string())
    } else {
        // An error is `{"Kind": "message"}` (`model::error::AppError`).
        let object: js_sys::Object = json.unchecked_into();
        Err(js_sys::Object::values(&object)
            .get(0)
            .as_string()
            .unwrap_or_else(|| UNREADABLE.to_string()))
    }
}
