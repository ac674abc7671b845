//! `/billing`: the plan, its status and dates, invoices with their hosted pages, one-time
//! purchases, and "Manage billing" (a plain form, so it works with JavaScript off).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::billing::{load_billing, preview_change};
use crate::components::server_forms::{
    ChangePlanForm, KeepPlanForm, PortalForm, CHANGE_PLAN, KEEP_PLAN, PORTAL,
};
use crate::model::billing::BillingOverview;
use crate::model::change::ChangePreview;
use crate::model::error::AppError;

#[component]
pub fn BillingPage() -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let refresh = query.get("from").as_deref() == Some("portal");
    let error = query.get("error");
    let changed = query.get("changed").is_some();
    let scheduled = query.get("scheduled").is_some();
    let kept = query.get("kept").is_some();
    let overview = Resource::new_blocking(move || refresh, load_billing);
    view! {
        <Title text="Billing"/>
        <section class="billing">
            <h1>"Billing"</h1>
            {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {changed.then(|| view! { <p class="notice" role="status">"Your plan has been changed."</p> })}
            {scheduled.then(|| view! { <p class="notice" role="status">"Your plan change is scheduled for the end of the period you have paid for."</p> })}
            {kept.then(|| view! { <p class="notice" role="status">"You keep your current plan."</p> })}
            <Suspense fallback=|| view! { <p>"Loading your billing…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(o) => view! { <Overview o/> }.into_any(),
                        Err(AppError::Unauthorized(_)) => {
                            view! {
                                <p>
                                    <a href="/sign-in">"Sign in"</a>
                                    " to see your plan, invoices and purchases."
                                </p>
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

#[component]
fn Overview(o: BillingOverview) -> impl IntoView {
    let manage = if o.has_customer {
        view! {
            <PortalForm>
                <form method="post" action=PORTAL>
                    <button class="button primary" type="submit">"Manage billing"</button>
                </form>
            </PortalForm>
            <p class="hint">
                "Update your card, cancel or resume in Stripe's customer portal, or "
                <a href="/pricing">"switch to another plan"</a> "."
            </p>
        }
        .into_any()
    } else {
        view! {
            // The JSON API's words for a user Stripe has never billed.
            <p class="notice" role="status">
                "You don't have a billing account yet. Make a purchase first."
            </p>
            <p><a class="button primary" href="/pricing">"See pricing"</a></p>
        }
        .into_any()
    };
    let access_class = if o.access_open {
        "access open"
    } else {
        "access closed"
    };
    view! {
        {o.stale.then(|| view! {
            <p class="notice" role="status">"Your billing could not be read from Stripe just now: this may not show your latest change yet."</p>
        })}
        <p class=access_class>{o.access}</p>
        {o.credit.map(|credit| view! {
            <p class="credit">"Credit balance: " {credit} " — used by your next invoices"</p>
        })}
        {manage}
        <h2>"Subscription"</h2>
        {if o.subscriptions.is_empty() {
            view! { <p>"No subscription."</p> }.into_any()
        } else {
            view! {
                <ul class="subscriptions">
                    {o.subscriptions
                        .into_iter()
                        .map(|s| view! {
                            <li class="subscription">
                                <strong>{s.plan}</strong>
                                " — "
                                <span class=format!("status {}", s.status)>{s.status_label}</span>
                                {s.when.map(|w| view! { <p>{w}</p> })}
                                {s.trial_ends.map(|t| view! { <p>"Trial ends on " {t}</p> })}
                                {s.scheduled.map(|c| view! {
                                    <p class="scheduled">{format!("Changes to {} on {}", c.to, c.on)}</p>
                                    <KeepPlanForm>
                                        <form method="post" action=KEEP_PLAN>
                                            <button class="button" type="submit">{format!("Keep {}", c.keep)}</button>
                                        </form>
                                    </KeepPlanForm>
                                })}
                                {s.waiting.map(|w| view! {
                                    <p class="notice" role="status">
                                        {w.text}
                                        {w.url.map(|url| view! { " " <a href=url>"Complete the payment"</a> })}
                                        {w.until.map(|u| view! { " " {u} })}
                                    </p>
                                })}
                                {s.dispute.map(|d| view! { <p class="notice" role="status">{d}</p> })}
                            </li>
                        })
                        .collect_view()}
                </ul>
            }
                .into_any()
        }}
        <h2>"Invoices"</h2>
        {if o.invoices.is_empty() {
            view! { <p>"No invoices yet."</p> }.into_any()
        } else {
            view! {
                <table class="invoices">
                    <thead>
                        <tr><th scope="col">"Invoice"</th><th scope="col">"Date"</th><th scope="col">"Amount"</th><th scope="col">"Status"</th></tr>
                    </thead>
                    <tbody>
                        {o.invoices
                            .into_iter()
                            .map(|i| view! {
                                <tr>
                                    <td>
                                        {match i.url {
                                            Some(url) => view! { <a href=url>{i.number}</a> }.into_any(),
                                            None => view! { <span>{i.number}</span> }.into_any(),
                                        }}
                                    </td>
                                    <td>{i.date}</td>
                                    <td>{i.amount}</td>
                                    <td>{i.status}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
                .into_any()
        }}
        <h2>"One-time purchases"</h2>
        {if o.purchases.is_empty() {
            view! { <p>"None."</p> }.into_any()
        } else {
            view! {
                <ul class="purchases">
                    {o.purchases
                        .into_iter()
                        .map(|p| view! {
                            <li>{p.item} " — " {p.amount} " on " {p.date} " (" {p.status} ")"</li>
                        })
                        .collect_view()}
                </ul>
            }
                .into_any()
        }}
    }
}

/// `/billing/change?price=LOOKUP_KEY`: what switching to that plan costs today and at renewal,
/// from Stripe's invoice preview, and the button that confirms it (a plain form, taken over by
/// the island when JavaScript runs).
#[component]
pub fn ChangePlanPage() -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let price = query.get("price").unwrap_or_default();
    let error = query.get("error").filter(|e| e.len() <= 300);
    let preview = Resource::new_blocking(move || price.clone(), preview_change);
    view! {
        <Title text="Change plan"/>
        <section class="billing change-plan">
            <h1>"Change plan"</h1>
            {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Suspense fallback=|| view! { <p>"Asking Stripe what the change costs…"</p> }>
                {move || Suspend::new(async move {
                    match preview.await {
                        Ok(p) => view! { <ChangeSummary p/> }.into_any(),
                        Err(AppError::Unauthorized(_)) => view! {
                            <p><a href="/sign-in">"Sign in"</a> " to change your plan."</p>
                        }
                            .into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">{e.to_string()}</p>
                            <p>
                                <a class="button" href="/billing">"Back to billing"</a>
                                " "
                                <a class="button" href="/pricing">"See pricing"</a>
                            </p>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ChangeSummary(p: ChangePreview) -> impl IntoView {
    let confirm = format!("Switch to {}", p.to);
    view! {
        <p class="lead">{p.from} " → " <strong>{p.to.clone()}</strong></p>
        {p.at_period_end.then(|| view! {
            <p class="notice" role="status">"Scheduled for " {p.next_date.clone()} ": nothing changes before then."</p>
        })}
        <dl class="change-amounts">
            <dt>"Due today"</dt>
            <dd class="due-today">{p.due_today}</dd>
            <dt>"Then"</dt>
            <dd class="next-renewal">{p.next_amount} " on " {p.next_date}</dd>
        </dl>
        <p class="summary">{p.summary}</p>
        <ChangePlanForm>
            <form method="post" action=CHANGE_PLAN>
                <input type="hidden" name="price" value=p.price/>
                <input type="hidden" name="proration_date" value=p.proration_date.to_string()/>
                <button class="button primary" type="submit">{confirm}</button>
            </form>
        </ChangePlanForm>
        <p><a href="/billing">"Keep my current plan"</a></p>
    }
}
