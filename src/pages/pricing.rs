//! `/pricing`: the plans from `plans.toml`, rendered on the server so they read without JavaScript.

use std::cmp::Ordering;
use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::checkout::current_price;
use crate::components::plan_card::PlanCard;
use crate::model::billing::BillingMode;
use crate::model::catalog::{Billing, Catalog, Interval, Plan};
use crate::model::checkout::CheckoutProblem;
use crate::model::entitlements::compare;

#[component]
pub fn PricingPage() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    let query = use_query_map().read_untracked().clone();
    let billing = Billing::from_query(query.get("interval").as_deref());
    // Only the catalog's coupons are advertised (and accepted by checkout).
    let coupon = query.get("coupon").filter(|c| catalog.coupon(c).is_some());
    let canceled = query.get("canceled").is_some();
    // A code from a fixed set, never text from the address.
    let checkout_error = query
        .get("checkout_error")
        .and_then(|code| CheckoutProblem::from_code(&code))
        .map(CheckoutProblem::message);
    let buying_enabled = use_context::<BillingMode>() != Some(BillingMode::Off)
        && use_context::<BillingMode>().is_some();
    let title = format!("Pricing — {}", catalog.product.name);
    let current = Resource::new_blocking(|| (), |()| current_price());
    view! {
        <Title text=title/>
        <section class="pricing">
            <h1>"Pricing"</h1>
            <p class="lead">"Pick a plan. Change or cancel it any time from your billing page."</p>
            {canceled
                .then(|| {
                    view! {
                        <p class="notice" role="status">
                            "Checkout was canceled and nothing was charged. Pick a plan whenever you are ready."
                        </p>
                    }
                })}
            {checkout_error
                .map(|e| view! { <p class="error" role="alert">"Checkout could not start: " {e}</p> })}
            {(!buying_enabled)
                .then(|| {
                    view! {
                        <p class="notice" role="status">
                            "Buying is turned off on this site for now: payments are not set up."
                        </p>
                    }
                })}
            {coupon
                .clone()
                .map(|c| view! { <p class="notice">"Coupon " <strong>{c}</strong> " will be applied at checkout."</p> })}
            <IntervalSwitch billing/>
            <Suspense fallback=|| ()>
                {move || {
                    let catalog = catalog.clone();
                    let coupon = coupon.clone();
                    Suspend::new(async move {
                        let current = current.await.ok().flatten();
                        view! {
                            <div class="plans">
                                {catalog
                                    .plans
                                    .iter()
                                    .cloned()
                                    .map(|plan| {
                                        let ends_subscription = ends_subscription(
                                            &catalog,
                                            &plan,
                                            current.as_deref(),
                                        );
                                        view! {
                                            <PlanCard
                                                plan
                                                billing
                                                coupon=coupon.clone()
                                                buying_enabled
                                                subscribed=current.clone()
                                                ends_subscription
                                            />
                                        }
                                    })
                                    .collect_view()}
                            </div>
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// The name of the plan a subscriber to `subscribed` would stop renewing by buying `plan`: a
/// one-time plan that entitles to at least as much (`model::entitlements::compare`) replaces the
/// subscription, which is then set to cancel at its period's end.
fn ends_subscription(catalog: &Catalog, plan: &Plan, subscribed: Option<&str>) -> Option<String> {
    let current = catalog.plan_of(subscribed?)?;
    let one_time = plan.prices.iter().any(|p| p.interval == Interval::OneTime);
    let at_least = compare(&plan.entitlements, &current.entitlements) != Ordering::Less;
    (one_time && at_least && current.id != plan.id).then(|| current.name.clone())
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
