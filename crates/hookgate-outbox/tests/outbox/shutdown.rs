use crate::common::{FakeWcs, Reply, fast_config, message, target};
use hookgate_outbox::{Outbox, OutboxConfig, OutboxStats, Refused};
use std::time::{Duration, Instant};

#[tokio::test]
async fn shutdown_drains_the_queue() {
    let wcs = FakeWcs::start(&[Reply::Status(503)], Reply::Status(200)).await;
    let outbox = Outbox::start(OutboxConfig { max_in_flight: 4, ..fast_config() }).unwrap();
    for n in 0..200 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }
    let handle = outbox.clone();

    outbox.shutdown(Duration::from_secs(10)).await;
    assert_eq!(handle.stats(), OutboxStats { queued: 200, sent: 200, retried: 1, ..OutboxStats::default() });
    assert_eq!(wcs.received().len(), 201);
    assert!(matches!(handle.enqueue(target(&wcs.base_url), message(200)), Err(Refused::Closed)));
    assert_eq!(handle.stats().dropped, 1);
    handle.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn what_is_left_when_the_grace_runs_out_is_counted_dropped() {
    let wcs = FakeWcs::start(&[], Reply::Hold).await;
    let outbox = Outbox::start(OutboxConfig { max_in_flight: 2, timeout_ms: 10_000, ..fast_config() }).unwrap();
    for n in 0..10 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }
    let handle = outbox.clone();
    crate::common::wait_for(&handle, |_| wcs.received().len() == 2).await;

    let started = Instant::now();
    outbox.shutdown(Duration::from_millis(100)).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(handle.stats(), OutboxStats { queued: 10, dropped: 10, ..OutboxStats::default() });
}

#[tokio::test]
async fn held_sends_finish_within_the_grace() {
    let wcs = FakeWcs::start(&[], Reply::Hold).await;
    let outbox = Outbox::start(OutboxConfig { max_in_flight: 2, timeout_ms: 10_000, ..fast_config() }).unwrap();
    for n in 0..3 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }
    let handle = outbox.clone();
    crate::common::wait_for(&handle, |_| wcs.received().len() == 2).await;

    wcs.release(3);
    outbox.shutdown(Duration::from_secs(10)).await;
    assert_eq!(handle.stats(), OutboxStats { queued: 3, sent: 3, ..OutboxStats::default() });
}

#[tokio::test]
async fn dropping_every_handle_still_sends_the_queue() {
    let wcs = FakeWcs::start(&[], Reply::Status(200)).await;
    let outbox = Outbox::start(fast_config()).unwrap();
    for n in 0..20 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }
    drop(outbox);

    let deadline = Instant::now() + Duration::from_secs(10);
    while wcs.received().len() < 20 {
        assert!(Instant::now() < deadline, "only {} of 20 arrived", wcs.received().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
