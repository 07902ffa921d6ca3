use crate::common::{FakeWcs, Reply, fast_config, message, refusing_url, settled, target, wait_for};
use hookgate_outbox::{Outbox, OutboxStats};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_500_then_200_is_retried_and_delivered_once() {
    let wcs = FakeWcs::start(&[Reply::Status(500)], Reply::Status(200)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    outbox.enqueue(target(&wcs.base_url), message(1)).unwrap();

    let stats = wait_for(&outbox, settled).await;
    assert_eq!(stats, OutboxStats { queued: 1, sent: 1, retried: 1, ..OutboxStats::default() });
    let received = wcs.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let wcs = FakeWcs::start(&[Reply::Status(400)], Reply::Status(200)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    outbox.enqueue(target(&wcs.base_url), message(1)).unwrap();

    let stats = wait_for(&outbox, settled).await;
    assert_eq!(stats, OutboxStats { queued: 1, failed: 1, ..OutboxStats::default() });
    assert_eq!(wcs.received().len(), 1);
}

#[tokio::test]
async fn a_down_endpoint_is_retried_then_counted_failed() {
    let outbox = Outbox::start(fast_config()).unwrap();
    outbox.enqueue(target(&refusing_url()), message(1)).unwrap();

    let stats = wait_for(&outbox, settled).await;
    assert_eq!(stats, OutboxStats { queued: 1, failed: 1, retried: 2, ..OutboxStats::default() });
}

#[tokio::test]
async fn a_slow_endpoint_times_out_is_retried_then_counted_failed() {
    let wcs = FakeWcs::start(&[], Reply::Sleep(Duration::from_secs(5))).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    let started = Instant::now();
    outbox.enqueue(target(&wcs.base_url), message(1)).unwrap();

    let stats = wait_for(&outbox, settled).await;
    let elapsed = started.elapsed();
    assert_eq!(stats, OutboxStats { queued: 1, failed: 1, retried: 2, ..OutboxStats::default() });
    assert_eq!(wcs.received().len(), 3);
    // Three 200 ms timeouts and two short waits; far less than one 5 s answer.
    assert!(elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(4), "{elapsed:?}");
}
