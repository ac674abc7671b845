//! The catalog file parsed and checked, and its prices matched with Stripe's.

use super::*;

const PRODUCT: &str = r#"
        [product]
        name = "Acme"
        headline = "h"
        pitch = "p"
        highlights = []
    "#;

fn with_plans(plans: &str) -> Result<Catalog, ParseError> {
    parse(&format!("{PRODUCT}\n{plans}"))
}

fn invalid_message(plans: &str) -> String {
    match with_plans(plans) {
        Err(ParseError::Invalid(m)) => m,
        other => panic!("expected an invalid catalog, got {other:?}"),
    }
}

#[test]
fn reconcile_shows_stripes_amounts_and_names_every_difference() {
    let catalog = load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans.toml")
            .as_path(),
    )
    .unwrap();
    let mut by_key = HashMap::new();
    for price in catalog.plans.iter().flat_map(|p| &p.prices) {
        by_key.insert(
            price.lookup_key.clone(),
            StripePrice {
                id: format!("price_{}", price.lookup_key),
                lookup_key: price.lookup_key.clone(),
                amount: price.amount,
                currency: price.currency.clone(),
                recurring: price.interval != Interval::OneTime,
            },
        );
    }
    by_key.get_mut("pro_monthly").unwrap().amount = 3900;
    by_key.get_mut("lifetime_once").unwrap().recurring = true;
    by_key.remove("starter_yearly");
    let index = PriceIndex {
        by_key,
        ..PriceIndex::default()
    };
    let (shown, drift) = reconcile(&catalog, &index);
    let pro = shown.plans.iter().find(|p| p.id == "pro").unwrap();
    assert_eq!(
        pro.prices
            .iter()
            .find(|p| p.lookup_key == "pro_monthly")
            .unwrap()
            .amount,
        3900
    );
    assert_eq!(drift.len(), 3, "{drift:?}");
    assert!(drift.contains(&Drift::Missing {
        lookup_key: "starter_yearly".into()
    }));
}

#[test]
fn the_repository_catalog_loads() {
    let catalog = load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans.toml")
            .as_path(),
    )
    .expect("plans.toml is valid");
    assert!(catalog.plans.len() >= 2);
    assert_eq!(catalog.plans.iter().filter(|p| p.highlighted).count(), 1);
}

#[test]
fn prices_take_the_catalog_currency_unless_they_name_their_own() {
    let c = parse(&format!(
        "currency = \"EUR\"\n{PRODUCT}\n{}",
        r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [
              { lookup_key = "a_m", interval = "month", amount = 900 },
              { lookup_key = "a_y", interval = "year", amount = 9000, currency = "gbp" },
            ]
            "#
    ))
    .unwrap();
    assert_eq!(c.plans[0].prices[0].currency, "eur");
    assert_eq!(c.plans[0].prices[1].currency, "gbp");
}

#[test]
fn trials_are_for_recurring_prices_and_within_stripes_limit() {
    let plan = |price: &str| {
        format!(
            r#"
                [[plans]]
                id = "a"
                name = "A"
                prices = [{price}]
                "#
        )
    };
    let c = with_plans(&plan(
        r#"{ lookup_key = "a_m", interval = "month", amount = 1, trial_days = 14 }"#,
    ))
    .unwrap();
    assert_eq!(c.plans[0].prices[0].trial_days, Some(14));
    assert!(invalid_message(&plan(
        r#"{ lookup_key = "a_o", interval = "one_time", amount = 1, trial_days = 14 }"#
    ))
    .contains("only subscriptions have trials"));
    for days in [0, 731] {
        assert!(invalid_message(&plan(&format!(
            r#"{{ lookup_key = "a_m", interval = "month", amount = 1, trial_days = {days} }}"#
        )))
        .contains("between 1 and 730"));
    }
}

#[test]
fn every_plan_names_the_same_entitlements_each_at_least_zero() {
    let plans = |a: &str, b: &str| {
        format!(
            r#"
                [[plans]]
                id = "a"
                name = "A"
                prices = [{{ lookup_key = "a_m", interval = "month", amount = 1 }}]
                [plans.entitlements]
                {a}
                [[plans]]
                id = "b"
                name = "B"
                prices = [{{ lookup_key = "b_m", interval = "month", amount = 2 }}]
                [plans.entitlements]
                {b}
                "#
        )
    };
    let c = with_plans(&plans("monitors = 10", "monitors = 100")).unwrap();
    assert_eq!(c.plans[1].entitlements["monitors"], 100);
    assert_eq!(c.plan_of("b_m").map(|p| p.id.as_str()), Some("b"));
    assert!(invalid_message(&plans("monitors = 10", "seats = 1")).contains("different"));
    assert!(invalid_message(&plans("monitors = 10", "")).contains("different"));
    assert!(invalid_message(&plans("monitors = -1", "monitors = 1")).contains("at least 0"));
    assert!(invalid_message(&plans("Monitors = 1", "Monitors = 1")).contains("lower-case"));
    let repo = load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans.toml")
            .as_path(),
    )
    .unwrap();
    let pro = repo.plans.iter().find(|p| p.id == "pro").unwrap();
    assert_eq!(pro.entitlements["monitors"], 100);
}

#[test]
fn duplicate_lookup_keys_are_refused() {
    let m = invalid_message(
        r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            [[plans]]
            id = "b"
            name = "B"
            prices = [{ lookup_key = "k", interval = "year", amount = 1 }]
            "#,
    );
    assert!(m.contains("`k` is used twice"), "{m}");
}

#[test]
fn bad_amounts_intervals_and_ids_are_refused_with_the_culprit_named() {
    let m = invalid_message(
        r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 0 }]
            "#,
    );
    assert!(m.contains("`k`") && m.contains("positive"), "{m}");
    let m = invalid_message(
        r#"
            [[plans]]
            id = "Not A Slug"
            name = "A"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            "#,
    );
    assert!(m.contains("Not A Slug"), "{m}");
    let m = invalid_message(
        r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [
              { lookup_key = "k1", interval = "month", amount = 1 },
              { lookup_key = "k2", interval = "month", amount = 2 },
            ]
            "#,
    );
    assert!(m.contains("two Month prices"), "{m}");
}

const ONE_PLAN: &str = r#"
        [[plans]]
        id = "a"
        name = "A"
        prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
    "#;

#[test]
fn coupons_are_listed_by_exact_id_and_none_is_the_default() {
    let c = with_plans(&format!(
        "{ONE_PLAN}{}",
        r#"
            [[coupons]]
            id = "LAUNCH20"
            description = "20% off for launch week"
            "#
    ))
    .unwrap();
    assert_eq!(
        c.coupon("LAUNCH20").map(|c| c.description.as_str()),
        Some("20% off for launch week")
    );
    assert!(
        c.coupon("launch20").is_none(),
        "Stripe's ids are case-sensitive"
    );
    assert!(c.coupon("STAFF100").is_none());
    assert!(with_plans(ONE_PLAN).unwrap().coupons.is_empty());
}

#[test]
fn bad_duplicate_or_undescribed_coupons_are_refused_with_the_culprit_named() {
    let coupon = |id: &str, description: &str| {
        format!("[[coupons]]\nid = \"{id}\"\ndescription = \"{description}\"\n")
    };
    let m = invalid_message(&format!("{ONE_PLAN}{}", coupon("NO SUCH", "d")));
    assert!(m.contains("`NO SUCH`"), "{m}");
    let m = invalid_message(&format!(
        "{ONE_PLAN}{}{}",
        coupon("TWICE", "d"),
        coupon("TWICE", "e")
    ));
    assert!(m.contains("`TWICE` is listed twice"), "{m}");
    let m = invalid_message(&format!("{ONE_PLAN}{}", coupon("BARE", " ")));
    assert!(m.contains("`BARE` has no description"), "{m}");
    let r = with_plans(&format!("{ONE_PLAN}[[coupons]]\nid = \"X\"\n"));
    assert!(
        matches!(r, Err(ParseError::Toml(ref m)) if m.contains("description")),
        "{r:?}"
    );
}

#[test]
fn unknown_fields_and_intervals_are_toml_errors() {
    let r = with_plans(
        r#"
            [[plans]]
            id = "a"
            name = "A"
            prices = [{ lookup_key = "k", interval = "week", amount = 1 }]
            "#,
    );
    assert!(matches!(r, Err(ParseError::Toml(_))));
    let r = with_plans(
        r#"
            [[plans]]
            id = "a"
            name = "A"
            colour = "red"
            prices = [{ lookup_key = "k", interval = "month", amount = 1 }]
            "#,
    );
    assert!(
        matches!(r, Err(ParseError::Toml(ref m)) if m.contains("colour")),
        "{r:?}"
    );
}

fn plan_price(id: &str, active: bool, lookup_key: Option<&str>) -> PlanPrice {
    PlanPrice {
        id: id.into(),
        plan: "pro".into(),
        interval: Some(Interval::Month),
        amount: 2900,
        currency: "usd".into(),
        active,
        lookup_key: lookup_key.map(str::to_string),
    }
}

#[test]
fn a_replaced_price_keeps_its_plan_and_only_an_active_one_no_key_names_is_a_stray() {
    let sold = StripePrice {
        id: "price_new".into(),
        lookup_key: "pro_monthly".into(),
        amount: 3900,
        currency: "usd".into(),
        recurring: true,
    };
    let index = PriceIndex {
        by_key: HashMap::from([("pro_monthly".to_string(), sold)]),
        by_id: [
            plan_price("price_new", true, Some("pro_monthly")),
            plan_price("price_archived", false, Some("pro_monthly")),
            plan_price("price_left_active", true, Some("pro_monthly")),
        ]
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect(),
        ..PriceIndex::default()
    };
    assert_eq!(index.plan_price("price_archived").unwrap().plan, "pro");
    assert!(
        index.find("price_archived").is_none(),
        "a replaced price is not sold"
    );
    let strays: Vec<&str> = index.strays().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(strays, ["price_left_active"]);
}

#[test]
fn an_unknown_price_may_be_ours_unless_its_product_is_another_business_s() {
    let mut index = PriceIndex {
        products: HashMap::from([("prod_pro".to_string(), "pro".to_string())]),
        every_plan_has_a_product: true,
        ..PriceIndex::default()
    };
    assert!(index.may_be_ours(Some("prod_pro")), "a price made since");
    assert!(!index.may_be_ours(Some("prod_theirs")));
    assert!(index.may_be_ours(None), "nothing says whose it is");
    // A plan without a product yet: setup may have made it since the index was read.
    index.every_plan_has_a_product = false;
    assert!(index.may_be_ours(Some("prod_new")));
}
