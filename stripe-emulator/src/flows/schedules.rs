//! Subscription schedules: made from a subscription, given phases, released or canceled, and
//! moved to their next phase when the clock passes a phase's end (the renewal then bills the
//! next phase's price). A portal configured to schedule some changes at the period's end uses
//! the same flows.
//!
//! The emulator changes a subscription only at a phase's start: an update must keep the
//! current phase's items as the subscription has them.

use serde_json::{json, Value};

use super::interval_seconds;
use super::subscriptions::{cancel_now, ensure_live};
use crate::error::ApiError;
use crate::objects::{Phase, PhaseItem, SubscriptionSchedule};
use crate::store::{self, Store};

/// `proration_behavior` values a phase takes.
const PRORATIONS: [&str; 3] = ["create_prorations", "none", "always_invoice"];

/// A phase as an update gives it; what is left out is filled in as Stripe does.
#[derive(Debug, Clone, Default)]
pub struct PhaseSpec {
    pub items: Vec<PhaseItem>,
    /// `phases[i][start_date]`: a timestamp, or `now` (`None` in `Some(None)`).
    pub start_date: Option<Option<i64>>,
    pub end_date: Option<i64>,
    pub proration_behavior: Option<String>,
}

/// Emits one of the schedule's events with its JSON now.
fn emit(store: &mut Store, kind: &str, id: &str, previous: Option<Value>) -> Value {
    let json = store.subscription_schedules[id].json(store);
    store.emit(kind, json.clone(), previous);
    json
}

/// The subscription's `customer.subscription.updated` for a change of its `schedule` field.
fn emit_subscription_schedule_changed(store: &mut Store, sub_id: &str, before: Option<String>) {
    let json = store.subscriptions[sub_id].json(store);
    store.emit(
        "customer.subscription.updated",
        json,
        Some(json!({ "schedule": before })),
    );
}

fn live_schedule<'a>(store: &'a Store, id: &str) -> Result<&'a SubscriptionSchedule, ApiError> {
    let schedule = store
        .subscription_schedules
        .get(id)
        .ok_or_else(|| ApiError::not_found("subscription_schedule", id))?;
    if !schedule.is_live() {
        return Err(ApiError::invalid_param(
            "schedule",
            format!(
                "You cannot update a subscription schedule that is currently in the `{}` status. It must be in `not_started` or `active`.",
                schedule.status
            ),
        ));
    }
    Ok(schedule)
}

/// `POST /v1/subscription_schedules` with `from_subscription`: one phase, the subscription's
/// items until its period's end, and `end_behavior=release`.
pub fn create_from_subscription(store: &mut Store, sub_id: &str) -> Result<Value, ApiError> {
    ensure_live(store, sub_id).map_err(|e| e.for_param("from_subscription"))?;
    if let Some(existing) = store.schedule_of(sub_id) {
        return Err(ApiError::invalid_param(
            "from_subscription",
            format!(
                "You cannot migrate a subscription that is already attached to a schedule: `{}`.",
                existing.id
            ),
        ));
    }
    let sub = store.subscriptions[sub_id].clone();
    let schedule = SubscriptionSchedule {
        id: store::new_id("sub_sched"),
        customer: sub.customer.clone(),
        subscription: Some(sub_id.to_string()),
        released_subscription: None,
        status: "active".into(),
        phases: vec![Phase {
            items: sub
                .items
                .iter()
                .map(|i| PhaseItem {
                    price: i.price.clone(),
                    quantity: i.quantity,
                })
                .collect(),
            start_date: sub.current_period_start,
            end_date: sub.current_period_end,
            proration_behavior: "create_prorations".into(),
        }],
        end_behavior: "release".into(),
        created: store.now(),
        canceled_at: None,
        completed_at: None,
        released_at: None,
        seq: store.next_seq(),
    };
    let id = schedule.id.clone();
    store.subscription_schedules.insert(id.clone(), schedule);
    let json = emit(store, "subscription_schedule.created", &id, None);
    emit_subscription_schedule_changed(store, sub_id, None);
    Ok(json)
}

/// `POST /v1/subscription_schedules/{id}`: new phases (the current one first) and/or a new
/// `end_behavior`.
pub fn update(
    store: &mut Store,
    id: &str,
    phases: Option<Vec<PhaseSpec>>,
    end_behavior: Option<String>,
) -> Result<Value, ApiError> {
    let schedule = live_schedule(store, id)?.clone();
    if let Some(behavior) = &end_behavior {
        if !matches!(behavior.as_str(), "release" | "cancel") {
            return Err(ApiError::invalid_param(
                "end_behavior",
                format!(
                    "Invalid end_behavior: must be one of release or cancel (got `{behavior}`)."
                ),
            ));
        }
    }
    let phases = match phases {
        Some(specs) => Some(phases_of(store, &schedule, specs)?),
        None => None,
    };
    let previous = json!({
        "phases": schedule.json(store)["phases"],
        "end_behavior": schedule.end_behavior,
    });
    let s = store
        .subscription_schedules
        .get_mut(id)
        .expect("checked live");
    if let Some(phases) = phases {
        s.phases = phases;
    }
    if let Some(behavior) = end_behavior {
        s.end_behavior = behavior;
    }
    Ok(emit(
        store,
        "subscription_schedule.updated",
        id,
        Some(previous),
    ))
}

/// Checks and completes the phases of an update: contiguous, each ending after it starts, the
/// first being the current phase with the subscription's own items.
fn phases_of(
    store: &Store,
    schedule: &SubscriptionSchedule,
    specs: Vec<PhaseSpec>,
) -> Result<Vec<Phase>, ApiError> {
    if specs.is_empty() {
        return Err(ApiError::invalid_param(
            "phases",
            "A subscription schedule needs at least one phase.",
        ));
    }
    let now = store.now();
    let current = schedule
        .current_phase(now)
        .cloned()
        .unwrap_or_else(|| schedule.phases[0].clone());
    let last = specs.len() - 1;
    let mut phases: Vec<Phase> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let param = |name: &str| format!("phases[{i}][{name}]");
        if spec.items.is_empty() {
            return Err(ApiError::missing(&param("items")));
        }
        for (j, item) in spec.items.iter().enumerate() {
            match store.prices.get(&item.price) {
                Some(p) if p.recurring.is_some() => {}
                Some(_) => {
                    return Err(ApiError::invalid_param(
                        &format!("phases[{i}][items][{j}][price]"),
                        format!("The price `{}` is not a recurring price.", item.price),
                    ))
                }
                None => {
                    return Err(ApiError::no_such_param(
                        "price",
                        &item.price,
                        &format!("phases[{i}][items][{j}][price]"),
                    ))
                }
            }
            if item.quantity < 1 {
                return Err(ApiError::invalid_param(
                    &format!("phases[{i}][items][{j}][quantity]"),
                    "Quantity must be at least 1.",
                ));
            }
        }
        let start = match (i, spec.start_date) {
            (_, Some(None)) => now,
            (_, Some(Some(at))) => at,
            (0, None) => current.start_date,
            (_, None) => phases[i - 1].end_date,
        };
        if i == 0 && start != current.start_date {
            return Err(ApiError::invalid_param(
                &param("start_date"),
                "You can not modify the start date of the current phase.",
            ));
        }
        if i > 0 && start != phases[i - 1].end_date {
            return Err(ApiError::invalid_param(
                &param("start_date"),
                "Each phase must start when the previous one ends.",
            ));
        }
        if i == 0 && spec.items != current.items {
            return Err(ApiError::invalid_param(
                &param("items"),
                "This emulator changes a subscription only when a phase starts: the current phase keeps the subscription's items.",
            ));
        }
        let end = match spec.end_date {
            Some(end) => end,
            // The last phase lasts one billing period of its price by default.
            None if i == last => {
                let recurring = store.prices[&spec.items[0].price]
                    .recurring
                    .clone()
                    .expect("checked recurring");
                start + interval_seconds(&recurring.interval, recurring.interval_count)
            }
            None => return Err(ApiError::missing(&param("end_date"))),
        };
        if end <= start {
            return Err(ApiError::invalid_param(
                &param("end_date"),
                "A phase's end_date must be after its start_date.",
            ));
        }
        if i == 0 && end <= now {
            return Err(ApiError::invalid_param(
                &param("end_date"),
                "The current phase's end_date must be in the future.",
            ));
        }
        let proration_behavior = spec
            .proration_behavior
            .unwrap_or_else(|| "create_prorations".into());
        if !PRORATIONS.contains(&proration_behavior.as_str()) {
            return Err(ApiError::invalid_param(
                &param("proration_behavior"),
                format!(
                    "Invalid proration_behavior: must be one of {} (got `{proration_behavior}`).",
                    PRORATIONS.join(", ")
                ),
            ));
        }
        phases.push(Phase {
            items: spec.items,
            start_date: start,
            end_date: end,
            proration_behavior,
        });
    }
    Ok(phases)
}

/// `POST /v1/subscription_schedules/{id}/release`: the schedule stops, the subscription goes
/// on as it is.
pub fn release(store: &mut Store, id: &str) -> Result<Value, ApiError> {
    live_schedule(store, id)?;
    let now = store.now();
    let s = store
        .subscription_schedules
        .get_mut(id)
        .expect("checked live");
    let previous =
        json!({ "status": s.status, "released_at": null, "subscription": s.subscription });
    s.status = "released".into();
    s.released_at = Some(now);
    s.released_subscription = s.subscription.take();
    let sub = s.released_subscription.clone();
    let json = emit(store, "subscription_schedule.released", id, Some(previous));
    if let Some(sub) = sub.filter(|sub| store.subscriptions.contains_key(sub)) {
        emit_subscription_schedule_changed(store, &sub, Some(id.to_string()));
    }
    Ok(json)
}

/// `POST /v1/subscription_schedules/{id}/cancel`: the schedule and its subscription end now.
pub fn cancel(store: &mut Store, id: &str) -> Result<Value, ApiError> {
    live_schedule(store, id)?;
    let now = store.now();
    let s = store
        .subscription_schedules
        .get_mut(id)
        .expect("checked live");
    let previous = json!({ "status": s.status, "canceled_at": null });
    s.status = "canceled".into();
    s.canceled_at = Some(now);
    let sub = s.subscription.clone();
    let json = emit(store, "subscription_schedule.canceled", id, Some(previous));
    if let Some(sub) = sub.filter(|sub| ensure_live(store, sub).is_ok()) {
        cancel_now(store, &sub)?;
    }
    Ok(json)
}

/// What a subscription does at the end of its period, as its schedule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AtPeriodEnd {
    Renew,
    /// The last phase ended with `end_behavior=cancel`.
    Cancel,
}

/// The subscription's period ends at `boundary` (or early, at `now`, when a test renews it
/// now): a phase ending then gives way to the next one, whose items the renewal bills; after
/// the last phase the schedule completes and releases or cancels the subscription.
pub(super) fn at_period_end(
    store: &mut Store,
    sub_id: &str,
    boundary: i64,
    now: i64,
) -> AtPeriodEnd {
    let Some(schedule) = store.schedule_of(sub_id).cloned() else {
        return AtPeriodEnd::Renew;
    };
    let Some(i) = schedule
        .phases
        .iter()
        .rposition(|p| p.start_date < boundary)
    else {
        return AtPeriodEnd::Renew;
    };
    if schedule.phases[i].end_date > boundary {
        return AtPeriodEnd::Renew;
    }
    let previous = json!({ "current_phase": {
        "start_date": schedule.phases[i].start_date,
        "end_date": schedule.phases[i].end_date,
    }});
    let early = now.min(boundary) - boundary;
    let s = store
        .subscription_schedules
        .get_mut(&schedule.id)
        .expect("live");
    if i + 1 < s.phases.len() {
        // A period ended early moves the phases from its end as much.
        s.phases[i].end_date += early;
        for phase in &mut s.phases[i + 1..] {
            phase.start_date += early;
            phase.end_date += early;
        }
        let next = s.phases[i + 1].items.clone();
        if let Some(sub) = store.subscriptions.get_mut(sub_id) {
            for (item, planned) in sub.items.iter_mut().zip(&next) {
                item.price = planned.price.clone();
                item.quantity = planned.quantity;
            }
        }
        emit(
            store,
            "subscription_schedule.updated",
            &schedule.id,
            Some(previous),
        );
        return AtPeriodEnd::Renew;
    }
    s.status = "completed".into();
    s.completed_at = Some(now);
    emit(
        store,
        "subscription_schedule.completed",
        &schedule.id,
        Some(json!({ "status": "active", "completed_at": null })),
    );
    if schedule.end_behavior == "cancel" {
        AtPeriodEnd::Cancel
    } else {
        emit_subscription_schedule_changed(store, sub_id, Some(schedule.id));
        AtPeriodEnd::Renew
    }
}

/// A change the portal schedules for the period's end: the subscription's schedule (made from
/// it if it has none) bills its items until then and `price` after.
pub fn change_at_period_end(
    store: &mut Store,
    sub_id: &str,
    price: &str,
) -> Result<Value, ApiError> {
    ensure_live(store, sub_id)?;
    let id = match store.schedule_of(sub_id) {
        Some(s) => s.id.clone(),
        None => create_from_subscription(store, sub_id)?["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let sub = &store.subscriptions[sub_id];
    let current = PhaseSpec {
        items: sub
            .items
            .iter()
            .map(|i| PhaseItem {
                price: i.price.clone(),
                quantity: i.quantity,
            })
            .collect(),
        end_date: Some(sub.current_period_end),
        ..PhaseSpec::default()
    };
    let quantity = sub.items.first().map_or(1, |i| i.quantity);
    let next = PhaseSpec {
        items: vec![PhaseItem {
            price: price.to_string(),
            quantity,
        }],
        proration_behavior: Some("none".into()),
        ..PhaseSpec::default()
    };
    update(
        store,
        &id,
        Some(vec![current, next]),
        Some("release".into()),
    )
}
