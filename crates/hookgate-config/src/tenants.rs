//! `[tenants]` in `hookgate.toml`: what the operator allows every tenant folder (the
//! manifest, modules and test cases a tenant's author writes are semi-trusted).

use crate::{ConfigError, Limits, ServerFile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Fields of a hook body that WCS itself sets, which a WCS client cannot choose: the only
/// ones a `[[rest_api_initiated]]` matcher may name without an operator's opt-in.
pub const WCS_SET_FIELDS: [&str; 2] = ["nodeId", "sessionId"];

/// The operator's bounds on tenant folders: `[tenants]` in `hookgate.toml`, plus the default
/// limits of the top-level `[limits]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantBounds {
    /// Limits for tenants whose manifest does not set them: the top-level `[limits]` table of
    /// `hookgate.toml` (not a key of `[tenants]`).
    #[serde(skip)]
    pub limits: Limits,
    /// A folder the operator keeps secrets in: a tenant's secret files (`settings_from_file`,
    /// `hmac_key_file`, `basic_password_file`) may be there as well as in the tenant folder.
    /// Relative to the config file's folder.
    pub secrets_dir: Option<PathBuf>,
    /// The prefix of every environment variable a tenant may read (`settings_from_env`,
    /// `hmac_key_env`, `basic_password_env`); without one, no tenant reads the environment.
    pub env_prefix: Option<String>,
    /// Field paths a WCS client can set that the operator nevertheless lets
    /// `[[rest_api_initiated]]` matchers use (exact dotted paths, e.g. `custom.initiator`).
    pub trusted_client_fields: Vec<String>,
    /// Largest policy module, in MiB.
    pub max_module_mb: u64,
    /// Most functions a policy module may define, over all its core modules (checked before
    /// it is compiled).
    pub max_functions: u32,
    /// Largest secret file, in KiB.
    pub max_secret_kb: u64,
    /// Largest `tenant.toml` and test case file (`tests/*.json`), in KiB.
    pub max_file_kb: u64,
    /// Largest test payload (`payload_file`), in KiB.
    pub max_payload_kb: u64,
}

impl Default for TenantBounds {
    fn default() -> Self {
        TenantBounds {
            limits: Limits::default(),
            secrets_dir: None,
            env_prefix: None,
            trusted_client_fields: Vec::new(),
            max_module_mb: 64,
            // The largest guest builds measured: stream-guard by componentize-py 13,482 functions
            // over 37 core modules, by StarlingMonkey 12,671 (Rust 134, C 50); 50,000 leaves
            // room for larger Python and JavaScript policies. wasmparser itself stops at a million.
            max_functions: 50_000,
            max_secret_kb: 64,
            max_file_kb: 1024,
            max_payload_kb: 1024,
        }
    }
}

impl TenantBounds {
    /// Checks every bound: `Err((key, reason))` names the first that is not acceptable.
    pub fn check(&self) -> Result<(), (String, String)> {
        let ranges: [(&str, u64, u64); 5] = [
            ("max_module_mb", self.max_module_mb, 1024),
            ("max_functions", self.max_functions.into(), 1_000_000),
            ("max_secret_kb", self.max_secret_kb, 1024),
            ("max_file_kb", self.max_file_kb, 65_536),
            ("max_payload_kb", self.max_payload_kb, 65_536),
        ];
        for (key, value, max) in ranges {
            if !(1..=max).contains(&value) {
                return Err((format!("tenants.{key}"), format!("must be between 1 and {max}, got {value}")));
            }
        }
        if let Some(prefix) = &self.env_prefix
            && (prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err((
                "tenants.env_prefix".into(),
                "must be non-empty and use only letters, digits and '_' (e.g. \"HOOKGATE_TENANT_\")".into(),
            ));
        }
        for (index, field) in self.trusted_client_fields.iter().enumerate() {
            if field.split('.').any(str::is_empty) {
                return Err((
                    format!("tenants.trusted_client_fields[{index}]"),
                    format!("'{field}' is not a dotted field path"),
                ));
            }
        }
        Ok(())
    }

    /// The size cap of one kind of file, in bytes, with the key that sets it.
    pub(crate) fn cap(&self, kind: crate::FileKind) -> (u64, &'static str) {
        use crate::FileKind;
        match kind {
            FileKind::Manifest | FileKind::Cases => {
                (self.max_file_kb.saturating_mul(1024), "[tenants] max_file_kb in hookgate.toml")
            }
            FileKind::Secret => (self.max_secret_kb.saturating_mul(1024), "[tenants] max_secret_kb in hookgate.toml"),
            FileKind::Payload => {
                (self.max_payload_kb.saturating_mul(1024), "[tenants] max_payload_kb in hookgate.toml")
            }
            FileKind::Module => {
                (self.max_module_mb.saturating_mul(1024 * 1024), "[tenants] max_module_mb in hookgate.toml")
            }
        }
    }
}

impl ServerFile {
    /// The bounds on tenant folders this file sets: `[tenants]`, with `[limits]` as the
    /// default limits; defaults for what it does not set.
    pub fn tenant_bounds(&self) -> TenantBounds {
        TenantBounds { limits: self.limits.unwrap_or_default(), ..self.tenants.clone().unwrap_or_default() }
    }
}

/// The tenant bounds of the config file at `config`, or the defaults without one (for the
/// offline commands, `check`, `test` and `eval`).
pub fn load_tenant_bounds(config: Option<&Path>) -> Result<TenantBounds, ConfigError> {
    match config {
        Some(path) => Ok(crate::load_server_file(path)?.tenant_bounds()),
        None => Ok(TenantBounds::default()),
    }
}
