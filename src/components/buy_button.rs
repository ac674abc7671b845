//! The buy button: an island. Hydrated, it posts the form itself (`fetch`, asking for JSON), shows
//! progress and any failure in place, then sends the browser to Checkout. With JavaScript off it
//! is the same form, posted plainly; the server function answers with a redirect.
//!
//! Written against `fetch` directly rather than with `ServerAction`/`ActionForm`: those bring the
//! server-function client and the router's form machinery into the wasm, which quadrupled the
//! bytes every visitor downloads for one button.

use leptos::prelude::*;

/// The buy form's endpoint: `api::checkout::create_checkout`.
const ENDPOINT: &str = "/api/checkout";

#[island]
pub fn BuyButton(
    price: String,
    label: String,
    coupon: Option<String>,
    disabled: bool,
) -> impl IntoView {
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let on_submit = {
        let (price, coupon) = (price.clone(), coupon.clone());
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if pending.get_untracked() {
                return;
            }
            pending.set(true);
            error.set(None);
            let (price, coupon) = (price.clone(), coupon.clone());
            leptos::task::spawn_local(async move {
                match start_checkout(&price, coupon.as_deref()).await {
                    Ok(url) => {
                        let _ = window().location().set_href(&url);
                    }
                    Err(message) => {
                        error.set(Some(message));
                        pending.set(false);
                    }
                }
            });
        }
    };
    let button_label = label.clone();
    view! {
        <form method="post" action=ENDPOINT class="buy" on:submit=on_submit>
            <input type="hidden" name="price" value=price/>
            {coupon.map(|c| view! { <input type="hidden" name="coupon" value=c/> })}
            <button
                class="button primary"
                type="submit"
                disabled=move || disabled || pending.get()
                aria-busy=move || pending.get().to_string()
            >
                {move || if pending.get() { "Opening checkout…".to_string() } else { button_label.clone() }}
            </button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// Posts the buy form as the server function expects it (URL-encoded, JSON answer): the
/// Checkout URL, or the server's message for a refusal.
#[cfg(feature = "hydrate")]
async fn start_checkout(price: &str, coupon: Option<&str>) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    const UNREACHABLE: &str = "The server could not be reached. Please try again.";
    let unreachable = |_| UNREACHABLE.to_string();
    let body = web_sys::UrlSearchParams::new().map_err(unreachable)?;
    body.append("price", price);
    if let Some(coupon) = coupon {
        body.append("coupon", coupon);
    }
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers
        .set("Accept", "application/json")
        .map_err(unreachable)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body);
    init.set_headers(&headers);
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str_and_init(ENDPOINT, &init))
            .await
            .map_err(unreachable)?
            .dyn_into()
            .map_err(unreachable)?;
    let json = JsFuture::from(response.json().map_err(unreachable)?)
        .await
        .map_err(|_| format!("The server answered {}.", response.status()))?;
    if response.ok() {
        json.as_string().ok_or_else(|| UNREACHABLE.to_string())
    } else {
        // An error is `{"Kind": "message"}` (`model::error::AppError`).
        let object: js_sys::Object = json.unchecked_into();
        let message = js_sys::Object::values(&object).get(0).as_string();
        Err(message.unwrap_or_else(|| format!("The server answered {}.", response.status())))
    }
}

/// The server renders the form; it never submits it.
#[cfg(not(feature = "hydrate"))]
async fn start_checkout(_price: &str, _coupon: Option<&str>) -> Result<String, String> {
    Err(String::new())
}
