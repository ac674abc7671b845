//! The header and footer on every page.

use std::sync::Arc;

use leptos::prelude::*;

use crate::model::billing::BillingMode;
use crate::model::catalog::Catalog;

#[component]
pub fn Nav() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    let badge = use_context::<BillingMode>().and_then(BillingMode::badge);
    view! {
        <header class="site-header">
            {badge.map(|text| view! { <p class="test-mode" role="status">{text}</p> })}
            <a class="skip-link" href="#main">"Skip to content"</a>
            <nav aria-label="Main">
                <a class="brand" href="/">{catalog.product.name.clone()}</a>
                <ul>
                    <li><a href="/pricing">"Pricing"</a></li>
                </ul>
            </nav>
        </header>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    view! {
        <footer class="site-footer">
            <p>{catalog.product.name.clone()}" · Payments are handled by Stripe."</p>
        </footer>
    }
}
