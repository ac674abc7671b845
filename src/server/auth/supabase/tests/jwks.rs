//! Asymmetric keys: the JWKS fetched, rotated, refetched at most once per interval, and kept
//! when a fetch fails.

use super::*;

/// A P-256 private key as PKCS#8 DER (RFC 5208 around RFC 5915, public key omitted): the
/// fixed encoding of the curve's OIDs, then the 32-byte scalar.
fn p256_key(scalar: u8) -> EncodingKey {
    let mut der = vec![
        0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
        0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25,
        0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    der.extend([scalar; 32]);
    EncodingKey::from_ec_der(&der)
}

/// The public JWK of a key, shaped as Supabase publishes it.
fn public_jwk(key: &EncodingKey, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_operations = Some(vec![KeyOperations::Verify]);
    jwk
}

fn jwks(keys: &[Jwk]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.to_vec(),
    })
    .unwrap()
}

fn es256(claims: &Value, key: &EncodingKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    encode(&header, claims, key).unwrap()
}

#[derive(Clone)]
struct Served {
    /// Status and body of the next answers; changed by the test at will.
    answer: Arc<Mutex<(StatusCode, String)>>,
    hits: Arc<AtomicUsize>,
}

impl Served {
    fn set(&self, status: StatusCode, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(s): State<Served>) -> (StatusCode, String) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    s.answer.lock().unwrap().clone()
}

/// A Supabase stand-in on 127.0.0.1: its URL and its JWKS.
async fn supabase(initial: String) -> (String, Served) {
    let served = Served {
        answer: Arc::new(Mutex::new((StatusCode::OK, initial))),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/auth/v1/.well-known/jwks.json", get(serve_jwks))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, served)
}

fn jwks_config(url: &str) -> SupabaseConfig {
    SupabaseConfig {
        url: url.into(),
        jwt_secret: None,
        jwks_url: Some(format!("{url}/auth/v1/.well-known/jwks.json")),
        emails_confirmed: false,
    }
}

#[tokio::test]
async fn jwks_keys_are_fetched_rotated_and_unknown_kids_refused() {
    let (a, b, c) = (p256_key(0x11), p256_key(0x22), p256_key(0x33));
    let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
    let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
    let (id, sub) = user();
    let claims = claims(&url, &sub);

    // Fetched on first use, then served from the cache.
    assert_eq!(
        verifier.verify(&es256(&claims, &a, "A")).await.unwrap().id,
        id
    );
    assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());
    assert_eq!(served.hits(), 1);

    // Supabase rotates to B: a token naming B makes us fetch again.
    served.set(StatusCode::OK, jwks(&[public_jwk(&b, "B")]));
    assert_eq!(
        verifier.verify(&es256(&claims, &b, "B")).await.unwrap().id,
        id
    );
    assert_eq!(served.hits(), 2);
    // A is no longer published (revoked): refused, once the set was refetched.
    assert_eq!(
        verifier.verify(&es256(&claims, &a, "A")).await.unwrap_err(),
        SupabaseError::UnknownKey
    );

    // A kid Supabase never published: refused after a fetch, nothing crashes.
    assert_eq!(
        verifier.verify(&es256(&claims, &c, "C")).await.unwrap_err(),
        SupabaseError::UnknownKey
    );
    // A token naming B but signed with C's key.
    assert_eq!(
        verifier.verify(&es256(&claims, &c, "B")).await.unwrap_err(),
        SupabaseError::BadSignature
    );
    // B is an EC key: an RS256 header naming it is refused before any signature check.
    let rs = hmac_signed(&json!({"alg": "RS256", "kid": "B"}), &claims, "x");
    assert_eq!(
        verifier.verify(&rs).await.unwrap_err(),
        SupabaseError::WrongAlgorithm
    );
    // No kid at all.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = None;
    let no_kid = encode(&header, &claims, &b).unwrap();
    assert_eq!(
        verifier.verify(&no_kid).await.unwrap_err(),
        SupabaseError::UnknownKey
    );
    // The claim checks apply on this path too.
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!(format!("{PROJECT}/auth/v1"));
    assert_eq!(
        verifier
            .verify(&es256(&wrong_iss, &b, "B"))
            .await
            .unwrap_err(),
        SupabaseError::WrongIssuer
    );
}

#[tokio::test]
async fn unknown_kid_floods_fetch_at_most_once_per_interval() {
    let a = p256_key(0x11);
    let b = p256_key(0x22);
    let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
    let verifier = Arc::new(SupabaseVerifier::new(
        jwks_config(&url),
        Duration::from_secs(3600),
    ));
    let (_, sub) = user();
    let claims = claims(&url, &sub);

    // Many first requests at once: one fetch, all verified.
    let good = es256(&claims, &a, "A");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (v, t) = (verifier.clone(), good.clone());
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(served.hits(), 1);

    // A flood of made-up kids within the interval: refused without a single fetch.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (v, t) = (verifier.clone(), es256(&claims, &a, &format!("bogus-{i}")));
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err(), SupabaseError::UnknownKey);
    }
    assert_eq!(served.hits(), 1);
    // The price: a key rotated in within the interval waits for the interval to pass.
    served.set(StatusCode::OK, jwks(&[public_jwk(&b, "B")]));
    assert_eq!(
        verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
        SupabaseError::UnknownKey
    );
    assert!(verifier.verify(&good).await.is_ok());
    assert_eq!(served.hits(), 1);
}

#[tokio::test]
async fn a_failed_fetch_refuses_the_token_and_keeps_the_known_keys() {
    let a = p256_key(0x11);
    let b = p256_key(0x22);
    let (url, served) = supabase(jwks(&[public_jwk(&a, "A")])).await;
    let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
    let (_, sub) = user();
    let claims = claims(&url, &sub);
    assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());

    served.set(StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    assert_eq!(
        verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
        SupabaseError::KeysUnavailable
    );
    served.set(StatusCode::OK, "not json".into());
    assert_eq!(
        verifier.verify(&es256(&claims, &b, "B")).await.unwrap_err(),
        SupabaseError::KeysUnavailable
    );
    // A still verifies from the cache.
    assert!(verifier.verify(&es256(&claims, &a, "A")).await.is_ok());

    // Nobody listening at all.
    let nowhere = "http://127.0.0.1:9";
    let gone = SupabaseVerifier::new(jwks_config(nowhere), Duration::ZERO);
    let mut gone_claims = claims.clone();
    gone_claims["iss"] = json!(format!("{nowhere}/auth/v1"));
    assert_eq!(
        gone.verify(&es256(&gone_claims, &a, "A"))
            .await
            .unwrap_err(),
        SupabaseError::KeysUnavailable
    );
}

#[tokio::test]
async fn hs256_is_refused_when_only_the_jwks_is_configured() {
    let a = p256_key(0x11);
    // The JWKS even publishes the secret as an `oct` key under the kid: still refused.
    let oct: Jwk = serde_json::from_value(json!({
        "kty": "oct", "kid": "A", "alg": "HS256",
        "k": URL_SAFE_NO_PAD.encode(SECRET),
    }))
    .unwrap();
    let (url, served) = supabase(jwks(&[oct])).await;
    let verifier = SupabaseVerifier::new(jwks_config(&url), Duration::ZERO);
    let (_, sub) = user();
    let claims = claims(&url, &sub);

    assert_eq!(
        verifier.verify(&hs256(&claims, SECRET)).await.unwrap_err(),
        SupabaseError::WrongAlgorithm
    );
    let with_kid = hmac_signed(&json!({"alg": "HS256", "kid": "A"}), &claims, SECRET);
    assert_eq!(
        verifier.verify(&with_kid).await.unwrap_err(),
        SupabaseError::WrongAlgorithm
    );
    assert_eq!(served.hits(), 0);
    // The `oct` key is not usable for ES256 either.
    assert_eq!(
        verifier.verify(&es256(&claims, &a, "A")).await.unwrap_err(),
        SupabaseError::UnknownKey
    );
}

#[test]
fn jwks_parsing_keeps_only_signature_keys_that_fit_es256_or_rs256() {
    let a = public_jwk(&p256_key(0x11), "A");
    let mut enc = public_jwk(&p256_key(0x22), "enc");
    enc.common.public_key_use = Some(PublicKeyUse::Encryption);
    let mut sign_only = public_jwk(&p256_key(0x33), "sign-only");
    sign_only.common.key_operations = Some(vec![KeyOperations::Sign]);
    let mut no_kid = public_jwk(&p256_key(0x44), "x");
    no_kid.common.key_id = None;
    let mut claims_rs = public_jwk(&p256_key(0x55), "ec-says-rs256");
    claims_rs.common.key_algorithm = Some(KeyAlgorithm::RS256);
    let body = json!({"keys": [
        a, enc, sign_only, no_kid, claims_rs,
        {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
        {"kty": "future", "kid": "odd"},
    ]});
    let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
    let mut kids: Vec<_> = keys.iter().map(|(k, v)| (k.as_str(), v.alg)).collect();
    kids.sort_by_key(|(k, _)| *k);
    assert_eq!(kids, [("A", Algorithm::ES256), ("rsa", Algorithm::RS256)]);
    assert!(parse_jwks(b"{}").is_err());
}
