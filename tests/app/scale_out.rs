//! Scale-out (#17): `landing` processes on one PostgreSQL behind HAProxy (Debian's package;
//! `scripts/test.sh` installs it), with the emulator delivering webhooks to the balancer.
//!
//! - A webhook storm through the balancer while every instance in turn is stopped with SIGTERM
//!   and started again, buyers loading `/pricing` all along: every event applied once, the
//!   final state the one in-order delivery gave, each mail sent once, and no 5xx on a page load
//!   (the balancer retries what a stopping instance refuses).
//! - The sign-in limit held across instances: the 31st attempt from one client is refused by
//!   whichever instance it reaches.
//! - Sign-out on one instance: the others refuse the token within a second.
//!
//! `SCALE_OUT=full` (`make scale-out`) runs 3 instances and 2,000 events; the normal test run, 2
//! instances and 300 events.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    after_deliveries, all_events, assert_as_stripe_has_it, assert_same_state, base_env,
    expected_mail, free_port, make_history, open_db, replay, stored_state, wait_applied, Backend,
    DeliveryLog, ServerProcess, SmtpSink, TestApp, TestDatabase, STRIPE_KEY,
};

struct Size {
    instances: usize,
    events: usize,
    /// Deliveries the emulator has in flight at once.
    concurrency: usize,
}

fn size() -> Size {
    match std::env::var("SCALE_OUT").as_deref() {
        Ok("full") => Size {
            instances: 3,
            events: 2_000,
            concurrency: 64,
        },
        _ => Size {
            instances: 2,
            events: 300,
            concurrency: 16,
        },
    }
}

/// HAProxy in front of instances on loopback: round robin, `/readyz` checked every 100 ms (an
/// instance that answers 503 or refuses connections twice is out), and a request that found a
/// closed connection or a 503 retried on another instance. A check may take a second: without
/// `timeout check` it gets the 100 ms interval, and on a loaded machine one slow check of the
/// instance still up took it out too, leaving no instance and answering buyers 503.
struct Balancer {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Balancer {
    async fn start_on(port: u16, instances: &[u16]) -> Balancer {
        let dir = tempfile::tempdir().unwrap();
        let servers: String = instances
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server i{i} 127.0.0.1:{p} check\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 4096\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    \
             timeout server 60s\n    timeout queue 10s\n    timeout check 1s\n    option http-buffer-request\n    \
             retries 3\n    option redispatch 1\n    \
             retry-on conn-failure empty-response junk-response response-timeout 503\n    \
             default-server inter 100ms fall 2 rise 2\n\
             frontend site\n    bind 127.0.0.1:{port}\n    option forwardfor\n    \
             default_backend instances\n\
             backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n    \
             http-check expect status 200\n    http-response set-header X-Served-By %s\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = tokio::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy (scripts/test.sh installs Debian's package)");
        let balancer = Balancer {
            child,
            port,
            _dir: dir,
        };
        balancer.wait_all_up(instances.len()).await;
        balancer
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until round robin reaches `n` distinct instances (all passed their checks).
    async fn wait_all_up(&self, n: usize) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..n * 2 {
                if let Ok(res) = client.get(format!("{}/readyz", self.base())).send().await {
                    if let Some(by) = res.headers().get("x-served-by") {
                        seen.insert(by.to_str().unwrap().to_owned());
                    }
                }
            }
            if seen.len() == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the balancer sees {seen:?} of {n} instances"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Buyers loading `/pricing` through the balancer until told to stop: answers by status, and
/// requests that got no answer at all.
fn buyers(
    base: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(BTreeMap<u16, usize>, usize)> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut statuses = BTreeMap::new();
        let mut unanswered = 0;
        while !stop.load(Ordering::Relaxed) {
            match client.get(format!("{base}/pricing")).send().await {
                Ok(res) => *statuses.entry(res.status().as_u16()).or_default() += 1,
                Err(_) => unanswered += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (statuses, unanswered)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_behind_haproxy_share_state_and_restart_one_by_one_losing_nothing() {
    let size = size();
    let started = Instant::now();
    // Stripe's side: a history made live, and a retry policy that outlasts a restart.
    let live =
        TestApp::spawn_webhooks_retrying(Backend::Postgres, 12, Duration::from_millis(100)).await;
    let made = make_history(&live, size.events).await;
    wait_applied(&live.state.db, made, Duration::from_secs(600)).await;
    let in_order = stored_state(&live.state.db).await;
    let events = all_events(&live);

    // The site: instances on one new database, behind one balancer whose address is the site's.
    let database = TestDatabase::create(Backend::Postgres).await;
    let ports: Vec<u16> = (0..size.instances).map(|_| free_port()).collect();
    let balancer_port = free_port();
    let (url, secret) = live.endpoint_for(balancer_port).await;
    let smtp = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let site = format!("http://127.0.0.1:{balancer_port}");
    let mut env = base_env(&database.url(), &site);
    for (k, v) in [
        ("STRIPE_SECRET_KEY", STRIPE_KEY.to_string()),
        ("STRIPE_API_BASE", live.stripe_base()),
        ("STRIPE_WEBHOOK_SECRET", secret),
        ("SMTP_URL", format!("smtp://127.0.0.1:{}", smtp.port)),
        ("TRUSTED_PROXIES", "127.0.0.1".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ] {
        env.insert(k.into(), v);
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut instances = Vec::new();
    for port in &ports {
        instances.push(ServerProcess::start(env.clone(), dir.path(), *port).await);
    }
    // The balancer on the port the endpoint names.
    let balancer = Balancer::start_on(balancer_port, &ports).await;
    assert_eq!(balancer.base(), site);

    // The storm, buyers, and a rolling restart once the storm is under way.
    let storm = replay(&live, &url, size.concurrency);
    let stop_buyers = Arc::new(AtomicBool::new(false));
    let buying = buyers(site.clone(), stop_buyers.clone());
    after_deliveries(&live, &url, made / 10).await;
    let mut restarted_mid_storm = 0;
    for instance in &mut instances {
        let status = instance.stop().await.expect("stops within 15 s of SIGTERM");
        assert!(status.success(), "SIGTERM exits 0, got {status}");
        instance.restart().await;
        balancer.wait_all_up(size.instances).await;
        restarted_mid_storm += usize::from(!storm.is_finished());
    }
    let answer = storm.await.unwrap();
    stop_buyers.store(true, Ordering::Relaxed);
    let (pages, pages_unanswered) = buying.await.unwrap();

    // Nothing lost, nothing doubled, the state in-order delivery gave, each mail once.
    assert_eq!(answer["gave_up"], json!(0), "{answer}");
    assert_eq!(answer["delivered"], json!(made * 3));
    let db = open_db(&database.url()).await;
    let log = DeliveryLog::read(&live, &url);
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    log.assert_applied_once(&ids, &db).await;
    assert_same_state(&stored_state(&db).await, &in_order);
    assert_as_stripe_has_it(&live, &db).await;
    let mail = expected_mail(&events);
    smtp.wait_for(mail, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.mails().len(), mail, "each mail sent once");

    // Buyers: every page load answered, none with a 5xx.
    let page_loads: usize = pages.values().sum();
    let page_5xx: usize = pages.range(500..).map(|(_, n)| n).sum();
    assert_eq!(page_5xx, 0, "{pages:?}");
    assert_eq!(pages_unanswered, 0, "{pages:?}");
    assert_eq!(pages.get(&200).copied().unwrap_or(0), page_loads);

    sign_in_limit_holds_across_instances(&site, size.instances).await;
    let sign_out = sign_out_reaches_every_instance(&site, &instances).await;

    let haproxy = std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("?")
                .to_owned()
        })
        .unwrap_or_default();
    eprintln!(
        "scale-out results\n\
         | part | result |\n\
         |---|---|\n\
         | instances | {n} `landing` processes behind HAProxy {haproxy}, one PostgreSQL |\n\
         | webhook storm | {made} events x 3 = {deliveries} deliveries through the balancer; {errors} answered 5xx, {unanswered} unanswered (retried by the emulator); each applied once (lost 0, doubled 0); the state in-order delivery gave |\n\
         | mail | {mail} mails, each sent once |\n\
         | rolling restart | {n} of {n} instances stopped with SIGTERM (exit 0) and started again, {restarted_mid_storm} while the storm ran |\n\
         | buyers' page loads | {page_loads} loads of /pricing during it: 5xx 0, unanswered 0 |\n\
         | sign-in limit | attempts 1-30 answered 401; the 31st and on 429, at each of the {n} instances |\n\
         | sign-out | refused by the other instances {ms} ms after it |\n\
         | time | {secs} s |\n",
        n = size.instances,
        deliveries = log.deliveries,
        errors = log.server_errors,
        unanswered = log.unanswered,
        ms = sign_out.as_millis(),
        secs = started.elapsed().as_secs(),
    );
    drop(balancer);
    for mut instance in instances {
        instance.stop().await;
    }
    db.close().await;
}

fn sign_in_request(
    client: &reqwest::Client,
    site: &str,
    email: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{site}/api/auth/sign_in"))
        .header("accept", "application/json")
        .header("origin", site)
        .form(&[("email", email), ("password", password)])
}

/// 30 failed sign-ins from one client (named by `X-Forwarded-For`, to which HAProxy adds its
/// own hop), spread by round robin: then each instance refuses the next.
async fn sign_in_limit_holds_across_instances(site: &str, instances: usize) {
    let client = reqwest::Client::new();
    let mut reached = BTreeMap::<String, usize>::new();
    for i in 1..=30 + instances {
        let res = sign_in_request(
            &client,
            site,
            &format!("limit{i}@example.com"),
            "wrong password!",
        )
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
        let by = res.headers()["x-served-by"].to_str().unwrap().to_owned();
        let want = if i <= 30 { 401 } else { 429 };
        assert_eq!(res.status(), want, "attempt {i}, at {by}");
        if i > 30 {
            *reached.entry(by).or_default() += 1;
        }
    }
    assert_eq!(
        reached.len(),
        instances,
        "refused by every instance: {reached:?}"
    );
}

/// Signs in through the balancer, signs out at the first instance, and waits until every other
/// instance refuses the token; returns how long the slowest took.
async fn sign_out_reaches_every_instance(site: &str, instances: &[ServerProcess]) -> Duration {
    let client = reqwest::Client::new();
    let fields = [
        ("email", "leaver@example.com"),
        ("password", "correct horse battery"),
    ];
    let res = client
        .post(format!("{site}/api/auth/sign_up"))
        .header("accept", "application/json")
        .header("origin", site)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-up: {}", res.status());
    let res = sign_in_request(&client, site, fields[0].1, fields[1].1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = crate::harness::session_cookie(&res);
    let me = |base: String| {
        client
            .get(format!("{base}/api/me"))
            .header("cookie", cookie.clone())
            .send()
    };
    for instance in instances {
        assert_eq!(me(instance.base()).await.unwrap().status(), 200);
    }
    let res = client
        .post(format!("{}/api/auth/sign_out", instances[0].base()))
        .header("accept", "application/json")
        .header("origin", site)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-out: {}", res.status());
    let started = Instant::now();
    for instance in &instances[1..] {
        while me(instance.base()).await.unwrap().status() != 401 {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{} still accepts the token a second after the sign-out",
                instance.base()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    started.elapsed()
}
