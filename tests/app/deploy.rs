//! The deploy kit, followed as the README's "Deploy" section says: the tree `scripts/dist.sh`
//! lays out, started from an empty folder with environment variables only, behind Debian's
//! Caddy terminating TLS (`tls internal`); a buyer signs up and pays over HTTPS with the
//! emulator. The session cookie is `Secure` and `__Host-`, and the limits count the buyer's
//! address, which Caddy forwards, not Caddy's. The systemd unit passes `systemd-analyze verify`.
//!
//! It needs the dist tree and Caddy: `scripts/test.sh` lays the tree out after the site build
//! and runs this test with `LANDING_DIST` set (`cargo test … -- --ignored deploy::`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{free_port, pay_at, JWT_SECRET, STRIPE_KEY, WEBHOOK_SECRET};

struct Killed(tokio::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

fn dist() -> PathBuf {
    PathBuf::from(
        std::env::var("LANDING_DIST").expect("LANDING_DIST: the tree scripts/dist.sh laid out"),
    )
}

/// Caddy in front of `site_port`, serving `https://localhost:{https_port}` with its own local
/// CA, keeping its state in `dir`; the CA's root certificate, once Caddy has made it.
async fn caddy(dir: &Path, https_port: u16, site_port: u16) -> (Killed, reqwest::Certificate) {
    let config = format!(
        "{{\n\tadmin off\n\thttp_port {http}\n\thttps_port {https_port}\n\tauto_https disable_redirects\n\
         \tlocal_certs\n\tskip_install_trust\n}}\n\
         localhost:{https_port} {{\n\ttls internal\n\treverse_proxy 127.0.0.1:{site_port}\n}}\n",
        http = free_port()
    );
    std::fs::write(dir.join("Caddyfile"), config).unwrap();
    let child = tokio::process::Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("caddy (Debian's package; scripts/test.sh installs it)");
    let root = dir.join("data/caddy/pki/authorities/local/root.crt");
    for _ in 0..200 {
        if let Ok(pem) = std::fs::read(&root) {
            if tokio::net::TcpStream::connect(("127.0.0.1", https_port))
                .await
                .is_ok()
            {
                return (Killed(child), reqwest::Certificate::from_pem(&pem).unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("caddy did not start on {https_port}");
}

/// An HTTPS client trusting Caddy's CA, connecting from `from` (another loopback address than
/// Caddy's own connections to the site come from).
fn buyer(ca: &reqwest::Certificate, from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .local_address(from.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the dist tree and Caddy: scripts/test.sh runs it with LANDING_DIST"]
async fn the_dist_tree_behind_caddy_sells_over_https() {
    let dist = dist();
    let dir = tempfile::tempdir().unwrap();
    let (site_port, https_port) = (free_port(), free_port());
    let site = format!("https://localhost:{https_port}");
    // Webhooks go to the instance itself (server to server); buyers come through Caddy.
    let stripe = stripe_emulator::spawn(stripe_emulator::Options {
        catalog: Some(dist.join("plans.toml")),
        webhook: Some((
            format!("http://127.0.0.1:{site_port}/api/stripe/webhook"),
            WEBHOOK_SECRET.into(),
        )),
        ..Default::default()
    })
    .await
    .unwrap();

    // The dist tree, from an empty folder, configured by environment variables only.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let server = tokio::process::Command::new(dist.join("landing"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs([
            ("LEPTOS_ENV", "PROD".to_string()),
            ("LEPTOS_SITE_ROOT", dist.join("site").display().to_string()),
            ("PLANS_FILE", dist.join("plans.toml").display().to_string()),
            ("LEPTOS_SITE_ADDR", format!("127.0.0.1:{site_port}")),
            ("DATABASE_URL", "sqlite://data/landing.db".to_string()),
            ("SITE_URL", site.clone()),
            ("AUTH_JWT_SECRET", JWT_SECRET.to_string()),
            ("STRIPE_SECRET_KEY", STRIPE_KEY.to_string()),
            ("STRIPE_API_BASE", stripe.base_url.clone()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
            ("TRUSTED_PROXIES", "127.0.0.1".to_string()),
            ("SIGN_INS_PER_ADDRESS", "3".to_string()),
            ("RUST_LOG", "warn".to_string()),
        ])
        .current_dir(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _server = Killed(server);
    let (_caddy, ca) = caddy(dir.path(), https_port, site_port).await;
    let ann = buyer(&ca, "127.0.0.2");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(res) = ann.get(format!("{site}/readyz")).send().await {
            ready = res.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the site answers through Caddy");
    assert!(
        run.join("data/landing.db").exists(),
        "SQLite made in the working folder"
    );

    // Ann signs up and in over HTTPS: the cookie is the https one.
    let form = |path: &str, fields: &[(&str, &str)]| {
        ann.post(format!("{site}{path}"))
            .header("accept", "application/json")
            .header("origin", &site)
            .form(fields)
    };
    let credentials = [
        ("email", "ann@example.com"),
        ("password", "correct horse battery"),
    ];
    assert_eq!(
        form("/api/auth/sign_up", &credentials)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signed_in = form("/api/auth/sign_in", &credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.starts_with("__Host-landing_session="),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // She buys Lifetime: the buy button's form, Checkout in the emulator, back over HTTPS.
    let checkout = ann
        .post(format!("{site}/api/checkout"))
        .header("accept", "text/html")
        .header("origin", &site)
        .header("cookie", &cookie)
        .form(&[("price", "lifetime_once")])
        .send()
        .await
        .unwrap();
    assert_eq!(checkout.status(), 302, "{}", checkout.text().await.unwrap());
    let pay_url = checkout.headers()["location"].to_str().unwrap().to_string();
    let back = pay_at(&pay_url, "ann@example.com").await;
    assert!(
        back.starts_with(&format!("{site}/success?session_id=")),
        "{back}"
    );
    let success = ann
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(success.status(), 200);
    assert!(success.text().await.unwrap().contains("Thank you"));
    let mut bought = false;
    for _ in 0..100 {
        let billing = ann
            .get(format!("{site}/billing"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if billing.contains("Lifetime") {
            bought = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bought, "the purchase shows on /billing");

    // The limits count Ann's address, which Caddy forwards: her fourth sign-in in ten minutes
    // is refused, and Bob's first, from another address through the same Caddy, is not.
    for expected in [200, 200, 429] {
        let res = form("/api/auth/sign_in", &credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    let bob = buyer(&ca, "127.0.0.3");
    let bob_in = bob
        .post(format!("{site}/api/auth/sign_in"))
        .header("accept", "application/json")
        .header("origin", &site)
        .form(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(bob_in.status(), 200);

    // The systemd unit, pointed at this tree, passes systemd's own check.
    let unit = std::fs::read_to_string(crate::harness::manifest_path("deploy/landing.service"))
        .unwrap()
        .replace("/opt/landing", &dist.display().to_string());
    std::fs::write(dir.path().join("landing.service"), unit).unwrap();
    let verified = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("landing.service"))
        .output()
        .expect("systemd-analyze (Debian's systemd)");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
