//! Backups: `landing backup PATH` copies the SQLite database while webhooks are being applied,
//! and a site started on the copy holds every event that was answered 200 before the copy began.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{
    after_deliveries, applied_event_ids, env_with, landing, make_history, replay, wait_applied,
    Backend, DeliveryLog, TestApp,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_webhook_storm_holds_every_event_answered_before_it() {
    let live = TestApp::spawn_webhooks(Backend::Sqlite, &[]).await;
    let made = make_history(&live, 150).await;
    wait_applied(&live.state.db, made, Duration::from_secs(120)).await;
    // The storm: every event three times, shuffled, 16 at a time, to a site of its own.
    let (storm, url) = live.replay_target(Backend::Sqlite).await;
    let storming = replay(&live, &url, 16);
    after_deliveries(&live, &url, made).await;

    let answered: HashSet<String> = DeliveryLog::read(&live, &url).applied.into_keys().collect();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let copy_path = copy.to_str().unwrap();
    let database = storm.database_url();
    let out = landing(&env_with(&[("DATABASE_URL", &database)]), dir.path())
        .args(["backup", copy_path])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up to"));
    let during = DeliveryLog::read(&live, &url).deliveries;
    let answer = storming.await.unwrap();
    assert_eq!(answer["gave_up"], serde_json::json!(0));
    assert!(
        during < made * 3,
        "the backup ran while the storm went on ({during} of {} deliveries)",
        made * 3
    );
    // A second backup to the same file is refused: nothing is overwritten.
    let again = landing(&env_with(&[("DATABASE_URL", &database)]), dir.path())
        .args(["backup", copy_path])
        .output()
        .await
        .unwrap();
    assert_eq!(again.status.code(), Some(2));

    // Restored: a fresh site on the copy, alone (no -wal file beside it).
    assert!(!dir.path().join("backup.db-wal").exists());
    let restored = TestApp::spawn_with(
        Backend::Sqlite,
        &[("DATABASE_URL", &format!("sqlite://{copy_path}"))],
    )
    .await;
    assert_eq!(restored.get_text("/readyz").await.0, 200);
    let applied = applied_event_ids(&restored.state.db).await;
    let missing: Vec<_> = answered.difference(&applied).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events answered before the backup are missing from it: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(!answered.is_empty());
}

#[tokio::test]
async fn a_postgresql_backup_is_pointed_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = landing(
        &env_with(&[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )]),
        dir.path(),
    )
    .args(["backup", "copy.dump"])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("pg_dump --format=custom --file copy.dump"),
        "{said}"
    );
    assert!(!dir.path().join("copy.dump").exists());
}
