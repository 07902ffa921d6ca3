//! What the benches measured and print: the machine, one line per measurement, and the
//! per-server medians (the markdown report of `run` is [`crate::markdown`]).

use crate::load::WrkReport;
use crate::rate::RateReport;
use std::time::Duration;

/// The machine the bench ran on.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// Usable CPUs (what `nproc` prints).
    pub(crate) nproc: usize,
    /// The first `model name` of `/proc/cpuinfo`, or `unknown`.
    pub(crate) cpu_model: String,
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub(crate) kernel: String,
    /// `MemTotal` of `/proc/meminfo`, in GiB.
    pub(crate) memory_gib: f64,
    /// The 1-minute load average when the bench started: other work on the machine.
    pub(crate) load_average: f64,
}

impl Machine {
    /// Reads the machine description.
    pub(crate) fn detect() -> Self {
        let nproc = std::thread::available_parallelism().map_or(0, usize::from);
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        let cpu_model = field(&read("/proc/cpuinfo"), "model name").unwrap_or_else(|| "unknown".into());
        let memory_kib = field(&read("/proc/meminfo"), "MemTotal")
            .and_then(|value| value.trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or_default();
        let load_average =
            read("/proc/loadavg").split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or_default();
        Self {
            nproc,
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            load_average,
        }
    }

    /// One line: CPUs, model, kernel, memory, load average.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} × {} (nproc {}), Linux {}, {:.0} GiB; load average {:.2} at the start",
            self.nproc, self.cpu_model, self.nproc, self.kernel, self.memory_gib, self.load_average
        )
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

/// One fixed-rate measurement, as printed while the bench runs.
pub(crate) fn fixed_line(report: &RateReport) -> String {
    format!(
        "{:.0}/s asked, {:.0}/s answered, p50 {}, p99 {}, p99.9 {}, max {}, non-2xx/3xx {}, errors {}, unsent {}",
        report.rate,
        report.achieved_rate,
        latency(report.p50),
        latency(report.p99),
        latency(report.p999),
        latency(report.max),
        report.non_2xx_3xx,
        report.errors,
        report.unsent
    )
}

/// All fixed-rate measurements of one server.
#[derive(Debug, Clone)]
pub(crate) struct FixedRow {
    /// Server label.
    pub(crate) label: &'static str,
    /// One report per round.
    pub(crate) samples: Vec<RateReport>,
}

/// The medians of one server's fixed-rate rounds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FixedSummary {
    /// Server label.
    pub(crate) label: &'static str,
    /// Median requested rate.
    pub(crate) rate: f64,
    /// Median answered rate.
    pub(crate) achieved_rate: f64,
    /// Median p50.
    pub(crate) p50: Duration,
    /// Median p99.
    pub(crate) p99: Duration,
    /// Median p99.9.
    pub(crate) p999: Duration,
    /// Largest latency over all rounds.
    pub(crate) max: Duration,
    /// Non-2xx/3xx answers over all rounds.
    pub(crate) non_2xx_3xx: u64,
    /// Lost requests over all rounds (connection errors, timeouts, never sent).
    pub(crate) errors: u64,
}

impl FixedRow {
    /// Per-metric medians and totals.
    pub(crate) fn summary(&self) -> FixedSummary {
        let of = |metric: fn(&RateReport) -> f64| median(self.samples.iter().map(metric).collect());
        FixedSummary {
            label: self.label,
            rate: of(|s| s.rate),
            achieved_rate: of(|s| s.achieved_rate),
            p50: Duration::from_secs_f64(of(|s| s.p50.as_secs_f64())),
            p99: Duration::from_secs_f64(of(|s| s.p99.as_secs_f64())),
            p999: Duration::from_secs_f64(of(|s| s.p999.as_secs_f64())),
            max: self.samples.iter().map(|s| s.max).max().unwrap_or_default(),
            non_2xx_3xx: self.samples.iter().map(|s| s.non_2xx_3xx).sum(),
            errors: self.samples.iter().map(|s| s.errors + s.unsent).sum(),
        }
    }
}

/// A CPU time per hook, in µs with one decimal.
pub(crate) fn cpu(d: Duration) -> String {
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
    fn fixed_rate_medians_and_totals() {
        let fixed = |p99_us: u64, errors: u64| RateReport {
            rate: 100.0,
            completed: 500,
            achieved_rate: 99.0,
            non_2xx_3xx: 0,
            errors,
            unsent: 1,
            p50: Duration::from_micros(p99_us / 2),
            p99: Duration::from_micros(p99_us),
            p999: Duration::from_micros(p99_us * 2),
            max: Duration::from_micros(p99_us * 3),
        };
        let row = FixedRow { label: "x", samples: vec![fixed(300, 0), fixed(100, 2), fixed(200, 0)] };
        let summary = row.summary();
        assert_eq!(summary.p99, Duration::from_micros(200));
        assert_eq!(summary.max, Duration::from_micros(900));
        assert_eq!(summary.errors, 5);
    }

    #[test]
    fn latencies() {
        assert_eq!(latency(Duration::from_micros(512)), "512 µs");
        assert_eq!(latency(Duration::from_micros(1250)), "1.25 ms");
        assert_eq!(latency(Duration::from_millis(2500)), "2.50 s");
    }
}
