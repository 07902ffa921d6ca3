//! One WebSocket connection: requests in, answers and events out.
//!
//! Two tasks per connection. The **reader** (this task) reads requests and answers them,
//! pings, and watches the token's expiry and shutdown. The **writer** owns the socket's
//! sending half and writes answers (from a small control queue) and events (from the
//! connection's bounded [`EventQueue`](crate::hub) queue). Splitting them is what lets a client
//! that stopped reading be told and dropped: the writer's pending send is raced against the
//! overflow signal, so a socket that no longer drains cannot hide a full queue.
//!
//! The user's rights are read again at every ping: a user removed from the directory, or a
//! subscription its entry no longer allows, ends the connection (code 3 or 4, close 1008
//! `access revoked`), so a revocation takes effect within `ping_interval_ms`.
//!
//! Every way out sends at most one notice (an answer-shaped message with code 6, 7 or 8) and a
//! close frame, each bounded by `close_grace_ms`, then detaches all of the connection's
//! subscriptions.

use crate::hub::{EventQueue, Slot, Topic};
use crate::protocol::{Action, Answer, Code, Request};
use crate::server::{Full, Shared, UserSlot};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as HttpRequest, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

/// The only path served, as in the WCS document (`wss://{domain}/ws`).
pub(crate) const PATH: &str = "/ws";

/// Answers and pings waiting for the writer.
const CONTROL_CAPACITY: usize = 16;

/// Events written per flush, at most, when several are waiting.
const WRITE_BATCH: usize = 64;

/// Requests are small JSON objects: a small read buffer keeps 10,000 idle connections cheap
/// (tungstenite's default is 128 KiB each).
const READ_BUFFER: usize = 4 * 1024;

type Socket = WebSocketStream<TcpStream>;

/// How a connection is ended by the server.
#[derive(Debug, Clone)]
struct Closing {
    /// The last message before the close frame, if the client should be told why.
    notice: Option<Answer>,
    code: CloseCode,
    reason: &'static str,
}

impl Closing {
    fn new(notice: Option<Answer>, code: CloseCode, reason: &'static str) -> Closing {
        Closing { notice, code, reason }
    }
}

/// What the writer is asked to send.
enum WriterCommand {
    Frame(Message),
    /// The first of the events waiting in the outbox.
    Events(Utf8Bytes),
    Close(Closing),
}

/// Why the reader stopped.
enum ReaderEnd {
    /// The peer closed or the socket failed.
    PeerGone,
    /// The writer stopped (it closed a slow subscriber, or the socket failed).
    WriterDone,
    /// The server closes the connection.
    Close(Closing),
}

/// A refused request: the answer, and whether the connection ends with it.
struct Refusal {
    answer: Answer,
    close: Option<Closing>,
}

impl From<Code> for Refusal {
    fn from(code: Code) -> Refusal {
        Refusal { answer: Answer::of(code), close: None }
    }
}

/// Runs one connection to its end. `pending` counts it as not yet authenticated until its
/// first successful request (or its end): the WebSocket handshake must be done within
/// `handshake_timeout_ms`, then that request within `request_timeout_ms`.
pub(crate) async fn run(shared: Arc<Shared>, stream: TcpStream, pending: Slot, mut shutdown: watch::Receiver<bool>) {
    let limits = &shared.limits;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, only_ws_path, Some(config));
    let socket = tokio::select! {
        () = stopped(&mut shutdown) => return,
        handshake = timeout(limits.handshake_timeout(), handshake) => match handshake {
            Ok(Ok(socket)) => socket,
            Ok(Err(err)) => return tracing::debug!(error = %err, "events: handshake refused"),
            Err(_) => return tracing::debug!("events: handshake not completed in time"),
        },
    };

    let (sink, mut stream) = socket.split();
    let (outbox, events) = shared.hub.outbox(limits.queue_capacity);
    let (control, control_rx) = mpsc::channel(CONTROL_CAPACITY);
    let mut writer = tokio::spawn(write_loop(sink, control_rx, events, outbox.clone(), limits.clone()));
    let mut session = Session {
        shared: shared.clone(),
        outbox,
        pending: Some(pending),
        user: None,
        topics: HashSet::new(),
        deadline: None,
    };
    let end = session.read_loop(&mut stream, &control, &mut writer, &mut shutdown).await;
    session.detach_all();
    let grace = shared.limits.close_grace();
    match end {
        ReaderEnd::PeerGone => writer.abort(),
        ReaderEnd::WriterDone => {}
        ReaderEnd::Close(closing) => {
            if control.try_send(WriterCommand::Close(closing)).is_err() || timeout(grace, &mut writer).await.is_err() {
                writer.abort();
            }
        }
    }
    // Reading until the peer answers the close frame lets the socket end with FIN, not RST
    // (which could discard the notice before the client reads it).
    let _ = timeout(grace, async { while let Some(Ok(_)) = stream.next().await {} }).await;
}

/// The handshake callback: only `GET /ws` is upgraded, anything else is a 404.
#[expect(clippy::result_large_err, reason = "the signature tungstenite's handshake callback requires")]
fn only_ws_path(request: &HttpRequest, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == PATH {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some(format!("no WebSocket service at {}; use {PATH}", request.uri().path())));
    *refusal.status_mut() = StatusCode::NOT_FOUND;
    Err(refusal)
}

/// Sends the notice (if any) and the close frame, within `grace`.
async fn close<S>(sink: &mut S, closing: Closing, grace: Duration)
where
    S: Sink<Message> + Unpin,
{
    let send = async {
        if let Some(notice) = closing.notice {
            sink.send(Message::Text(notice.to_text())).await?;
        }
        sink.send(Message::Close(Some(CloseFrame { code: closing.code, reason: closing.reason.into() }))).await
    };
    let _ = timeout(grace, send).await;
}

/// The writer task: answers first, then events; stops at the first close or failed send.
async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    mut control: mpsc::Receiver<WriterCommand>,
    mut events: mpsc::Receiver<Utf8Bytes>,
    outbox: Arc<EventQueue>,
    limits: crate::EventsLimits,
) {
    let too_slow = || {
        let message = format!("Too slow: more than {} events were waiting; disconnected", limits.queue_capacity);
        Closing::new(Some(Answer::with_message(Code::TooSlow, message)), CloseCode::Policy, "too slow")
    };
    loop {
        let next = tokio::select! {
            biased;
            () = outbox.overflow.notified() => WriterCommand::Close(too_slow()),
            out = control.recv() => match out {
                Some(out) => out,
                None => return,
            },
            Some(event) = events.recv() => WriterCommand::Events(event),
        };
        let sent = match next {
            WriterCommand::Close(closing) => return close(&mut sink, closing, limits.close_grace()).await,
            WriterCommand::Frame(frame) => {
                tokio::select! {
                    biased;
                    () = outbox.overflow.notified() => return close(&mut sink, too_slow(), limits.close_grace()).await,
                    sent = sink.send(frame) => sent,
                }
            }
            // Events that queued up meanwhile go out with this one, in one write.
            WriterCommand::Events(first) => {
                let batch = async {
                    sink.feed(Message::Text(first)).await?;
                    for _ in 1..WRITE_BATCH {
                        let Ok(event) = events.try_recv() else { break };
                        sink.feed(Message::Text(event)).await?;
                    }
                    sink.flush().await
                };
                tokio::select! {
                    biased;
                    () = outbox.overflow.notified() => return close(&mut sink, too_slow(), limits.close_grace()).await,
                    sent = batch => sent,
                }
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The reader's state.
struct Session {
    shared: Arc<Shared>,
    outbox: Arc<EventQueue>,
    /// Counts the connection as not yet authenticated, until `user` is set.
    pending: Option<Slot>,
    /// The user the connection belongs to, from its first request with a valid token; this
    /// is also what counts it against `max_connections`.
    user: Option<UserSlot>,
    topics: HashSet<Topic>,
    /// When the newest token presented on this connection expires (`exp` + leeway).
    deadline: Option<Instant>,
}

impl Session {
    async fn read_loop(
        &mut self,
        stream: &mut SplitStream<Socket>,
        control: &mpsc::Sender<WriterCommand>,
        writer: &mut JoinHandle<()>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> ReaderEnd {
        let limits = self.shared.limits.clone();
        let mut ping = tokio::time::interval_at(Instant::now() + limits.ping_interval(), limits.ping_interval());
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = false;
        let first_request = sleep_until(Instant::now() + limits.request_timeout());
        tokio::pin!(first_request);
        loop {
            let expiry = self.deadline;
            tokio::select! {
                biased;
                () = stopped(shutdown) => {
                    return ReaderEnd::Close(Closing::new(None, CloseCode::Away, "server shutting down"));
                }
                _ = &mut *writer => return ReaderEnd::WriterDone,
                () = sleep_until(expiry.unwrap_or_else(Instant::now)), if expiry.is_some() => {
                    let notice = Answer::of(Code::TokenExpired);
                    return ReaderEnd::Close(Closing::new(Some(notice), CloseCode::Policy, "token expired"));
                }
                () = &mut first_request, if self.user.is_none() => {
                    return ReaderEnd::Close(Closing::new(None, CloseCode::Policy, "no successful request in time"));
                }
                _ = ping.tick() => {
                    if let Some(revoked) = self.revoked() {
                        return ReaderEnd::Close(revoked);
                    }
                    if !heard {
                        return ReaderEnd::Close(Closing::new(None, CloseCode::Away, "no pong"));
                    }
                    heard = false;
                    // A full control queue means answers are still waiting: this ping can be skipped.
                    let _ = control.try_send(WriterCommand::Frame(Message::Ping(Bytes::new())));
                }
                frame = stream.next() => {
                    let answer = match frame {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return ReaderEnd::PeerGone,
                        Some(Ok(Message::Text(text))) => self.handle(&text),
                        Some(Ok(Message::Binary(_))) => Code::InvalidRequest.into(),
                        Some(Ok(_)) => {
                            heard = true;
                            continue;
                        }
                    };
                    heard = true;
                    // Requests sent in a burst wait here for the writer; a client that does not
                    // read its answers for `close_grace_ms` is disconnected.
                    let answer_text = WriterCommand::Frame(Message::Text(answer.answer.to_text()));
                    if !matches!(timeout(limits.close_grace(), control.send(answer_text)).await, Ok(Ok(()))) {
                        return ReaderEnd::Close(Closing::new(None, CloseCode::Policy, "answers not read"));
                    }
                    if let Some(closing) = answer.close {
                        return ReaderEnd::Close(closing);
                    }
                }
            }
        }
    }

    /// Answers one request.
    fn handle(&mut self, text: &str) -> Refusal {
        match self.try_handle(text) {
            Ok(()) => Code::Ok.into(),
            Err(refusal) => refusal,
        }
    }

    fn try_handle(&mut self, text: &str) -> Result<(), Refusal> {
        let request = Request::parse(text)?;
        let token = self.shared.verifier.verify(&request.auth).map_err(|err| {
            tracing::debug!(error = %hookgate_config::error_chain(&err), "events: token refused");
            Code::InvalidToken
        })?;
        let user = self.shared.users.lookup(&token.user_id).ok_or(Code::UserNotExists)?;
        self.bind(&token.user_id)?;
        if !user.may_watch_type(&request.event_type) {
            return Err(Code::NoAccess.into());
        }
        let app_keys = match &request.app_key {
            Some(app_key) if user.app_keys.contains(app_key) => std::slice::from_ref(app_key),
            Some(_) => return Err(Code::NoAccess.into()),
            None if user.app_keys.is_empty() => return Err(Code::NoAccess.into()),
            None => &user.app_keys[..],
        };
        let topics = app_keys.iter().map(|app_key| Topic {
            app_key: app_key.clone(),
            event_type: request.event_type.clone(),
            id: request.id.clone(),
        });
        match request.action {
            Action::Attach => {
                let topics: Vec<Topic> = topics.filter(|topic| !self.topics.contains(topic)).collect();
                let limit = self.shared.limits.max_subscriptions_per_connection;
                if self.topics.len() + topics.len() > limit {
                    let message = format!("Too many subscriptions: the limit is {limit} per connection");
                    return Err(Refusal { answer: Answer::with_message(Code::LimitReached, message), close: None });
                }
                for topic in topics {
                    self.shared.hub.attach(&self.outbox, &topic);
                    self.topics.insert(topic);
                }
            }
            Action::Detach => {
                for topic in topics {
                    if self.topics.remove(&topic) {
                        self.shared.hub.detach(&self.outbox, &topic);
                    }
                }
            }
        }
        self.extend_deadline(token.expires_at);
        Ok(())
    }

    /// Binds the connection to its user on the first valid request; later requests must be
    /// the same user's.
    fn bind(&mut self, user_id: &str) -> Result<(), Refusal> {
        match &self.user {
            Some(bound) if bound.user_id == user_id => Ok(()),
            Some(_) => Err(Code::NoAccess.into()),
            None => {
                let limits = &self.shared.limits;
                let (message, close) = match self.shared.admit(user_id) {
                    Ok(slot) => {
                        self.user = Some(slot);
                        self.pending = None;
                        return Ok(());
                    }
                    Err(Full::Server) => (
                        format!("Too many connections: the server's limit of {} is reached", limits.max_connections),
                        Closing::new(None, CloseCode::Again, "server connection limit"),
                    ),
                    Err(Full::User) => (
                        format!("Too many connections: this user already has {}", limits.max_connections_per_user),
                        Closing::new(None, CloseCode::Policy, "user connection limit"),
                    ),
                };
                Err(Refusal { answer: Answer::with_message(Code::LimitReached, message), close: Some(close) })
            }
        }
    }

    /// Re-reads the user's rights (the directory may have changed since the attach): a user
    /// removed, or a subscription no longer allowed, ends the connection.
    fn revoked(&self) -> Option<Closing> {
        let bound = self.user.as_ref()?;
        let code = match self.shared.users.lookup(&bound.user_id) {
            None => Code::UserNotExists,
            Some(user)
                if self
                    .topics
                    .iter()
                    .all(|topic| user.app_keys.contains(&topic.app_key) && user.may_watch_type(&topic.event_type)) =>
            {
                return None;
            }
            Some(_) => Code::NoAccess,
        };
        Some(Closing::new(Some(Answer::of(code)), CloseCode::Policy, "access revoked"))
    }

    /// Deliveries go on until the newest token presented here expires.
    fn extend_deadline(&mut self, expires_at: u64) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let end = Duration::from_secs(expires_at.saturating_add(self.shared.leeway_seconds));
        let deadline = Instant::now() + end.saturating_sub(now);
        self.deadline = Some(self.deadline.map_or(deadline, |current| current.max(deadline)));
    }

    fn detach_all(&mut self) {
        for topic in self.topics.drain() {
            self.shared.hub.detach(&self.outbox, &topic);
        }
    }
}

/// Completes when the server stops (or is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
