//! `tenant.toml`: the schema (version 1) and its validation.

use crate::{ConfigError, FileKind, Secret, TenantBounds, TenantFiles};
use hookgate_protocol::{Capability, MethodKind, OnError, method};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest version this build reads.
const VERSION: u32 = 1;
/// Largest accepted per-evaluation deadline.
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest accepted linear memory cap (the pooling allocator's slot size).
pub const MAX_MEMORY_MB: u64 = 256;
/// Largest accepted table size (the pooling allocator's table slot; SpiderMonkey needs 10,000).
pub const MAX_TABLE_ELEMENTS: u32 = 20_000;

/// A validated tenant manifest.
#[derive(Debug, Clone)]
pub struct TenantManifest {
    /// The folder the manifest was read from; module paths are relative to it.
    pub dir: PathBuf,
    /// Per-evaluation limits for every policy of this tenant.
    pub limits: Limits,
    /// How WCS authenticates its hooks to this tenant.
    pub auth: AuthConfig,
    /// Matchers that recognise hooks of operations started through the WCS REST API; each
    /// names a field WCS itself sets, or one the operator trusts (`[tenants]
    /// trusted_client_fields`).
    pub rest_api_initiated: Vec<FieldMatcher>,
    /// The policies, by name.
    pub policies: BTreeMap<String, PolicyDecl>,
    /// Rules for methods, in manifest order; `"*"` is the catch-all.
    pub methods: Vec<MethodRule>,
}

impl TenantManifest {
    /// The rule for a method (by canonical name), else the `"*"` rule, else none.
    pub fn rule(&self, canonical: &str) -> Option<&MethodRule> {
        self.methods
            .iter()
            .find(|rule| rule.canonical.as_deref() == Some(canonical))
            .or_else(|| self.methods.iter().find(|rule| rule.canonical.is_none()))
    }
}

/// Limits applied to every evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Deadline of one evaluation, in milliseconds of running time.
    pub timeout_ms: u64,
    /// Linear memory cap of one instance, in MiB.
    pub memory_mb: u64,
    /// Table elements (function references) one instance may have.
    pub table_elements: u32,
    /// Largest verdict (override patch or deny reason) a policy may return, in KiB.
    pub max_output_kb: u64,
    /// Evaluations of this tenant that may run at once; a hook past that gets its method's
    /// fallback (cause `overload`) at once rather than waiting in a queue.
    pub max_concurrent: u32,
    /// Log lines of one evaluation that are written; the rest are counted and dropped.
    pub log_lines: u32,
    /// Log calls one evaluation may make; past this it is stopped (cause `log-flood`).
    pub log_calls: u32,
    /// Log lines per second a policy of this tenant may write over all its evaluations;
    /// the rest are counted and dropped.
    pub log_lines_per_s: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 50,
            memory_mb: 32,
            table_elements: MAX_TABLE_ELEMENTS,
            max_output_kb: 64,
            max_concurrent: 64,
            log_lines: 100,
            log_calls: 10_000,
            log_lines_per_s: 1_000,
        }
    }
}

impl Limits {
    /// Checks every limit against its accepted range: `Err((key, reason))` names the first
    /// one out of range.
    pub fn check(&self) -> Result<(), (String, String)> {
        let ranges: [(&str, u64, u64, u64); 8] = [
            ("timeout_ms", self.timeout_ms, 1, MAX_TIMEOUT_MS),
            ("memory_mb", self.memory_mb, 1, MAX_MEMORY_MB),
            ("table_elements", self.table_elements.into(), 1, MAX_TABLE_ELEMENTS.into()),
            ("max_output_kb", self.max_output_kb, 1, MAX_MEMORY_MB * 1024),
            ("max_concurrent", self.max_concurrent.into(), 1, 10_000),
            ("log_lines", self.log_lines.into(), 0, 10_000),
            ("log_calls", self.log_calls.into(), 1, 10_000_000),
            ("log_lines_per_s", self.log_lines_per_s.into(), 1, 1_000_000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err((format!("limits.{key}"), format!("must be between {min} and {max}, got {value}")));
            }
        }
        Ok(())
    }
}

/// Authentication of WCS's hook requests.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Key of WCS's `rest_hook_secret_key`: hooks must carry `Authorization: WCS <hex HMAC-MD5>`.
    pub hmac_key: Option<Secret>,
    /// Credentials of the WCS app's `restUsername`/`restPassword` (HTTP Basic).
    pub basic: Option<BasicAuth>,
}

/// HTTP Basic credentials.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Secret,
}

/// Recognises a hook by a field value: `path` is a dotted path into the body.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatcher {
    /// Path segments, e.g. `["nodeId"]`.
    pub path: Vec<String>,
    /// The value the field must equal.
    pub equals: Value,
}

impl FieldMatcher {
    /// Whether `body` has the field with the expected value.
    pub fn matches(&self, body: &serde_json::Map<String, Value>) -> bool {
        let mut segments = self.path.iter();
        let Some(first) = segments.next() else { return false };
        let mut current = body.get(first);
        for segment in segments {
            current = current.and_then(|value| value.get(segment));
        }
        current == Some(&self.equals)
    }
}

/// One policy of the tenant.
#[derive(Debug, Clone)]
pub struct PolicyDecl {
    /// The module file, relative to the tenant folder.
    pub module: PathBuf,
    /// Settings handed to the policy, as JSON text.
    pub settings: String,
    /// Host capabilities granted to the policy.
    pub capabilities: Vec<Capability>,
    /// Whether evaluations reuse warm instances of the module instead of a fresh instance
    /// each (`reuse = true`): much faster for interpreted languages (Python, JavaScript), but
    /// the module's globals and linear memory persist from one evaluation of this policy to
    /// the next (never across policies or tenants). See `hookgate_runtime::Policy::reusing`.
    pub reuse: bool,
}

/// The rule of one method (or of all others, `"*"`).
#[derive(Debug, Clone)]
pub struct MethodRule {
    /// The key as written in the manifest.
    pub method: String,
    /// The canonical method name; `None` for `"*"`.
    pub canonical: Option<String>,
    /// The method's kind; `None` for `"*"` (the kind of the hook's own method applies).
    pub kind: Option<MethodKind>,
    /// The policies run in order.
    pub chain: Vec<String>,
    /// What a failed chain answers.
    pub on_error: OnError,
    /// Top-level fields the chain may override.
    pub overwrite: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    version: u32,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    rest_api_initiated: Vec<RawMatcher>,
    #[serde(default)]
    policies: BTreeMap<String, RawPolicy>,
    #[serde(default)]
    methods: toml::Table,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    table_elements: Option<u32>,
    max_output_kb: Option<u64>,
    max_concurrent: Option<u32>,
    log_lines: Option<u32>,
    log_calls: Option<u32>,
    log_lines_per_s: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    hmac_key_file: Option<PathBuf>,
    hmac_key_env: Option<String>,
    basic_user: Option<String>,
    basic_password_file: Option<PathBuf>,
    basic_password_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    field: String,
    equals: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    module: PathBuf,
    #[serde(default)]
    settings: toml::Table,
    /// Settings whose values are secrets, read from environment variables: `{ key = "VAR" }`.
    #[serde(default)]
    settings_from_env: BTreeMap<String, String>,
    /// Settings whose values are secrets, read from files (relative to the tenant folder).
    #[serde(default)]
    settings_from_file: BTreeMap<String, PathBuf>,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    reuse: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMethod {
    #[serde(default)]
    chain: Vec<String>,
    #[serde(default)]
    on_error: OnError,
    #[serde(default)]
    overwrite: Vec<String>,
}

/// Reads and validates `<dir>/tenant.toml` (a bounded read inside the folder: see
/// [`TenantFiles`]); `bounds` fill the limits it does not set and bound what it names. The
/// read blocks: call it off the async workers.
pub fn load_tenant(dir: &Path, bounds: &TenantBounds) -> Result<TenantManifest, ConfigError> {
    let path = dir.join(crate::MANIFEST_FILE);
    let bytes = TenantFiles::new(dir, bounds)
        .read(Path::new(crate::MANIFEST_FILE), FileKind::Manifest)
        .map_err(|error| ConfigError::File { path: path.clone(), error })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::Syntax { path: path.clone(), message: "not UTF-8 text".into() })?;
    parse_tenant(&text, dir, &path, bounds)
}

/// Validates manifest text; `dir` resolves relative paths and `path` names the file in errors.
/// `bounds` fill the limits the manifest does not set and bound the files and variables it
/// names; secret files are read here (blocking).
pub fn parse_tenant(text: &str, dir: &Path, path: &Path, bounds: &TenantBounds) -> Result<TenantManifest, ConfigError> {
    let raw: RawManifest = toml::from_str(text)
        .map_err(|err| ConfigError::Syntax { path: path.to_owned(), message: crate::errors::toml_error(&err, text) })?;
    let defaults = bounds.limits;
    let files = TenantFiles::new(dir, bounds);
    let invalid = |key: String, reason: String| ConfigError::Invalid { path: path.to_owned(), key, reason };

    if raw.version != VERSION {
        return Err(invalid(
            "version".into(),
            format!("unsupported version {}, this hookgate reads version {VERSION}", raw.version),
        ));
    }
    let raw_limits = raw.limits;
    let limits = Limits {
        timeout_ms: raw_limits.timeout_ms.unwrap_or(defaults.timeout_ms),
        memory_mb: raw_limits.memory_mb.unwrap_or(defaults.memory_mb),
        table_elements: raw_limits.table_elements.unwrap_or(defaults.table_elements),
        max_output_kb: raw_limits.max_output_kb.unwrap_or(defaults.max_output_kb),
        max_concurrent: raw_limits.max_concurrent.unwrap_or(defaults.max_concurrent),
        log_lines: raw_limits.log_lines.unwrap_or(defaults.log_lines),
        log_calls: raw_limits.log_calls.unwrap_or(defaults.log_calls),
        log_lines_per_s: raw_limits.log_lines_per_s.unwrap_or(defaults.log_lines_per_s),
    };
    limits.check().map_err(|(key, reason)| invalid(key, reason))?;

    let sources = Sources { files, env_prefix: bounds.env_prefix.as_deref() };
    let auth = resolve_auth(raw.auth, sources, &invalid)?;

    let mut rest_api_initiated = Vec::new();
    for (index, matcher) in raw.rest_api_initiated.into_iter().enumerate() {
        let path: Vec<String> = matcher.field.split('.').map(str::to_owned).collect();
        let key = format!("rest_api_initiated[{index}].field");
        if path.iter().any(String::is_empty) {
            return Err(invalid(key, format!("'{}' is not a dotted field path", matcher.field)));
        }
        let set_by_wcs = crate::WCS_SET_FIELDS.contains(&matcher.field.as_str());
        if !set_by_wcs && !bounds.trusted_client_fields.contains(&matcher.field) {
            return Err(invalid(
                key,
                format!(
                    "'{}' is a field a WCS client can set, so any client could mark its hooks as \
                     REST-API-initiated (never denied); a matcher may name only fields WCS itself sets ({}), \
                     unless the operator lists the field in [tenants] trusted_client_fields in hookgate.toml",
                    matcher.field,
                    crate::WCS_SET_FIELDS.join(", ")
                ),
            ));
        }
        let equals = serde_json::to_value(&matcher.equals)
            .map_err(|err| invalid(format!("rest_api_initiated[{index}].equals"), err.to_string()))?;
        rest_api_initiated.push(FieldMatcher { path, equals });
    }

    let mut policies = BTreeMap::new();
    for (name, policy) in raw.policies {
        let key = format!("policies.{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid(key, "a policy name uses only letters, digits, '-' and '_'".into()));
        }
        files
            .check_name(&policy.module, FileKind::Module)
            .map_err(|err| invalid(format!("{key}.module"), err.to_string()))?;
        if policy.module.extension().and_then(|e| e.to_str()) != Some("wasm") {
            return Err(invalid(
                format!("{key}.module"),
                format!("'{}' must be a .wasm file", policy.module.display()),
            ));
        }
        let mut capabilities = Vec::with_capacity(policy.capabilities.len());
        for name in &policy.capabilities {
            let Some(capability) = Capability::from_name(name) else {
                return Err(invalid(
                    format!("{key}.capabilities"),
                    format!(
                        "unknown capability '{name}': the capabilities are {} ('log' every policy has)",
                        Capability::ALL.map(|c| format!("'{c}'")).join(", ")
                    ),
                ));
            };
            capabilities.push(capability);
        }
        let mut settings = serde_json::to_value(&policy.settings)
            .map_err(|err| invalid(format!("{key}.settings"), err.to_string()))?;
        for (field, var) in &policy.settings_from_env {
            let at = format!("{key}.settings_from_env.{field}");
            let value = secret(None, Some(var.clone()), (&at, &at, &at), sources, &invalid)?;
            set_secret_setting(&mut settings, field, value, &at, &invalid)?;
        }
        for (field, file) in &policy.settings_from_file {
            let at = format!("{key}.settings_from_file.{field}");
            let value = secret(Some(file.clone()), None, (&at, &at, &at), sources, &invalid)?;
            set_secret_setting(&mut settings, field, value, &at, &invalid)?;
        }
        let settings = settings.to_string();
        policies.insert(name, PolicyDecl { module: policy.module, settings, capabilities, reuse: policy.reuse });
    }

    let mut methods = Vec::new();
    for (name, value) in raw.methods {
        let key = format!("methods.{}", quote_key(&name));
        let rule: RawMethod =
            value.try_into().map_err(|err: toml::de::Error| invalid(key.clone(), err.message().to_owned()))?;
        let (canonical, kind) = if name == "*" {
            (None, None)
        } else {
            match method::lookup(&name) {
                Some((canonical, kind)) => (Some(canonical.to_owned()), Some(kind)),
                None => {
                    let hint = method::suggest(&name).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
                    return Err(invalid(
                        key,
                        format!("unknown WCS method '{name}'{hint}; use \"*\" for methods outside the catalogue"),
                    ));
                }
            }
        };
        if let Some(canonical) = &canonical
            && let Some(other) = methods.iter().find(|r: &&MethodRule| r.canonical.as_ref() == Some(canonical))
        {
            return Err(invalid(key, format!("'{name}' and '{}' are the same method", other.method)));
        }
        for (index, policy) in rule.chain.iter().enumerate() {
            if !policies.contains_key(policy) {
                return Err(invalid(
                    format!("{key}.chain[{index}]"),
                    format!("unknown policy '{policy}' (declare it under [policies.{policy}])"),
                ));
            }
        }
        for (index, field) in rule.overwrite.iter().enumerate() {
            if field.is_empty() || field.contains(',') {
                return Err(invalid(format!("{key}.overwrite[{index}]"), format!("'{field}' is not a field name")));
            }
        }
        if kind == Some(MethodKind::Event) && !rule.overwrite.is_empty() {
            return Err(invalid(
                format!("{key}.overwrite"),
                "events already happened; their fields cannot be overwritten".into(),
            ));
        }
        methods.push(MethodRule {
            method: name,
            canonical,
            kind,
            chain: rule.chain,
            on_error: rule.on_error,
            overwrite: rule.overwrite,
        });
    }

    Ok(TenantManifest { dir: dir.to_owned(), limits, auth, rest_api_initiated, policies, methods })
}

/// Where secrets come from: the tenant's files and the variables under the operator's prefix.
#[derive(Clone, Copy)]
struct Sources<'a> {
    files: TenantFiles<'a>,
    env_prefix: Option<&'a str>,
}

fn resolve_auth(
    raw: RawAuth,
    sources: Sources<'_>,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<AuthConfig, ConfigError> {
    let hmac_key = secret(
        raw.hmac_key_file,
        raw.hmac_key_env,
        ("auth.hmac_key_file", "auth.hmac_key_env", "auth.hmac_key"),
        sources,
        invalid,
    )?;
    let password = secret(
        raw.basic_password_file,
        raw.basic_password_env,
        ("auth.basic_password_file", "auth.basic_password_env", "auth.basic_password"),
        sources,
        invalid,
    )?;
    let basic = match (raw.basic_user, password) {
        (Some(user), Some(password)) if !user.is_empty() && !user.contains(':') => Some(BasicAuth { user, password }),
        (Some(_), Some(_)) => {
            return Err(invalid("auth.basic_user".into(), "must be non-empty and contain no ':'".into()));
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid("auth.basic_user".into(), "needs basic_password_file or basic_password_env".into()));
        }
        (None, Some(_)) => return Err(invalid("auth.basic_password".into(), "needs basic_user".into())),
    };
    if hmac_key.is_some() && basic.is_some() {
        return Err(invalid(
            "auth".into(),
            "WCS sends both in the Authorization header; configure either the HMAC key or HTTP Basic".into(),
        ));
    }
    Ok(AuthConfig { hmac_key, basic })
}

fn secret(
    file: Option<PathBuf>,
    env: Option<String>,
    (file_key, env_key, key): (&str, &str, &str),
    sources: Sources<'_>,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<Option<Secret>, ConfigError> {
    let mut value = match (file, env) {
        (Some(_), Some(_)) => {
            return Err(invalid(key.into(), "give either the _file or the _env form, not both".into()));
        }
        (None, None) => return Ok(None),
        (Some(file), None) => {
            sources.files.read(&file, FileKind::Secret).map_err(|err| invalid(file_key.into(), err.to_string()))?
        }
        (None, Some(var)) => {
            let Some(prefix) = sources.env_prefix else {
                return Err(invalid(
                    env_key.into(),
                    "a tenant reads environment variables only under the operator's prefix: set [tenants] \
                     env_prefix in hookgate.toml (or use the _file form)"
                        .into(),
                ));
            };
            if !var.starts_with(prefix) {
                return Err(invalid(
                    env_key.into(),
                    format!("'{var}' does not start with '{prefix}', the prefix [tenants] env_prefix allows"),
                ));
            }
            std::env::var_os(&var)
                .ok_or_else(|| invalid(env_key.into(), format!("environment variable {var} is not set")))?
                .into_encoded_bytes()
        }
    };
    while value.last().is_some_and(|byte| matches!(byte, b'\r' | b'\n')) {
        value.pop();
    }
    if value.is_empty() {
        return Err(invalid(key.into(), "the secret is empty".into()));
    }
    Ok(Some(Secret::new(value)))
}

/// Puts a secret into the settings object as a string, refusing to shadow an inline value.
fn set_secret_setting(
    settings: &mut Value,
    field: &str,
    value: Option<Secret>,
    key: &str,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let Some(value) = value else { return Ok(()) };
    let text = String::from_utf8(value.expose().to_vec())
        .map_err(|_| invalid(key.into(), "the secret is not UTF-8".into()))?;
    let Value::Object(map) = settings else { return Ok(()) };
    if map.contains_key(field) {
        return Err(invalid(key.into(), format!("'{field}' is also set inline in settings; give it once")));
    }
    map.insert(field.to_owned(), Value::String(text));
    Ok(())
}

fn quote_key(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}
