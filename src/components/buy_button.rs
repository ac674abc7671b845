//! The buy button: an island. Hydrated, it calls `create_checkout`, shows progress and any
//! failure in place, then sends the browser to Checkout. With JavaScript off it is the same form,
//! posted plainly; the server function answers with a redirect.

use leptos::prelude::*;

use crate::api::checkout::CreateCheckout;

#[island]
pub fn BuyButton(
    price: String,
    label: String,
    coupon: Option<String>,
    disabled: bool,
) -> impl IntoView {
    let action = ServerAction::<CreateCheckout>::new();
    let pending = action.pending();
    let error = move || {
        action
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|e| e.to_string())
    };
    Effect::new(move |_| {
        if let Some(Ok(url)) = action.value().get() {
            let _ = window().location().set_href(&url);
        }
    });
    let button_label = label.clone();
    view! {
        <ActionForm action=action attr:class="buy">
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
            {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </ActionForm>
    }
}
