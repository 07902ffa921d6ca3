//! Access tokens: JWTs verified with the configured keys.
//!
//! Each key is bound to one algorithm ([`KeyConfig::algorithm`]). A token is checked only
//! against keys of the algorithm its header names, and `jsonwebtoken` refuses a key of another
//! family as well, so neither `alg: none` (not an algorithm `jsonwebtoken` knows) nor an `HS256`
//! token whose secret is an RSA public key can pass. A token with a `kid` is checked only against
//! the keys with that `kid`, and refused when there is none; a token without one against every
//! key of its algorithm (rotation).
//!
//! `exp` and `iss` are required and checked; `nbf`, when present, is checked, both with
//! `leeway_seconds`. With `audience` configured, `aud` is required and must name it; without,
//! a token that names any audience is refused. The user is the claim `data.id` (as in the WCS
//! document's token) or, when the token has no `data.id`, `sub`; a `data` that is not an object,
//! or a `data.id` or `sub` that is not a string, makes the token invalid.
//!
//! Every key file is a [`Reloading`] value: replaced, it verifies with its new content from the
//! next request on (a file that no longer holds a usable key keeps the last good one).

use crate::config::{EventsConfig, KeyAlgorithm, KeyConfig};
use crate::errors::EventsError;
use crate::reload::Reloading;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Shortest HS256 secret accepted: the size of the SHA-256 output (RFC 7518 §3.2).
const MIN_HS256_SECRET: usize = 32;

/// Verifies access tokens against the configured keys.
pub(crate) struct Verifier {
    keys: Vec<VerifyingKey>,
    /// Whether a configured audience is required (else any `aud` is refused).
    audience: bool,
}

struct VerifyingKey {
    kid: Option<String>,
    algorithm: Algorithm,
    /// The key as its file holds it now.
    key: Reloading<DecodingKey>,
    /// Bound to this key's one algorithm, the issuer, the audience and the leeway.
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
    /// No configured key is bound to the token's algorithm.
    #[error("no key for algorithm {0:?}")]
    NoKey(Algorithm),
    /// The token's `kid` names no configured key of its algorithm.
    #[error("no {algorithm:?} key has the kid {kid:?}")]
    UnknownKid {
        /// The token's algorithm.
        algorithm: Algorithm,
        /// The token's `kid`.
        kid: String,
    },
    /// Signature, `exp`, `nbf`, `iss`, `aud` or claim types are wrong.
    #[error("token refused")]
    Refused(#[source] jsonwebtoken::errors::Error),
    /// The token names an audience and none is configured.
    #[error("the token names an audience (aud) and webSocketEvents.audience is not set")]
    UnexpectedAudience,
    /// `data` is present and not an object.
    #[error("the token's data claim is not an object")]
    DataNotObject,
    /// `data.id` is present and not a string.
    #[error("the token's data.id is not a string")]
    UserIdNotString,
    /// The token has neither `data.id` nor `sub`, or an empty one.
    #[error("token names no user (neither data.id nor sub)")]
    NoUser,
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
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
        if config.audience.as_deref() == Some("") {
            return Err(EventsError::Invalid { key: "audience", reason: "must not be empty (omit it instead)".into() });
        }
        let keys = config.keys.iter().map(|key| VerifyingKey::load(key, config)).collect::<Result<_, _>>()?;
        Ok(Verifier { keys, audience: config.audience.is_some() })
    }

    /// Checks the token's signature, `exp`, `nbf`, `iss` and `aud`, and names its user.
    pub(crate) fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(TokenError::Header)?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| {
                key.algorithm == header.alg && header.kid.as_ref().is_none_or(|kid| key.kid.as_ref() == Some(kid))
            })
            .peekable();
        if candidates.peek().is_none() {
            return Err(match &header.kid {
                Some(kid) => TokenError::UnknownKid { algorithm: header.alg, kid: kid.clone() },
                None => TokenError::NoKey(header.alg),
            });
        }
        let mut last = None;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key.current(), &key.validation) {
                Ok(data) => return self.user_of(data.claims),
                // Another key of the same algorithm may have signed it (key rotation).
                Err(err) if *err.kind() == ErrorKind::InvalidSignature => last = Some(err),
                Err(err) => return Err(TokenError::Refused(err)),
            }
        }
        Err(last.map_or(TokenError::NoKey(header.alg), TokenError::Refused))
    }

    /// The token's user, once its signature and registered claims are checked.
    fn user_of(&self, claims: Claims) -> Result<VerifiedToken, TokenError> {
        // `jsonwebtoken` lets an `aud` it cannot parse (a number…) through when no audience is
        // configured; any `aud` at all is refused then.
        if !self.audience && claims.aud.as_ref().is_some_and(|aud| !aud.is_null()) {
            return Err(TokenError::UnexpectedAudience);
        }
        let data_id = match &claims.data {
            None => None,
            Some(Value::Object(data)) => match data.get("id") {
                None => None,
                Some(Value::String(id)) => Some(id.as_str()),
                Some(_) => return Err(TokenError::UserIdNotString),
            },
            Some(_) => return Err(TokenError::DataNotObject),
        };
        let user_id = data_id.or(claims.sub.as_deref()).filter(|id| !id.is_empty()).ok_or(TokenError::NoUser)?;
        Ok(VerifiedToken { user_id: user_id.to_owned(), expires_at: claims.exp })
    }
}

impl VerifyingKey {
    fn load(config: &KeyConfig, events: &EventsConfig) -> Result<VerifyingKey, EventsError> {
        let algorithm = match config.algorithm {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::HS256 => Algorithm::HS256,
        };
        let kind = config.algorithm;
        let key = Reloading::load(&config.file, format!("{kind:?} key"), move |path| read_key(path, kind))?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = events.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[&events.issuer]);
        match &events.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => validation.set_required_spec_claims(&["exp", "iss"]),
        }
        Ok(VerifyingKey { kid: config.kid.clone(), algorithm, key, validation })
    }
}

/// Reads one key file as a key of `algorithm`.
fn read_key(path: &Path, algorithm: KeyAlgorithm) -> Result<DecodingKey, EventsError> {
    let bytes = std::fs::read(path).map_err(|source| EventsError::Read { path: path.to_owned(), source })?;
    let name = match algorithm {
        KeyAlgorithm::RS256 => "RS256",
        KeyAlgorithm::ES256 => "ES256",
        KeyAlgorithm::HS256 => "HS256",
    };
    match algorithm {
        KeyAlgorithm::RS256 => DecodingKey::from_rsa_pem(&bytes),
        KeyAlgorithm::ES256 => DecodingKey::from_ec_pem(&bytes),
        KeyAlgorithm::HS256 if bytes.len() < MIN_HS256_SECRET => {
            return Err(EventsError::ShortSecret { path: path.to_owned(), len: bytes.len() });
        }
        KeyAlgorithm::HS256 => Ok(DecodingKey::from_secret(&bytes)),
    }
    .map_err(|source| EventsError::Key { path: path.to_owned(), algorithm: name, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const SECRET_A: &[u8] = b"0123456789abcdef0123456789abcdef-a";
    const SECRET_B: &[u8] = b"0123456789abcdef0123456789abcdef-b";

    const SECRET_C: &[u8] = b"0123456789abcdef0123456789abcdef-c";

    /// Keys `a` and `b` with their kid, and `c` without one.
    fn verifier(dir: &std::path::Path) -> Verifier {
        let key = |name: &str, secret: &[u8], kid: Option<&str>| {
            let file = dir.join(name);
            std::fs::write(&file, secret).expect("write key");
            KeyConfig { algorithm: KeyAlgorithm::HS256, file, kid: kid.map(Into::into) }
        };
        let keys =
            vec![key("a.key", SECRET_A, Some("a")), key("b.key", SECRET_B, Some("b")), key("c.key", SECRET_C, None)];
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
        assert_eq!(verifier.verify(&token(SECRET_C, None)).expect("the kid-less key").user_id, "u");
        assert!(matches!(verifier.verify(&token(SECRET_B, Some("a"))), Err(TokenError::Refused(_))));
        // A kid that names no key is refused, even when a kid-less key would verify the signature.
        let unknown = verifier.verify(&token(SECRET_C, Some("c"))).expect_err("unknown kid");
        assert_eq!(unknown.to_string(), r#"no HS256 key has the kid "c""#);
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
    fn the_user_is_data_id_else_sub_and_never_a_fallback_from_a_malformed_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let verifier = verifier(dir.path());
        let user = |value: serde_json::Value| {
            verifier.user_of(serde_json::from_value::<Claims>(value).expect("claims")).map(|token| token.user_id)
        };
        let both = user(serde_json::json!({"exp": 5, "sub": "s", "data": {"id": "5dad615eae019570fb4647ed"}}));
        assert_eq!(both.expect("user"), "5dad615eae019570fb4647ed");
        assert_eq!(user(serde_json::json!({"exp": 5, "sub": "s", "data": {"name": "a.kalinin"}})).expect("user"), "s");
        assert!(matches!(user(serde_json::json!({"exp": 5})), Err(TokenError::NoUser)));
        assert!(matches!(user(serde_json::json!({"exp": 5, "sub": "s", "data": {"id": ""}})), Err(TokenError::NoUser)));
        for id in
            [serde_json::json!(42), serde_json::json!(null), serde_json::json!(["s"]), serde_json::json!({"id": "s"})]
        {
            let claims = serde_json::json!({"exp": 5, "sub": "s", "data": {"id": id}});
            assert!(matches!(user(claims), Err(TokenError::UserIdNotString)), "data.id {id}");
        }
        assert!(matches!(user(serde_json::json!({"exp": 5, "sub": "s", "data": "s"})), Err(TokenError::DataNotObject)));
        assert!(matches!(
            user(serde_json::json!({"exp": 5, "sub": "s", "aud": "x"})),
            Err(TokenError::UnexpectedAudience)
        ));
    }
}
