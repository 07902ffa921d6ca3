//! Fan-out bench: many WebSocket subscribers, events published at a steady rate.
//!
//! ```sh
//! cargo run --release -p hookgate-events --example fanout -- [--subscribers 5000] [--streams 50] [--rate 500] [--seconds 10] [--redis redis://127.0.0.1:6379]
//! ```
//!
//! Starts the event service on 127.0.0.1:0 (HS256 key and user directory in a temp folder),
//! connects `--subscribers` real WebSocket clients in this process, each attached to the
//! `StreamStatusEvent` of one of `--streams` streams (round robin), then publishes
//! `--rate` StreamStatusEvents per second (a real WCS payload, streams in turn) for
//! `--seconds`. Each event carries its publish time; each client measures publish → received.
//! Prints subscribers, events published, messages delivered per second, delivery latency
//! p50/p99/max, what a `publish` call costs the caller, and slow-subscriber drops.
//! The file-descriptor limit is raised to the hard limit (two descriptors per subscriber).
//!
//! With `--redis URL`, the same run is made twice, printed side by side: once local, once
//! with a [`RedisBus`] on the hub, so that every event goes to Redis and comes back (on the
//! channel `hookgate:fanout-bench`) before the fan-out: publish → deliver through Redis.

use futures_util::{SinkExt, StreamExt};
use hookgate_events::{BusConfig, BusStats, EventHub, EventsConfig, EventsLimits, KeyAlgorithm, KeyConfig, RedisBus};
use rand::RngCore;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const ISSUER: &str = "bench";
const APP_KEY: &str = "benchApp";
const USER: &str = "bench-user";

struct Args {
    subscribers: usize,
    streams: usize,
    rate: u64,
    seconds: u64,
    redis: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args { subscribers: 5000, streams: 50, rate: 500, seconds: 10, redis: None };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |value: &str| value.parse::<u64>().map_err(|err| format!("{flag} {value}: {err}"));
        match flag.as_str() {
            "--subscribers" => parsed.subscribers = number(&value)? as usize,
            "--streams" => parsed.streams = number(&value)?.max(1) as usize,
            "--rate" => parsed.rate = number(&value)?.max(1),
            "--seconds" => parsed.seconds = number(&value)?.max(1),
            "--redis" => parsed.redis = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(parsed)
}

/// The publish time the bench puts last in `data` (`…,"t":123}}`), read without parsing the
/// whole message so that the clients' share of the CPU stays small.
fn publish_time(text: &str) -> Option<u64> {
    let start = text.rfind(r#""t":"#)? + 4;
    let digits = &text[start..];
    digits[..digits.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

fn token(secret: &[u8]) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 3600;
    let claims = json!({"iss": ISSUER, "exp": exp, "data": {"id": USER}});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What one run measured.
struct Figures {
    connect_time: Duration,
    published: u64,
    publishing: Duration,
    /// Messages the hub queued to subscribers.
    queued: u64,
    /// Publish → received, µs, sorted.
    latencies: Vec<u32>,
    /// What each `publish` call cost its caller, ns, sorted.
    costs: Vec<u32>,
    slow_disconnects: u64,
    fanout_dropped: u64,
    bus: Option<BusStats>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let nofile = rlimit::increase_nofile_limit(u64::MAX)?;
    let needed = args.subscribers as u64 * 2 + 64;
    if nofile < needed {
        return Err(
            format!("{} subscribers need {needed} file descriptors, the limit is {nofile}", args.subscribers).into()
        );
    }
    let mut runs = vec![("local", run(&args, None).await?)];
    if let Some(url) = &args.redis {
        runs.push(("through Redis", run(&args, Some(url)).await?));
    }
    print(&args, &runs);
    Ok(())
}

/// One bench run: a fresh service and hub (with a bus on `redis`, if given), its subscribers,
/// the publishing, and the figures.
async fn run(args: &Args, redis: Option<&str>) -> Result<Figures, Error> {
    let dir = tempfile::tempdir()?;
    let mut secret = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    std::fs::write(dir.path().join("hs256.key"), &secret)?;
    std::fs::write(dir.path().join("users.toml"), format!("[users.{USER}]\napp_keys = [\"{APP_KEY}\"]\n"))?;
    let mut config = EventsConfig::new(
        ISSUER,
        vec![KeyConfig { algorithm: KeyAlgorithm::HS256, file: "hs256.key".into(), kid: None }],
        "users.toml",
    );
    config.resolve_relative_to(dir.path());
    config.limits = EventsLimits {
        max_connections: args.subscribers + 16,
        max_connections_per_user: args.subscribers + 16,
        ..EventsLimits::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hub = EventHub::new();
    let bus = match redis {
        Some(url) => {
            let config = BusConfig { channel: "hookgate:fanout-bench".into(), ..BusConfig::new(url) };
            let bus = RedisBus::start(&hub, config)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !bus.stats().connected {
                if Instant::now() > deadline {
                    return Err(format!("no Redis at {url} after 10 s").into());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(bus)
        }
        None => None,
    };
    let (stop_server, server_stopped) = watch::channel(false);
    let server = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut stopped = server_stopped;
            hookgate_events::serve(listener, &config, hub, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
        })
    };

    // Connect and attach, 200 handshakes at a time.
    let token = Arc::new(token(&secret));
    let started = Instant::now();
    let epoch = Instant::now();
    let mut clients = Vec::with_capacity(args.subscribers);
    let connecting = Arc::new(tokio::sync::Semaphore::new(200));
    let mut attaching = tokio::task::JoinSet::new();
    for i in 0..args.subscribers {
        let (token, connecting) = (token.clone(), connecting.clone());
        let stream = format!("stream-{}", i % args.streams);
        attaching.spawn(async move {
            let _permit = connecting.acquire_owned().await.expect("semaphore");
            // A small read buffer, as the server uses: tungstenite's default is 128 KiB per socket.
            let small = WebSocketConfig::default().read_buffer_size(4096);
            let (mut client, _) =
                tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), Some(small), true).await?;
            let request =
                json!({"auth": *token, "action": "attach", "event": {"type": "StreamStatusEvent", "id": stream}});
            client.send(Message::Text(request.to_string().into())).await?;
            match client.next().await {
                Some(Ok(Message::Text(answer))) if answer.contains(r#""code":0"#) => Ok(client),
                other => Err(format!("attach refused: {other:?}").into()),
            }
        });
    }
    while let Some(attached) = attaching.join_next().await {
        let attached: Result<_, Error> = attached?;
        clients.push(attached.map_err(|err| format!("subscriber: {err}"))?);
    }
    let connect_time = started.elapsed();

    // Each subscriber records publish → receive latencies in microseconds.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while let Some(Ok(message)) = client.next().await {
                    if let Message::Text(text) = message {
                        let now = epoch.elapsed().as_nanos() as u64;
                        let sent = publish_time(&text).expect("an event message with its publish time");
                        latencies.push((now.saturating_sub(sent) / 1000) as u32);
                    }
                }
                latencies
            })
        })
        .collect();

    let mut payload: serde_json::Value = serde_json::from_str(include_str!("stream_status_event.json"))?;
    payload["appKey"] = json!(APP_KEY);
    // The publisher runs on a runtime worker, as a hook handler does.
    let publisher = {
        let (hub, rate, streams) = (hub.clone(), args.rate, args.streams);
        let run = Duration::from_secs(args.seconds);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            let begin = Instant::now();
            let (mut published, mut costs) = (0u64, Vec::new());
            while begin.elapsed() < run {
                ticker.tick().await;
                let due = (begin.elapsed().as_secs_f64() * rate as f64) as u64;
                while published < due {
                    let stream = format!("stream-{}", published as usize % streams);
                    let mut data = payload.clone();
                    data["name"] = json!(stream);
                    data["t"] = json!(epoch.elapsed().as_nanos() as u64);
                    let call = Instant::now();
                    hub.publish(APP_KEY, "StreamStatusEvent", &stream, data);
                    costs.push(call.elapsed().as_nanos() as u32);
                    published += 1;
                }
            }
            (published, begin.elapsed(), costs)
        })
    };
    let (published, publishing, mut costs) = publisher.await?;
    costs.sort_unstable();
    // Let the queues drain, then close every connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = hub.stats().delivered;
    stop_server.send(true)?;
    server.await??;
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await?);
    }
    latencies.sort_unstable();
    let stats = hub.stats();
    Ok(Figures {
        connect_time,
        published,
        publishing,
        queued,
        latencies,
        costs,
        slow_disconnects: stats.slow_disconnects,
        fanout_dropped: stats.dropped,
        bus: bus.map(|bus| bus.stats()),
    })
}

/// The runs' figures, one column per run.
fn print(args: &Args, runs: &[(&str, Figures)]) {
    let per_event = args.subscribers as f64 / args.streams as f64;
    println!(
        "{} subscribers ({} streams, {per_event:.0} per event), {} events/s for {} s",
        args.subscribers, args.streams, args.rate, args.seconds
    );
    let row = |label: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = runs.iter().map(|(_, figures)| format!("{:>22}", cell(figures))).collect();
        println!("{label:<24}{}", cells.join(""));
    };
    let names: Vec<String> = runs.iter().map(|(name, _)| format!("{name:>22}")).collect();
    println!("{:<24}{}", "", names.join(""));
    row("connected+attached", &|f| format!("{:.2} s", f.connect_time.as_secs_f64()));
    row("events published", &|f| format!("{} ({:.0}/s)", f.published, f.published as f64 / f.publishing.as_secs_f64()));
    row("messages queued", &|f| f.queued.to_string());
    row("messages received", &|f| {
        format!("{} ({:.0}/s)", f.latencies.len(), f.latencies.len() as f64 / f.publishing.as_secs_f64())
    });
    row("delivery p50", &|f| format!("{} µs", percentile(&f.latencies, 0.50)));
    row("delivery p99", &|f| format!("{} µs", percentile(&f.latencies, 0.99)));
    row("delivery max", &|f| format!("{} µs", f.latencies.last().copied().unwrap_or(0)));
    row("publish() p50", &|f| format!("{:.1} µs", percentile(&f.costs, 0.50) as f64 / 1000.0));
    row("publish() p99", &|f| format!("{:.1} µs", percentile(&f.costs, 0.99) as f64 / 1000.0));
    row("slow subscribers", &|f| f.slow_disconnects.to_string());
    row("fan-out drops", &|f| f.fanout_dropped.to_string());
    if runs.iter().any(|(_, f)| f.bus.is_some()) {
        let bus =
            |f: &Figures, field: fn(&BusStats) -> u64| f.bus.as_ref().map_or("-".into(), |b| field(b).to_string());
        row("bus published", &|f| bus(f, |b| b.published));
        row("bus received", &|f| bus(f, |b| b.received));
        row("bus dropped", &|f| bus(f, |b| b.dropped));
    }
}
