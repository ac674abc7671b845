//! `/app`: the product area, open to whoever `model::access` says may use it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::billing::load_app_access;
use crate::model::error::AppError;

#[component]
pub fn ProductPage() -> impl IntoView {
    let access = Resource::new_blocking(|| (), |()| load_app_access());
    view! {
        <Title text="Your workspace"/>
        <section class="product">
            <Suspense fallback=|| view! { <p>"Opening…"</p> }>
                {move || Suspend::new(async move {
                    match access.await {
                        Ok(a) if a.open => {
                            view! {
                                <h1>"Your workspace"</h1>
                                <p class="access open">
                                    "Plan: " <strong>{a.plan.unwrap_or_default()}</strong>
                                </p>
                                <p>{a.detail}</p>
                                <h2>"Your plan includes"</h2>
                                <dl class="entitlements">
                                    {a.entitlements
                                        .into_iter()
                                        .map(|(name, value)| view! { <dt>{name}</dt> <dd>{value}</dd> })
                                        .collect_view()}
                                </dl>
                                <p><a href="/billing">"Billing"</a></p>
                            }
                                .into_any()
                        }
                        Ok(a) => {
                            view! {
                                <h1>"This area is for subscribers"</h1>
                                <p class="access closed">{a.detail}</p>
                                <p><a class="button primary" href="/pricing">"See plans"</a></p>
                            }
                                .into_any()
                        }
                        Err(AppError::Unauthorized(_)) => {
                            view! {
                                <h1>"This area is for subscribers"</h1>
                                <p><a href="/sign-in">"Sign in"</a> " or " <a href="/pricing">"see plans"</a> "."</p>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
