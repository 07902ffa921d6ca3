//! What the bench prints: the machine, one line per measurement, and the side-by-side table of
//! medians with the ratios.

use crate::load::WrkReport;
use std::time::Duration;

/// The machine the bench ran on.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// Usable CPUs (what `nproc` prints).
    pub(crate) nproc: usize,
    /// The first `model name` of `/proc/cpuinfo`, or `unknown`.
    pub(crate) cpu_model: String,
}

impl Machine {
    /// Reads the machine description.
    pub(crate) fn detect() -> Self {
        let nproc = std::thread::available_parallelism().map_or(0, usize::from);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self { nproc, cpu_model }
    }
}

/// All measurements of one server.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Server label.
    pub(crate) label: &'static str,
    /// One wrk report per round.
    pub(crate) samples: Vec<WrkReport>,
}

/// The medians of one server over its rounds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// Server label.
    pub(crate) label: &'static str,
    /// Median hooks/s.
    pub(crate) hooks_per_sec: f64,
    /// Median of the p50 latencies.
    pub(crate) p50: Duration,
    /// Median of the p99 latencies.
    pub(crate) p99: Duration,
    /// Non-2xx/3xx answers over all rounds.
    pub(crate) non_2xx_3xx: u64,
    /// Socket errors over all rounds.
    pub(crate) socket_errors: u64,
    /// Median server CPU time per hook, where it was measured.
    pub(crate) cpu_per_hook: Option<Duration>,
}

impl Row {
    /// Per-metric medians (each metric's own median over the rounds) and error totals.
    pub(crate) fn summary(&self) -> Summary {
        let rates: Vec<f64> = self.samples.iter().map(|s| s.requests_per_sec).collect();
        let p50s: Vec<f64> = self.samples.iter().map(|s| s.p50.as_secs_f64()).collect();
        let p99s: Vec<f64> = self.samples.iter().map(|s| s.p99.as_secs_f64()).collect();
        Summary {
            label: self.label,
            hooks_per_sec: median(rates),
            p50: Duration::from_secs_f64(median(p50s)),
            p99: Duration::from_secs_f64(median(p99s)),
            non_2xx_3xx: self.samples.iter().map(|s| s.non_2xx_3xx).sum(),
            socket_errors: self.samples.iter().map(|s| s.socket_errors).sum(),
            cpu_per_hook: {
                let cpu: Vec<f64> =
                    self.samples.iter().filter_map(|s| s.server_cpu_per_hook).map(|d| d.as_secs_f64()).collect();
                (!cpu.is_empty()).then(|| Duration::from_secs_f64(median(cpu)))
            },
        }
    }
}

/// The median (mean of the two middle values for an even count; 0 for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A latency with a unit that keeps three significant digits or so.
pub(crate) fn latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// One measurement, as printed while the bench runs.
pub(crate) fn sample_line(report: &WrkReport) -> String {
    format!(
        "{:.0} hooks/s, p50 {}, p99 {}, {} requests, non-2xx/3xx {}, socket errors {}, server CPU per hook {}",
        report.requests_per_sec,
        latency(report.p50),
        latency(report.p99),
        report.requests,
        report.non_2xx_3xx,
        report.socket_errors,
        report.server_cpu_per_hook.map_or_else(|| "-".into(), cpu)
    )
}

/// The side-by-side table. `echo` and `native` index the two baselines in `summaries`. The
/// ratios are of hooks/s, and of server CPU per hook (`cpu vs native`: how many times the
/// native rule's CPU each hook costs).
pub(crate) fn table(summaries: &[Summary], echo: usize, native: usize) -> String {
    let ratio = |value: f64, base: Option<&Summary>| match base {
        Some(base) if base.hooks_per_sec > 0.0 => format!("{:.2}×", value / base.hooks_per_sec),
        _ => "-".into(),
    };
    let cpu_ratio = |s: &Summary| match (s.cpu_per_hook, summaries.get(native).and_then(|n| n.cpu_per_hook)) {
        (Some(own), Some(base)) if !base.is_zero() => format!("{:.2}×", own.as_secs_f64() / base.as_secs_f64()),
        _ => "-".into(),
    };
    let mut out = format!(
        "{:<12} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10} {:>9} {:>12}\n",
        "server", "hooks/s", "p50", "p99", "non-2xx", "sock err", "vs echo", "vs native", "cpu/hook", "cpu vs native"
    );
    for s in summaries {
        out += &format!(
            "{:<12} {:>10.0} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10} {:>9} {:>12}\n",
            s.label,
            s.hooks_per_sec,
            latency(s.p50),
            latency(s.p99),
            s.non_2xx_3xx,
            s.socket_errors,
            ratio(s.hooks_per_sec, summaries.get(echo)),
            ratio(s.hooks_per_sec, summaries.get(native)),
            s.cpu_per_hook.map_or_else(|| "-".into(), cpu),
            cpu_ratio(s),
        );
    }
    out
}

/// A CPU time per hook, in µs with one decimal.
fn cpu(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rps: f64, p50_us: u64) -> WrkReport {
        WrkReport {
            requests_per_sec: rps,
            p50: Duration::from_micros(p50_us),
            p99: Duration::from_micros(p50_us * 3),
            requests: 10,
            non_2xx_3xx: 1,
            socket_errors: 0,
            server_cpu_per_hook: Some(Duration::from_nanos(p50_us * 100)),
        }
    }

    #[test]
    fn medians_per_metric() {
        let row = Row { label: "x", samples: vec![sample(300.0, 10), sample(100.0, 30), sample(200.0, 20)] };
        let summary = row.summary();
        assert_eq!(summary.hooks_per_sec, 200.0);
        assert_eq!(summary.p50, Duration::from_micros(20));
        assert_eq!(summary.non_2xx_3xx, 3);
        assert_eq!(summary.cpu_per_hook, Some(Duration::from_micros(2)));
        assert_eq!(median(vec![1.0, 4.0]), 2.5);
    }

    #[test]
    fn the_table_puts_cpu_per_hook_beside_the_native_rule() {
        let native = Row { label: "native rule", samples: vec![sample(200.0, 100)] }.summary();
        let hookgate = Row { label: "hookgate", samples: vec![sample(100.0, 300)] }.summary();
        let table = table(&[native, hookgate], 0, 0);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("cpu/hook cpu vs native"), "{table}");
        assert!(lines[1].ends_with("10.0 µs        1.00×"), "{table}");
        assert!(lines[2].ends_with("30.0 µs        3.00×"), "{table}");
    }

    #[test]
    fn latencies() {
        assert_eq!(latency(Duration::from_micros(512)), "512 µs");
        assert_eq!(latency(Duration::from_micros(1250)), "1.25 ms");
        assert_eq!(latency(Duration::from_millis(2500)), "2.50 s");
    }
}
