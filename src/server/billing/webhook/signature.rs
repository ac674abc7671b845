//! The `Stripe-Signature` header: an HMAC-SHA256 of `timestamp.body` under one of the endpoint's
//! secrets, fresh within a tolerance. Checked on the raw bytes, before anything is parsed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::server::secret::Secret;

/// Stripe's default: a signature older (or newer) than this is a replay, not a delivery.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches any webhook secret")]
    NoMatch,
}

/// Checks `Stripe-Signature` (`t=…,v1=…[,v1=…]`) against every configured secret: during a
/// rotation Stripe signs with both the old and the new secret, and either may be ours.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[Secret],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                if let Ok(bytes) = hex::decode(sig) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    // Checked: `t` is whatever the sender wrote, and `now - t` overflows for values near
    // i64's ends. A difference too large to compute is as stale as one past the tolerance.
    let skew = now.checked_sub(timestamp).map(i64::unsigned_abs);
    if skew.is_none_or(|skew| skew > TOLERANCE_SECS.unsigned_abs()) {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        for signature in &signatures {
            // `verify_slice` compares in constant time.
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"x","created":1,"data":{"object":{}}}"#;

    fn secrets(s: &[&str]) -> Vec<Secret> {
        s.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn any_v1_against_any_secret_passes() {
        let t = 1_000;
        let header = format!(
            "t={t},v1={},v1={}",
            sign("whsec_other", t, BODY),
            sign("whsec_new", t, BODY)
        );
        let ok = verify(
            Some(&header),
            BODY,
            &secrets(&["whsec_old", "whsec_new"]),
            t + 10,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn a_wrong_secret_a_changed_body_or_an_old_timestamp_fails() {
        let t = 1_000;
        let header = format!("t={t},v1={}", sign("whsec_a", t, BODY));
        let a = secrets(&["whsec_a"]);
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&["whsec_b"]), t),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", &a, t),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, &a, t + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(Some(&header), BODY, &a, t + TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(None, BODY, &a, t), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("v1=abc"), BODY, &a, t),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1000,v0=abc"), BODY, &a, t),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_timestamp_at_either_end_of_i64_is_stale_not_an_overflow() {
        let a = secrets(&["whsec_a"]);
        let signed_at = |t: i64| format!("t={t},v1={}", sign("whsec_a", t, BODY));
        for (t, now) in [
            (i64::MIN, 1_800_000_000),
            (i64::MIN, 0),
            (i64::MIN, i64::MAX),
            (i64::MIN + 1, i64::MAX),
            (i64::MAX, 1_800_000_000),
            (i64::MAX, -1),
            (i64::MAX, i64::MIN),
        ] {
            assert_eq!(
                verify(Some(&signed_at(t)), BODY, &a, now),
                Err(SignatureError::Stale),
                "t={t} now={now}"
            );
        }
        // The ends are ordinary times otherwise: signed then, checked then, they pass.
        for (t, now) in [(i64::MIN, i64::MIN + TOLERANCE_SECS), (i64::MAX, i64::MAX)] {
            assert_eq!(verify(Some(&signed_at(t)), BODY, &a, now), Ok(()));
        }
        // Past i64: not a timestamp at all.
        for t in ["9223372036854775808", "-9223372036854775809"] {
            assert_eq!(
                verify(Some(&format!("t={t},v1=00")), BODY, &a, 0),
                Err(SignatureError::Malformed)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: crate::server::fuzz_cases(3000),
            ..Default::default()
        })]

        /// Fuzz: any header, body and secrets: no panic, and never accepted unless it carries
        /// the signature of these bytes by one of the secrets.
        #[test]
        fn a_random_signature_header_is_never_accepted(
            header in proptest::option::of(".{0,200}"),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            now in proptest::prelude::any::<i64>(),
        ) {
            let verdict = verify(header.as_deref(), &body, &secrets(&["whsec_a", "whsec_b"]), now);
            proptest::prop_assert!(verdict.is_err());
        }

        /// A real signature passes; any change to the bytes, the secret or the time beyond the
        /// tolerance fails it.
        #[test]
        fn a_signature_holds_for_its_bytes_secret_and_time_only(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
            t in 0i64..4_000_000_000,
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
            late in (TOLERANCE_SECS + 1)..1_000_000,
        ) {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_a").unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(&body);
            let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
            let ours = secrets(&["whsec_other", "whsec_a"]);
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t + skew), Ok(()));
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            proptest::prop_assert_eq!(verify(Some(&header), &changed, &ours, t), Err(SignatureError::NoMatch));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &secrets(&["whsec_b"]), t), Err(SignatureError::NoMatch));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t + late), Err(SignatureError::Stale));
            proptest::prop_assert_eq!(verify(Some(&header), &body, &ours, t - late), Err(SignatureError::Stale));
        }

        /// Fuzz: any timestamp at any time, the extremes included, gives an answer, never a
        /// panic; only one within the tolerance of `now` can pass.
        #[test]
        fn any_timestamp_at_any_time_is_answered_without_a_panic(
            t in proptest::prop_oneof![
                proptest::prelude::any::<i64>(),
                proptest::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
            ],
            now in proptest::prop_oneof![
                proptest::prelude::any::<i64>(),
                proptest::sample::select(vec![i64::MIN, 0, 1_800_000_000, i64::MAX]),
            ],
        ) {
            let header = format!("t={t},v1={}", sign("whsec_a", t, BODY));
            let verdict = verify(Some(&header), BODY, &secrets(&["whsec_a"]), now);
            if now.abs_diff(t) <= TOLERANCE_SECS.unsigned_abs() {
                proptest::prop_assert_eq!(verdict, Ok(()));
            } else {
                proptest::prop_assert_eq!(verdict, Err(SignatureError::Stale));
            }
        }
    }
}
