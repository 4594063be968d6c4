//! The event bus: the in-memory bus's lossless, ordered, grouped delivery and its
//! backpressure; URL parsing and bad input. The Redis backend's tests against a real
//! server are in `events_redis.rs`.

use std::time::Duration;

use orchbench::events::{
    self, AnyBus, BusError, Event, EventBus, EventKind, MemoryBus, MemoryConfig, Subscription,
};
use proptest::prelude::*;

fn ev(i: u64) -> Event {
    Event::new(
        EventKind::TaskFinished,
        i / 10,
        i,
        1_700_000_000_000_000_000 + i,
    )
}

use crate::util::rt;

fn bus(capacity: usize) -> MemoryBus {
    MemoryBus::new(MemoryConfig { capacity }).unwrap()
}

/// Reads until the bus ends; returns the task ids in the order received.
async fn drain(mut sub: impl Subscription, max: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    loop {
        out.clear();
        let n = sub.recv_batch(&mut out, max).await.unwrap();
        if n == 0 {
            return seen;
        }
        assert_eq!(n, out.len());
        assert!(n <= max, "{n} events for max {max}");
        seen.extend(out.iter().map(|e| e.task));
    }
}

#[test]
fn every_group_sees_every_event_in_order_through_a_tiny_ring() {
    rt().block_on(async {
        let bus = bus(8);
        let mut readers = Vec::new();
        for g in 0..4 {
            let sub = bus.subscribe(&format!("g{g}")).await.unwrap();
            readers.push(tokio::spawn(drain(sub, [1, 3, 64, 1024][g])));
        }
        let n = 20_000u64;
        let mut i = 0;
        while i < n {
            // Mix single publishes and batches of several sizes.
            let len = [1, 7, 100, 1][(i % 4) as usize].min(n - i);
            if len == 1 {
                bus.publish(ev(i)).await.unwrap();
            } else {
                bus.publish_batch((i..i + len).map(ev)).await.unwrap();
            }
            i += len;
        }
        bus.shutdown().await.unwrap();
        for r in readers {
            let seen = r.await.unwrap();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
        assert_eq!(bus.published(), n);
    });
}

#[test]
fn subscriptions_of_one_group_share_its_events_without_duplicates() {
    rt().block_on(async {
        let bus = bus(64);
        let a = tokio::spawn(drain(bus.subscribe("workers").await.unwrap(), 5));
        let b = tokio::spawn(drain(bus.subscribe("workers").await.unwrap(), 5));
        let audit = tokio::spawn(drain(bus.subscribe("audit").await.unwrap(), 100));
        bus.publish_batch((0..10_000).map(ev)).await.unwrap();
        bus.shutdown().await.unwrap();
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        for part in [&a, &b] {
            assert!(
                part.windows(2).all(|w| w[0] < w[1]),
                "each consumer sees its share in order"
            );
        }
        let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..10_000).collect::<Vec<_>>(),
            "shared: every event exactly once"
        );
        assert_eq!(audit.await.unwrap(), (0..10_000).collect::<Vec<_>>());
    });
}

#[test]
fn a_slow_subscriber_holds_publishers_back_and_loses_nothing() {
    rt().block_on(async {
        let bus = bus(16);
        let mut sub = bus.subscribe("slow").await.unwrap();
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move { bus.publish_batch((0..200).map(ev)).await })
        };
        let mut got = Vec::new();
        let mut out = Vec::new();
        while got.len() < 200 {
            tokio::time::sleep(Duration::from_micros(200)).await;
            // The publisher can never be more than the ring's capacity ahead of us.
            let ahead = bus.published() - got.len() as u64;
            assert!(
                ahead <= 16,
                "publisher ran {ahead} events ahead of a 16-slot ring"
            );
            out.clear();
            sub.recv_batch(&mut out, 3).await.unwrap();
            got.extend(out.iter().map(|e| e.task));
        }
        publisher.await.unwrap().unwrap();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        assert_eq!(bus.lag("slow"), Some(0));
    });
}

#[test]
fn dropping_the_last_subscription_of_a_group_releases_waiting_publishers() {
    rt().block_on(async {
        let bus = bus(4);
        let idle = bus.subscribe("idle").await.unwrap();
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move { bus.publish_batch((0..100).map(ev)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(bus.published(), 4, "the publisher waits for the idle group");
        assert!(!publisher.is_finished());
        drop(idle);
        tokio::time::timeout(Duration::from_secs(5), publisher)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(bus.published(), 100);
        assert_eq!(bus.lag("idle"), None);
    });
}

#[test]
fn shutdown_lets_subscribers_drain_then_ends_and_refuses_publishes() {
    rt().block_on(async {
        let bus = bus(1024);
        let mut sub = bus.subscribe("g").await.unwrap();
        bus.publish_batch((0..100).map(ev)).await.unwrap();
        bus.shutdown().await.unwrap();
        assert!(matches!(bus.publish(ev(100)).await, Err(BusError::Closed)));
        let mut n = 0;
        while let Some(e) = sub.recv().await.unwrap() {
            assert_eq!(e.task, n);
            n += 1;
        }
        assert_eq!(n, 100);
        assert_eq!(sub.recv().await.unwrap(), None, "the end is sticky");
    });
}

#[test]
fn a_subscriber_waiting_on_an_idle_bus_wakes_for_the_next_event_and_for_shutdown() {
    rt().block_on(async {
        let bus = bus(1024);
        let mut sub = bus.subscribe("g").await.unwrap();
        let waiter = tokio::spawn(async move {
            let first = sub.recv().await.unwrap();
            let end = sub.recv().await.unwrap();
            (first, end)
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let payload = bytes::Bytes::from_static(b"{\"tool\":\"search\"}");
        bus.publish(ev(7).with_payload(payload.clone()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        bus.shutdown().await.unwrap();
        let (first, end) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first, Some(ev(7).with_payload(payload)));
        assert_eq!(end, None);
    });
}

#[test]
fn memory_urls_choose_the_memory_bus_and_bad_urls_are_named() {
    rt().block_on(async {
        let AnyBus::Memory(b) = events::connect("memory://?capacity=1000").await.unwrap() else {
            panic!("memory:// must give the memory bus")
        };
        assert_eq!(b.capacity(), 1024, "rounded up to a power of two");
        assert!(matches!(
            events::connect(events::DEFAULT_URL).await,
            Ok(AnyBus::Memory(_))
        ));
        crate::util::assert_bad_bus_urls(&[
            ("kafka://broker:9092", "unknown scheme \"kafka\""),
            ("localhost:6379", "expected SCHEME://"),
            ("memory://?capacity=abc", "capacity=\"abc\""),
            ("memory://?cap=4", "unknown option \"cap\""),
            ("memory://host", "no host or path"),
            ("memory://?capacity=0", "capacity = 0"),
            ("memory://?capacity", "not KEY=VALUE"),
        ])
        .await;
    });
}

#[test]
fn the_any_bus_delegates_to_its_backend() {
    rt().block_on(async {
        let bus = events::connect("memory://").await.unwrap();
        let sub = bus.subscribe("g").await.unwrap();
        let reader = tokio::spawn(drain(sub, 10));
        bus.publish(ev(0)).await.unwrap();
        bus.publish_batch((1..50).map(ev)).await.unwrap();
        bus.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn events_hold_payloads_and_are_dropped_exactly_once() {
    // Payloads are reference counted: after the bus and every copy are gone, only the
    // test's own handle remains (no leak, no double drop).
    let payload = bytes::Bytes::from(vec![7u8; 100]);
    rt().block_on(async {
        let bus = bus(8);
        let sub = bus.subscribe("g").await.unwrap();
        let reader = tokio::spawn(drain(sub, 3));
        bus.publish_batch((0..100).map(|i| ev(i).with_payload(payload.clone())))
            .await
            .unwrap();
        bus.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap().len(), 100);
    });
    assert!(
        payload.is_unique(),
        "every copy of the payload was released"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any capacity, batch sizes and read sizes: each group gets exactly the published
    /// sequence.
    #[test]
    fn delivery_is_exact_for_any_sizes(
        capacity in 1usize..64,
        batches in prop::collection::vec(1u64..40, 1..40),
        reads in prop::collection::vec(1usize..50, 1..3),
    ) {
        let total: u64 = batches.iter().sum();
        let seen = rt().block_on(async {
            let bus = bus(capacity);
            let mut readers = Vec::new();
            for (g, &max) in reads.iter().enumerate() {
                readers.push(tokio::spawn(drain(bus.subscribe(&g.to_string()).await.unwrap(), max)));
            }
            let mut next = 0;
            for len in &batches {
                bus.publish_batch((next..next + len).map(ev)).await.unwrap();
                next += len;
            }
            bus.shutdown().await.unwrap();
            let mut seen = Vec::new();
            for r in readers {
                seen.push(r.await.unwrap());
            }
            seen
        });
        for s in seen {
            prop_assert_eq!(s, (0..total).collect::<Vec<_>>());
        }
    }
}
