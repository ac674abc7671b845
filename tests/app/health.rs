//! `/healthz` and `/readyz`.

use crate::harness::{on_both_databases, TestApp};

on_both_databases!(
    healthz_answers_ok_while_the_process_runs,
    readyz_answers_ready_when_the_database_answers,
    readyz_answers_503_when_the_database_is_gone,
    readyz_answers_503_once_the_instance_is_stopping,
);

async fn healthz_answers_ok_while_the_process_runs(app: TestApp) {
    assert_eq!(app.get_text("/healthz").await, (200, "ok".to_string()));
}

async fn readyz_answers_ready_when_the_database_answers(app: TestApp) {
    assert_eq!(app.get_text("/readyz").await, (200, "ready".to_string()));
}

async fn readyz_answers_503_when_the_database_is_gone(app: TestApp) {
    app.state.db.close().await;
    assert_eq!(
        app.get_text("/readyz").await,
        (503, "database unreachable".to_string())
    );
    // Liveness is not readiness: the process itself is still fine.
    assert_eq!(app.get_text("/healthz").await.0, 200);
}

async fn readyz_answers_503_once_the_instance_is_stopping(app: TestApp) {
    // What SIGTERM sets first, before the listener closes.
    app.state
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        app.get_text("/readyz").await,
        (503, "shutting down".to_string())
    );
    assert_eq!(app.get_text("/healthz").await.0, 200);
}
