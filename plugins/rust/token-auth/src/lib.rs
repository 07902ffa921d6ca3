//! `token-auth`: authenticates WCS `connect` hooks with a token in `custom.token`.
//!
//! Two token schemes, both keyed by a shared secret:
//!
//! * **jwt**: a compact JWS signed with HS256 (`alg` must be exactly `HS256`; `none` and every
//!   other algorithm are refused, as is any `crit` header). The signature is checked in
//!   constant time before any claim is trusted. `exp` is required; `nbf` is checked when
//!   present; `iss` must equal the configured `issuer` when one is set. Times are compared
//!   with the hook's `received_ms`, with `leeway_s` of tolerance.
//! * **hmac**: `<subject>:<expires-unix-seconds>:<hex HMAC-SHA256(secret, "<subject>:<expires>")>`
//!   (the subject may itself contain `:`); valid while `received time < expires + leeway`.
//!
//! Settings: `{"secret": "…", "scheme": "hmac" | "jwt" | "any", "issuer": "…", "leeway_s": 30}`;
//! `secret` is required, `scheme` defaults to `any` (a token containing `:` is taken as hmac,
//! anything else as a JWT), `issuer` is optional (JWT only), `leeway_s` defaults to 30 (at most
//! 86400). A missing token is denied 403 `missing token`; a bad one 403 with the precise reason.
//! The secret never appears in a reason.

#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use hookgate_sdk::{Hook, Verdict, json};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Largest accepted `leeway_s`.
const MAX_LEEWAY_S: u64 = 86_400;

/// Longest token looked at; longer ones are refused before any decoding.
const MAX_TOKEN_LEN: usize = 8192;

/// The policy settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    secret: String,
    #[serde(default)]
    scheme: Scheme,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default = "default_leeway")]
    leeway_s: u64,
}

fn default_leeway() -> u64 {
    30
}

/// Which token format is accepted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scheme {
    Hmac,
    Jwt,
    #[default]
    Any,
}

fn settings(raw: &str) -> Result<Settings, String> {
    let s: Settings = hookgate_sdk::parse_settings(raw)?;
    if s.secret.is_empty() {
        return Err("invalid settings: `secret` must not be empty".into());
    }
    if s.leeway_s > MAX_LEEWAY_S {
        return Err(format!("invalid settings: `leeway_s` is {} (at most {MAX_LEEWAY_S})", s.leeway_s));
    }
    if s.issuer.as_deref() == Some("") {
        return Err("invalid settings: `issuer` must not be empty when set".into());
    }
    Ok(s)
}

/// Checks the settings at load time.
pub fn validate_settings(raw: &str) -> Result<(), String> {
    settings(raw).map(|_| ())
}

/// Verifies `custom.token`.
pub fn evaluate(hook: &Hook) -> Result<Verdict, String> {
    let s = settings(&hook.settings)?;
    let token = match hook.str_at(&["custom", "token"]) {
        Some(t) if !t.is_empty() => t,
        _ => return Ok(Verdict::forbid("missing token")),
    };
    if token.len() > MAX_TOKEN_LEN {
        return Ok(Verdict::forbid("malformed token: too long"));
    }
    let hmac_like = token.contains(':');
    let checked = match (s.scheme, hmac_like) {
        (Scheme::Hmac, _) | (Scheme::Any, true) => check_hmac_token(&token, &s, hook.received_ms),
        (Scheme::Jwt, _) | (Scheme::Any, false) => check_jwt(&token, &s, hook.received_ms),
    };
    Ok(match checked {
        Ok(()) => Verdict::Allow,
        Err(reason) => Verdict::forbid(reason),
    })
}

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

/// `<subject>:<expires>:<hex mac>`.
fn check_hmac_token(token: &str, s: &Settings, now_ms: u64) -> Result<(), String> {
    let mut parts = token.rsplitn(3, ':');
    let (Some(sig_hex), Some(expires), Some(subject)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("malformed token: expected <subject>:<expires>:<signature>".into());
    };
    if subject.is_empty() {
        return Err("malformed token: empty subject".into());
    }
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err("malformed token: expiry is not a unix time in seconds".into());
    }
    let expires: u64 = expires.parse().map_err(|_| "malformed token: expiry out of range".to_string())?;
    let sig = decode_hex(sig_hex).filter(|s| s.len() == 32).ok_or("malformed token: signature is not 64 hex digits")?;
    // Everything before the last ':' is what was signed: "<subject>:<expires>".
    let signed = &token[..token.len() - sig_hex.len() - 1];
    let mut m = mac(&s.secret);
    m.update(signed.as_bytes());
    m.verify_slice(&sig).map_err(|_| "token signature does not match".to_string())?;
    if now_ms >= expires.saturating_add(s.leeway_s).saturating_mul(1000) {
        return Err("token expired".into());
    }
    Ok(())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| format!("malformed JWT: {what} is not base64url"))
}

fn check_jwt(token: &str, s: &Settings, now_ms: u64) -> Result<(), String> {
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("malformed JWT: expected three dot-separated parts".into());
    };

    // Header: only HS256, no extensions we would have to understand.
    let header = b64(h64, "header")?;
    let header = std::str::from_utf8(&header).map_err(|_| "malformed JWT: header is not UTF-8")?;
    let [alg, crit] =
        json::fields(header, ["alg", "crit"]).map_err(|_| "malformed JWT: header is not JSON".to_string())?;
    if !header.trim_start().starts_with('{') {
        return Err("malformed JWT: header is not a JSON object".into());
    }
    let alg = alg.and_then(|a| a.as_str());
    match alg.as_deref() {
        Some("HS256") => {}
        None => return Err("malformed JWT: header has no alg".into()),
        Some(a) if a.eq_ignore_ascii_case("none") => {
            return Err("JWT alg 'none' is not accepted".into());
        }
        Some(a) => {
            let a: String = a.chars().take(16).collect();
            return Err(format!("JWT alg '{a}' is not accepted (only HS256)"));
        }
    }
    if crit.is_some() {
        return Err("JWT crit header is not supported".into());
    }

    // Signature, in constant time, before trusting anything in the payload.
    let sig = b64(s64, "signature")?;
    let mut m = mac(&s.secret);
    m.update(h64.as_bytes());
    m.update(b".");
    m.update(p64.as_bytes());
    m.verify_slice(&sig).map_err(|_| "JWT signature does not match".to_string())?;

    // Claims.
    let claims = b64(p64, "payload")?;
    let claims = std::str::from_utf8(&claims).map_err(|_| "malformed JWT: payload is not UTF-8")?;
    if !claims.trim_start().starts_with('{') {
        return Err("malformed JWT: payload is not a JSON object".into());
    }
    let [exp, nbf, iss] =
        json::fields(claims, ["exp", "nbf", "iss"]).map_err(|_| "malformed JWT: payload is not JSON".to_string())?;
    let leeway_ms = s.leeway_s as f64 * 1000.0;
    let now_ms = now_ms as f64;
    let exp = exp.ok_or("JWT has no exp claim")?;
    let exp = exp.as_f64().ok_or("JWT exp is not a number")?;
    if now_ms >= exp * 1000.0 + leeway_ms {
        return Err("JWT expired".into());
    }
    if let Some(nbf) = nbf {
        let nbf = nbf.as_f64().ok_or("JWT nbf is not a number")?;
        if now_ms + leeway_ms < nbf * 1000.0 {
            return Err("JWT not valid yet (nbf)".into());
        }
    }
    if let Some(want) = &s.issuer {
        match iss.and_then(|i| i.as_str()) {
            Some(got) if got == want.as_str() => {}
            Some(_) => return Err("JWT issuer does not match".into()),
            None => return Err("JWT has no iss claim".into()),
        }
    }
    Ok(())
}

hookgate_sdk::policy!(evaluate, validate_settings = validate_settings);

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-key";
    const NOW_MS: u64 = hookgate_sdk::testing::DEFAULT_RECEIVED_MS;
    const NOW: u64 = NOW_MS / 1000;

    fn hmac_token(secret: &str, subject: &str, expires: u64) -> String {
        let mut m = mac(secret);
        m.update(format!("{subject}:{expires}").as_bytes());
        let sig: String = m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("{subject}:{expires}:{sig}")
    }

    fn jwt(secret: &str, header: &str, claims: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(claims);
        let mut m = mac(secret);
        m.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    fn run(settings: &str, token: &str) -> Verdict {
        let payload = serde_json::json!({"appKey": "app", "custom": {"token": token}}).to_string();
        let hook = Hook::new("connect", payload).with_settings(settings).with_received_ms(NOW_MS);
        evaluate(&hook).unwrap()
    }

    fn reason(v: Verdict) -> String {
        match v {
            Verdict::Deny { status: 403, reason } => reason,
            other => panic!("expected a 403 denial, got {other:?}"),
        }
    }

    const ANY: &str = r#"{"secret":"s3cr3t-key"}"#;

    #[test]
    fn hmac_tokens() {
        assert_eq!(run(ANY, &hmac_token(SECRET, "alice", NOW + 60)), Verdict::Allow);
        assert_eq!(run(ANY, &hmac_token(SECRET, "us:er:x", NOW + 60)), Verdict::Allow);
        // Within leeway (default 30 s).
        assert_eq!(run(ANY, &hmac_token(SECRET, "alice", NOW - 29)), Verdict::Allow);
        assert_eq!(reason(run(ANY, &hmac_token(SECRET, "alice", NOW - 30))), "token expired");
        assert_eq!(
            reason(run(r#"{"secret":"s3cr3t-key","leeway_s":0}"#, &hmac_token(SECRET, "alice", NOW))),
            "token expired"
        );
        assert_eq!(reason(run(ANY, &hmac_token("other", "alice", NOW + 60))), "token signature does not match");
        // Tampered subject.
        let t = hmac_token(SECRET, "alice", NOW + 60).replacen("alice", "admin", 1);
        assert_eq!(reason(run(ANY, &t)), "token signature does not match");
        // Uppercase hex is fine.
        let t = hmac_token(SECRET, "alice", NOW + 60);
        let (head, sig) = t.rsplit_once(':').unwrap();
        assert_eq!(run(ANY, &format!("{head}:{}", sig.to_uppercase())), Verdict::Allow);
        for bad in ["a:b", ":1:00", "a:x1:00", "a:1:zz", "a:1:00", "a::00"] {
            assert!(reason(run(ANY, bad)).starts_with("malformed token"), "{bad}");
        }
    }

    #[test]
    fn jwt_tokens() {
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let ok = format!(r#"{{"sub":"bob","exp":{}}}"#, NOW + 60);
        assert_eq!(run(ANY, &jwt(SECRET, hs, &ok)), Verdict::Allow);
        let jwt_only = r#"{"secret":"s3cr3t-key","scheme":"jwt"}"#;
        assert_eq!(run(jwt_only, &jwt(SECRET, hs, &ok)), Verdict::Allow);
        assert_eq!(
            reason(run(jwt_only, &hmac_token(SECRET, "a", NOW + 60))),
            "malformed JWT: expected three dot-separated parts"
        );
        let hmac_only = r#"{"secret":"s3cr3t-key","scheme":"hmac"}"#;
        assert!(reason(run(hmac_only, &jwt(SECRET, hs, &ok))).starts_with("malformed token"));

        assert_eq!(reason(run(ANY, &jwt("wrong", hs, &ok))), "JWT signature does not match");
        let expired = format!(r#"{{"exp":{}}}"#, NOW - 31);
        assert_eq!(reason(run(ANY, &jwt(SECRET, hs, &expired))), "JWT expired");
        let in_leeway = format!(r#"{{"exp":{}}}"#, NOW - 29);
        assert_eq!(run(ANY, &jwt(SECRET, hs, &in_leeway)), Verdict::Allow);
        let float_exp = format!(r#"{{"exp":{}.5}}"#, NOW + 1);
        assert_eq!(run(ANY, &jwt(SECRET, hs, &float_exp)), Verdict::Allow);
        assert_eq!(reason(run(ANY, &jwt(SECRET, hs, r#"{"sub":"x"}"#))), "JWT has no exp claim");
        assert_eq!(reason(run(ANY, &jwt(SECRET, hs, r#"{"exp":"soon"}"#))), "JWT exp is not a number");
        let nbf = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 600, NOW + 300);
        assert_eq!(reason(run(ANY, &jwt(SECRET, hs, &nbf))), "JWT not valid yet (nbf)");
        let nbf_ok = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 600, NOW + 20);
        assert_eq!(run(ANY, &jwt(SECRET, hs, &nbf_ok)), Verdict::Allow);

        let with_iss = r#"{"secret":"s3cr3t-key","issuer":"https://auth.example"}"#;
        let iss_ok = format!(r#"{{"exp":{},"iss":"https://auth.example"}}"#, NOW + 60);
        let iss_bad = format!(r#"{{"exp":{},"iss":"https://evil.example"}}"#, NOW + 60);
        assert_eq!(run(with_iss, &jwt(SECRET, hs, &iss_ok)), Verdict::Allow);
        assert_eq!(reason(run(with_iss, &jwt(SECRET, hs, &iss_bad))), "JWT issuer does not match");
        assert_eq!(reason(run(with_iss, &jwt(SECRET, hs, &ok))), "JWT has no iss claim");
    }

    #[test]
    fn jwt_algorithms_other_than_hs256_are_refused() {
        let claims = format!(r#"{{"exp":{}}}"#, NOW + 60);
        // alg none with an empty signature: the classic bypass.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode(&claims);
        assert_eq!(reason(run(ANY, &format!("{h}.{p}."))), "JWT alg 'none' is not accepted");
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"NoNe"}"#);
        assert_eq!(reason(run(ANY, &format!("{h}.{p}."))), "JWT alg 'none' is not accepted");
        for alg in ["HS512", "RS256", "hs256"] {
            let t = jwt(SECRET, &format!(r#"{{"alg":"{alg}"}}"#), &claims);
            assert_eq!(reason(run(ANY, &t)), format!("JWT alg '{alg}' is not accepted (only HS256)"));
        }
        let t = jwt(SECRET, r#"{"typ":"JWT"}"#, &claims);
        assert_eq!(reason(run(ANY, &t)), "malformed JWT: header has no alg");
        let t = jwt(SECRET, r#"{"alg":"HS256","crit":["b64"]}"#, &claims);
        assert_eq!(reason(run(ANY, &t)), "JWT crit header is not supported");
    }

    #[test]
    fn malformed_jwts() {
        let claims = format!(r#"{{"exp":{}}}"#, NOW + 60);
        let good = jwt(SECRET, r#"{"alg":"HS256"}"#, &claims);
        let parts: Vec<&str> = good.split('.').collect();
        assert_eq!(
            reason(run(ANY, &format!("{}.{}", parts[0], parts[1]))),
            "malformed JWT: expected three dot-separated parts"
        );
        assert_eq!(reason(run(ANY, &format!("{good}.x"))), "malformed JWT: expected three dot-separated parts");
        assert_eq!(
            reason(run(ANY, &format!("!!.{}.{}", parts[1], parts[2]))),
            "malformed JWT: header is not base64url"
        );
        // Padded base64 is not base64url-without-padding.
        assert_eq!(
            reason(run(ANY, &format!("{}.{}.{}=", parts[0], parts[1], parts[2]))),
            "malformed JWT: signature is not base64url"
        );
        let t = jwt(SECRET, "not json", &claims);
        assert_eq!(reason(run(ANY, &t)), "malformed JWT: header is not JSON");
        let t = jwt(SECRET, r#"{"alg":"HS256"}"#, "[1]");
        assert_eq!(reason(run(ANY, &t)), "malformed JWT: payload is not a JSON object");
        assert_eq!(reason(run(ANY, &"a".repeat(MAX_TOKEN_LEN + 1))), "malformed token: too long");
    }

    #[test]
    fn missing_tokens() {
        for payload in [
            r#"{}"#,
            r#"{"custom":{}}"#,
            r#"{"custom":{"token":""}}"#,
            r#"{"custom":{"token":5}}"#,
            r#"{"custom":"token"}"#,
            r#"{"token":"top-level-is-not-read"}"#,
            r#"not json"#,
        ] {
            let hook = Hook::new("connect", payload).with_settings(ANY);
            assert_eq!(evaluate(&hook).unwrap(), Verdict::forbid("missing token"), "{payload}");
        }
    }

    #[test]
    fn reasons_never_contain_the_secret() {
        let secret = "hunter2-very-secret";
        let settings = format!(r#"{{"secret":"{secret}"}}"#);
        for token in [
            hmac_token("x", "a", NOW + 60),
            hmac_token(secret, "a", NOW - 100),
            jwt("x", r#"{"alg":"HS256"}"#, r#"{"exp":1}"#),
            "a.b.c".into(),
        ] {
            assert!(!reason(run(&settings, &token)).contains(secret));
        }
    }

    #[test]
    fn settings_validation() {
        assert!(validate_settings(ANY).is_ok());
        assert!(validate_settings(r#"{"secret":"k","scheme":"hmac","issuer":"i","leeway_s":0}"#).is_ok());
        for (bad, why) in [
            ("{}", "missing field `secret`"),
            (r#"{"secret":""}"#, "`secret` must not be empty"),
            (r#"{"secret":"k","scheme":"rsa"}"#, "unknown variant `rsa`"),
            (r#"{"secret":"k","leeway_s":-1}"#, "invalid value"),
            (r#"{"secret":"k","leeway_s":100000}"#, "at most 86400"),
            (r#"{"secret":"k","issuer":""}"#, "`issuer` must not be empty"),
            (r#"{"secret":"k","secrte":"x"}"#, "unknown field `secrte`"),
            ("[]", "invalid settings"),
        ] {
            let e = validate_settings(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // Bad settings at evaluation time are a policy error, not a denial.
        let hook = Hook::new("connect", "{}").with_settings("{}");
        assert!(evaluate(&hook).is_err());
    }

    #[test]
    fn cases() {
        hookgate_sdk::testing::run_dir(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
            evaluate,
            Some(validate_settings),
        );
    }
}
