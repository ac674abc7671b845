//! `/`: what we sell, and the way to pricing.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::{Meta, Title};

use crate::model::catalog::Catalog;

#[component]
pub fn HomePage() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    let product = catalog.product.clone();
    view! {
        <Title text=product.name.clone()/>
        <Meta name="description" content=product.pitch.clone()/>
        <section class="hero">
            <h1>{product.headline}</h1>
            <p class="lead">{product.pitch}</p>
            <p><a class="button primary" href="/pricing">"See pricing"</a></p>
        </section>
        <section class="highlights" aria-label="Why people choose us">
            <ul>
                {product.highlights.into_iter().map(|h| view! { <li>{h}</li> }).collect_view()}
            </ul>
        </section>
    }
}
