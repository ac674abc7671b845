//! One plan on the pricing page.

use leptos::prelude::*;

use crate::components::buy_button::BuyButton;
use crate::model::catalog::{Billing, Interval, Plan};

#[component]
pub fn PlanCard(
    plan: Plan,
    billing: Billing,
    coupon: Option<String>,
    buying_enabled: bool,
    current: bool,
) -> impl IntoView {
    let heading_id = format!("plan-{}", plan.id);
    let labelled_by = heading_id.clone();
    let price = plan.price_for(billing).cloned();
    let buy = price.as_ref().map(|p| {
        let label = match p.interval {
            Interval::OneTime => format!("Buy {}", plan.name),
            _ => format!("Subscribe to {}", plan.name),
        };
        (p.lookup_key.clone(), label)
    });
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
            {current.then(|| view! { <p class="current">"Your current plan"</p> })}
            {buy
                .map(|(price, label)| {
                    view! { <BuyButton price label coupon disabled=!buying_enabled/> }
                })}
        </article>
    }
}
