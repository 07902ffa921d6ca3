//! The answer to one hook and how it was reached: what logs, metrics and effects read.

use crate::answer::Body;
use hookgate_protocol::{EffectSink, MethodKind, Origin};
use hookgate_runtime::{Effect, Failure};

/// Why a hook got a fallback answer (or was refused as unrouted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The guest trapped.
    Trap,
    /// The guest ran past its deadline.
    Deadline,
    /// The guest hit its memory cap.
    Memory,
    /// The guest returned `err(...)`.
    Error,
    /// The verdict broke the contract (an override of an undeclared field, a bad status, …).
    BadOutput,
    /// The instance could not be created.
    Instantiate,
    /// The verdict was over the output limit.
    OutputSize,
    /// Too many `log` calls in one evaluation.
    LogFlood,
    /// The policy is configured but not loaded.
    NotLoaded,
    /// The tenant had no free evaluation slot.
    Overload,
    /// No tenant for the appKey and no `_default`.
    NoTenant,
}

impl Cause {
    /// The name in metrics (`fallback` label) and the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Trap => "trap",
            Cause::Deadline => "deadline",
            Cause::Memory => "memory",
            Cause::Error => "error",
            Cause::BadOutput => "bad-output",
            Cause::Instantiate => "instantiate",
            Cause::OutputSize => "output-size",
            Cause::LogFlood => "log-flood",
            Cause::NotLoaded => "not-loaded",
            Cause::Overload => "overload",
            Cause::NoTenant => "no-tenant",
        }
    }
}

impl From<&Failure> for Cause {
    fn from(failure: &Failure) -> Cause {
        match failure {
            Failure::Trap(_) => Cause::Trap,
            Failure::Deadline(_) => Cause::Deadline,
            Failure::Memory(_) => Cause::Memory,
            Failure::Error(_) => Cause::Error,
            Failure::BadOutput(_) => Cause::BadOutput,
            Failure::Instantiate(_) => Cause::Instantiate,
            Failure::OutputTooLarge(..) => Cause::OutputSize,
            Failure::LogFlood(_) => Cause::LogFlood,
        }
    }
}

/// What one policy of the chain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// It allowed.
    Allow,
    /// It denied.
    Deny,
    /// It overrode fields.
    Override,
    /// It failed.
    Failed(Cause),
}

impl RunOutcome {
    /// `allow`, `deny`, `override`, or the failure cause.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Allow => "allow",
            RunOutcome::Deny => "deny",
            RunOutcome::Override => "override",
            RunOutcome::Failed(cause) => cause.as_str(),
        }
    }
}

/// What one policy of the chain did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRun {
    /// The policy name.
    pub policy: String,
    /// What it did.
    pub outcome: RunOutcome,
    /// How long the evaluation took, in microseconds.
    pub micros: u64,
}

/// What [`Decision::carry_out`] handed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// Events published: the hook's own and its policies' `notify` events.
    pub events: u32,
    /// `send-data` messages handed to delivery.
    pub send_data: u32,
}

/// Why a hook was refused before any policy ran. A refused hook has no effect at all: no
/// chain, no state change, no session end, no WebSocket event, no `send-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It failed hook authentication: `hookgate.toml`'s `[auth]` or its tenant's (401/403).
    Unauthenticated,
    /// No tenant can decide it: no folder for its appKey and no `_default`, or a folder
    /// without a loaded generation yet.
    Unrouted,
    /// Its body does not fit its method (e.g. a stream's body posted as a
    /// `ConnectionStatusEvent`): a direct method is answered 400, an event is echoed.
    Mismatch,
}

/// What became of a hook: the `verdict` label of the hook metrics and the `outcome` of the
/// decision log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Refused by `[auth]`.
    Unauthenticated,
    /// Refused: its body does not fit its method.
    Mismatch,
    /// Answered by a fallback (a failure, or an unrouted appKey).
    Fallback,
    /// Answered with a refusal the chain decided, or a malformed body.
    Deny,
    /// Let through with fields overridden.
    Override,
    /// Let through.
    Allow,
}

impl Outcome {
    /// The name in metrics and the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Mismatch => "mismatch",
            Outcome::Fallback => "fallback",
            Outcome::Deny => "deny",
            Outcome::Override => "override",
            Outcome::Allow => "allow",
        }
    }
}

/// The answer to one hook and how it was reached.
#[derive(Debug, Clone)]
pub struct Decision {
    /// HTTP status for WCS.
    pub status: u16,
    /// The body for WCS.
    pub body: Body,
    /// The tenant that decided (`_default` for appKeys without a folder); empty if none.
    pub tenant: String,
    /// The generation of that tenant that decided (0 if none).
    pub generation: u64,
    /// The body's `sessionId` (empty if none, or if the hook failed authentication).
    pub session_id: String,
    /// The body's `nodeId` (empty if none): where `send-data` messages go.
    pub node_id: String,
    /// The method's kind.
    pub kind: MethodKind,
    /// The canonical method name when the method is in the WCS catalogue.
    pub canonical: Option<&'static str>,
    /// The policies that ran, in order.
    pub runs: Vec<PolicyRun>,
    /// The failure cause when the answer is a fallback.
    pub fallback: Option<Cause>,
    /// A note for the log: the failure text, or why a deny was not obeyed.
    pub note: Option<String>,
    /// The body's `appKey` (empty if none, or if the hook failed authentication).
    pub app_key: String,
    /// Notifications and messages the policies queued, to carry out once WCS has its answer.
    pub effects: Vec<Effect>,
    /// Why the hook was refused before its chain; `None` for a hook its tenant decided.
    pub refusal: Option<Refusal>,
    /// `send-data` messages dropped because their session did not connect under this tenant.
    pub dropped_send_data: u32,
}

impl Decision {
    /// A decision of `kind` before any policy ran: 200, echo, no tenant.
    pub(crate) fn new(kind: MethodKind, canonical: Option<&'static str>) -> Decision {
        Decision {
            status: 200,
            body: Body::Echo,
            tenant: String::new(),
            generation: 0,
            session_id: String::new(),
            node_id: String::new(),
            kind,
            canonical,
            runs: Vec::new(),
            fallback: None,
            note: None,
            app_key: String::new(),
            effects: Vec::new(),
            refusal: None,
            dropped_send_data: 0,
        }
    }

    /// Carries out what this answered hook sets off through `sink`: its own event (`method`,
    /// `body` as received), then the effects its policies queued. A refused hook
    /// (unauthenticated, unrouted, or a body that does not fit its method) has none.
    pub fn carry_out(&mut self, method: &str, body: &[u8], sink: &dyn EffectSink) -> Carried {
        let mut carried = Carried::default();
        if self.app_key.is_empty() || self.refusal.is_some() {
            return carried;
        }
        let origin = Origin { tenant: &self.tenant, app_key: &self.app_key, node_id: &self.node_id };
        if let Ok(text) = std::str::from_utf8(body) {
            sink.hook(&origin, method, text);
            carried.events += 1;
        }
        for effect in std::mem::take(&mut self.effects) {
            match effect {
                Effect::Notify { .. } => carried.events += 1,
                Effect::SendData { .. } => carried.send_data += 1,
            }
            sink.effect(&origin, &effect);
        }
        carried
    }

    /// What became of the hook.
    pub fn outcome(&self) -> Outcome {
        match self.refusal {
            Some(Refusal::Unauthenticated) => Outcome::Unauthenticated,
            Some(Refusal::Mismatch) => Outcome::Mismatch,
            _ if self.fallback.is_some() => Outcome::Fallback,
            _ if self.status != 200 => Outcome::Deny,
            _ if self.runs.last().map(|run| run.outcome) == Some(RunOutcome::Override) => Outcome::Override,
            _ => Outcome::Allow,
        }
    }
}

/// `Display` as the name in metrics and logs (`as_str`).
macro_rules! display_as_str {
    ($($name:ty),+) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

display_as_str!(Cause, RunOutcome, Outcome);
