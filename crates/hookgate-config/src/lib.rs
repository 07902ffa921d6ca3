//! The policy tree: one folder per WCS `appKey`, each with a `tenant.toml` manifest.
//!
//! Loading is pure (no wasm is compiled here): [`load_tenant`] parses a manifest with
//! unknown keys refused, checks every value, resolves secrets from files or environment,
//! and returns an immutable [`TenantManifest`]. Every error names the file, the key and
//! the reason. [`load_server_file`] reads the process settings, `hookgate.toml`, whose
//! `[tenants]` table ([`TenantBounds`]) bounds what a tenant folder may name and read:
//! every file a tenant names is read through [`TenantFiles`], inside the folder and capped.

mod display;
mod errors;
mod files;
mod manifest;
mod secret;
mod server;
mod tenants;
mod tree;

pub use display::{error_chain, redact_url};
pub use errors::ConfigError;
pub use files::{FileError, FileKind, TenantFiles, read_operator_file};
pub use manifest::{
    AuthConfig, BasicAuth, FieldMatcher, Limits, MAX_MEMORY_MB, MAX_TABLE_ELEMENTS, MethodRule, PolicyDecl,
    TenantManifest, load_tenant, parse_tenant,
};
pub use secret::Secret;
pub use server::{
    AdminListener, ClusterSettings, DecisionLogSettings, HookAuthSettings, Listener, LogSettings, ServerFile,
    from_table, load_server_file,
};
pub use tenants::{TenantBounds, WCS_SET_FIELDS, load_tenant_bounds};
pub use tree::{DEFAULT_TENANT, MANIFEST_FILE, tenant_dirs};
