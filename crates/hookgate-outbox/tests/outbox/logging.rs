use crate::common::{FakeWcs, Reply, fast_config, settled, wait_for};
use hookgate_config::Secret;
use hookgate_outbox::{DataMessage, Outbox, Target};
use std::io;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Current-thread runtime: the sender tasks run on this thread, under the default subscriber.
#[tokio::test(flavor = "current_thread")]
async fn failures_log_ids_target_and_cause_but_not_payload_or_password() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let wcs = FakeWcs::start(&[Reply::Status(502)], Reply::Status(403)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    let target =
        Target { base_url: wcs.base_url.clone(), basic: Some(("admin".into(), Secret::new(b"hunter2".to_vec()))) };
    let message = DataMessage {
        node_id: "node-1".into(),
        session_id: "/10.0.0.2:5000/10.0.0.1:8443".into(),
        operation_id: "op-42".into(),
        payload: serde_json::json!({"text": "private-chat-line"}),
    };
    outbox.enqueue(target, message).unwrap();
    wait_for(&outbox, settled).await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("send-data attempt failed; retrying"), "{logs}");
    assert!(logs.contains("HTTP 502 Bad Gateway"), "{logs}");
    assert!(logs.contains("send-data failed; message given up"), "{logs}");
    assert!(logs.contains("HTTP 403 Forbidden"), "{logs}");
    assert!(logs.contains("/10.0.0.2:5000/10.0.0.1:8443") && logs.contains("op-42"), "{logs}");
    assert!(logs.contains(&format!("{}/rest-api/data/send", wcs.base_url)), "{logs}");
    for secret in ["private-chat-line", "hunter2", "YWRtaW46aHVudGVyMg=="] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }
}
