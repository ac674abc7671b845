//! `/app`: the product area, open to whoever `model::access` says may use it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::billing::load_app_access;
use crate::model::error::AppError;

#[component]
pub fn ProductPage() -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let error = query.get("error").filter(|e| e.len() <= 300);
    let added = query.get("added").is_some();
    let access = Resource::new_blocking(|| (), |()| load_app_access());
    view! {
        <Title text="Your workspace"/>
        <section class="product">
            <Suspense fallback=|| view! { <p>"Opening…"</p> }>
                {move || {
                    let error = error.clone();
                    Suspend::new(async move {
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
                                    <h2>"Monitors"</h2>
                                    {error.map(|e| view! {
                                        <p class="error" role="alert">{e} " " <a href="/pricing">"See plans"</a></p>
                                    })}
                                    {added.then(|| view! { <p class="notice" role="status">"Monitor added."</p> })}
                                    <p class="monitor-count">
                                        {format!("{} of {} monitors", a.monitors.len(), a.monitors_allowed)}
                                    </p>
                                    <ul class="monitors">
                                        {a.monitors.into_iter().map(|url| view! { <li>{url}</li> }).collect_view()}
                                    </ul>
                                    <form method="post" action="/api/app/monitors" class="add-monitor">
                                        <label for="monitor-url">"URL to watch"</label>
                                        <input id="monitor-url" name="url" type="url" required placeholder="https://example.com/health"/>
                                        <button class="button" type="submit">"Add monitor"</button>
                                    </form>
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
                    })
                }}
            </Suspense>
        </section>
    }
}
