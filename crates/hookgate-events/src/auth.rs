//! Access tokens: JWTs verified with the configured keys.
//!
//! Each key is bound to one algorithm ([`KeyConfig::algorithm`]). A token is checked only
//! against keys of the algorithm its header names (and of its `kid`, when both have one), and
//! `jsonwebtoken` refuses a key of another family as well, so neither `alg: none` (not an
//! algorithm `jsonwebtoken` knows) nor an `HS256` token whose secret is an RSA public key can
//! pass. `exp` and `iss` are required and checked. The user is the claim `data.id` (as in the
//! WCS document's token) or else `sub`.

use crate::config::{EventsConfig, KeyAlgorithm, KeyConfig};
use crate::errors::EventsError;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Shortest HS256 secret accepted: the size of the SHA-256 output (RFC 7518 §3.2).
const MIN_HS256_SECRET: usize = 32;

/// Verifies access tokens against the configured keys.
pub(crate) struct Verifier {
    keys: Vec<VerifyingKey>,
}

struct VerifyingKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
    /// Bound to this key's one algorithm, the issuer and the leeway.
    validation: Validation,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedToken {
    /// `data.id`, else `sub`.
    pub(crate) user_id: String,
    /// `exp`, in seconds since the Unix epoch.
    pub(crate) expires_at: u64,
}

/// Why a token was refused; every cause is answered with code 2, the cause goes to the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// The header cannot be read (this includes `alg: none`).
    #[error("malformed token header")]
    Header(#[source] jsonwebtoken::errors::Error),
    /// No configured key is bound to the token's algorithm (and `kid`).
    #[error("no key for algorithm {0:?}")]
    NoKey(Algorithm),
    /// Signature, `exp`, `iss` or claim types are wrong.
    #[error("token refused")]
    Refused(#[source] jsonwebtoken::errors::Error),
    /// The token has neither `data.id` nor `sub`.
    #[error("token names no user (neither data.id nor sub)")]
    NoUser,
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

impl Verifier {
    /// Reads every key file; fails on the first unusable one.
    pub(crate) fn load(config: &EventsConfig) -> Result<Self, EventsError> {
        if config.keys.is_empty() {
            return Err(EventsError::Invalid { key: "keys", reason: "at least one key is required".into() });
        }
        if config.issuer.is_empty() {
            return Err(EventsError::Invalid { key: "issuer", reason: "must not be empty".into() });
        }
        let keys = config.keys.iter().map(|key| load_key(key, config)).collect::<Result<_, _>>()?;
        Ok(Verifier { keys })
    }

    /// Checks the token's signature, `exp` and `iss`, and names its user.
    pub(crate) fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(TokenError::Header)?;
        let mut candidates = self.keys.iter().filter(|key| {
            key.algorithm == header.alg
                && match (&header.kid, &key.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        let mut last = None;
        for key in candidates.by_ref() {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) => return user_of(data.claims),
                // Another key of the same algorithm may have signed it (key rotation).
                Err(err) if *err.kind() == ErrorKind::InvalidSignature => last = Some(err),
                Err(err) => return Err(TokenError::Refused(err)),
            }
        }
        Err(last.map_or(TokenError::NoKey(header.alg), TokenError::Refused))
    }
}

fn user_of(claims: Claims) -> Result<VerifiedToken, TokenError> {
    let data_id = claims.data.as_ref().and_then(|data| data.get("id")).and_then(|id| id.as_str());
    let user_id = data_id.or(claims.sub.as_deref()).filter(|id| !id.is_empty()).ok_or(TokenError::NoUser)?;
    Ok(VerifiedToken { user_id: user_id.to_owned(), expires_at: claims.exp })
}

fn load_key(config: &KeyConfig, events: &EventsConfig) -> Result<VerifyingKey, EventsError> {
    let path = &config.file;
    let bytes = std::fs::read(path).map_err(|source| EventsError::Read { path: path.clone(), source })?;
    let (algorithm, name) = match config.algorithm {
        KeyAlgorithm::RS256 => (Algorithm::RS256, "RS256"),
        KeyAlgorithm::ES256 => (Algorithm::ES256, "ES256"),
        KeyAlgorithm::HS256 => (Algorithm::HS256, "HS256"),
    };
    let key = match config.algorithm {
        KeyAlgorithm::RS256 => DecodingKey::from_rsa_pem(&bytes),
        KeyAlgorithm::ES256 => DecodingKey::from_ec_pem(&bytes),
        KeyAlgorithm::HS256 if bytes.len() < MIN_HS256_SECRET => {
            return Err(EventsError::ShortSecret { path: path.clone(), len: bytes.len() });
        }
        KeyAlgorithm::HS256 => Ok(DecodingKey::from_secret(&bytes)),
    }
    .map_err(|source| EventsError::Key { path: path.clone(), algorithm: name, source })?;
    let mut validation = Validation::new(algorithm);
    validation.leeway = events.leeway_seconds;
    validation.set_issuer(&[&events.issuer]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    Ok(VerifyingKey { kid: config.kid.clone(), algorithm, key, validation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const SECRET_A: &[u8] = b"0123456789abcdef0123456789abcdef-a";
    const SECRET_B: &[u8] = b"0123456789abcdef0123456789abcdef-b";

    fn verifier(dir: &std::path::Path) -> Verifier {
        let key = |name: &str, secret: &[u8], kid: &str| {
            let file = dir.join(name);
            std::fs::write(&file, secret).expect("write key");
            KeyConfig { algorithm: KeyAlgorithm::HS256, file, kid: Some(kid.into()) }
        };
        let keys = vec![key("a.key", SECRET_A, "a"), key("b.key", SECRET_B, "b")];
        Verifier::load(&EventsConfig::new("iss", keys, dir.join("users.toml"))).expect("keys load")
    }

    fn token(secret: &[u8], kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(Into::into);
        let claims = serde_json::json!({"iss": "iss", "exp": jsonwebtoken::get_current_timestamp() + 60, "sub": "u"});
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).expect("sign")
    }

    #[test]
    fn a_kid_selects_its_key_and_without_one_every_key_of_the_algorithm_is_tried() {
        let dir = tempfile::tempdir().expect("tempdir");
        let verifier = verifier(dir.path());
        assert_eq!(verifier.verify(&token(SECRET_B, Some("b"))).expect("kid b").user_id, "u");
        assert_eq!(verifier.verify(&token(SECRET_B, None)).expect("rotation").user_id, "u");
        assert!(matches!(verifier.verify(&token(SECRET_B, Some("a"))), Err(TokenError::Refused(_))));
        assert!(matches!(verifier.verify(&token(SECRET_B, Some("c"))), Err(TokenError::NoKey(Algorithm::HS256))));
    }

    #[test]
    fn unusable_keys_are_refused_at_load_with_the_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("k");
        std::fs::write(&file, b"short").expect("write");
        let config = |algorithm| {
            EventsConfig::new("iss", vec![KeyConfig { algorithm, file: file.clone(), kid: None }], "users.toml")
        };
        let err = Verifier::load(&config(KeyAlgorithm::HS256)).err().expect("short secret");
        assert!(err.to_string().ends_with("an HS256 secret must be at least 32 bytes, this one has 5"), "{err}");
        let err = Verifier::load(&config(KeyAlgorithm::RS256)).err().expect("not a PEM");
        assert_eq!(err.to_string(), format!("{}: not a usable RS256 key", file.display()));
        let err = Verifier::load(&EventsConfig::new("iss", vec![], "users.toml")).err().expect("no keys");
        assert_eq!(err.to_string(), "webSocketEvents.keys: at least one key is required");
    }

    #[test]
    fn the_user_is_data_id_else_sub() {
        let claims = |value: serde_json::Value| serde_json::from_value::<Claims>(value).expect("claims");
        let both = claims(serde_json::json!({"exp": 5, "sub": "s", "data": {"id": "5dad615eae019570fb4647ed"}}));
        assert_eq!(user_of(both).expect("user").user_id, "5dad615eae019570fb4647ed");
        let sub = claims(serde_json::json!({"exp": 5, "sub": "s", "data": {"name": "a.kalinin"}}));
        assert_eq!(user_of(sub).expect("user").user_id, "s");
        assert!(matches!(user_of(claims(serde_json::json!({"exp": 5}))), Err(TokenError::NoUser)));
    }
}
