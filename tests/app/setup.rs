//! `landing stripe setup` and `landing doctor`, run as an operator runs them, against the
//! emulator: setup makes an empty account what the site needs and then changes nothing; the
//! doctor passes a healthy set-up and names each broken one.

use std::path::{Path, PathBuf};

use crate::harness::{env_with, landing};

struct Run {
    ok: bool,
    out: String,
}

async fn run(env: &[(String, String)], dir: &Path, args: &[&str]) -> Run {
    let out = landing(env, dir).args(args).output().await.unwrap();
    Run {
        ok: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// An empty Stripe (no catalog, no endpoint, no portal settings), as a new account is.
async fn empty_stripe() -> stripe_emulator::Emulator {
    stripe_emulator::spawn(stripe_emulator::Options::default())
        .await
        .unwrap()
}

fn env(stripe: &stripe_emulator::Emulator, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = vec![
        ("STRIPE_SECRET_KEY", "sk_test_setup"),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
    ];
    vars.extend_from_slice(extra);
    env_with(&vars)
}

fn secret_in(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .to_string()
}

const SITE: &str = "http://127.0.0.1:3000";

#[tokio::test]
async fn stripe_setup_makes_the_account_once_then_follows_plans_toml() {
    let stripe = empty_stripe().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&stripe, &[]);

    let dry = run(&env, dir.path(), &["stripe", "setup", "--dry-run"]).await;
    assert!(dry.ok, "{}", dry.out);
    for line in [
        "+ product \"Starter\" for plan starter",
        "+ price pro_monthly",
        "+ customer-portal configuration",
        "+ webhook endpoint http://127.0.0.1:3000/api/stripe/webhook",
        "--dry-run: nothing was changed.",
    ] {
        assert!(dry.out.contains(line), "{line} in {}", dry.out);
    }
    assert!(stripe.store.lock().unwrap().prices.is_empty());

    let first = run(&env, dir.path(), &["stripe", "setup"]).await;
    assert!(first.ok, "{}", first.out);
    assert!(first.out.contains("Applied 10 change(s)."), "{}", first.out);
    let secret = secret_in(&first.out);
    {
        let store = stripe.store.lock().unwrap();
        assert_eq!(store.products.len(), 3);
        assert_eq!(store.prices.len(), 5);
        let endpoint = store.endpoints.values().next().unwrap();
        assert_eq!(endpoint.secret, secret);
        assert_eq!(endpoint.url, format!("{SITE}/api/stripe/webhook"));
        assert!(endpoint
            .enabled_events
            .contains(&"charge.dispute.closed".to_string()));
        assert!(!endpoint.enabled_events.contains(&"*".to_string()));
        let config = store.portal_configurations.values().next().unwrap();
        let offered: Vec<&str> = config
            .products
            .iter()
            .flat_map(|p| p.prices.iter())
            .map(|id| store.prices[id].lookup_key.as_deref().unwrap())
            .collect();
        assert_eq!(
            offered,
            [
                "starter_monthly",
                "starter_yearly",
                "pro_monthly",
                "pro_yearly"
            ]
        );
        assert_eq!(config.cancel_mode, "at_period_end");
        assert_eq!(config.update_proration, "always_invoice");
        assert_eq!(config.trial_update, "continue_trial");
        // Downgrades and shorter intervals wait for the period's end, as on the site.
        assert_eq!(
            config.schedule_conditions,
            ["decreasing_item_amount", "shortening_interval"]
        );
        assert_eq!(
            config.default_return_url.as_deref(),
            Some("http://127.0.0.1:3000/billing")
        );
    }

    let second = run(&env, dir.path(), &["stripe", "setup"]).await;
    assert!(second.ok, "{}", second.out);
    assert!(second.out.contains("Nothing to change"), "{}", second.out);
    assert!(!second.out.contains("whsec_"), "the secret is shown once");
    // `catalog sync` is the same command.
    let alias = run(&env, dir.path(), &["catalog", "sync"]).await;
    assert!(alias.out.contains("Nothing to change"), "{}", alias.out);

    // plans.toml changes: a new amount and a terms page.
    let plans = dir.path().join("plans.toml");
    let text = std::fs::read_to_string(crate::harness::manifest_path("plans.toml"))
        .unwrap()
        .replace("amount = 2900,", "amount = 3900,")
        .replace(
            "# terms_of_service_url = \"https://beacon.example/terms\"",
            "terms_of_service_url = \"https://beacon.example/terms\"",
        );
    std::fs::write(&plans, text).unwrap();
    let changed_env = env_with_plans(&env, &plans);
    let third = run(&changed_env, dir.path(), &["stripe", "setup"]).await;
    assert!(third.ok, "{}", third.out);
    assert!(
        third.out.contains("+ price pro_monthly, replacing")
            && third
                .out
                .contains("plans.toml says 3900 usd / month, Stripe says 2900 usd / month"),
        "{}",
        third.out
    );
    assert!(
        third.out.contains("links plans.toml's terms of service"),
        "{}",
        third.out
    );
    {
        let store = stripe.store.lock().unwrap();
        let new_pro = store.price_by_lookup_key("pro_monthly").unwrap();
        assert_eq!(new_pro.unit_amount, 3900);
        let config = store.portal_configurations.values().next().unwrap();
        assert!(config
            .products
            .iter()
            .any(|p| p.prices.contains(&new_pro.id)));
        assert_eq!(store.portal_configurations.len(), 1, "updated, not added");
        assert_eq!(
            config.terms_of_service_url.as_deref(),
            Some("https://beacon.example/terms")
        );
    }

    // Someone disables the endpoint and drops an event: setup puts both back on the same one.
    {
        let mut store = stripe.store.lock().unwrap();
        let endpoint = store.endpoints.values_mut().next().unwrap();
        endpoint.disabled = true;
        endpoint.enabled_events.retain(|e| e != "invoice.paid");
    }
    let fourth = run(&changed_env, dir.path(), &["stripe", "setup"]).await;
    assert!(
        fourth.out.contains("enable it (it is disabled)")
            && fourth.out.contains("(add invoice.paid)"),
        "{}",
        fourth.out
    );
    {
        let store = stripe.store.lock().unwrap();
        assert_eq!(
            store.endpoints.len(),
            1,
            "never a second endpoint for the URL"
        );
        let endpoint = store.endpoints.values().next().unwrap();
        assert!(!endpoint.disabled);
        assert!(endpoint
            .enabled_events
            .contains(&"invoice.paid".to_string()));
    }
    let fifth = run(&changed_env, dir.path(), &["stripe", "setup"]).await;
    assert!(fifth.out.contains("Nothing to change"), "{}", fifth.out);
}

fn env_with_plans(env: &[(String, String)], plans: &Path) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.retain(|(k, _)| k != "PLANS_FILE");
    env.push(("PLANS_FILE".into(), plans.display().to_string()));
    env
}

#[tokio::test]
async fn setup_never_sends_a_live_key_anywhere_but_stripe() {
    // A live key only ever goes to api.stripe.com, so setup with a live key cannot run against
    // the emulator: it stops before any request. (Its `--yes` question needs a live account.)
    let dir = tempfile::tempdir().unwrap();
    let env = env_with(&[
        ("STRIPE_SECRET_KEY", "sk_live_FAKE_key_for_tests_0"),
        ("SITE_URL", "https://shop.example.com"),
        ("STRIPE_API_BASE", "http://127.0.0.1:9"),
    ]);
    let out = run(&env, dir.path(), &["stripe", "setup"]).await;
    assert!(!out.ok);
    assert!(out.out.contains("STRIPE_API_BASE"), "{}", out.out);
    assert!(!out.out.contains("FAKE_key"), "never the key: {}", out.out);
}

/// A healthy set-up: an account made by `stripe setup`, the secret it printed, a migrated
/// database.
struct Healthy {
    stripe: stripe_emulator::Emulator,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

async fn healthy() -> Healthy {
    let stripe = empty_stripe().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("doctor.db").display());
    let setup_env = env(&stripe, &[("DATABASE_URL", db.as_str())]);
    let made = run(&setup_env, dir.path(), &["stripe", "setup"]).await;
    assert!(made.ok, "{}", made.out);
    let secret = secret_in(&made.out);
    let env = env(
        &stripe,
        &[
            ("DATABASE_URL", db.as_str()),
            ("STRIPE_WEBHOOK_SECRET", secret.as_str()),
        ],
    );
    let migrated = run(&env, dir.path(), &["migrate"]).await;
    assert!(migrated.ok, "{}", migrated.out);
    Healthy { stripe, dir, env }
}

impl Healthy {
    /// The doctor with these variables changed fails, with a `FAIL` line containing `line`.
    async fn fails_with(&self, overrides: &[(&str, &str)], line: &str) {
        let report = self.doctor(overrides).await;
        assert!(
            !report.ok,
            "{overrides:?}: the doctor should fail: {}",
            report.out
        );
        assert!(
            report
                .out
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(line)),
            "{overrides:?}: no FAIL line with {line:?} in\n{}",
            report.out
        );
        assert!(!report.out.contains("FAKE_key"), "never the key");
    }

    async fn doctor(&self, overrides: &[(&str, &str)]) -> Run {
        let mut env = self.env.clone();
        for (k, v) in overrides {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        run(&env, self.dir.path(), &["doctor"]).await
    }

    /// Breaks the account with `change`, expects the doctor to fail with `line`, then undoes
    /// it with `undo`.
    async fn broken(
        &self,
        change: impl FnOnce(&mut stripe_emulator::store::Store),
        line: &str,
        undo: impl FnOnce(&mut stripe_emulator::store::Store),
    ) {
        change(&mut self.stripe.store.lock().unwrap());
        self.fails_with(&[], line).await;
        undo(&mut self.stripe.store.lock().unwrap());
    }
}

fn price_mut<'a>(
    store: &'a mut stripe_emulator::store::Store,
    key: &str,
) -> &'a mut stripe_emulator::store::Price {
    store
        .prices
        .values_mut()
        .find(|p| p.lookup_key.as_deref() == Some(key))
        .unwrap()
}

#[tokio::test]
async fn the_doctor_passes_a_healthy_set_up_and_names_each_broken_one() {
    let h = healthy().await;
    let report = h.doctor(&[]).await;
    assert!(report.ok, "{}", report.out);
    assert!(report.out.contains("All checks hold."), "{}", report.out);
    assert!(
        report
            .out
            .contains("ok   webhook secret: a signed test event verifies"),
        "{}",
        report.out
    );
    assert!(!report.out.contains("FAIL"), "{}", report.out);

    // A missing price.
    h.broken(
        |s| price_mut(s, "pro_yearly").lookup_key = Some("gone".into()),
        "price pro_yearly: not in Stripe → run `landing stripe setup`",
        |s| price_mut(s, "gone").lookup_key = Some("pro_yearly".into()),
    )
    .await;
    // An amount that drifted.
    h.broken(
        |s| price_mut(s, "pro_monthly").unit_amount = 3900,
        "plans.toml says 2900 usd / month, Stripe says 3900 usd / month",
        |s| price_mut(s, "pro_monthly").unit_amount = 2900,
    )
    .await;
    // A disabled endpoint.
    h.broken(
        |s| s.endpoints.values_mut().next().unwrap().disabled = true,
        ": disabled; Stripe sends it nothing",
        |s| s.endpoints.values_mut().next().unwrap().disabled = false,
    )
    .await;
    // A missing event.
    h.broken(
        |s| {
            s.endpoints
                .values_mut()
                .next()
                .unwrap()
                .enabled_events
                .retain(|e| e != "charge.refunded")
        },
        "not subscribed to charge.refunded",
        |s| {
            s.endpoints
                .values_mut()
                .next()
                .unwrap()
                .enabled_events
                .push("charge.refunded".into())
        },
    )
    .await;
    // A portal that offers something else.
    h.broken(
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .cancel_mode = "immediately".into()
        },
        "cancels at the period's end",
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .cancel_mode = "at_period_end".into()
        },
    )
    .await;
    // A portal whose plan switch ends a trial.
    h.broken(
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .trial_update = "end_trial".into()
        },
        "keeps a trial going through a plan switch",
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .trial_update = "continue_trial".into()
        },
    )
    .await;
    // A portal that applies downgrades at once.
    h.broken(
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .schedule_conditions
                .clear()
        },
        "schedules downgrades and shorter intervals for the period's end",
        |s| {
            s.portal_configurations
                .values_mut()
                .next()
                .unwrap()
                .schedule_conditions = vec![
                "decreasing_item_amount".into(),
                "shortening_interval".into(),
            ]
        },
    )
    .await;
    assert!(h.doctor(&[]).await.ok, "undone");

    for (variable, value, line) in [
        // A wrong secret.
        (
            "STRIPE_WEBHOOK_SECRET",
            "whsec_not_the_endpoints",
            "webhook secret: a signed test event from the endpoint does not verify",
        ),
        // A key without a webhook secret: every webhook would be answered 503.
        (
            "STRIPE_WEBHOOK_SECRET",
            "",
            "STRIPE_WEBHOOK_SECRET is not set: every webhook is answered 503",
        ),
        // Keys of the other mode: the site refuses to start, and the doctor says why in one line.
        (
            "STRIPE_SECRET_KEY",
            "sk_live_FAKE_key_for_tests_0",
            "SITE_URL: ",
        ),
        (
            "STRIPE_PUBLISHABLE_KEY",
            "pk_live_abc",
            "STRIPE_PUBLISHABLE_KEY: ",
        ),
        // A mail server that is not there is named.
        (
            "SMTP_URL",
            "smtp://127.0.0.1:9",
            "mail: cannot reach 127.0.0.1:9",
        ),
    ] {
        h.fails_with(&[(variable, value)], line).await;
    }
    // A database nobody migrated.
    let fresh = PathBuf::from(h.dir.path()).join("fresh.db");
    h.fails_with(
        &[("DATABASE_URL", &format!("sqlite://{}", fresh.display()))],
        "migration(s) not applied → run `landing migrate`",
    )
    .await;
}
