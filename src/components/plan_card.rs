//! One plan on the pricing page.

use leptos::prelude::*;

use crate::model::catalog::{Billing, Plan};

#[component]
pub fn PlanCard(plan: Plan, billing: Billing) -> impl IntoView {
    let heading_id = format!("plan-{}", plan.id);
    let labelled_by = heading_id.clone();
    let price = plan.price_for(billing).cloned();
    view! {
        <article
            class="plan"
            class:highlighted=plan.highlighted
            aria-labelledby=labelled_by
        >
            {plan.highlighted.then(|| view! { <p class="badge">"Most popular"</p> })}
            <h2 id=heading_id>{plan.name}</h2>
            <p class="tagline">{plan.tagline}</p>
            {price
                .map(|price| {
                    view! {
                        <p class="price">
                            <span class="amount">{price.display_amount()}</span>
                            " "
                            <span class="period">{price.period_label()}</span>
                        </p>
                    }
                })}
            <ul class="features">
                {plan.features.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}
            </ul>
        </article>
    }
}
