//! OpenTelemetry traces of hooks (`[tracing]` of `hookgate.toml`), off unless configured.
//!
//! Every hook is one trace: `hook` (the root: method, tenant, verdict, HTTP status) → `decide`
//! (the tenant) → one `policy` span per evaluation (its verdict, failure cause, duration) →
//! `answer` → `session` (state bookkeeping); then `effects` (events published, `send-data`
//! queued). The spans are `tracing` spans of target [`TRACE_TARGET`]; [`Traces::layer`] turns
//! them into OpenTelemetry spans, sampled by a parent-based ratio sampler and exported over
//! OTLP/HTTP (protobuf) by the SDK's batch processor, on a thread of its own with a bounded
//! queue: the hook path never waits on an export, and spans past the queue are dropped (and
//! counted, in the SDK's warning). Without the layer no subscriber enables that target, so no
//! span is created on the hook path: each call site costs one cached-interest check.
//!
//! Attributes hold only names hookgate knows (the catalogued method name, the configured tenant
//! name, policy names), verdicts, causes, statuses and counts: never a value of the payload or
//! of a header. An incoming W3C `traceparent` makes the hook's spans join its trace (its
//! `tracestate` is not kept); a malformed one is ignored.

use crate::otlp_client::OtlpClient;
use axum::http::HeaderMap;
use hookgate_engine::{Decision, TRACE_TARGET};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::registry::LookupSpan;

/// The tenant attribute of a hook no tenant decided (unrouted, or refused by `hookgate.toml`'s
/// `[auth]` before routing): a fixed value, never the client's appKey.
pub const NO_TENANT: &str = "(none)";

/// `[tracing]`: where and how hook spans are exported. Traces are off without the table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP endpoint: `http://host:4318` (`/v1/traces` is appended to a
    /// URL without a path) or the full URL of its traces endpoint.
    pub otlp_endpoint: String,
    /// Share of new traces sampled, 0 to 1; a hook whose `traceparent` carries a sampling
    /// decision follows that decision instead (parent-based).
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// `service.name` of the exported resource.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Spans that may wait for export; past it new spans are dropped.
    #[serde(default = "default_max_queue_size")]
    pub max_queue_size: usize,
    /// Milliseconds one export may take.
    #[serde(default = "default_export_timeout_ms")]
    pub export_timeout_ms: u64,
}

fn default_sample_ratio() -> f64 {
    1.0
}

fn default_service_name() -> String {
    "hookgate".into()
}

fn default_max_queue_size() -> usize {
    2048
}

fn default_export_timeout_ms() -> u64 {
    10_000
}

impl TracingConfig {
    /// Checks every value and completes `otlp_endpoint` with `/v1/traces` when it has no path.
    /// `Err((key, reason))`.
    pub fn check(&mut self) -> Result<(), (&'static str, String)> {
        let mut url = url::Url::parse(&self.otlp_endpoint)
            .map_err(|err| ("otlp_endpoint", format!("is not a URL ({err}): http://host:4318")))?;
        if url.scheme() != "http" {
            return Err(("otlp_endpoint", format!("must be an http:// URL, got {}://", url.scheme())));
        }
        if url.path() == "/" {
            url.set_path("/v1/traces");
        }
        self.otlp_endpoint = url.to_string();
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(("sample_ratio", format!("must be between 0 and 1, got {}", self.sample_ratio)));
        }
        if self.service_name.trim().is_empty() {
            return Err(("service_name", "must not be empty".into()));
        }
        if self.max_queue_size == 0 {
            return Err(("max_queue_size", "must be at least 1".into()));
        }
        if self.export_timeout_ms == 0 {
            return Err(("export_timeout_ms", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The trace export could not start.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    /// The HTTP client (its thread's runtime) could not be built.
    #[error("tracing: cannot start the OTLP client: {0}")]
    Client(#[source] std::io::Error),
    /// The OTLP exporter refused its settings.
    #[error("tracing: cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The running trace export: the SDK's tracer provider and its batch thread.
pub struct Traces {
    provider: SdkTracerProvider,
}

/// The layer of [`Traces::layer`]: OpenTelemetry spans of the [`TRACE_TARGET`] spans only.
pub type TracesLayer<S> =
    Filtered<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, FilterFn, S>;

impl Traces {
    /// Starts the export `config` describes: nothing is sent until a span ends.
    pub fn start(config: &TracingConfig) -> Result<Traces, TracesError> {
        let timeout = Duration::from_millis(config.export_timeout_ms);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OtlpClient::new(timeout).map_err(TracesError::Client)?)
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(timeout)
            .build()?;
        let batches = BatchConfigBuilder::default().with_max_queue_size(config.max_queue_size).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
        let resource =
            opentelemetry_sdk::Resource::builder_empty().with_service_name(config.service_name.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
            .with_resource(resource)
            .build();
        Ok(Traces { provider })
    }

    /// The `tracing` layer that turns hook spans into exported spans; it sees no other span
    /// and no event (a log line never becomes a span event).
    pub fn layer<S>(&self) -> TracesLayer<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("hookgate"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(
                FilterFn::new(hook_spans as fn(&tracing::Metadata<'_>) -> bool)
                    .with_max_level_hint(tracing::Level::INFO),
            )
    }

    /// Exports what is queued and stops the batch thread, waiting at most `timeout`.
    pub fn shutdown(self, timeout: Duration) {
        if let Err(err) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!("tracing: the last spans were not all exported: {err}");
        }
    }
}

/// What the exporter sees: the hook path's spans, no other span and no event.
fn hook_spans(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == TRACE_TARGET
}

/// The root span of one hook, `method` classified (its catalogued name, or `other`), joined to
/// the trace of a valid `traceparent` header. Disabled (and nothing read) when traces are off.
pub(crate) fn hook_span(method: &str, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(target: TRACE_TARGET, "hook",
        otel.kind = "server", hookgate.method = Empty, hookgate.tenant = Empty, hookgate.verdict = Empty,
        hookgate.fallback = Empty, http.response.status_code = Empty);
    if !span.is_disabled() {
        let method = hookgate_protocol::Method::classify(method).catalogued.unwrap_or("other");
        span.record("hookgate.method", method);
        let parent = TraceContextPropagator::new().extract(&Traceparent(headers));
        // No valid traceparent: an empty context, and the span starts a trace of its own.
        let _ = span.set_parent(parent);
    }
    span
}

/// Records on the root span what became of the hook.
pub(crate) fn record_decision(span: &Span, decision: &Decision) {
    if span.is_disabled() {
        return;
    }
    let tenant = if decision.tenant.is_empty() { NO_TENANT } else { decision.tenant.as_str() };
    span.record("hookgate.tenant", tenant);
    span.record("hookgate.verdict", decision.outcome().as_str());
    if let Some(cause) = decision.fallback {
        span.record("hookgate.fallback", cause.as_str());
    }
}

/// The span of what a hook set off once answered.
pub(crate) fn effects_span() -> Span {
    tracing::info_span!(target: TRACE_TARGET, "effects", hookgate.events = Empty, hookgate.send_data.queued = Empty)
}

/// The `traceparent` header alone, for the W3C propagator: its `tracestate` (a client's
/// free text) is never read, so never carried into an exported span.
struct Traceparent<'a>(&'a HeaderMap);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then(|| self.0.get(key)?.to_str().ok()).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt as _;

    fn config(endpoint: &str) -> TracingConfig {
        TracingConfig {
            otlp_endpoint: endpoint.into(),
            sample_ratio: 1.0,
            service_name: "hookgate".into(),
            max_queue_size: 1,
            export_timeout_ms: 1,
        }
    }

    #[test]
    fn an_endpoint_without_a_path_gets_the_traces_path() {
        let mut bare = config("http://127.0.0.1:4318");
        bare.check().unwrap();
        assert_eq!(bare.otlp_endpoint, "http://127.0.0.1:4318/v1/traces");
        let mut full = config("http://collector:4318/otlp/v1/traces");
        full.check().unwrap();
        assert_eq!(full.otlp_endpoint, "http://collector:4318/otlp/v1/traces");
    }

    #[test]
    fn only_a_valid_traceparent_gives_a_parent_and_its_tracestate_is_not_kept() {
        let parent = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("traceparent", value.parse().unwrap());
            headers.insert("tracestate", "vendor=secret".parse().unwrap());
            TraceContextPropagator::new().extract(&Traceparent(&headers)).span().span_context().clone()
        };
        let valid = parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert!(valid.is_valid() && valid.is_remote() && valid.is_sampled());
        assert_eq!(valid.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(valid.trace_state().header(), "");
        for malformed in
            ["00-xyz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "junk"]
        {
            assert!(!parent(malformed).is_valid(), "{malformed}");
        }
    }
}
