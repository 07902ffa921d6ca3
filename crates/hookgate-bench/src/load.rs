//! The load generator: `wrk` with a Lua script that POSTs the hook body as JSON, and the
//! parser of its report.

use anyhow::{Context, Result, bail, ensure};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The load shape, the same for every server (the wrk options of `run` and `guests`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadShape {
    /// wrk threads (wrk -t); on 2 cores, 1 leaves the servers the rest.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) threads: u32,
    /// Open connections (wrk -c).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) connections: u32,
    /// Load duration per server (and round), as wrk reads it (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub(crate) duration: String,
}

impl LoadShape {
    /// Fails when wrk would refuse the shape (fewer connections than threads).
    pub(crate) fn validate(&self) -> Result<()> {
        ensure!(
            self.connections >= self.threads,
            "--connections ({}) must be at least --threads ({})",
            self.connections,
            self.threads
        );
        Ok(())
    }
}

/// What wrk measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WrkReport {
    /// `Requests/sec`.
    pub(crate) requests_per_sec: f64,
    /// Median latency (`Latency Distribution` 50%).
    pub(crate) p50: Duration,
    /// 99th percentile latency (`Latency Distribution` 99%).
    pub(crate) p99: Duration,
    /// Completed requests.
    pub(crate) requests: u64,
    /// `Non-2xx or 3xx responses` (0 when wrk prints no such line).
    pub(crate) non_2xx_3xx: u64,
    /// Sum of `Socket errors` (connect, read, write, timeout; 0 when wrk prints no such line).
    pub(crate) socket_errors: u64,
    /// The server's CPU time (user + system) over the load, per completed request; `None`
    /// until measured (wrk does not report it).
    pub(crate) server_cpu_per_hook: Option<Duration>,
}

/// Checks a wrk duration: a positive integer with an optional unit `s`, `m` or `h`.
pub(crate) fn parse_duration_arg(text: &str) -> Result<String, String> {
    let digits = text.trim_end_matches(['s', 'm', 'h']);
    let unit_len = text.len() - digits.len();
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && unit_len <= 1 => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is not a wrk duration such as 10s, 2m or 30")),
    }
}

/// The seconds of a duration that [`parse_duration_arg`] accepted.
pub(crate) fn seconds(text: &str) -> Result<u64> {
    let digits = text.trim_end_matches(['s', 'm', 'h']);
    let count: u64 = digits.parse().with_context(|| format!("{text:?} is not a duration such as 10s"))?;
    let unit = match &text[digits.len()..] {
        "m" => 60,
        "h" => 3600,
        _ => 1,
    };
    Ok(count * unit)
}

/// Writes the Lua script that makes every wrk request `POST` with the bytes of `body_file`
/// and `Content-Type: application/json`.
pub(crate) fn write_script(script: &Path, body_file: &Path) -> Result<()> {
    let body_path = body_file.to_str().context("the body file path is not UTF-8")?;
    ensure!(!body_path.contains(['\n', '\r']), "the body file path contains a line break");
    let quoted = body_path.replace('\\', "\\\\").replace('"', "\\\"");
    let lua = format!(
        "-- hookgate-bench: every request POSTs the hook body as JSON.\n\
         wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         local file = assert(io.open(\"{quoted}\", \"rb\"))\n\
         wrk.body = file:read(\"*a\")\n\
         file:close()\n"
    );
    std::fs::write(script, lua).with_context(|| format!("cannot write {}", script.display()))
}

/// The wrk command line (program first) loading `url` with `shape` and `script`.
pub(crate) fn command_line(shape: &LoadShape, script: &Path, url: &str) -> Vec<String> {
    vec![
        "wrk".into(),
        format!("-t{}", shape.threads),
        format!("-c{}", shape.connections),
        format!("-d{}", shape.duration),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        url.into(),
    ]
}

/// Runs wrk with `argv` (from [`command_line`]) and parses its report.
pub(crate) fn run(argv: &[String]) -> Result<WrkReport> {
    let (program, args) = argv.split_first().context("empty wrk command line")?;
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program} (install it: apt-get install -y wrk)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("{} failed ({}):\n{stdout}{stderr}", argv.join(" "), output.status);
    }
    parse(&stdout).with_context(|| format!("cannot read the wrk report:\n{stdout}{stderr}"))
}

/// Parses wrk's `--latency` report.
pub(crate) fn parse(output: &str) -> Result<WrkReport> {
    let mut requests_per_sec = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = None;
    let mut non_2xx_3xx = 0;
    let mut socket_errors = 0;
    for line in output.lines().map(str::trim) {
        // `Latency Distribution` rows: `50%  240.00us`. No other wrk line starts with a bare percentage.
        if let Some((percent, value)) = line.split_once('%') {
            match percent {
                "50" => p50 = Some(parse_time(value.trim()).with_context(|| format!("bad {line:?}"))?),
                "99" => p99 = Some(parse_time(value.trim()).with_context(|| format!("bad {line:?}"))?),
                _ => {}
            }
        }
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = Some(value.trim().parse::<f64>().with_context(|| format!("bad {line:?}"))?);
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx_3xx = value.trim().parse::<u64>().with_context(|| format!("bad {line:?}"))?;
        } else if let Some(counts) = line.strip_prefix("Socket errors:") {
            socket_errors = parse_socket_errors(counts).with_context(|| format!("bad {line:?}"))?;
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = Some(count.trim().parse::<u64>().with_context(|| format!("bad {line:?}"))?);
        }
    }
    Ok(WrkReport {
        requests_per_sec: requests_per_sec.context("no `Requests/sec:` line")?,
        p50: p50.context("no 50% line in the latency distribution (was --latency given?)")?,
        p99: p99.context("no 99% line in the latency distribution (was --latency given?)")?,
        requests: requests.context("no `N requests in T` line")?,
        non_2xx_3xx,
        socket_errors,
        server_cpu_per_hook: None,
    })
}

/// Parses a wrk time such as `512.00us`, `1.27ms`, `2.00s` or `1.50m`.
fn parse_time(text: &str) -> Result<Duration> {
    let split =
        text.find(|c: char| !(c.is_ascii_digit() || c == '.')).with_context(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().with_context(|| format!("bad number in {text:?}"))?;
    let seconds_per_unit = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => bail!("unknown time unit {unit:?} in {text:?}"),
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).with_context(|| format!("bad time {text:?}"))
}

/// Sums `connect 0, read 0, write 0, timeout 0`.
fn parse_socket_errors(counts: &str) -> Result<u64> {
    counts
        .split(',')
        .map(|part| {
            let count = part.split_whitespace().nth(1).with_context(|| format!("no count in {part:?}"))?;
            count.parse::<u64>().with_context(|| format!("bad count in {part:?}"))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `wrk -t1 -c32 -d2s --latency` output against the axum echo (µs and ms).
    const MICROS: &str = r#"Running 2s test @ http://127.0.0.1:33967/rest/publishStream
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   236.30us  425.19us   7.97ms   97.24%
    Req/Sec   153.66k    18.52k  161.47k    90.00%
  Latency Distribution
     50%  165.00us
     75%  207.00us
     90%  237.00us
     99%    2.81ms
  305751 requests in 2.00s, 38.78MB read
Requests/sec: 152623.52
Transfer/sec:     19.36MB
"#;

    /// Real output against a slow server answering 503 (seconds, non-2xx).
    const SECONDS: &str = r#"Running 6s test @ http://127.0.0.1:18777/rest/publishStream
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.43s   373.87ms   1.61s    85.71%
    Req/Sec     2.00      0.00     2.00    100.00%
  Latency Distribution
     50%    1.60s 
     75%    1.60s 
     90%    1.60s 
     99%    1.61s 
  14 requests in 6.01s, 1.78KB read
  Non-2xx or 3xx responses: 14
Requests/sec:      2.33
Transfer/sec:     302.82B
"#;

    /// Real output with `--timeout 1s` against the same slow server (socket errors).
    const ERRORS: &str = r#"Running 4s test @ http://127.0.0.1:18777/rest/publishStream
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   601.50ms  283.30ms 801.83ms  100.00%
    Req/Sec     2.00      0.00     2.00    100.00%
  Latency Distribution
     50%  801.83ms
     75%  801.83ms
     90%  801.83ms
     99%  801.83ms
  10 requests in 4.01s, 1.27KB read
  Socket errors: connect 0, read 0, write 0, timeout 8
  Non-2xx or 3xx responses: 10
Requests/sec:      2.49
Transfer/sec:     324.01B
"#;

    #[test]
    fn parses_micro_and_milliseconds() {
        let report = parse(MICROS).expect("parses");
        assert_eq!(report.requests_per_sec, 152623.52);
        assert_eq!(report.p50, Duration::from_micros(165));
        assert_eq!(report.p99, Duration::from_micros(2810));
        assert_eq!(report.requests, 305751);
        assert_eq!((report.non_2xx_3xx, report.socket_errors), (0, 0));
    }

    #[test]
    fn parses_seconds_and_non_2xx() {
        let report = parse(SECONDS).expect("parses");
        assert_eq!(report.requests_per_sec, 2.33);
        assert_eq!(report.p50, Duration::from_millis(1600));
        assert_eq!(report.p99, Duration::from_millis(1610));
        assert_eq!(report.requests, 14);
        assert_eq!(report.non_2xx_3xx, 14);
    }

    #[test]
    fn parses_socket_errors() {
        let report = parse(ERRORS).expect("parses");
        assert_eq!(report.p50, Duration::from_micros(801_830));
        assert_eq!(report.socket_errors, 8);
        assert_eq!(report.non_2xx_3xx, 10);
    }

    #[test]
    fn refuses_reports_without_latency_distribution() {
        let without: String = MICROS.lines().filter(|l| !l.contains('%')).collect::<Vec<_>>().join("\n");
        assert!(parse(&without).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn durations() {
        assert!(parse_duration_arg("10s").is_ok());
        assert!(parse_duration_arg("2m").is_ok());
        assert!(parse_duration_arg("30").is_ok());
        assert!(parse_duration_arg("0s").is_err());
        assert!(parse_duration_arg("1.5s").is_err());
        assert!(parse_duration_arg("10ss").is_err());
        assert!(parse_duration_arg("s").is_err());
        assert_eq!(seconds("10s").ok(), Some(10));
        assert_eq!(seconds("30").ok(), Some(30));
        assert_eq!(seconds("2m").ok(), Some(120));
        assert_eq!(seconds("1h").ok(), Some(3600));
        assert!(seconds("x").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("512.00us").ok(), Some(Duration::from_micros(512)));
        assert_eq!(parse_time("1.25ms").ok(), Some(Duration::from_micros(1250)));
        assert_eq!(parse_time("2.00s").ok(), Some(Duration::from_secs(2)));
        assert_eq!(parse_time("1.50m").ok(), Some(Duration::from_secs(90)));
        assert!(parse_time("12.0").is_err());
        assert!(parse_time("12.0xs").is_err());
    }
}
