//! Prometheus, for real: a fleet instance of hookgate (a real `redis-server`) serving the shipped
//! tree and a few test tenants, scraped every second by Debian's `prometheus` loaded with
//! `deploy/prometheus/hookgate.rules.yml`. After a short bounded load of varied hooks (allowed,
//! denied, unauthenticated, policies stopped at their deadline, overload, a good and a failed
//! reload), every expression of `deploy/grafana/hookgate.json` and every rule must parse and
//! return series through Prometheus's HTTP API. Alert expressions are `<measure> <op> <number>`:
//! an alert is rightly empty while healthy, so its measure (the left-hand side) must return
//! series, and the whole expression must parse; the load makes four alerts' whole expressions
//! true ([`FIRED_BY_THE_LOAD`]).
//!
//! `prometheus` must be on the PATH: `.ci/with-prometheus` (run by `make test`) installs it.

use crate::common::{Server, Tree, payload, repo, with_app_key};
use crate::events::events_config;
use hookgate_testkit::RedisServer;
use serde_json::Value;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an expression may take to return series once the load is over (scrapes every 1 s,
/// rule evaluations every 1 s).
const PATIENCE: Duration = Duration::from_secs(30);

/// `$__rate_interval` as the test substitutes it (Grafana's is at least 4 scrape intervals).
const RATE_INTERVAL: &str = "1m";

/// The alerts whose whole expression the load makes true (their `for`, if any, aside).
const FIRED_BY_THE_LOAD: &[&str] = &[
    "HookgateReloadFailed",
    "HookgatePolicyDeadlineKills",
    "HookgateUnauthenticatedHooks",
    "HookgateTenantOverloaded",
];

/// A tenant whose policy spins past its 20 ms deadline, one evaluation at a time: hooks end in
/// the `deadline` fallback, or `overload` while another evaluation runs.
const SPINNING: &str = r#"
version = 1
[limits]
timeout_ms = 20
max_concurrent = 1
[policies.spin]
module = "faulty.wasm"
settings = { mode = "spin" }
[policies.fail]
module = "faulty.wasm"
settings = { mode = "error" }
[methods.publishStream]
chain = ["spin"]
on_error = "LOG"
[methods.connect]
chain = ["fail"]
on_error = "LOG"
"#;

/// A tenant that authenticates its hooks with the WCS HMAC key in `wcs.key`.
const SECURED: &str = "version = 1\n[auth]\nhmac_key_file = \"wcs.key\"\n";

/// A `prometheus` on a free loopback port with its own storage; killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` scraping `target` (`host:port`) every second with the shipped rules,
    /// and waits until it is ready.
    fn start(target: &str) -> Prometheus {
        let rules = repo().join("deploy/prometheus/hookgate.rules.yml");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules:?}\n\
             scrape_configs:\n  - job_name: hookgate\n    static_configs:\n      - targets: [{target:?}]\n",
            rules = rules.canonicalize().expect("the rules file").display().to_string(),
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port").local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start prometheus ({err}): run the tests through .ci/with-prometheus or `apt-get install prometheus`")
            });
        Prometheus { child, base: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// Waits (bounded) until `/-/ready` answers 200.
    async fn ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = client.get(format!("{}/-/ready", self.base)).send().await
                && answer.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited: {status}");
            }
            assert!(Instant::now() < deadline, "prometheus not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GETs an API path with query parameters: the `data` of a `status: success` answer, or
    /// the error Prometheus gave.
    async fn api(&self, client: &reqwest::Client, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let answer = client.get(format!("{}{path}", self.base)).query(query).send().await.expect("prometheus answers");
        let body: Value = serde_json::from_str(&answer.text().await.expect("text")).expect("API answers JSON");
        if body["status"] == "success" { Ok(body["data"].clone()) } else { Err(body.to_string()) }
    }

    /// Evaluates `expr` now: its series (panics if it does not parse).
    async fn query(&self, client: &reqwest::Client, expr: &str) -> Vec<Value> {
        let data = self.api(client, "/api/v1/query", &[("query", expr)]).await;
        let data = data.unwrap_or_else(|err| panic!("{expr}\ndoes not evaluate: {err}"));
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// Evaluates `expr` until it returns at least one series, within [`PATIENCE`].
    async fn series(&self, client: &reqwest::Client, what: &str, expr: &str) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let series = self.query(client, expr).await;
            if !series.is_empty() {
                return series;
            }
            assert!(Instant::now() < deadline, "{what}: no series within {PATIENCE:?} for\n{expr}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tree: the shipped tenants, `spinning` ([`SPINNING`]) and `secured` ([`SECURED`]).
fn tree() -> Tree {
    let tree = Tree::shipped();
    tree.tenant("spinning", SPINNING, &[("faulty.wasm", "fixtures/faulty")]);
    tree.tenant("secured", SECURED, &[]).file("secured/wcs.key", b"1234567890\n");
    tree
}

/// A short bounded load: every kind of answer the dashboard and the alerts look at.
async fn load(server: &Server) {
    for _ in 0..10 {
        for (method, file) in [
            ("connect", "connect.json"),
            ("connect", "connect.bad-token.json"),
            ("publishStream", "publishStream.json"),
            ("publishStream", "publishStream.forbidden.json"),
            ("playStream", "playStream.json"),
            ("StreamStatusEvent", "StreamStatusEvent.json"),
            ("ConnectionStatusEvent", "ConnectionStatusEvent.json"),
        ] {
            let answer = server.hook(method, &payload(file)).await;
            assert!(matches!(answer.status, 200 | 403), "{method} {file}: {answer:?}");
        }
        // Unsigned hooks of a tenant that requires the WCS signature: unauthenticated.
        let unsigned = server.hook("StreamStatusEvent", &with_app_key("StreamStatusEvent.json", "secured")).await;
        assert_eq!(unsigned.status, 401, "{unsigned:?}");
        // A failing policy, and policies stopped at their deadline while others wait: overload.
        let failed = server.hook("connect", &with_app_key("connect.json", "spinning")).await;
        let error = "policy 'fail': policy returned an error: faulty: asked to fail";
        assert_eq!((failed.status, &failed.json()["error"]), (403, &Value::from(error)), "connect's fallback");
        let spin = with_app_key("publishStream.json", "spinning");
        let burst = (0..4).map(|_| server.hook("publishStream", &spin));
        for answer in futures_util::future::join_all(burst).await {
            assert_eq!(answer.status, 200, "the LOG fallback answers: {answer:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every `$name` of `expr` replaced: the dashboard's variables by the alternation of their
/// values (as Grafana writes a multi-value selection), `$__rate_interval` by [`RATE_INTERVAL`].
fn substitute(expr: &str, values: &[(String, String)]) -> String {
    let mut expr = expr.replace("$__rate_interval", RATE_INTERVAL);
    for (name, regex) in values {
        expr = expr.replace(&format!("${{{name}}}"), regex).replace(&format!("${name}"), regex);
    }
    assert!(!expr.contains('$'), "a variable left unreplaced in {expr}");
    expr
}

/// A regex matching exactly `value` (Grafana escapes the values of a multi-value variable).
fn regex_escape(value: &str) -> String {
    value.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
        out
    })
}

/// `(measure, comparison)` of an alert expression `<measure> <op> <number>`, as Prometheus
/// prints it back in `/api/v1/rules`.
fn split_threshold(expr: &str) -> Option<(&str, &str)> {
    ["==", "!=", ">=", "<=", ">", "<"].iter().find_map(|op| {
        let (measure, threshold) = expr.rsplit_once(&format!(" {op} "))?;
        threshold.trim().parse::<f64>().ok().map(|_| (measure.trim(), *op))
    })
}

#[tokio::test]
async fn every_dashboard_and_rule_expression_returns_series_from_a_real_prometheus() {
    let redis = RedisServer::start();
    let tree = tree();
    let config = events_config(&tree, "");
    let url = redis.url();
    let flags = [
        "--config",
        config.to_str().unwrap(),
        "--redis-url",
        &url,
        "--admin-listen",
        "127.0.0.1:0",
        "--events-listen",
        "127.0.0.1:0",
    ];
    let server = Server::start(&tree, &flags);
    let admin = server.admin.clone().expect("admin listener");
    let mut prometheus = Prometheus::start(admin.trim_start_matches("http://"));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    prometheus.ready(&client).await;
    // Prometheus scrapes hookgate (its first scrape follows target discovery, within about 5 s)
    // before the load, so that the counters' increases are seen.
    let up = prometheus.series(&client, "the scrape", r#"up{job="hookgate"} == 1"#).await;
    assert_eq!(up.len(), 1, "{up:?}");

    // Load, a good reload, more load, a failed reload (the previous generation keeps serving).
    load(&server).await;
    let (status, body) = server.post_admin("/api/reload").await;
    assert_eq!(status, 200, "{body}");
    load(&server).await;
    std::fs::write(tree.path().join("secured/tenant.toml"), "version = 1\n[methods.connect]\nchain = [\"nope\"]\n")
        .unwrap();
    server
        .wait_for("secured", "a failed reload", |s| s.is_some_and(|s| s["reloads"]["failed"].as_u64() >= Some(1)))
        .await;
    let (_, metrics) = server.admin_get("/metrics").await;
    for series in [
        r#"fallback="overload""#,
        r#"cause="deadline""#,
        r#"verdict="unauthenticated""#,
        "hookgate_cluster_state_up 1",
        "hookgate_cluster_events_up 1",
    ] {
        assert!(metrics.contains(series), "the load made no {series}:\n{metrics}");
    }
    let failed =
        metrics.lines().find_map(|l| l.strip_prefix(r#"hookgate_reloads_total{tenant="secured",outcome="failed"} "#));
    assert_ne!(failed, Some("0"), "a failed reload counted:\n{metrics}");
    assert!(failed.is_some(), "a failed reload counted:\n{metrics}");

    // Every rule of the file is loaded, evaluated without error, and returns series.
    let rules_file = std::fs::read_to_string(repo().join("deploy/prometheus/hookgate.rules.yml")).unwrap();
    let in_file = |kind: &str| rules_file.lines().filter(|l| l.trim_start().starts_with(&format!("- {kind}:"))).count();
    let deadline = Instant::now() + PATIENCE;
    let groups = loop {
        let data = prometheus.api(&client, "/api/v1/rules", &[]).await.expect("rules API");
        let groups = data["groups"].as_array().cloned().unwrap_or_default();
        let rules: Vec<&Value> = groups.iter().flat_map(|g| g["rules"].as_array().unwrap().iter()).collect();
        if rules.iter().all(|r| r["health"] == "ok") {
            break groups;
        }
        assert!(Instant::now() < deadline, "rules not all healthy: {data}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["hookgate.alerts", "hookgate.recording"]);
    let rules: Vec<&Value> = groups.iter().flat_map(|g| g["rules"].as_array().unwrap().iter()).collect();
    let count = |kind: &str| rules.iter().filter(|r| r["type"] == kind).count();
    assert_eq!((count("recording"), count("alerting")), (in_file("record"), in_file("alert")), "every rule loaded");
    assert!(count("alerting") >= 10, "the issue's ten alerts");
    for rule in &rules {
        let (name, query) = (rule["name"].as_str().unwrap(), rule["query"].as_str().unwrap());
        if rule["type"] == "alerting" {
            let (measure, _) =
                split_threshold(query).unwrap_or_else(|| panic!("{name}: not `<measure> <op> <n>`: {query}"));
            prometheus.series(&client, name, measure).await;
            if FIRED_BY_THE_LOAD.contains(&name) {
                prometheus.series(&client, name, query).await;
            } else {
                prometheus.query(&client, query).await;
            }
        } else {
            prometheus.series(&client, name, query).await;
        }
    }

    // Every panel's every target, with the dashboard's variables set to every value they offer.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("deploy/grafana/hookgate.json")).unwrap()).unwrap();
    assert!(dashboard["schemaVersion"].as_u64() >= Some(39), "a current schemaVersion");
    let variables = dashboard["templating"]["list"].as_array().expect("variables");
    assert!(
        variables.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus")
    );
    let mut values = Vec::new();
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let name = variable["name"].as_str().unwrap();
        let definition = variable["definition"].as_str().unwrap();
        let (metric, label) = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|args| args.split_once(", "))
            .unwrap_or_else(|| panic!("variable {name}: {definition}"));
        let data = prometheus.api(&client, &format!("/api/v1/label/{label}/values"), &[("match[]", metric)]).await;
        let found: Vec<String> =
            data.unwrap().as_array().unwrap().iter().map(|v| regex_escape(v.as_str().unwrap())).collect();
        assert!(!found.is_empty(), "variable {name} offers no value");
        values.push((name.to_owned(), format!("({})", found.join("|"))));
    }
    assert_eq!(values.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["tenant", "method"]);
    let panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row").collect();
    let mut targets = 0;
    for panel in &panels {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let exprs = panel["targets"].as_array().unwrap_or_else(|| panic!("{title} has no targets"));
        assert!(!exprs.is_empty(), "{title} has no targets");
        for target in exprs {
            let expr = substitute(target["expr"].as_str().unwrap(), &values);
            prometheus.series(&client, title, &expr).await;
            targets += 1;
        }
    }
    eprintln!("{} rules and {targets} targets of {} panels returned series", rules.len(), panels.len());
}
