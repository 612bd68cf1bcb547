//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact body bytes with the app secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use routing_usecases::ports::SignatureError;

type HmacSha256 = Hmac<Sha256>;

/// Check `X-Hub-Signature-256: sha256=<hex>` over the exact body bytes, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value Meta would send for `body`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(app_secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_failures() {
        let body = br#"{"object":"page","entry":[]}"#;
        let header = sign(b"secret", body);
        assert!(header.starts_with("sha256="));
        assert_eq!(verify_signature(b"secret", body, Some(&header)), Ok(()));
        assert_eq!(
            verify_signature(b"other", body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"secret", b"{}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"secret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("sha256=abcd")),
            Err(SignatureError::Mismatch)
        );
    }
}
