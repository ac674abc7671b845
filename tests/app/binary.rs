//! The `landing` binary as an operator runs it: bad configuration stops it with one line; a good
//! one serves on either database and stops cleanly on SIGTERM.

use std::time::Duration;

use crate::harness::{base_env, env_with, landing, start_binary, Backend, TestDatabase};

#[tokio::test]
async fn bad_configuration_stops_the_binary_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("DATABASE_URL", "nonsense://x"),
        ("DATABASE_URL", "postgres://"),
        ("SITE_URL", "not-a-url"),
        ("STRIPE_SECRET_KEY", "pk_test_123456789"),
        ("STRIPE_WEBHOOK_SECRET", "nope"),
        ("STRIPE_API_BASE", "::"),
        ("AUTH_JWT_SECRET", "short"),
        ("LEPTOS_SITE_ADDR", "everywhere"),
        ("RUST_LOG", "info,[[["),
        ("LOG_FORMAT", "xml"),
        ("SHUTDOWN_GRACE_SECONDS", "soon"),
        ("METRICS_ADDR", "port 9100"),
        ("PLANS_FILE", "/no/such/plans.toml"),
        ("SMTP_URL", "http://mail.example"),
        ("MAIL_FROM", "not a mailbox <"),
        ("PAST_DUE_GRACE_DAYS", "a week"),
        ("SESSION_MAX_DAYS", "0"),
        ("SESSION_MAX_DAYS", "forever"),
    ];
    for (var, value) in cases {
        let out = landing(&env_with(&[(var, value)]), dir.path())
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{var}={value} should stop the app");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}={value}: one line, got {stderr:?}");
        assert!(
            lines[0].starts_with(&format!("error: {var}")),
            "{var}={value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn dangerous_stripe_setups_stop_the_binary_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let live = ("STRIPE_SECRET_KEY", "sk_live_FAKE_key_for_tests_0");
    let https = ("SITE_URL", "https://shop.example.com");
    let cases: &[(&[(&str, &str)], &str)] = &[
        // Live payments over http (the test defaults' SITE_URL).
        (&[live], "SITE_URL"),
        // A live key sent to something that is not Stripe.
        (
            &[live, https, ("STRIPE_API_BASE", "http://127.0.0.1:12111")],
            "STRIPE_API_BASE",
        ),
        // Test and live keys mixed.
        (
            &[live, https, ("STRIPE_PUBLISHABLE_KEY", "pk_test_abc")],
            "STRIPE_PUBLISHABLE_KEY",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_FAKE_key_0"),
                ("STRIPE_PUBLISHABLE_KEY", "pk_live_abc"),
            ],
            "STRIPE_PUBLISHABLE_KEY",
        ),
    ];
    for (vars, named) in cases {
        let out = landing(&env_with(vars), dir.path()).output().await.unwrap();
        assert!(!out.status.success(), "{vars:?} should stop the app");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.lines().count(),
            1,
            "{vars:?}: one line, got {stderr:?}"
        );
        assert!(
            stderr.starts_with(&format!("error: {named}: ")),
            "{vars:?}: {stderr}"
        );
        assert!(!stderr.contains("FAKE_key"), "never the key: {stderr}");
    }
}

#[tokio::test]
async fn a_missing_jwt_secret_is_never_invented() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<_> = env_with(&[])
        .into_iter()
        .filter(|(k, _)| k != "AUTH_JWT_SECRET")
        .collect();
    let out = landing(&env, dir.path()).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: AUTH_JWT_SECRET: is not set"));
}

/// `.env.local` is a development file: a server started with `LEPTOS_ENV=PROD` (as production
/// runs) never reads it, even from its working directory.
#[tokio::test]
async fn env_local_configures_development_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env.local"),
        "AUTH_JWT_SECRET=a-development-secret-0123456789abcdef\n",
    )
    .unwrap();
    let without_secret = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        env_with(extra)
            .into_iter()
            .filter(|(k, _)| k != "AUTH_JWT_SECRET")
            .collect()
    };
    let dev = landing(&without_secret(&[]), dir.path())
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(
        dev.status.success(),
        "{}",
        String::from_utf8_lossy(&dev.stderr)
    );
    let prod = landing(&without_secret(&[("LEPTOS_ENV", "PROD")]), dir.path())
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(!prod.status.success());
    assert!(String::from_utf8_lossy(&prod.stderr).starts_with("error: AUTH_JWT_SECRET: is not set"));
}

#[tokio::test]
async fn unknown_arguments_print_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = landing(&env_with(&[]), dir.path())
        .arg("frobnicate")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: landing"));
}

#[tokio::test]
async fn the_binary_serves_on_sqlite_and_stops_cleanly_on_sigterm() {
    serves_and_stops(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_binary_serves_on_postgres_and_stops_cleanly_on_sigterm() {
    serves_and_stops(Backend::Postgres).await;
}

async fn serves_and_stops(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let url = database.url();
    let running = start_binary(&env_with(&[("DATABASE_URL", &url)]), dir.path()).await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/pricing"] {
        let res = client
            .get(format!("http://{}{path}", running.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let log = running.stop().await;
    assert!(log.contains("SIGTERM received"), "{log}");
    // The log names requests but never the database URL (it may carry a password).
    assert!(!log.contains(&url), "the database URL leaked into the log");
}

#[tokio::test]
async fn two_hundred_sign_ins_at_once_hash_a_few_at_a_time_on_sqlite() {
    sign_in_burst(Backend::Sqlite).await
}

#[tokio::test]
async fn two_hundred_sign_ins_at_once_hash_a_few_at_a_time_on_postgres() {
    sign_in_burst(Backend::Postgres).await
}

/// argon2 takes 19 MiB a hash: 200 at once, uncapped, would need ~3.8 GB. Capped at one per
/// core, the excess waits briefly and then gets a quick 503 with `Retry-After`; nothing else
/// fails, and the process stays small. (200 accounts, one sign-in each, from 200 networks: one
/// account's checks take turns, and a network's are limited, which are other tests' subjects.)
async fn sign_in_burst(backend: Backend) {
    const BURST: usize = 200;
    const PEAK_RSS_LIMIT_KIB: u64 = 150 * 1024;
    let database = TestDatabase::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    let mut env = base_env(&database.url(), &format!("http://127.0.0.1:{port}"));
    // Each sign-in comes "from" its own client, through a proxy we trust, so the per-client
    // limits let every one reach the hash.
    env.insert("TRUSTED_PROXIES".into(), "127.0.0.1".into());
    let mut server =
        crate::harness::ServerProcess::start(env.into_iter().collect(), dir.path(), port).await;
    let base = server.base();
    let client = reqwest::Client::new();
    let form = [
        ("email", "burst@example.com"),
        ("password", "correct horse battery"),
    ];
    let res = client
        .post(format!("{base}/api/auth/sign_up"))
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-up: {}", res.status());

    let before = server.peak_rss_kib();
    let started = std::time::Instant::now();
    let attempts: Vec<_> = (0..BURST)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/api/auth/sign_in"));
            // The first is the account's owner; the others try emails nobody has, which cost
            // the same hash.
            let email = match i {
                0 => form[0].1.to_string(),
                i => format!("burst-{i}@example.com"),
            };
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("accept", "application/json")
                    .header("x-forwarded-for", format!("10.{}.{}.1", i / 250, i % 250))
                    .form(&[("email", email.as_str()), ("password", form[1].1)])
                    .send()
                    .await
                    .unwrap();
                let retry_after = res.headers().get("retry-after").cloned();
                (res.status().as_u16(), retry_after)
            })
        })
        .collect();
    let (mut signed_in, mut checked, mut busy) = (0, 0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            (200, _) => signed_in += 1,
            (401, _) => checked += 1,
            (503, Some(retry_after)) => {
                assert_eq!(retry_after, "1");
                busy += 1;
            }
            other => panic!("a sign-in answered {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    let peak = server.peak_rss_kib();
    eprintln!(
        "{BURST} sign-ins at once on {backend:?}: {signed_in} signed in, {checked} wrong, {busy} told to retry (503), in {elapsed:.1?}; peak RSS {} MiB ({} MiB before)",
        peak / 1024,
        before / 1024
    );
    assert!(signed_in + checked > 0, "the cap lets some through");
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "peak RSS {} MiB is over 150 MiB",
        peak / 1024
    );
    server.stop().await;
}

/// A Stripe key without a webhook secret starts, but says at once that every webhook will be
/// refused; the Stripe findings of `landing doctor` follow as warnings.
#[tokio::test]
async fn start_up_warns_of_what_the_doctor_finds() {
    let stripe = crate::harness::catalog_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_with(&[
        ("STRIPE_SECRET_KEY", "sk_test_warnings"),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
    ]);
    let running = start_binary(&env, dir.path()).await;
    // The findings come from a process started beside the server: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = running.stop().await;
    assert!(
        log.contains("STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET"),
        "{log}"
    );
    assert!(
        log.contains("doctor: FAIL webhook endpoint: none for"),
        "{log}"
    );
    assert!(
        log.contains("doctor: FAIL customer portal: no configuration saved"),
        "{log}"
    );
    assert!(!log.contains("sk_test_warnings"), "never the key");
}

/// A database migrated by a newer build stops an older one at start, with one line saying so.
#[tokio::test]
async fn a_schema_newer_than_the_build_stops_it_with_one_line() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let database = TestDatabase::create(backend).await;
        let url = database.url();
        let db = crate::harness::open_db(&url).await;
        db.migrate().await.unwrap();
        let newer = "INSERT INTO _sqlx_migrations \
                     (version, description, success, checksum, execution_time) \
                     VALUES (9999, 'from a newer build', true, $1, 0)";
        match &db {
            landing::server::db::Db::Sqlite(pool) => {
                sqlx::query(newer)
                    .bind(vec![0u8])
                    .execute(pool)
                    .await
                    .unwrap();
            }
            landing::server::db::Db::Postgres(pool) => {
                sqlx::query(newer)
                    .bind(vec![0u8])
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        db.close().await;
        let dir = tempfile::tempdir().unwrap();
        let out = landing(&env_with(&[("DATABASE_URL", &url)]), dir.path())
            .output()
            .await
            .unwrap();
        assert!(
            !out.status.success(),
            "{backend:?}: an older build must not start"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{backend:?}: one line, got {stderr:?}");
        assert!(
            lines[0].starts_with("error: DATABASE_URL: the schema is newer than this build")
                && lines[0].contains("migration 9999"),
            "{backend:?}: {stderr}"
        );
    }
}

/// Three instances starting at once on one new PostgreSQL database migrate it once, and all
/// three serve.
#[tokio::test]
async fn three_instances_starting_at_once_migrate_once() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let env = env_with(&[("DATABASE_URL", &url)]);
    let (a, b, c) = tokio::join!(
        start_binary(&env, dir.path()),
        start_binary(&env, dir.path()),
        start_binary(&env, dir.path())
    );
    let client = reqwest::Client::new();
    for running in [&a, &b, &c] {
        let res = client
            .get(format!("http://{}/readyz", running.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", running.addr);
    }
    let db = crate::harness::open_db(&url).await;
    let status = db.migration_status().await.unwrap();
    assert!(
        status.pending.is_empty() && status.unknown.is_empty(),
        "{status:?}"
    );
    for running in [a, b, c] {
        running.stop().await;
    }
}

/// A sign-in whose body is still arriving, as raw HTTP/1.1: the head and half the body.
async fn half_sent_sign_in(addr: &str) -> (tokio::net::TcpStream, &'static [u8]) {
    use tokio::io::AsyncWriteExt;
    const BODY: &[u8] = b"email=ada%40example.com&password=wrong+password%21";
    // The site's address as `env_with` configures it (the binary listens on another port).
    let origin = "http://127.0.0.1:3000";
    let head = format!(
        "POST /api/auth/sign_in HTTP/1.1\r\nhost: {addr}\r\norigin: {origin}\r\n\
         accept: application/json\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\r\n",
        BODY.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = BODY.split_at(10);
    stream.write_all(first).await.unwrap();
    // The request is in the handler, reading its body.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (stream, rest)
}

/// SIGTERM with a request in flight: the request is answered, then the binary exits 0.
#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let running = start_binary(&env_with(&[]), dir.path()).await;
    let addr = running.addr.clone();
    let (mut stream, rest) = half_sent_sign_in(&addr).await;
    let stopping = tokio::spawn(running.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stopped accepting: a new connection is refused.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
    stream.write_all(rest).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let log = stopping.await.unwrap();
    assert!(log.contains("SIGTERM received"), "{log}");
}

/// `METRICS_ADDR` serves `/metrics` on a listener of its own; the site's listener has none, and
/// a port already taken stops the start with one line.
#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(&env_with(&[("METRICS_ADDR", "127.0.0.1:0")]), dir.path()).await;
    let metrics = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = running.lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("metrics on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the binary exited before serving its metrics");
    })
    .await
    .expect("the metrics listener is named in the log");
    let client = reqwest::Client::new();
    let site = |path: &str| format!("http://{}{path}", running.addr);
    assert_eq!(
        client.get(site("/metrics")).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        client.get(site("/pricing")).send().await.unwrap().status(),
        200
    );
    let text = client
        .get(&metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("landing_build_info{"), "{text}");
    assert!(
        text.contains(r#"landing_http_requests_total{route="/pricing",status="200"} 1"#),
        "{text}"
    );

    // A second instance asked for the same metrics port.
    let taken = metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let out = landing(&env_with(&[("METRICS_ADDR", &taken)]), dir.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .trim()
            .starts_with("error: METRICS_ADDR: cannot listen on"),
        "{stderr}"
    );
    running.stop().await;
}

/// A restart under direct load (clients connecting to the instance itself, no balancer): for
/// `SHUTDOWN_LINGER_SECONDS` the stopping instance goes on accepting, with `/readyz` at 503 and
/// every answer saying `Connection: close`; then it takes what waits in its accept queue and
/// closes. No request that reached it is reset: a client sees an answer, or a refused
/// connection once it has closed (and goes elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_direct_load_resets_no_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    // Requests are not logged one by one: nobody reads the log until the end, and a full pipe
    // would stop the binary.
    let env = env_with(&[
        ("SHUTDOWN_LINGER_SECONDS", "1"),
        ("RUST_LOG", "warn,landing=info"),
    ]);
    let running = start_binary(&env, dir.path()).await;
    let base = format!("http://{}", running.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, closing, refused, reset) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (base, stop) = (base.clone(), stop.clone());
            let (answered, closing, refused, reset) = (
                answered.clone(),
                closing.clone(),
                refused.clone(),
                reset.clone(),
            );
            tokio::spawn(async move {
                // Half keep their connections alive, half open one per request.
                let mut builder = reqwest::Client::builder();
                if i % 2 == 1 {
                    builder = builder.pool_max_idle_per_host(0);
                }
                let client = builder.build().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(format!("{base}/pricing")).send().await {
                        Ok(res) => {
                            assert_eq!(res.status(), 200);
                            if res
                                .headers()
                                .get("connection")
                                .is_some_and(|v| v == "close")
                            {
                                closing.fetch_add(1, Ordering::Relaxed);
                            }
                            res.bytes().await.expect("a whole answer");
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_connect() => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => {
                            eprintln!("reset: {e:?}");
                            reset.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = answered.load(Ordering::Relaxed);
    let stopped = tokio::spawn(running.stop());
    // While it lingers, the health check says 503 and the pages still answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let readyz = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 503);
    assert_eq!(readyz.headers()["connection"], "close");
    let log = stopped.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (answered, closing, refused, reset) = (
        answered.load(Ordering::Relaxed),
        closing.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        reset.load(Ordering::Relaxed),
    );
    eprintln!(
        "restart under load: {answered} answered ({before} before the stop, {closing} with \
         Connection: close), {refused} refused after the close, {reset} reset"
    );
    assert_eq!(reset, 0, "no request that reached the instance was reset");
    assert!(
        answered > before && closing > 0,
        "it served while it lingered"
    );
    assert!(refused > 0, "then it closed");
    assert!(log.contains("SIGTERM received"), "{log}");
}

/// A request that never finishes holds the stop back only for `SHUTDOWN_GRACE_SECONDS`.
#[tokio::test]
async fn a_stuck_request_is_cut_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_binary(&env_with(&[("SHUTDOWN_GRACE_SECONDS", "1")]), dir.path()).await;
    let (_stream, _never_sent) = half_sent_sign_in(&running.addr.clone()).await;
    let started = std::time::Instant::now();
    let log = running.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopped after {:?}",
        started.elapsed()
    );
    assert!(
        log.contains("requests still in flight 1 s after the stop were cut"),
        "{log}"
    );
}
