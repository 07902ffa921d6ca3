//! The idempotency journal of [`MemoryState`](crate::MemoryState): the recorded result of every
//! update, by [`OpId`], for a window; and the kinds of update, and the error of a replay that
//! differs from the recorded update, that every backend's journal shares.
//!
//! Entries are grouped by hook delivery: one map entry per hook digest holds that evaluation's
//! updates sorted by position, so a delivery costs one 32-byte key however many updates it
//! makes. Hooks expire `ttl` after their first update, in the order they were first seen, so a
//! FIFO queue is a complete time-ordered index and a sweep costs O(expired). A sweep may stop
//! early, so lookups also check expiry: an expired hook is unknown even while still stored.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ClaimOutcome, OpId, Scope, StateError};

/// Which update an [`OpId`] was recorded for: every backend's journal tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// [`StateBackend::set`](crate::StateBackend::set).
    Set,
    /// [`StateBackend::delete`](crate::StateBackend::delete).
    Delete,
    /// [`StateBackend::incr`](crate::StateBackend::incr).
    Incr,
    /// [`StateBackend::compare_and_set`](crate::StateBackend::compare_and_set).
    CompareAndSet,
    /// [`StateBackend::claim`](crate::StateBackend::claim).
    Claim,
    /// [`StateBackend::release`](crate::StateBackend::release).
    Release,
}

impl UpdateKind {
    /// The kind with its article, for messages ("an incr").
    pub fn described(self) -> &'static str {
        match self {
            UpdateKind::Set => "a set",
            UpdateKind::Delete => "a delete",
            UpdateKind::Incr => "an incr",
            UpdateKind::CompareAndSet => "a compare-and-set",
            UpdateKind::Claim => "a claim",
            UpdateKind::Release => "a release",
        }
    }
}

impl StateError {
    /// The error of update `seq` of a retried hook delivery that is `attempted` where the first
    /// delivery's was `recorded`, or the same kind of update of another key.
    pub fn replay_mismatch(seq: u32, recorded: UpdateKind, attempted: UpdateKind) -> StateError {
        let first = recorded.described();
        let other = if recorded == attempted { " of another key" } else { "" };
        StateError::Invalid(format!(
            "update #{seq} of this hook delivery is {}, but the first delivery's was {first}{other}: \
             a retried delivery must make the same updates in the same order",
            attempted.described()
        ))
    }
}

/// An update as the journal compares it: its kind and a digest of its scope and key.
///
/// A replay whose call differs from the recorded one means the policy made different updates
/// on the retried delivery; returning the recorded result would then answer the wrong question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    kind: UpdateKind,
    target: u64,
}

impl Call {
    pub(crate) fn new(kind: UpdateKind, scope: &Scope, key: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        scope.hash(&mut hasher);
        key.hash(&mut hasher);
        Call { kind, target: hasher.finish() }
    }
}

/// A recorded result, whatever the update returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    Unit,
    Bool(bool),
    Int(i64),
    Claim(ClaimOutcome),
}

/// A result type an update can record and replay.
pub(crate) trait Outcome: Sized {
    fn into_value(self) -> Value;
    fn from_value(value: Value) -> Option<Self>;
}

impl Outcome for () {
    fn into_value(self) -> Value {
        Value::Unit
    }
    fn from_value(value: Value) -> Option<Self> {
        matches!(value, Value::Unit).then_some(())
    }
}

impl Outcome for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl Outcome for i64 {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Int(n) => Some(n),
            _ => None,
        }
    }
}

impl Outcome for u32 {
    fn into_value(self) -> Value {
        Value::Int(self.into())
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Int(n) => n.try_into().ok(),
            _ => None,
        }
    }
}

impl Outcome for ClaimOutcome {
    fn into_value(self) -> Value {
        Value::Claim(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Claim(outcome) => Some(outcome),
            _ => None,
        }
    }
}

/// One recorded update. Errors are recorded too: a retried evaluation must see the same
/// answers in the same order, or the positions of its later updates would no longer match.
#[derive(Debug, Clone)]
struct Record {
    call: Call,
    result: Result<Value, StateError>,
}

/// One hook delivery's recorded updates.
#[derive(Debug)]
struct Hook {
    /// None if `ttl` is too long to represent: then it never expires.
    expires_at: Option<Instant>,
    /// Sorted by position.
    ops: Vec<(u32, Record)>,
}

impl Hook {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// One tenant's journal.
#[derive(Debug)]
pub(crate) struct Journal {
    ttl: Duration,
    /// Hook digest → its updates.
    hooks: HashMap<[u8; 32], Hook>,
    /// (expiry, hook) in expiry order; one entry per key of `hooks` that can expire.
    order: VecDeque<(Instant, [u8; 32])>,
}

impl Journal {
    pub(crate) fn new(ttl: Duration) -> Self {
        Journal { ttl, hooks: HashMap::new(), order: VecDeque::new() }
    }

    /// Forgets up to `budget` of the hooks whose window ended at or before `now`, oldest first.
    pub(crate) fn sweep(&mut self, now: Instant, budget: usize) {
        for _ in 0..budget {
            let Some(&(at, hook)) = self.order.front() else { break };
            if at > now {
                break;
            }
            self.order.pop_front();
            // A hook recorded again after it expired has a newer entry further back.
            if self.hooks.get(&hook).is_some_and(|recorded| recorded.expires_at == Some(at)) {
                self.hooks.remove(&hook);
            }
        }
    }

    /// The result of `op` recorded within the window that includes `now`, if any, as the type
    /// `call` returns.
    pub(crate) fn replay<T: Outcome>(&self, now: Instant, op: OpId, call: Call) -> Option<Result<T, StateError>> {
        let ops = &self.hooks.get(&op.hook).filter(|hook| hook.live(now))?.ops;
        let index = ops.binary_search_by_key(&op.seq, |(seq, _)| *seq).ok()?;
        let record = &ops[index].1;
        if record.call != call {
            return Some(Err(StateError::replay_mismatch(op.seq, record.call.kind, call.kind)));
        }
        Some(match record.result.clone() {
            Ok(value) => T::from_value(value).ok_or_else(|| {
                StateError::Invalid(format!(
                    "update #{} of this hook delivery recorded {value:?}, not the result of {}",
                    op.seq,
                    call.kind.described()
                ))
            }),
            Err(e) => Err(e),
        })
    }

    /// Records the result of `op`, made at `now`.
    pub(crate) fn record(&mut self, now: Instant, op: OpId, call: Call, result: Result<Value, StateError>) {
        let hook = match self.hooks.entry(op.hook) {
            Entry::Occupied(hook) if hook.get().live(now) => hook.into_mut(),
            entry => {
                let expires_at = now.checked_add(self.ttl);
                if let Some(at) = expires_at {
                    self.order.push_back((at, op.hook));
                }
                // Most evaluations make one update; a second grows it to four.
                let hook = Hook { expires_at, ops: Vec::with_capacity(1) };
                entry.insert_entry(hook).into_mut()
            }
        };
        let ops = &mut hook.ops;
        let record = Record { call, result };
        match ops.binary_search_by_key(&op.seq, |(seq, _)| *seq) {
            Ok(index) => ops[index].1 = record,
            Err(index) => ops.insert(index, (op.seq, record)),
        }
    }

    /// How many hook deliveries are remembered.
    #[cfg(test)]
    pub(crate) fn hooks(&self) -> usize {
        self.hooks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(hook: u8, seq: u32) -> OpId {
        OpId { hook: [hook; 32], seq }
    }

    #[test]
    fn replays_recorded_results_by_position() {
        let now = Instant::now();
        let mut journal = Journal::new(Duration::from_secs(60));
        let incr = Call::new(UpdateKind::Incr, &Scope::Tenant, "n");
        journal.record(now, op(1, 1), incr, Ok(Value::Int(7)));
        journal.record(now, op(1, 0), incr, Ok(Value::Int(6)));
        assert_eq!(journal.replay::<i64>(now, op(1, 0), incr), Some(Ok(6)));
        assert_eq!(journal.replay::<i64>(now, op(1, 1), incr), Some(Ok(7)));
        assert_eq!(journal.replay::<i64>(now, op(1, 2), incr), None);
        assert_eq!(journal.replay::<i64>(now, op(2, 0), incr), None);
        assert_eq!(journal.hooks(), 1);
    }

    #[test]
    fn a_different_update_at_a_recorded_position_is_invalid() {
        let now = Instant::now();
        let mut journal = Journal::new(Duration::from_secs(60));
        journal.record(now, op(1, 0), Call::new(UpdateKind::Incr, &Scope::Tenant, "n"), Ok(Value::Int(1)));
        let Some(Err(StateError::Invalid(msg))) =
            journal.replay::<bool>(now, op(1, 0), Call::new(UpdateKind::Delete, &Scope::Tenant, "n"))
        else {
            panic!("expected a mismatch error");
        };
        assert!(msg.contains("update #0 of this hook delivery is a delete"), "{msg}");
        assert!(msg.contains("the first delivery's was an incr:"), "{msg}");
        let Some(Err(StateError::Invalid(msg))) =
            journal.replay::<i64>(now, op(1, 0), Call::new(UpdateKind::Incr, &Scope::Session("s".into()), "n"))
        else {
            panic!("expected a mismatch error");
        };
        assert!(msg.contains("was an incr of another key"), "{msg}");
    }

    #[test]
    fn sweep_forgets_hooks_after_the_window() {
        let start = Instant::now();
        let now = start + Duration::from_secs(10);
        let mut journal = Journal::new(Duration::from_secs(10));
        let set = Call::new(UpdateKind::Set, &Scope::Tenant, "k");
        journal.record(start, op(1, 0), set, Ok(Value::Unit));
        journal.record(start + Duration::from_secs(5), op(2, 0), set, Ok(Value::Unit));
        journal.record(start + Duration::from_secs(6), op(1, 1), set, Ok(Value::Unit));
        journal.sweep(start + Duration::from_secs(9), usize::MAX);
        assert_eq!(journal.hooks(), 2);
        journal.sweep(now, usize::MAX);
        assert_eq!(journal.hooks(), 1);
        assert_eq!(journal.replay::<()>(now, op(1, 1), set), None);
        assert_eq!(journal.replay::<()>(now, op(2, 0), set), Some(Ok(())));
        journal.sweep(start + Duration::from_secs(15), usize::MAX);
        assert_eq!(journal.hooks(), 0);
    }

    #[test]
    fn an_expired_hook_is_unknown_before_it_is_swept_and_recorded_afresh() {
        let start = Instant::now();
        let later = start + Duration::from_secs(10);
        let mut journal = Journal::new(Duration::from_secs(10));
        let incr = Call::new(UpdateKind::Incr, &Scope::Tenant, "n");
        journal.record(start, op(1, 0), incr, Ok(Value::Int(1)));
        journal.record(start, op(2, 0), incr, Ok(Value::Int(2)));
        journal.sweep(later, 1);
        assert_eq!(journal.hooks(), 1, "a budget of one sweeps one hook");
        assert_eq!(journal.replay::<i64>(later, op(2, 0), incr), None, "expired, though still stored");
        journal.record(later, op(2, 0), incr, Ok(Value::Int(3)));
        // The stale queue entry of the first window must not remove the second.
        journal.sweep(later, usize::MAX);
        assert_eq!(journal.replay::<i64>(later, op(2, 0), incr), Some(Ok(3)));
        journal.sweep(later + Duration::from_secs(10), usize::MAX);
        assert_eq!(journal.hooks(), 0);
        assert!(journal.order.is_empty());
    }
}
