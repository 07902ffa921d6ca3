//! The constant-rate load generator (`hookgate-bench fixed-rate`, wrk2-style): latency at a
//! fixed request rate, corrected for coordinated omission.
//!
//! Request `i` of the run has an intended send time `t0 + i / rate`. A pacer (a `timerfd`)
//! hands each request, at that time, to one of `connections` keep-alive connections
//! round-robin (request `i` on connection `i % connections`), which sends it as soon as it has
//! read its previous answer. Pacer and connections run on one thread (a current-thread tokio
//! runtime), as one wrk thread does. A request's latency runs from its
//! **intended** send time to the end of its answer, so a server that falls behind is charged
//! for the requests it kept waiting, not only for the time it took once it read them (what a
//! closed-loop generator such as wrk measures). Requests intended during the warm-up are sent
//! but not counted.

use anyhow::{Context, Result, bail, ensure};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use serde_json::{Value, json};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// How long one request may wait for its answer before the connection counts an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time past the schedule's end that late requests are still sent.
const MIN_GRACE: Duration = Duration::from_secs(2);

/// Arguments of `fixed-rate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RateArgs {
    /// The URL to POST to (`http://HOST:PORT/PATH`).
    #[arg(long)]
    url: String,
    /// The JSON body of every request.
    #[arg(long)]
    body: PathBuf,
    /// Requests per second, over all connections.
    #[arg(long)]
    rate: f64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Measured time, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Time at the same rate before the measured time, in seconds (sent, not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
}

/// One constant-rate run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The server.
    pub(crate) addr: SocketAddr,
    /// The whole HTTP/1.1 request, sent as is on every request.
    pub(crate) request: Vec<u8>,
    /// Requests per second.
    pub(crate) rate: f64,
    /// Connections.
    pub(crate) connections: usize,
    /// Time sent at the rate before counting.
    pub(crate) warmup: Duration,
    /// Counted time.
    pub(crate) duration: Duration,
}

/// What a constant-rate run measured (over the counted requests).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateReport {
    /// The requested rate.
    pub(crate) rate: f64,
    /// Requests answered during the counted time.
    pub(crate) completed: u64,
    /// Answered requests per second of the counted time (first intended send to last answer).
    pub(crate) achieved_rate: f64,
    /// Answers with a status outside 200–399.
    pub(crate) non_2xx_3xx: u64,
    /// Requests lost to a connection error or timeout (the connection is opened again).
    pub(crate) errors: u64,
    /// Scheduled requests never sent: so late that the schedule's grace time had run out.
    pub(crate) unsent: u64,
    /// Latency percentiles from the intended send time: p50, p99, p99.9, and the maximum.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
    /// 99.9th percentile.
    pub(crate) p999: Duration,
    /// Largest latency.
    pub(crate) max: Duration,
}

/// Runs `fixed-rate`: the plan from the arguments, its report as one JSON line on stdout.
pub(crate) fn command(args: &RateArgs) -> Result<()> {
    let body = std::fs::read(&args.body).with_context(|| format!("cannot read {}", args.body.display()))?;
    let plan = Plan::post_json(&args.url, &body, args.rate, args.connections as usize, args.warmup, args.duration)?;
    println!("{}", run(&plan)?.to_json());
    Ok(())
}

impl Plan {
    /// A plan that POSTs `body` as JSON to `url` (`http://HOST:PORT/PATH`); times in seconds.
    pub(crate) fn post_json(
        url: &str,
        body: &[u8],
        rate: f64,
        connections: usize,
        warmup: f64,
        duration: f64,
    ) -> Result<Self> {
        ensure!(rate.is_finite() && rate > 0.0, "the rate must be positive, not {rate}");
        ensure!(connections > 0, "at least one connection");
        let rest = url.strip_prefix("http://").with_context(|| format!("{url}: only http:// URLs"))?;
        let (host, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
        let addr = host
            .to_socket_addrs()
            .with_context(|| format!("bad address in {url}"))?
            .next()
            .with_context(|| format!("{host} resolves to nothing"))?;
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let seconds = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s).with_context(|| format!("bad {what} {s} (seconds, not negative)"))
        };
        Ok(Self {
            addr,
            request,
            rate,
            connections,
            warmup: seconds(warmup, "warm-up")?,
            duration: seconds(duration, "duration")?,
        })
    }

    /// Requests scheduled over the warm-up and the counted time.
    fn scheduled(&self) -> u64 {
        ((self.warmup + self.duration).as_secs_f64() * self.rate).ceil() as u64
    }

    /// The intended send time of request `i`, from the start.
    fn intended(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// What one connection measured.
#[derive(Debug, Default)]
struct Tally {
    /// Latencies of the counted requests, in nanoseconds.
    latencies: Vec<u64>,
    /// Non-2xx/3xx answers among them.
    non_2xx_3xx: u64,
    /// Errors among them.
    errors: u64,
    /// Scheduled and never sent.
    unsent: u64,
    /// When its last counted answer arrived.
    last_answer: Option<Instant>,
}

/// Runs `plan` on one thread (a current-thread tokio runtime) and reports it.
pub(crate) fn run(plan: &Plan) -> Result<RateReport> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(run_schedule(plan))
}

/// Connects every connection, then paces the schedule: request `i` is handed to connection
/// `i % connections` at its intended time `t0 + i / rate`. The pacer and the connections share
/// the runtime's one thread, so a hand-over costs no thread switch.
async fn run_schedule(plan: &Plan) -> Result<RateReport> {
    let mut connections = tokio::task::JoinSet::new();
    let mut queues = Vec::with_capacity(plan.connections);
    let (t0_tx, t0_rx) = watch::channel(None::<Instant>);
    for _ in 0..plan.connections {
        let stream = connect(plan.addr).await?;
        let (queue, requests) = mpsc::unbounded_channel::<Instant>();
        queues.push(queue);
        connections.spawn(connection_loop(plan.clone(), stream, requests, t0_rx.clone()));
    }
    let pacer = Pacer::new()?;
    let t0 = Instant::now();
    t0_tx.send_replace(Some(t0));
    let deadline = t0 + plan.warmup + plan.duration + plan.duration.max(MIN_GRACE);
    let scheduled = plan.scheduled();
    let mut unsent = 0;
    for i in 0..scheduled {
        let intended = t0 + plan.intended(i);
        pacer.sleep_until(intended).await?;
        if Instant::now() > deadline {
            unsent = scheduled - i;
            break;
        }
        // A connection still busy with an earlier request queues this one: the wait counts.
        let _ = queues[usize::try_from(i % queues.len() as u64).unwrap_or_default()].send(intended);
    }
    drop(queues);
    let mut tallies = Vec::with_capacity(plan.connections);
    while let Some(tally) = connections.join_next().await {
        tallies.push(tally.context("a connection task failed")??);
    }
    let mut report = report(plan, t0, &tallies);
    report.unsent += unsent;
    Ok(report)
}

/// Waits until an instant with nanosecond precision: a `timerfd` in the runtime's poller.
/// tokio's own timers round up to the next millisecond, and every late hand-over would count
/// as the server's latency; a sleeping thread of its own would cost two thread switches a request.
struct Pacer(AsyncFd<Timer>);

/// The `timerfd` the pacer waits on.
struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Pacer {
    /// A non-blocking monotonic `timerfd`, registered with the runtime.
    // tokio 1.54 deprecates `AsyncFd::new` because it cannot prove an arbitrary fd stays open
    // while registered; this one is owned by the `AsyncFd` for as long as it is registered (its
    // replacement, `AsyncFd::register`, is `unsafe`, which this workspace denies).
    #[allow(deprecated)]
    fn new() -> Result<Self> {
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
            .context("cannot create a timerfd")?;
        Ok(Self(AsyncFd::new(Timer(timer)).context("cannot register the timerfd")?))
    }

    /// Returns at `when`, at once if it has passed.
    async fn sleep_until(&self, when: Instant) -> Result<()> {
        let left = when.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let timer = &self.0.get_ref().0;
        timer
            .set(Expiration::OneShot(TimeSpec::from_duration(left)), TimerSetTimeFlags::empty())
            .context("cannot arm the timerfd")?;
        loop {
            let mut ready = self.0.readable().await.context("cannot poll the timerfd")?;
            if let Ok(expired) = ready.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                // The expiration is read: the next one is a new edge, so the next wait need not
                // first read the timerfd to learn it has not expired yet.
                ready.clear_ready();
                return expired.context("cannot read the timerfd");
            }
        }
    }
}

/// The report over every connection's tally.
fn report(plan: &Plan, t0: Instant, tallies: &[Tally]) -> RateReport {
    let mut latencies: Vec<u64> = tallies.iter().flat_map(|t| t.latencies.iter().copied()).collect();
    latencies.sort_unstable();
    let counted_from = t0 + plan.warmup;
    let window = tallies
        .iter()
        .filter_map(|t| t.last_answer)
        .max()
        .map_or(Duration::ZERO, |last| last.saturating_duration_since(counted_from));
    let completed = latencies.len() as u64;
    RateReport {
        rate: plan.rate,
        completed,
        achieved_rate: if window.is_zero() { 0.0 } else { completed as f64 / window.as_secs_f64() },
        non_2xx_3xx: tallies.iter().map(|t| t.non_2xx_3xx).sum(),
        errors: tallies.iter().map(|t| t.errors).sum(),
        unsent: tallies.iter().map(|t| t.unsent).sum(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        p999: percentile(&latencies, 0.999),
        max: latencies.last().map_or(Duration::ZERO, |&ns| Duration::from_nanos(ns)),
    }
}

/// The nearest-rank percentile `p` (0–1) of sorted nanoseconds.
fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_nanos(sorted[rank - 1])
}

/// One connection: sends each request the pacer hands it (its intended send time) and reads
/// the answer, until the pacer is done; requests still queued past the deadline are not sent.
async fn connection_loop(
    plan: Plan,
    mut stream: BufReader<TcpStream>,
    mut requests: mpsc::UnboundedReceiver<Instant>,
    mut start: watch::Receiver<Option<Instant>>,
) -> Result<Tally> {
    let t0 = *start.wait_for(Option::is_some).await.context("the run ended before it started")?;
    let t0 = t0.context("no start time")?;
    let counted_from = t0 + plan.warmup;
    let deadline = t0 + plan.warmup + plan.duration + plan.duration.max(MIN_GRACE);
    let mut tally = Tally::default();
    while let Some(intended) = requests.recv().await {
        if Instant::now() > deadline {
            tally.unsent += 1;
            continue;
        }
        let counted = intended >= counted_from;
        match exchange(&mut stream, &plan.request).await {
            Ok(status) => {
                if counted {
                    let answered = Instant::now();
                    tally.latencies.push(u64::try_from((answered - intended).as_nanos()).unwrap_or(u64::MAX));
                    tally.non_2xx_3xx += u64::from(!(200..400).contains(&status));
                    tally.last_answer = Some(answered);
                }
            }
            Err(_) => {
                tally.errors += u64::from(counted);
                if let Ok(fresh) = connect(plan.addr).await {
                    stream = fresh;
                }
            }
        }
    }
    Ok(tally)
}

/// A keep-alive connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true).context("cannot set TCP_NODELAY")?;
    Ok(BufReader::new(stream))
}

/// Sends `request` and reads the whole answer (a `Content-Length` body); returns its status.
async fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> Result<u16> {
    stream.get_mut().write_all(request).await.context("cannot send")?;
    tokio::time::timeout(ANSWER_TIMEOUT, read_answer(stream)).await.context("no answer in time")?
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body; returns its status.
async fn read_answer(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line).await.context("cannot read the status line")?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut length = 0u64;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).await.context("cannot read a header")?;
        ensure!(read > 0, "the connection closed inside the header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().with_context(|| format!("bad {header:?}"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("unexpected {header:?} (only Content-Length bodies are read)");
        }
    }
    let copied =
        tokio::io::copy(&mut reader.take(length), &mut tokio::io::sink()).await.context("cannot read the body")?;
    ensure!(copied == length, "the connection closed inside the body");
    Ok(status)
}

impl RateReport {
    /// The report as one JSON object (what `fixed-rate` prints).
    pub(crate) fn to_json(&self) -> Value {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        json!({
            "rate": self.rate,
            "completed": self.completed,
            "achieved_rate": self.achieved_rate,
            "non_2xx_3xx": self.non_2xx_3xx,
            "errors": self.errors,
            "unsent": self.unsent,
            "p50_us": micros(self.p50),
            "p99_us": micros(self.p99),
            "p999_us": micros(self.p999),
            "max_us": micros(self.max),
        })
    }

    /// Reads what [`RateReport::to_json`] printed.
    pub(crate) fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text.trim()).context("not JSON")?;
        let number = |key: &str| value.get(key).and_then(Value::as_f64).with_context(|| format!("no number {key}"));
        let count = |key: &str| value.get(key).and_then(Value::as_u64).with_context(|| format!("no count {key}"));
        let micros = |key: &str| -> Result<Duration> {
            Duration::try_from_secs_f64(number(key)? / 1e6).with_context(|| format!("bad {key}"))
        };
        Ok(Self {
            rate: number("rate")?,
            completed: count("completed")?,
            achieved_rate: number("achieved_rate")?,
            non_2xx_3xx: count("non_2xx_3xx")?,
            errors: count("errors")?,
            unsent: count("unsent")?,
            p50: micros("p50_us")?,
            p99: micros("p99_us")?,
            p999: micros("p999_us")?,
            max: micros("max_us")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    /// A keep-alive HTTP server on loopback answering every request `200 {}` after `delay`;
    /// returns its address and the arrival time of every request.
    fn server(delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve_connection(stream, delay, &seen));
            }
        });
        (addr, arrivals)
    }

    /// Reads requests (header + Content-Length body) and answers each until the peer closes.
    fn serve_connection(stream: TcpStream, delay: Duration, seen: &Mutex<Vec<Instant>>) {
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = std::io::BufReader::new(stream);
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("length");
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            seen.lock().expect("lock").push(Instant::now());
            std::thread::sleep(delay);
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn plan(addr: SocketAddr, rate: f64, connections: usize, duration: f64) -> Plan {
        Plan::post_json(&format!("http://{addr}/rest/publishStream"), b"{}", rate, connections, 0.0, duration)
            .expect("plan")
    }

    /// Every scheduled request is sent once and answered, the run cannot end before its
    /// schedule does, and the requests are spread over it rather than sent at once.
    #[test]
    fn sends_the_requested_rate() {
        let (addr, arrivals) = server(Duration::ZERO);
        let started = Instant::now();
        let report = run(&plan(addr, 1000.0, 4, 1.0)).expect("runs");
        let elapsed = started.elapsed();
        assert_eq!(report.completed, 1000, "{report:?}");
        assert_eq!((report.non_2xx_3xx, report.errors, report.unsent), (0, 0, 0), "{report:?}");
        assert!(elapsed >= Duration::from_millis(999), "the 1 s schedule ended after {elapsed:?}");
        assert!(report.achieved_rate <= 1000.0 / 0.999 + 1.0, "{report:?}");
        assert!(report.achieved_rate >= 500.0, "{report:?}");
        let arrivals = arrivals.lock().expect("lock").clone();
        assert_eq!(arrivals.len(), 1000);
        let first = *arrivals.iter().min().expect("arrivals");
        let early = arrivals.iter().filter(|at| **at < first + Duration::from_millis(500)).count();
        // Paced: about half in the first half second. A late generator only sends fewer early.
        assert!(early <= 600, "{early} of 1000 requests in the first 0.5 s: not paced");
    }

    /// A server that answers at most 100 requests/s, asked for 200/s on one connection: the
    /// requests it kept waiting count, from their intended time. Request i is intended at
    /// 5 i ms and cannot be answered before 10 (i + 1) ms, so its latency is at least
    /// 5 i + 10 ms: p50 ≥ 0.5 s, p99 ≥ 1 s, where a closed-loop count would say 10 ms.
    #[test]
    fn a_slow_server_shows_up_as_latency() {
        let (addr, _) = server(Duration::from_millis(10));
        let report = run(&plan(addr, 200.0, 1, 1.0)).expect("runs");
        assert!(report.completed >= 100, "{report:?}");
        assert!(report.p50 >= Duration::from_millis(500), "{report:?}");
        assert!(report.p99 >= Duration::from_millis(990), "{report:?}");
        assert!(report.achieved_rate < 150.0, "{report:?}");
    }

    #[test]
    fn warm_up_requests_are_sent_but_not_counted() {
        let (addr, arrivals) = server(Duration::ZERO);
        let plan = Plan::post_json(&format!("http://{addr}/x"), b"{}", 400.0, 2, 0.5, 0.5).expect("plan");
        let report = run(&plan).expect("runs");
        assert_eq!(report.completed, 200, "{report:?}");
        assert_eq!(arrivals.lock().expect("lock").len(), 400);
    }

    #[test]
    fn an_unreachable_server_fails_the_run() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        assert!(run(&plan(addr, 10.0, 2, 0.1)).is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 0.5), Duration::from_nanos(500));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_nanos(990));
        assert_eq!(percentile(&sorted, 0.999), Duration::from_nanos(999));
        assert_eq!(percentile(&[7], 0.999), Duration::from_nanos(7));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn answers_are_read_to_the_end_of_their_body() {
        let two = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let mut reader = BufReader::new(&two[..]);
        assert_eq!(read_answer(&mut reader).await.expect("first"), 403);
        assert_eq!(read_answer(&mut reader).await.expect("second"), 200);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(read_answer(&mut BufReader::new(&chunked[..])).await.is_err());
        assert!(read_answer(&mut BufReader::new(&b"garbage\r\n\r\n"[..])).await.is_err());
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}";
        assert!(read_answer(&mut BufReader::new(&short[..])).await.is_err());
    }

    #[test]
    fn the_json_report_round_trips() {
        let report = RateReport {
            rate: 1000.0,
            completed: 5000,
            achieved_rate: 999.5,
            non_2xx_3xx: 1,
            errors: 2,
            unsent: 3,
            p50: Duration::from_micros(250),
            p99: Duration::from_micros(900),
            p999: Duration::from_micros(1500),
            max: Duration::from_millis(4),
        };
        assert_eq!(RateReport::from_json(&report.to_json().to_string()).expect("parses"), report);
    }
}
