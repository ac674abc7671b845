//! Faults (#8): PostgreSQL stopped in the middle of a storm, the server killed with SIGKILL in
//! the middle of one and started again, the mail server down. Deliveries that fail get a 5xx (or
//! no answer) and the emulator retries them, as Stripe does; at the end every event is applied
//! exactly once, the state is the one in-order delivery gave, and every mail went out once.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    after_deliveries, all_events, assert_as_stripe_has_it, assert_same_state, base_env,
    emulator_checkout, free_port, make_history, on_both_databases, open_db, pay_at, replay, scale,
    stored_state, wait_applied, Backend, DeliveryLog, PrivatePostgres, Scale, ServerProcess,
    SmtpSink, TestApp, TestDatabase, STRIPE_KEY,
};
use landing::server::db::{outbox, Db, Table};

on_both_databases!(
    backend;
    a_storm_while_stripe_refuses_one_read_in_five_loses_and_doubles_nothing,
    a_server_killed_mid_storm_and_started_again_loses_and_doubles_nothing,
    mail_waits_while_the_mail_server_is_down_and_goes_out_once_when_it_is_back,
    a_mail_still_being_sent_when_the_grace_ends_is_given_back,
    a_link_mail_never_sent_keeps_no_link_once_given_up_or_expired,
);

/// A live app that has seen a history, and the retry policy a storm needs to outlast a fault:
/// 12 attempts, from 100 ms doubling (Stripe itself retries for three days).
async fn history(backend: Backend) -> (TestApp, usize) {
    let live = TestApp::spawn_webhooks_retrying(backend, 12, Duration::from_millis(100)).await;
    let target = match scale() {
        Scale::Full => 2_000,
        Scale::Short => 300,
    };
    let made = make_history(&live, target).await;
    wait_applied(&live.state.db, made, Duration::from_secs(600)).await;
    (live, made)
}

/// Replays every event three times, 64 at a time, to `url`, in the background.
fn storm(live: &TestApp, url: &str) -> tokio::task::JoinHandle<serde_json::Value> {
    replay(live, url, 64)
}

/// What a storm through a fault must come to, whatever the fault.
async fn assert_nothing_lost_or_doubled(
    live: &TestApp,
    url: &str,
    answer: &serde_json::Value,
    made: usize,
    db: &Db,
) -> DeliveryLog {
    assert_eq!(answer["gave_up"], json!(0), "{answer:?}");
    assert_eq!(answer["delivered"], json!(made * 3));
    let log = DeliveryLog::read(live, url);
    let ids: Vec<String> = all_events(live)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    log.assert_applied_once(&ids, db).await;
    log
}

/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(7);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_storm_loses_and_doubles_nothing() {
    let pg = PrivatePostgres::start();
    let (live, made) = history(Backend::Sqlite).await;
    let in_order = stored_state(&live.state.db).await;
    let (app, url) = live
        .replay_target_with(Backend::Sqlite, &[("DATABASE_URL", &pg.url())])
        .await;
    let running = storm(&live, &url);
    after_deliveries(&live, &url, made / 10).await;
    pg.down();
    // Longer than the pool waits for a connection (5 s): deliveries meanwhile fail.
    tokio::time::sleep(OUTAGE).await;
    pg.up();
    let answer = running.await.unwrap();
    let log = assert_nothing_lost_or_doubled(&live, &url, &answer, made, &app.state.db).await;
    assert!(
        log.server_errors + log.unanswered > 0,
        "the outage was seen: {log:?}"
    );
    assert_same_state(&stored_state(&app.state.db).await, &in_order);
    assert_as_stripe_has_it(&live, &app.state.db).await;
    eprintln!(
        "PostgreSQL stopped {OUTAGE:?} mid-storm: {made} events, {} deliveries, {} 5xx, {} unanswered, {} answered as applied then, all {made} applied, lost 0, doubled 0",
        log.deliveries,
        log.server_errors,
        log.unanswered,
        log.applied.values().sum::<usize>()
    );
}

/// Stripe's rate limit met by a webhook's read: the read is tried again, and an event whose
/// reads stay refused fails with a 5xx so Stripe delivers it again. Nothing else changes.
async fn a_storm_while_stripe_refuses_one_read_in_five_loses_and_doubles_nothing(backend: Backend) {
    let (live, made) = history(backend).await;
    let in_order = stored_state(&live.state.db).await;
    let (app, url) = live.replay_target(backend).await;
    let planned = live
        .control(
            "faults",
            &[
                ("kind", "rate_limit"),
                ("method", "GET"),
                ("path", "/v1/"),
                ("every", "5"),
                ("count", "1000000"),
            ],
        )
        .await;
    assert_eq!(planned["kind"], "rate_limit");
    let answer = storm(&live, &url).await.unwrap();
    let left = live
        .client
        .get(format!("{}/_emulator/faults", live.stripe_base()))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let refused = 1_000_000 - left["faults"][0]["remaining"].as_u64().unwrap();
    assert!(refused > 0, "Stripe refused reads: {left}");
    let log = assert_nothing_lost_or_doubled(&live, &url, &answer, made, &app.state.db).await;
    assert_same_state(&stored_state(&app.state.db).await, &in_order);
    live.client
        .delete(format!("{}/_emulator/faults", live.stripe_base()))
        .send()
        .await
        .unwrap();
    assert_as_stripe_has_it(&live, &app.state.db).await;
    eprintln!(
        "429 on one read in five, on {backend:?}: {made} events, {} deliveries, {refused} reads refused, {} 5xx, all {made} applied, lost 0, doubled 0",
        log.deliveries, log.server_errors
    );
}

async fn a_server_killed_mid_storm_and_started_again_loses_and_doubles_nothing(backend: Backend) {
    let (live, made) = history(backend).await;
    let in_order = stored_state(&live.state.db).await;
    let database = TestDatabase::create(backend).await;
    let port = free_port();
    let (url, secret) = live.endpoint_for(port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(&database.url(), &format!("http://127.0.0.1:{port}"));
    env.insert("STRIPE_SECRET_KEY".into(), STRIPE_KEY.into());
    env.insert("STRIPE_API_BASE".into(), live.stripe_base());
    env.insert("STRIPE_WEBHOOK_SECRET".into(), secret);
    let mut server = ServerProcess::start(env.into_iter().collect(), dir.path(), port).await;
    let running = storm(&live, &url);
    after_deliveries(&live, &url, made / 10).await;
    server.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().await;
    let answer = running.await.unwrap();
    server.stop().await;
    let db = open_db(&database.url()).await;
    let log = assert_nothing_lost_or_doubled(&live, &url, &answer, made, &db).await;
    assert!(log.unanswered > 0, "the kill was seen: {log:?}");
    assert_same_state(&stored_state(&db).await, &in_order);
    assert_as_stripe_has_it(&live, &db).await;
    db.close().await;
    eprintln!(
        "server killed (SIGKILL) mid-storm on {backend:?}: {made} events, {} deliveries, {} 5xx, {} unanswered, {} answered as applied then (the others' answers were lost to the kill after their commit), all {made} applied, lost 0, doubled 0",
        log.deliveries,
        log.server_errors,
        log.unanswered,
        log.applied.values().sum::<usize>()
    );
}

async fn mail_waits_while_the_mail_server_is_down_and_goes_out_once_when_it_is_back(
    backend: Backend,
) {
    // Nothing listens here yet.
    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_webhooks(backend, &[("SMTP_URL", &smtp_url)]).await;
    let buyers = 4;
    for i in 0..buyers {
        let email = format!("buyer{i}@mail.example");
        let url = emulator_checkout(&app.stripe_base(), "pro_monthly", &email, &[]).await;
        pay_at(&url, &email).await;
    }
    app.settle().await;
    // Every receipt is queued; the sender has tried and is waiting for the server.
    for _ in 0..100 {
        let mail = outbox::all(&app.state.db).await.unwrap();
        if mail.len() == buyers && mail.iter().any(|m| m.attempts > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting = outbox::all(&app.state.db).await.unwrap();
    assert_eq!(waiting.len(), buyers);
    assert!(waiting.iter().all(|m| m.sent_at.is_none()));
    assert!(
        waiting.iter().any(|m| m.last_error.is_some()),
        "{waiting:?}"
    );
    assert!(
        waiting.iter().all(|m| m.refusals == 0),
        "an absent server is no refusal"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    let smtp = SmtpSink::start_on(port).await;
    let mails = smtp.wait_for(buyers, Duration::from_secs(60)).await;
    // Give a second sending a chance to show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.mails().len(), buyers, "{mails:#?}");
    for i in 0..buyers {
        let to = format!("To: buyer{i}@mail.example");
        assert_eq!(
            smtp.mails().iter().filter(|m| m.contains(&to)).count(),
            1,
            "{to}"
        );
    }
    let sent = outbox::all(&app.state.db).await.unwrap();
    assert!(sent.iter().all(|m| m.sent_at.is_some()), "{sent:?}");
    assert_eq!(app.rows(Table::EmailOutbox).await, buyers as i64);
    eprintln!(
        "SMTP down on {backend:?}: {buyers} receipts queued while the mail server was down, none refused or given up, each sent exactly once when it came back"
    );
}

/// A mail server that takes the connection and never greets: the send hangs. When the stop's
/// grace ends the sender is cut, and the mail it held is due again at once (not leased to a
/// stopped instance for two minutes), for another instance to send.
async fn a_mail_still_being_sent_when_the_grace_ends_is_given_back(backend: Backend) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_url = format!("smtp://{}", silent.local_addr().unwrap());
    let _holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut app = TestApp::spawn_with(backend, &[("SMTP_URL", &smtp_url)]).await;
    app.member("cut@example.com").await;
    // The sign-up's mail is claimed and being sent.
    let mut claimed = false;
    for _ in 0..200 {
        let mail = outbox::all(&app.state.db).await.unwrap();
        if mail.len() == 1 && mail[0].attempts == 1 {
            claimed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(claimed, "the sender claimed the mail");
    let now = chrono::Utc::now();
    let lease_end = now + chrono::Duration::minutes(5);
    assert!(
        outbox::claim_due(&app.state.db, now, lease_end, 8)
            .await
            .unwrap()
            .is_none(),
        "leased while being sent"
    );

    let started = std::time::Instant::now();
    app.stop_background(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mail = outbox::all(&app.state.db).await.unwrap();
    assert!(mail[0].sent_at.is_none());
    let now = chrono::Utc::now();
    let again = outbox::claim_due(&app.state.db, now, now + chrono::Duration::minutes(5), 8)
        .await
        .unwrap()
        .expect("due at once for another sender");
    assert_eq!(again.id, mail[0].id);
}

/// A mailed link waits in the outbox only while it can be used: a mail the server refused for
/// good, or one not sent before its link expired, keeps no body, and no sender takes it again.
async fn a_link_mail_never_sent_keeps_no_link_once_given_up_or_expired(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.stop_background(Duration::from_millis(100)).await;
    let db = &app.state.db;
    app.member("refused@example.com").await;
    let refused = outbox::all(db)
        .await
        .unwrap()
        .pop()
        .expect("a confirmation mail");
    assert!(
        refused.sensitive && refused.body.contains("token="),
        "{refused:?}"
    );
    let max = landing::server::mail::MAX_REFUSALS;
    let later = chrono::Utc::now() - chrono::Duration::seconds(1);
    for n in 1..=max {
        outbox::mark_failed(db, refused.id, "550 no", later, true, max)
            .await
            .unwrap();
        let now = outbox::all(db).await.unwrap();
        let row = now.iter().find(|m| m.id == refused.id).unwrap();
        assert_eq!(row.body.is_empty(), n == max, "after {n} refusals");
    }

    app.member("late@example.com").await;
    let late = outbox::all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.to_email == "late@example.com")
        .unwrap();
    // Not yet expired: kept, with its link.
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    assert_eq!(
        outbox::abandon_expired_links(db, day_ago, max)
            .await
            .unwrap(),
        0
    );
    // Past the cutoff: given up and blanked, and never claimed.
    let cutoff = chrono::Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(
        outbox::abandon_expired_links(db, cutoff, max)
            .await
            .unwrap(),
        1
    );
    let rows = outbox::all(db).await.unwrap();
    let row = rows.iter().find(|m| m.id == late.id).unwrap();
    assert!(row.body.is_empty() && row.sent_at.is_none(), "{row:?}");
    let now = chrono::Utc::now();
    assert!(
        outbox::claim_due(db, now, now + chrono::Duration::minutes(5), max)
            .await
            .unwrap()
            .is_none()
    );
}
