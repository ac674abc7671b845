//! `/pricing`: the plans from `plans.toml`, rendered on the server so they read without JavaScript.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::plan_card::PlanCard;
use crate::model::catalog::{Billing, Catalog};

#[component]
pub fn PricingPage() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    let billing = Billing::from_query(use_query_map().read_untracked().get("interval").as_deref());
    let title = format!("Pricing — {}", catalog.product.name);
    view! {
        <Title text=title/>
        <section class="pricing">
            <h1>"Pricing"</h1>
            <p class="lead">"Pick a plan. Change or cancel it any time from your billing page."</p>
            <IntervalSwitch billing/>
            <div class="plans">
                {catalog
                    .plans
                    .iter()
                    .cloned()
                    .map(|plan| view! { <PlanCard plan billing/> })
                    .collect_view()}
            </div>
        </section>
    }
}

/// Monthly / yearly as two links, so it works with JavaScript off and can be shared as a URL.
#[component]
fn IntervalSwitch(billing: Billing) -> impl IntoView {
    let option = move |choice: Billing, label: &'static str| {
        let current = (choice == billing).then_some("page");
        view! {
            <a href=format!("/pricing?interval={}", choice.query_value()) aria-current=current>
                {label}
            </a>
        }
    };
    view! {
        <nav class="interval-switch" aria-label="Billing interval">
            {option(Billing::Monthly, "Monthly")}
            {option(Billing::Yearly, "Yearly")}
        </nav>
    }
}
