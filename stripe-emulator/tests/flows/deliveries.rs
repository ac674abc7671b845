//! Webhook deliveries: retries with backoff, the shuffled replay and a resent event.

use super::*;

#[tokio::test]
async fn a_failed_delivery_is_retried_with_backoff_and_logged() {
    let s = setup().await;
    s.hook.fail_next.store(2, Ordering::SeqCst);
    let id = s.session("lifetime_once", |r| r).await;
    s.pay(&id, "4242424242424242").await;
    // payment_intent.created, payment_intent.succeeded, checkout.session.completed: the first
    // two answers are 500s, and whatever they were for is retried until it gets through.
    let events = s.events(3).await;
    let mut got = types(&events);
    got.sort();
    assert_eq!(
        got,
        [
            "checkout.session.completed",
            "payment_intent.created",
            "payment_intent.succeeded"
        ]
    );
    let log = s
        .http
        .get(format!("{}/_emulator/deliveries", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    let log: Value = serde_json::from_str(&log.text().await.unwrap()).unwrap();
    let log = log["deliveries"].as_array().unwrap();
    assert_eq!(log.iter().filter(|d| d["status"] == 500).count(), 2);
    assert!(log
        .iter()
        .any(|d| d["attempt"].as_u64() > Some(1) && d["status"] == 200));
    for event in [
        "payment_intent.created",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ] {
        let attempts: Vec<(u64, u64)> = log
            .iter()
            .filter(|d| d["event_type"] == event)
            .map(|d| {
                (
                    d["attempt"].as_u64().unwrap(),
                    d["status"].as_u64().unwrap(),
                )
            })
            .collect();
        let (last, failures) = attempts.split_last().unwrap();
        assert_eq!(last.1, 200, "{event} got through: {attempts:?}");
        assert_eq!(
            last.0 as usize,
            attempts.len(),
            "{event} attempts are numbered"
        );
        assert!(failures.iter().all(|a| a.1 == 500));
    }
}

#[tokio::test]
async fn replay_delivers_every_event_the_asked_number_of_times_in_a_seeded_order() {
    let s = setup().await;
    s.subscribe("starter_monthly").await;
    s.clear();
    let first = s
        .control(
            "/_emulator/replay",
            &[("times", "3"), ("seed", "42"), ("concurrency", "1")],
        )
        .await;
    let received = s.events(21).await;
    assert_eq!(received.len(), 21);
    let order: Vec<&str> = first["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ids: Vec<String> = received
        .iter()
        .map(|(_, v)| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids, order,
        "one at a time, deliveries follow the planned order"
    );
    for id in &ids {
        assert_eq!(ids.iter().filter(|x| *x == id).count(), 3);
    }
    assert_eq!(first["delivered"], 21);

    s.clear();
    let again = s
        .control("/_emulator/replay", &[("times", "3"), ("seed", "42")])
        .await;
    assert_eq!(again["order"], first["order"], "same seed, same order");
    let other = s
        .control("/_emulator/replay", &[("times", "3"), ("seed", "7")])
        .await;
    assert_ne!(other["order"], first["order"]);
}

#[tokio::test]
async fn resending_an_event_delivers_it_again_with_a_fresh_signature() {
    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    s.pay(&id, "4242424242424242").await;
    let events = s.events(3).await;
    let event_id = events[2].1["id"].as_str().unwrap().to_string();
    let out = s
        .control(&format!("/_emulator/events/{event_id}/resend"), &[])
        .await;
    assert_eq!(out["delivered"], 1);
    let events = s.events(4).await;
    assert_eq!(events[3].1["id"], event_id.as_str());
    let missing = s
        .post_form("/_emulator/events/evt_missing/resend", &[])
        .await;
    assert_eq!(missing.status(), 404);
}
