//! Hooks refused before their chain: unauthenticated, unrouted, or with a body that does not
//! fit their method. None of them has any effect.

use crate::answer::error_body;
use crate::auth::AuthFailure;
use crate::decision::{Cause, Decision, Refusal};
use crate::hook::Hook;
use crate::tenant::Tenant;
use hookgate_protocol::{Method, MethodKind};

/// Statuses of a `StreamStatusEvent` that end a stream: never in a direct invocation, which
/// carries `PENDING` (docs/protocol/wcs-reference.md §3.6).
const STREAM_ENDS: [&str; 3] = ["FAILED", "UNPUBLISHED", "STOPPED"];

/// The methods whose bodies can be mistaken for another's: the session's own and the direct
/// invocations that start a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// `connect`.
    Connect,
    /// `ConnectionStatusEvent`.
    ConnectionStatus,
    /// `publishStream` or `playStream`.
    StreamStart,
}

impl Checked {
    /// The check for `method`, if its bodies are checked.
    pub(crate) fn of(method: Method<'_>) -> Option<Checked> {
        match method.catalogued? {
            "connect" => Some(Checked::Connect),
            "ConnectionStatusEvent" => Some(Checked::ConnectionStatus),
            "publishStream" | "playStream" => Some(Checked::StreamStart),
            _ => None,
        }
    }
}

/// Why the body of `hook` does not fit its method, if it does not.
pub(crate) fn misfit(hook: &Hook<'_>) -> Option<String> {
    let name = hook.method.name;
    match Checked::of(hook.method)? {
        Checked::Connect | Checked::ConnectionStatus if hook.stream_fields => Some(format!(
            "body does not fit method {name}: it has a stream's fields (mediaSessionId, or name and published)"
        )),
        Checked::ConnectionStatus if hook.session_id.is_empty() => {
            Some(format!("body does not fit method {name}: it has no sessionId"))
        }
        Checked::StreamStart => {
            let status = hook.status.as_deref().filter(|status| STREAM_ENDS.contains(status))?;
            Some(format!(
                "body does not fit method {name}: status {status} ends a stream (a StreamStatusEvent's), \
                 a direct invocation carries PENDING"
            ))
        }
        _ => None,
    }
}

/// A hook that failed authentication (`by`: whose `[auth]`): 401 or 403, whatever its kind.
pub(crate) fn unauthenticated(failure: AuthFailure, by: &str, method: Method<'_>) -> Decision {
    Decision {
        status: failure.status(),
        body: error_body(failure.reason(), None),
        note: Some(format!("{by}: {}", failure.reason())),
        refusal: Some(Refusal::Unauthenticated),
        ..Decision::new(method.kind, method.catalogued)
    }
}

/// A hook that failed its tenant's `[auth]`: refused as [`unauthenticated`], its record
/// naming the tenant and the hook's session, node and appKey as any other decision's does.
pub(crate) fn forged(tenant: &Tenant, hook: Hook<'_>, failure: AuthFailure) -> Decision {
    Decision {
        tenant: tenant.name.clone(),
        generation: tenant.generation,
        session_id: hook.session_id,
        node_id: hook.node_id,
        app_key: hook.app_key,
        ..unauthenticated(failure, "tenant [auth]", hook.method)
    }
}

/// A body that does not fit its method: an event is echoed (it happened, whatever its body
/// says), anything else answered 400.
pub(crate) fn mismatch(tenant: &Tenant, hook: &Hook<'_>, reason: String) -> Decision {
    let mut decision = refused(hook, Refusal::Mismatch, 400, reason);
    decision.tenant = tenant.name.clone();
    decision.generation = tenant.generation;
    decision
}

/// A hook no tenant can decide: an event is echoed, anything else refused 403.
pub(crate) fn unrouted(hook: &Hook<'_>, reason: String, cause: Cause) -> Decision {
    Decision { fallback: Some(cause), ..refused(hook, Refusal::Unrouted, 403, reason) }
}

fn refused(hook: &Hook<'_>, refusal: Refusal, status: u16, reason: String) -> Decision {
    let mut decision = Decision::new(hook.method.kind, hook.method.catalogued);
    if hook.method.kind != MethodKind::Event {
        decision.status = status;
        decision.body = error_body(&reason, None);
    }
    Decision {
        session_id: hook.session_id.clone(),
        app_key: hook.app_key.clone(),
        note: Some(reason),
        refusal: Some(refusal),
        ..decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::HookRequest;

    #[tokio::test]
    async fn a_hook_refused_by_its_tenants_auth_keeps_its_session_in_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = "version = 1\n[auth]\nhmac_key_file = \"wcs.key\"\n";
        std::fs::write(dir.path().join(hookgate_config::MANIFEST_FILE), manifest).unwrap();
        std::fs::write(dir.path().join("wcs.key"), "1234567890\n").unwrap();
        let runtime = hookgate_runtime::Runtime::new(hookgate_runtime::RuntimeConfig::default()).unwrap();
        let bounds = hookgate_config::TenantBounds::default();
        let (tenant, problems) = crate::load_tenant(&runtime, "signed", dir.path(), &bounds).await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let set = crate::TenantSet::new([tenant]);
        // A session id with a non-ASCII character, as the fuzzer found it.
        let body = r#"{"appKey":"signed","sessionId":"/192.168.1.38:64604/192.168.1.59\u01be443","nodeId":"n1"}"#;
        let forged = Some("WCS eec9118c73376b04120d3265412aa28c".as_bytes());
        let request = HookRequest { method: "connect", body: body.as_bytes(), authorization: forged, received_ms: 0 };
        let decision = set.decide(request, &crate::Services::in_process()).await.unwrap();
        assert_eq!((decision.status, decision.refusal), (403, Some(Refusal::Unauthenticated)));
        assert_eq!((decision.tenant.as_str(), decision.generation), ("signed", 1));
        assert_eq!(decision.session_id, "/192.168.1.38:64604/192.168.1.59\u{1be}443");
        assert_eq!((decision.node_id.as_str(), decision.app_key.as_str()), ("n1", "signed"));
    }

    #[test]
    fn bodies_that_contradict_their_method_are_named() {
        let misfit = |method: &str, body: &str| {
            let request = HookRequest { method, body: body.as_bytes(), authorization: None, received_ms: 0 };
            misfit(&Hook::parse(request, &[]).unwrap())
        };
        let stream = r#"{"sessionId":"s","mediaSessionId":"m","name":"a","published":true,"status":"FAILED"}"#;
        assert_eq!(
            misfit("ConnectionStatusEvent", stream).unwrap(),
            "body does not fit method ConnectionStatusEvent: it has a stream's fields (mediaSessionId, or name and \
             published)"
        );
        assert!(misfit("connect", r#"{"sessionId":"s","name":"a","published":false}"#).is_some());
        assert_eq!(
            misfit("ConnectionStatusEvent", r#"{"status":"DISCONNECTED"}"#).unwrap(),
            "body does not fit method ConnectionStatusEvent: it has no sessionId"
        );
        assert!(misfit("publishStream", stream).unwrap().contains("status FAILED ends a stream"));
        assert!(misfit("playStream", r#"{"status":"STOPPED"}"#).is_some());
        // What fits: the documented bodies, and methods that are not checked.
        assert_eq!(misfit("ConnectionStatusEvent", r#"{"sessionId":"s","status":"DISCONNECTED","name":"x"}"#), None);
        assert_eq!(misfit("publishStream", r#"{"status":"PENDING","name":"a","published":true}"#), None);
        assert_eq!(misfit("StreamStatusEvent", stream), None);
        assert_eq!(misfit("unPublishStream", stream), None);
    }
}
