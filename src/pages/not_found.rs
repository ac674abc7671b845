//! The page for any path we do not serve, with a 404 status.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    // The status travels with the server render; the browser build never renders this page.
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found"/>
        <section class="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. The plans are on the pricing page."</p>
            <p><a class="button" href="/pricing">"See pricing"</a> " " <a href="/">"Home"</a></p>
        </section>
    }
}
