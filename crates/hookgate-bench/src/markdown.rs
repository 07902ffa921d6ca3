//! The report of `hookgate-bench run`: markdown tables to paste into docs/benchmarks.md, with
//! the date, the machine and the command.

use crate::bench::{Placement, Target};
use crate::report::{self, FixedRow, Machine, Summary};
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one placement measured.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    /// Where servers and load ran.
    pub(crate) placement: Placement,
    /// Peak medians per server, in [`crate::bench::TARGETS`] order.
    pub(crate) peak: Vec<Summary>,
    /// Fixed-rate rows per server, in [`crate::bench::TARGETS`] order (`None`: the phase was skipped).
    pub(crate) fixed: Option<Vec<FixedRow>>,
}

/// What the report says about the run besides its figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    /// The machine.
    pub(crate) machine: &'a Machine,
    /// The command line that ran the bench.
    pub(crate) command: &'a str,
    /// The payload sentence.
    pub(crate) payload: &'a str,
    /// The load sentence.
    pub(crate) load: &'a str,
    /// Rounds per phase and placement.
    pub(crate) rounds: u32,
}

/// The load average per CPU above which the report warns that other work shared the machine.
const BUSY_LOAD_PER_CPU: f64 = 0.25;

/// The whole report.
pub(crate) fn markdown(header: &Header<'_>, placed: &[Placed]) -> String {
    let mut out = String::new();
    let machine = header.machine;
    let _ = writeln!(out, "### Throughput: `make bench`, {}\n", utc_now());
    let _ = writeln!(out, "- Machine: {}.", machine.describe());
    if machine.load_average > BUSY_LOAD_PER_CPU * machine.nproc as f64 {
        let _ = writeln!(
            out,
            "  Other work shared the machine during this run (see the load average): read the ratios, which \
             compare servers measured side by side, rather than the absolute figures."
        );
    }
    let _ = writeln!(out, "- Command: `{}`.", header.command);
    let _ = writeln!(out, "- Payload: {}.", header.payload);
    let _ = writeln!(
        out,
        "- Load: {}. {} round(s) per phase and placement, servers alternated (each round starts with the next \
         one); every figure is the median over the rounds.",
        header.load, header.rounds
    );
    let _ = writeln!(
        out,
        "- (c) Server CPU per hook: user + system CPU time of the server process (`/proc/<pid>/stat`, all its \
         threads; for Node.js the node process) over the measured wrk run, divided by the hooks it answered. \
         \"vs native\": req/s ÷ the native rule's req/s, and CPU per hook ÷ the native rule's.\n"
    );
    for run in placed {
        let _ = writeln!(out, "#### {}\n", run.placement.heading());
        out += &peak_table(&run.peak);
        out.push('\n');
    }
    if placed.iter().any(|run| run.fixed.is_some()) {
        let _ = writeln!(
            out,
            "#### Fixed rate: latency at a constant request rate (coordinated-omission corrected: from each \
             request's intended send time)\n\n\
             errors: non-2xx/3xx answers, and requests lost (connection errors, no answer within 10 s, or never \
             sent because the server was still that far behind at the end of the schedule's grace time).\n"
        );
        out += &fixed_table(placed);
        out.push('\n');
    }
    let _ = writeln!(out, "#### hookgate (shipped tree, fresh instance per hook) against the targets of issue 15\n");
    out += &targets_table(placed);
    out
}

/// The peak table of one placement.
fn peak_table(peak: &[Summary]) -> String {
    let native = &peak[Target::Native.index()];
    let mut out = String::from(
        "| server | req/s | req/s vs native | p50 | p99 | (c) server CPU per hook | CPU vs native | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in peak {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.label,
            thousands(s.hooks_per_sec),
            ratio(s.hooks_per_sec, native.hooks_per_sec),
            report::latency(s.p50),
            report::latency(s.p99),
            s.cpu_per_hook.map_or_else(|| "-".into(), report::cpu),
            cpu_ratio(s, native),
            s.non_2xx_3xx + s.socket_errors,
        );
    }
    out
}

/// The fixed-rate table over every placement that ran the phase.
fn fixed_table(placed: &[Placed]) -> String {
    let mut out = String::from(
        "| server | placement | rate asked | answered | p50 | p99 | p99.9 | max | errors |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in placed {
        for s in run.fixed.iter().flatten().map(FixedRow::summary) {
            let _ = writeln!(
                out,
                "| {} | {} | {}/s | {}/s | {} | {} | {} | {} | {} |",
                s.label,
                run.placement.name(),
                thousands(s.rate),
                thousands(s.achieved_rate),
                report::latency(s.p50),
                report::latency(s.p99),
                report::latency(s.p999),
                report::latency(s.max),
                s.non_2xx_3xx + s.errors,
            );
        }
    }
    out
}

/// hookgate's ratios against the acceptance targets, one column per placement.
fn targets_table(placed: &[Placed]) -> String {
    let mut out = String::from("| measure | target |");
    for run in placed {
        let _ = write!(out, " {} |", run.placement.name());
    }
    out += "\n|---|---|";
    out += &"---:|".repeat(placed.len());
    out.push('\n');
    let rows: [(&str, &str, Measure); 5] = [
        ("req/s, hookgate ÷ native rule", "≥ 0.75× (pinned)", |run| {
            ratio(peak(run, Target::Hookgate).hooks_per_sec, peak(run, Target::Native).hooks_per_sec)
        }),
        ("server CPU per hook, hookgate ÷ native rule", "≤ 1.33×", |run| {
            cpu_ratio(peak(run, Target::Hookgate), peak(run, Target::Native))
        }),
        ("req/s, hookgate ÷ Rego", "≥ 1.5×", |run| {
            ratio(peak(run, Target::Hookgate).hooks_per_sec, peak(run, Target::Rego).hooks_per_sec)
        }),
        ("server CPU per hook, Rego ÷ hookgate", "≥ 1.5×", |run| {
            cpu_ratio(peak(run, Target::Rego), peak(run, Target::Hookgate))
        }),
        ("p99 at the fixed rate", "< 1 ms at half of peak", |run| match &run.fixed {
            Some(rows) => report::latency(rows[Target::Hookgate.index()].summary().p99),
            None => "-".into(),
        }),
    ];
    for (measure, target, value) in &rows {
        let _ = write!(out, "| {measure} | {target} |");
        for run in placed {
            let _ = write!(out, " {} |", value(run));
        }
        out.push('\n');
    }
    out
}

/// `value` rounded, with a comma every three digits: `96,990`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// One row of the targets table: its value in one placement.
type Measure = fn(&Placed) -> String;

/// `target`'s peak medians in `run`.
fn peak(run: &Placed, target: Target) -> &Summary {
    &run.peak[target.index()]
}

/// `value / base` as `0.00×`, or `-` without a base.
fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 { format!("{:.2}×", value / base) } else { "-".into() }
}

/// `s`'s CPU per hook ÷ `base`'s, or `-`.
fn cpu_ratio(s: &Summary, base: &Summary) -> String {
    match (s.cpu_per_hook, base.cpu_per_hook) {
        (Some(own), Some(base)) if !base.is_zero() => format!("{:.2}×", own.as_secs_f64() / base.as_secs_f64()),
        _ => "-".into(),
    }
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    utc(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
}

/// `since_epoch` as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar; days to civil
/// date after Howard Hinnant's algorithm).
fn utc(since_epoch: Duration) -> String {
    let seconds = since_epoch.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::TARGETS;
    use crate::rate::RateReport;

    fn summary(target: Target, hooks_per_sec: f64, cpu_us: u64) -> Summary {
        Summary {
            label: target.label(),
            hooks_per_sec,
            p50: Duration::from_micros(300),
            p99: Duration::from_micros(900),
            non_2xx_3xx: 0,
            socket_errors: 0,
            cpu_per_hook: Some(Duration::from_micros(cpu_us)),
        }
    }

    fn placed(placement: Placement) -> Placed {
        let rates = [100_000.0, 60_000.0, 20_000.0, 22_000.0, 45_000.0, 50_000.0];
        let cpus = [10, 16, 46, 45, 20, 18];
        let fixed = TARGETS
            .iter()
            .map(|t| FixedRow {
                label: t.label(),
                samples: vec![RateReport {
                    rate: 1000.0,
                    completed: 5000,
                    achieved_rate: 1000.0,
                    non_2xx_3xx: 0,
                    errors: 0,
                    unsent: 0,
                    p50: Duration::from_micros(200),
                    p99: Duration::from_micros(800),
                    p999: Duration::from_micros(1500),
                    max: Duration::from_millis(3),
                }],
            })
            .collect();
        Placed {
            placement,
            peak: TARGETS.iter().enumerate().map(|(i, t)| summary(*t, rates[i], cpus[i])).collect(),
            fixed: Some(fixed),
        }
    }

    #[test]
    fn the_report_has_every_server_ratios_and_targets() {
        let machine = Machine {
            nproc: 2,
            cpu_model: "Test CPU".into(),
            kernel: "6.0".into(),
            memory_gib: 23.0,
            load_average: 4.0,
        };
        let header = Header { machine: &machine, command: "hookgate-bench run", payload: "p", load: "l", rounds: 2 };
        let text = markdown(&header, &[placed(Placement::Unpinned), placed(Placement::Pinned)]);
        assert!(text.contains("2 × Test CPU (nproc 2)"), "{text}");
        assert!(text.contains("Other work shared the machine"), "{text}");
        assert!(text.contains("`hookgate-bench run`"), "{text}");
        for target in TARGETS {
            assert_eq!(text.matches(&format!("| {} |", target.label())).count(), 4, "{}: {text}", target.label());
        }
        // hookgate: 45k req/s against native's 60k, 20 µs against 16 µs, Rego 20k at 46 µs.
        assert!(
            text.contains(
                "| hookgate, fresh instance per hook | 45,000 | 0.75× | 300 µs | 900 µs | 20.0 µs | 1.25× | 0 |"
            ),
            "{text}"
        );
        assert!(text.contains("| req/s, hookgate ÷ native rule | ≥ 0.75× (pinned) | 0.75× | 0.75× |"), "{text}");
        assert!(text.contains("| req/s, hookgate ÷ Rego | ≥ 1.5× | 2.25× | 2.25× |"), "{text}");
        assert!(text.contains("| server CPU per hook, Rego ÷ hookgate | ≥ 1.5× | 2.30× | 2.30× |"), "{text}");
        assert!(text.contains("| p99 at the fixed rate | < 1 ms at half of peak | 800 µs | 800 µs |"), "{text}");
        assert!(text.contains("| pinned | 1,000/s | 1,000/s | 200 µs | 800 µs | 1.50 ms | 3.00 ms | 0 |"), "{text}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(96_990.4), "96,990");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc(Duration::ZERO), "1970-01-01 00:00 UTC");
        assert_eq!(utc(Duration::from_secs(951_782_400 + 3_660)), "2000-02-29 01:01 UTC");
        assert_eq!(utc(Duration::from_secs(1_796_572_800)), "2026-12-06 16:00 UTC");
    }
}
