//! `/admin/events`: the webhook event log for the operators in `ADMIN_EMAILS`: recent events,
//! failures with their error, and a retry button for each failure.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::billing::admin_events;

#[component]
pub fn AdminEventsPage() -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let failed_only = query.get("failed").as_deref() == Some("1");
    let notice = query.get("notice");
    let events = Resource::new_blocking(move || failed_only, admin_events);
    view! {
        <Title text="Webhook events"/>
        <section class="admin">
            <h1>"Webhook events"</h1>
            {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <nav aria-label="Filter">
                <a href="/admin/events">"All"</a> " · " <a href="/admin/events?failed=1">"Failures only"</a>
            </nav>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p>"No events."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="events">
                                <thead>
                                    <tr>
                                        <th scope="col">"Event"</th><th scope="col">"Type"</th><th scope="col">"Received"</th>
                                        <th scope="col">"Applied"</th><th scope="col">"Attempts"</th><th scope="col">"Error"</th>
                                        <th scope="col"><span class="visually-hidden">"Action"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|e| {
                                        let failed = e.processed.is_none();
                                        view! {
                                            <tr class:failed=failed>
                                                <td><code>{e.id.clone()}</code></td>
                                                <td>{e.kind}</td>
                                                <td>{e.received}</td>
                                                <td>{e.processed.unwrap_or_else(|| "not applied".into())}</td>
                                                <td>{e.attempts}</td>
                                                <td>{e.last_error.unwrap_or_default()}</td>
                                                <td>
                                                    {failed.then(|| view! {
                                                        <form method="post" action="/api/admin/retry">
                                                            <input type="hidden" name="id" value=e.id.clone()/>
                                                            <button type="submit" aria-label=format!("Retry {}", e.id)>"Retry"</button>
                                                        </form>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
