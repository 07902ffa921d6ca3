use crate::common::{FakeWcs, Reply, fast_config, message, refusing_url, target, wait_for};
use hookgate_outbox::{Outbox, OutboxConfig, OutboxStats, Refused, Target, TargetError};
use std::time::{Duration, Instant};

/// On a current-thread runtime the sender cannot run between two `enqueue`s, so exactly
/// `queue_capacity` messages fit.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_refuses_and_counts_drops() {
    let wcs = FakeWcs::start(&[], Reply::Status(200)).await;
    let outbox = Outbox::start(OutboxConfig { queue_capacity: 4, ..fast_config() }).unwrap();
    let results: Vec<_> = (0..10).map(|n| outbox.enqueue(target(&wcs.base_url), message(n))).collect();

    assert!(results[..4].iter().all(Result::is_ok), "{results:?}");
    assert!(results[4..].iter().all(|r| matches!(r, Err(Refused::QueueFull { capacity: 4 }))), "{results:?}");
    assert_eq!(results[4].as_ref().unwrap_err().to_string(), "the send-data queue is full (4 messages waiting)");
    assert_eq!(outbox.stats(), OutboxStats { waiting: 4, queued: 4, dropped: 6, ..OutboxStats::default() });

    let stats = wait_for(&outbox, |s| s.sent == 4).await;
    assert_eq!(stats, OutboxStats { queued: 4, sent: 4, dropped: 6, ..OutboxStats::default() });
    outbox.enqueue(target(&wcs.base_url), message(10)).expect("room again once sent");
}

#[tokio::test]
async fn an_invalid_target_is_refused_and_counted() {
    let outbox = Outbox::start(fast_config()).unwrap();
    let https = Target { base_url: "https://wcs1:8444".into(), basic: None };
    let err = outbox.enqueue(https, message(1)).unwrap_err();
    assert!(matches!(&err, Refused::InvalidTarget { reason: TargetError::Scheme(s), .. } if s == "https"), "{err:?}");
    assert_eq!(outbox.stats(), OutboxStats { dropped: 1, ..OutboxStats::default() });
}

#[tokio::test]
async fn sends_in_flight_are_bounded() {
    let wcs = FakeWcs::start(&[], Reply::Hold).await;
    let outbox = Outbox::start(OutboxConfig { max_in_flight: 2, timeout_ms: 10_000, ..fast_config() }).unwrap();
    for n in 0..5 {
        outbox.enqueue(target(&wcs.base_url), message(n)).unwrap();
    }
    // The sender takes a message only with a free slot, so once two are held, three wait.
    let stats = wait_for(&outbox, |s| s.waiting == 3).await;
    assert_eq!(wcs.received().len(), 2, "{stats:?}");

    wcs.release(5);
    let stats = wait_for(&outbox, |s| s.sent == 5).await;
    assert_eq!(stats, OutboxStats { queued: 5, sent: 5, ..OutboxStats::default() });
}

/// The figure the brief asks for: 10,000 enqueues while the endpoint is down and 32 sends are
/// retrying against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_stays_non_blocking_while_the_endpoint_is_down() {
    let outbox = Outbox::start(OutboxConfig::default()).unwrap();
    let down = target(&refusing_url());
    outbox.enqueue(down.clone(), message(0)).unwrap();
    wait_for(&outbox, |s| s.retried > 0).await;

    let started = Instant::now();
    for n in 1..=10_000 {
        outbox.enqueue(down.clone(), message(n)).unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!("10,000 enqueues while the endpoint is down: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(250), "10,000 enqueues took {elapsed:?}");

    let outbox_for_stats = outbox.clone();
    outbox.shutdown(Duration::from_millis(50)).await;
    let stats = outbox_for_stats.stats();
    assert_eq!(stats.queued, 10_001);
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed + stats.dropped, 10_001, "{stats:?}");
}
