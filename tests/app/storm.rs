//! Storms (#8): a history of thousands of distinct Stripe events (purchases, refunds, disputes,
//! trials, upgrades, renewals, failed renewals, cancellations, across many customers) delivered
//! live to one app, then replayed to a fresh one three times each, shuffled, 64 at a time:
//! every event applied exactly once, no 5xx, one mail per cause, and the same final state as
//! the app that saw them in order, which is Stripe's own. `RELIABILITY=full` makes the history
//! 5,000 events.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    all_events, assert_as_stripe_has_it, assert_same_state, expected_mail, make_history,
    on_both_databases, scale, stored_state, wait_applied, Backend, DeliveryLog, Scale, TestApp,
};

on_both_databases!(
    backend;
    every_event_of_a_long_history_three_times_shuffled_is_applied_once_and_ends_as_stripe_is,
);

async fn every_event_of_a_long_history_three_times_shuffled_is_applied_once_and_ends_as_stripe_is(
    backend: Backend,
) {
    let target = match scale() {
        Scale::Full => 5_000,
        Scale::Short => 600,
    };
    let live = TestApp::spawn_webhooks(backend, &[]).await;
    let made = make_history(&live, target).await;
    assert!(made >= target, "{made} events made");
    wait_applied(&live.state.db, made, Duration::from_secs(600)).await;
    let in_order = stored_state(&live.state.db).await;
    assert_as_stripe_has_it(&live, &live.state.db).await;
    let events = all_events(&live);
    let mail = expected_mail(&events);
    let stored_mail = in_order.iter().filter(|l| l.starts_with("mail ")).count();
    assert_eq!(stored_mail, mail, "one mail per cause, delivered in order");

    let (storm, url) = live.replay_target(backend).await;
    let answer = live
        .control(
            "replay",
            &[
                ("times", "3"),
                ("seed", "20261201"),
                ("concurrency", "64"),
                ("url", &url),
            ],
        )
        .await;
    assert_eq!(
        answer["delivered"],
        json!(made * 3),
        "{}",
        answer["gave_up"]
    );
    assert_eq!(answer["gave_up"], json!(0));
    let log = DeliveryLog::read(&live, &url);
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    log.assert_applied_once(&ids, &storm.state.db).await;
    assert_eq!(
        log.applied.values().sum::<usize>(),
        made,
        "every answer told"
    );
    assert_eq!(log.server_errors, 0, "no 5xx");
    assert_eq!(log.unanswered, 0);
    assert_same_state(&stored_state(&storm.state.db).await, &in_order);
    assert_as_stripe_has_it(&live, &storm.state.db).await;
    eprintln!(
        "storm on {backend:?}: {made} distinct events, {} deliveries, {} applied, lost 0, doubled 0, 5xx {}, mails {mail}",
        log.deliveries,
        log.applied.values().sum::<usize>(),
        log.server_errors
    );
}
