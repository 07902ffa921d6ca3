//! Authentication of WCS's hook requests: HMAC-MD5 signatures and HTTP Basic.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookgate_config::AuthConfig;
use md5::Md5;
use subtle::ConstantTimeEq;

/// Why a hook failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No credentials of the configured kind: answered 401.
    Missing(&'static str),
    /// Credentials that are malformed or wrong: answered 403.
    Invalid(&'static str),
}

impl AuthFailure {
    /// The HTTP status of the answer.
    pub(crate) fn status(self) -> u16 {
        match self {
            AuthFailure::Missing(_) => 401,
            AuthFailure::Invalid(_) => 403,
        }
    }

    /// The reason, for the answer's body and the logs (never anything the client sent).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            AuthFailure::Missing(reason) | AuthFailure::Invalid(reason) => reason,
        }
    }
}

/// Checks the `Authorization` header against `auth` (a tenant's or the server's); an empty
/// configuration accepts every hook.
pub(crate) fn check(auth: &AuthConfig, authorization: Option<&[u8]>, body: &[u8]) -> Result<(), AuthFailure> {
    use AuthFailure::{Invalid, Missing};
    if let Some(key) = &auth.hmac_key {
        // WCS's rest_hook_send_hash: `Authorization: WCS <hex HMAC-MD5(body, key)>`.
        let given = authorization
            .and_then(|value| value.strip_prefix(b"WCS "))
            .ok_or(Missing("missing WCS signature (Authorization: WCS <hmac>)"))?;
        let given = hex::decode(given.trim_ascii()).map_err(|_| Invalid("malformed WCS signature"))?;
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key.expose()).map_err(|_| Invalid("unusable HMAC key"))?;
        mac.update(body);
        mac.verify_slice(&given).map_err(|_| Invalid("invalid WCS signature"))?;
    }
    if let Some(basic) = &auth.basic {
        let encoded = authorization
            .and_then(|value| value.strip_prefix(b"Basic "))
            .ok_or(Missing("missing HTTP Basic credentials"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim_ascii())
            .map_err(|_| Invalid("malformed HTTP Basic credentials"))?;
        let mut expected = Vec::with_capacity(basic.user.len() + 1 + basic.password.expose().len());
        expected.extend_from_slice(basic.user.as_bytes());
        expected.push(b':');
        expected.extend_from_slice(basic.password.expose());
        if !bool::from(decoded.ct_eq(&expected)) {
            return Err(Invalid("invalid HTTP Basic credentials"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_config::{BasicAuth, Secret};

    fn hmac_auth(key: &str) -> AuthConfig {
        AuthConfig { hmac_key: Some(Secret::new(key.as_bytes().to_vec())), basic: None }
    }

    #[test]
    fn hmac_md5_signature_of_the_body() {
        let body = br#"{"appKey":"defaultApp"}"#;
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(b"1234567890").unwrap();
        mac.update(body);
        let header = format!("WCS {}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(check(&hmac_auth("1234567890"), Some(header.as_bytes()), body), Ok(()));
        let invalid = Err(AuthFailure::Invalid("invalid WCS signature"));
        assert_eq!(check(&hmac_auth("other"), Some(header.as_bytes()), body), invalid);
        assert_eq!(check(&hmac_auth("1234567890"), Some(header.as_bytes()), b"{}"), invalid);
        let missing = check(&hmac_auth("k"), None, body).unwrap_err();
        assert_eq!((missing.status(), missing.reason()), (401, "missing WCS signature (Authorization: WCS <hmac>)"));
        let malformed = check(&hmac_auth("k"), Some(b"WCS zz"), body).unwrap_err();
        assert_eq!((malformed.status(), malformed.reason()), (403, "malformed WCS signature"));
        assert_eq!(check(&AuthConfig::default(), None, body), Ok(()), "nothing configured, nothing checked");
    }

    /// RFC 2104 test vector 1 (HMAC-MD5), so the construction is the standard one.
    #[test]
    fn rfc2104_vector() {
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&[0x0b; 16]).unwrap();
        mac.update(b"Hi There");
        assert_eq!(hex::encode(mac.finalize().into_bytes()), "9294727a3638bb1c13f48ef8158bfc9d");
    }

    #[test]
    fn basic_credentials() {
        let auth = AuthConfig {
            hmac_key: None,
            basic: Some(BasicAuth { user: "wcs".into(), password: Secret::new(b"s3cret".to_vec()) }),
        };
        let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("wcs:s3cret"));
        let bad = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("wcs:nope"));
        assert_eq!(check(&auth, Some(good.as_bytes()), b"{}"), Ok(()));
        assert_eq!(
            check(&auth, Some(bad.as_bytes()), b"{}"),
            Err(AuthFailure::Invalid("invalid HTTP Basic credentials"))
        );
        assert_eq!(check(&auth, None, b"{}"), Err(AuthFailure::Missing("missing HTTP Basic credentials")));
    }
}
