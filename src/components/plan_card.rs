//! One plan on the pricing page.

use leptos::prelude::*;

use crate::components::server_forms::BuyButton;
use crate::model::catalog::{Billing, Interval, Plan};

/// What the card offers the visitor.
enum Offer {
    /// A Checkout for this price.
    Buy(String, String),
    /// The subscriber's own price: nothing to buy.
    Current,
    /// A subscriber's other recurring prices: a change of plan, not a second subscription.
    Switch(String, String),
}

#[component]
pub fn PlanCard(
    plan: Plan,
    billing: Billing,
    coupon: Option<String>,
    buying_enabled: bool,
    /// The price the visitor subscribes to (lookup key), if any.
    subscribed: Option<String>,
    /// For a one-time plan that entitles to at least as much as the visitor's subscription: the
    /// subscribed plan's name. Buying it sets that subscription to cancel at its period's end,
    /// which the card says before the buyer pays.
    ends_subscription: Option<String>,
) -> impl IntoView {
    let heading_id = format!("plan-{}", plan.id);
    let labelled_by = heading_id.clone();
    let price = plan.price_for(billing).cloned();
    let offer = price.as_ref().map(|p| match (&subscribed, p.interval) {
        (_, Interval::OneTime) => Offer::Buy(p.lookup_key.clone(), format!("Buy {}", plan.name)),
        (Some(current), _) if *current == p.lookup_key => Offer::Current,
        (Some(_), _) => Offer::Switch(
            format!("/billing/change?price={}", p.lookup_key),
            format!("Switch to {}", plan.name),
        ),
        (None, _) => Offer::Buy(p.lookup_key.clone(), format!("Subscribe to {}", plan.name)),
    });
    // A trial is for a first subscription: not offered to someone who has one.
    let trial = price
        .as_ref()
        .and_then(|p| p.trial_days)
        .filter(|_| subscribed.is_none())
        .map(|days| format!("{days}-day free trial"));
    let ends_note = ends_subscription.map(|name| {
        format!(
            "Buying {} ends your {name} subscription at the end of its current period: it is not renewed and nothing more is charged for it.",
            plan.name
        )
    });
    // The plan is the subscriber's, at another interval than this view shows.
    let plan_is_current = subscribed
        .as_deref()
        .is_some_and(|key| plan.prices.iter().any(|p| p.lookup_key == key));
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
            {trial.map(|t| view! { <p class="trial">{t}</p> })}
            {ends_note.map(|note| view! { <p class="notice">{note}</p> })}
            <ul class="features">
                {plan.features.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}
            </ul>
            {match offer {
                Some(Offer::Current) => view! { <p class="current">"Your current plan"</p> }.into_any(),
                Some(Offer::Switch(href, label)) => {
                    view! {
                        {plan_is_current.then(|| view! { <p class="current">"Your current plan, billed differently"</p> })}
                        <a class="button primary" href=href>{label}</a>
                    }
                        .into_any()
                }
                Some(Offer::Buy(price, label)) => {
                    view! { <BuyButton price label coupon disabled=!buying_enabled/> }.into_any()
                }
                None => ().into_any(),
            }}
        </article>
    }
}
