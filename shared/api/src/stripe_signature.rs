//! Verifies Stripe's `Stripe-Signature` header: `t=<unix>,v1=<hex>[,v1=...]`, where each `v1`
//! may be the HMAC-SHA256 of `"<t>.<payload>"` with the endpoint's secret. A timestamp more
//! than the tolerance away from now is refused (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's own libraries default to five minutes.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secret: &str,
    now_unix: i64,
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
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Checked: a timestamp from anyone (i64::MIN, say) must not overflow the difference.
    let skew = now_unix.checked_sub(timestamp).and_then(i64::checked_abs);
    if skew.is_none_or(|skew| skew > TOLERANCE_SECONDS) {
        return Err(SignatureError::Stale);
    }
    for signature in signatures {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // Constant-time comparison.
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(payload: &str, secret: &str, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{payload}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn a_fresh_signature_with_the_secret_verifies() {
        let header = sign("{\"id\":\"evt_1\"}", "whsec_x", NOW - 10);
        assert_eq!(
            verify(b"{\"id\":\"evt_1\"}", Some(&header), "whsec_x", NOW),
            Ok(())
        );
        // Rolled secrets: any v1 may match.
        let both = format!("{header},v1=00ff");
        assert_eq!(
            verify(b"{\"id\":\"evt_1\"}", Some(&both), "whsec_x", NOW),
            Ok(())
        );
    }

    #[test]
    fn forged_stale_and_malformed_signatures_are_refused() {
        let payload = b"{\"id\":\"evt_1\"}";
        let header = sign("{\"id\":\"evt_1\"}", "whsec_x", NOW);
        assert_eq!(
            verify(payload, Some(&header), "whsec_other", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"{\"id\":\"evt_2\"}", Some(&header), "whsec_x", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(payload, Some(&header), "whsec_x", NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(payload, Some("v1=abc"), "whsec_x", NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(payload, None, "whsec_x", NOW),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MAX, -1, 0] {
            let header = format!("t={t},v1=00");
            assert_eq!(
                verify(b"{}", Some(&header), "whsec_x", NOW),
                Err(SignatureError::Stale)
            );
        }
    }

    proptest::proptest! {
        /// No header, however made, panics the check (it runs before any authentication).
        #[test]
        fn no_header_makes_the_check_panic(header in "\\PC{0,200}", now in proptest::prelude::any::<i64>()) {
            let _ = verify(b"{}", Some(&header), "whsec_x", now);
        }

        #[test]
        fn no_timestamp_makes_the_check_panic(t in proptest::prelude::any::<i64>(), now in proptest::prelude::any::<i64>()) {
            let header = format!("t={t},v1=00");
            let _ = verify(b"{}", Some(&header), "whsec_x", now);
        }
    }
}
