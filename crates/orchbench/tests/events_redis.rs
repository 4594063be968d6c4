//! The Redis Streams bus against a real `redis-server` that each test starts on a free
//! loopback port (persistence off) and stops by PID. A missing `redis-server` fails the
//! test, naming what to install: it never passes by skipping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use orchbench::events::{
    BusError, Event, EventBus, EventKind, RedisConfig, RedisStreamsBus, Subscription, Trim,
};
use orchbench_redis_server::RedisServer;

use crate::util::rt;

/// A fresh server for `test`; a test without one fails.
fn server(test: &str) -> RedisServer {
    orchbench_redis_server::required(test)
}

fn ev(i: u64) -> Event {
    Event::new(
        EventKind::TaskStarted,
        i / 100,
        i,
        1_700_000_000_000_000_000 + i,
    )
}

fn config(server: &RedisServer) -> RedisConfig {
    let mut c = RedisConfig::new(server.url());
    c.block_ms = 100;
    c.timeout_ms = 2000;
    c
}

/// Raw access for checks the bus does not expose.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn read_n(sub: &mut impl Subscription, n: usize, limit: Duration) -> Vec<Event> {
    let start = Instant::now();
    let mut all = Vec::new();
    while all.len() < n {
        assert!(
            start.elapsed() < limit,
            "only {} of {n} events within {limit:?}",
            all.len()
        );
        sub.recv_batch(&mut all, 500).await.unwrap();
    }
    all
}

#[test]
fn events_round_trip_in_order_with_payloads_and_every_group_sees_all() {
    let server = server("redis round trip");
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let mut a = bus.subscribe("audit").await.unwrap();
        let mut b = bus.subscribe("metrics").await.unwrap();
        bus.publish(ev(0).with_payload(b"{\"tool\":\"search\"}".to_vec()))
            .await
            .unwrap();
        bus.publish_batch((1..2500).map(ev)).await.unwrap();
        assert_eq!(bus.published(), 2500);
        for sub in [&mut a, &mut b] {
            let got = read_n(sub, 2500, Duration::from_secs(10)).await;
            assert_eq!(
                got[0],
                ev(0).with_payload(b"{\"tool\":\"search\"}".to_vec())
            );
            assert_eq!(
                got,
                (0..2500)
                    .map(|i| if i == 0 { got[0].clone() } else { ev(i) })
                    .collect::<Vec<_>>()
            );
            sub.ack().await.unwrap();
            assert_eq!(sub.stats().acked, 2500);
            assert_eq!(sub.stats().redelivered, 0);
        }
        let mut conn = raw(&server).await;
        for group in ["audit", "metrics"] {
            let pending: redis::Value = redis::cmd("XPENDING")
                .arg("orchbench:events")
                .arg(group)
                .query_async(&mut conn)
                .await
                .unwrap();
            let redis::Value::Array(p) = pending else {
                panic!("{pending:?}")
            };
            assert_eq!(
                p[0],
                redis::Value::Int(0),
                "{group}: everything acknowledged"
            );
        }
    });
}

#[test]
fn consumers_of_one_group_share_the_stream_without_duplicates() {
    let server = server("redis shared group");
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let mut subs = Vec::new();
        for _ in 0..2 {
            subs.push(bus.subscribe("workers").await.unwrap());
        }
        assert_ne!(subs[0].consumer(), subs[1].consumer());
        let readers: Vec<_> = subs
            .into_iter()
            .map(|mut sub| {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut idle = 0;
                    while idle < 5 {
                        let before = got.len();
                        sub.recv_batch(&mut got, 50).await.unwrap();
                        idle = if got.len() == before { idle + 1 } else { 0 };
                        if got.len() == before {
                            continue;
                        }
                    }
                    got
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish_batch((0..3000).map(ev)).await.unwrap();
        bus.shutdown().await.unwrap();
        let mut all = Vec::new();
        for r in readers {
            let part = r.await.unwrap();
            assert!(
                part.windows(2).all(|w| w[0].task < w[1].task),
                "in order within a consumer"
            );
            all.extend(part.into_iter().map(|e| e.task));
        }
        all.sort_unstable();
        assert_eq!(all, (0..3000).collect::<Vec<_>>());
    });
}

#[test]
fn shutdown_lets_a_subscriber_drain_then_ends() {
    let server = server("redis shutdown");
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let mut sub = bus.subscribe("g").await.unwrap();
        bus.publish_batch((0..10).map(ev)).await.unwrap();
        bus.shutdown().await.unwrap();
        assert!(matches!(bus.publish(ev(10)).await, Err(BusError::Closed)));
        let mut got = Vec::new();
        while sub.recv_batch(&mut got, 3).await.unwrap() > 0 {}
        assert_eq!(got, (0..10).map(ev).collect::<Vec<_>>());
        assert!(matches!(bus.subscribe("late").await, Err(BusError::Closed)));
    });
}

#[test]
fn bad_entries_go_to_the_dead_letter_stream_and_never_block_the_consumer() {
    let server = server("redis dead letter");
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let mut sub = bus.subscribe("g").await.unwrap();
        let mut conn = raw(&server).await;
        bus.publish(ev(1)).await.unwrap();
        let garbage: [&[&str]; 4] = [
            &["k", "task.started", "w", "1", "t", "2"], // ts missing
            &["k", "task.exploded", "w", "1", "t", "2", "ts", "3"], // unknown kind
            &["k", "task.started", "w", "-5", "t", "2", "ts", "3"], // negative number
            &["hello", "world"],                        // not an event
        ];
        for fields in garbage {
            let _: String = redis::cmd("XADD")
                .arg("orchbench:events")
                .arg("*")
                .arg(fields)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        bus.publish(ev(2)).await.unwrap();
        let got = read_n(&mut sub, 2, Duration::from_secs(5)).await;
        assert_eq!(got, vec![ev(1), ev(2)]);
        sub.ack().await.unwrap();
        assert_eq!(sub.stats().dead_lettered, 4);
        let dead: redis::Value = redis::cmd("XRANGE")
            .arg("orchbench:events:dead")
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        let text = format!("{dead:?}");
        for reason in [
            "field \\\"ts\\\" is missing",
            "field \\\"k\\\" has a bad value",
            "field \\\"w\\\" has a bad value \\\"-5\\\"",
            "field \\\"k\\\" is missing",
        ] {
            assert!(
                text.contains(reason) || String::from_utf8_lossy(text.as_bytes()).contains(reason),
                "dead letters lack {reason}: {text}"
            );
        }
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg("orchbench:events")
            .arg("g")
            .query_async(&mut conn)
            .await
            .unwrap();
        let redis::Value::Array(p) = pending else {
            panic!()
        };
        assert_eq!(
            p[0],
            redis::Value::Int(0),
            "bad entries are acknowledged, not left pending"
        );
    });
}

#[test]
fn a_dead_consumers_pending_events_are_reclaimed_so_every_event_is_processed() {
    let server = server("redis reclaim");
    rt().block_on(async {
        let mut c = config(&server);
        c.claim_idle_ms = 300;
        c.claim_interval_ms = 100;
        let bus = RedisStreamsBus::connect(c).await.unwrap();
        let mut doomed = bus.subscribe_as("workers", "doomed").await.unwrap();
        let mut survivor = bus.subscribe_as("workers", "survivor").await.unwrap();
        let n = 2000u64;
        bus.publish_batch((0..n).map(ev)).await.unwrap();

        // The doomed consumer processes one batch (acked by its next read), takes a
        // second batch and dies mid-batch: those entries stay pending, owned by it.
        let mut processed: HashMap<u64, u32> = HashMap::new();
        let mut batch = Vec::new();
        doomed.recv_batch(&mut batch, 300).await.unwrap();
        for e in batch.drain(..) {
            *processed.entry(e.task).or_default() += 1;
        }
        doomed.recv_batch(&mut batch, 300).await.unwrap();
        let in_flight: Vec<u64> = batch.drain(..).map(|e| e.task).collect();
        for &t in &in_flight[..100] {
            // It had processed part of the batch before dying (so these will be
            // delivered twice), but acknowledged none of it.
            *processed.entry(t).or_default() += 1;
        }
        drop(doomed);

        // The survivor takes the rest, then reclaims the orphans once they are idle.
        let start = Instant::now();
        let mut got = Vec::new();
        while processed.len() < n as usize {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "only {} of {n} processed",
                processed.len()
            );
            got.clear();
            survivor.recv_batch(&mut got, 500).await.unwrap();
            for e in &got {
                *processed.entry(e.task).or_default() += 1;
            }
        }
        survivor.ack().await.unwrap();
        let duplicates: u32 = processed.values().map(|&c| c - 1).sum();
        eprintln!(
            "reclaim: {n} published, {} processed, {duplicates} duplicates, survivor stats {:?}",
            processed.len(),
            survivor.stats()
        );
        assert!(
            (0..n).all(|t| processed.contains_key(&t)),
            "every event processed at least once"
        );
        assert_eq!(
            duplicates, 100,
            "exactly the events processed before the crash came twice"
        );
        // Its second batch, and the third that its full second batch sent ahead (taken
        // by the server while the batch was worked on, never seen): both pending, owned
        // by the dead consumer, reclaimed; none of the third had been processed, so none
        // of it is a duplicate.
        assert_eq!(survivor.stats().claimed, 600);
        assert_eq!(survivor.stats().redelivered, 600);
    });
}

#[test]
fn a_restarted_consumer_name_finishes_what_it_had_taken() {
    let server = server("redis own pending");
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let mut first = bus.subscribe_as("g", "worker-1").await.unwrap();
        bus.publish_batch((0..50).map(ev)).await.unwrap();
        let mut got = Vec::new();
        first.recv_batch(&mut got, 20).await.unwrap();
        assert_eq!(got.len(), 20);
        drop(first); // crashes before acknowledging (with the next 20 read ahead)
        let mut again = bus.subscribe_as("g", "worker-1").await.unwrap();
        let got = read_n(&mut again, 50, Duration::from_secs(5)).await;
        assert_eq!(
            got,
            (0..50).map(ev).collect::<Vec<_>>(),
            "its 20 pending first, then the rest"
        );
        // The 20 it was given and the 20 its full batch read ahead.
        assert_eq!(again.stats().redelivered, 40);
    });
}

#[test]
fn publishing_while_the_server_is_down_fails_fast_and_works_after_a_restart() {
    let mut server = server("redis restart");
    rt().block_on(async {
        let mut c = config(&server);
        c.timeout_ms = 500;
        let bus = RedisStreamsBus::connect(c).await.unwrap();
        let mut sub = bus.subscribe("g").await.unwrap();
        bus.publish_batch((0..10).map(ev)).await.unwrap();
        assert_eq!(read_n(&mut sub, 10, Duration::from_secs(5)).await.len(), 10);

        server.stop();
        let start = Instant::now();
        let err = bus.publish(ev(10)).await.expect_err("the server is down");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "failed after {:?}",
            start.elapsed()
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{}", server.port())),
            "{text}"
        );
        let mut none = Vec::new();
        assert!(
            sub.recv_batch(&mut none, 10).await.is_err(),
            "reading fails too, without hanging"
        );

        server.restart().unwrap();
        // The first command after the restart may still see the old connection die.
        let start = Instant::now();
        let mut published = 0;
        while published < 20 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "publish never recovered"
            );
            match bus.publish(ev(10 + published)).await {
                Ok(()) => published += 1,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        // The restart lost the group (no persistence): the subscription recreates it and
        // reads the new stream from its start.
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < 20 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "subscription never recovered: {got:?}"
            );
            if let Err(e) = sub.recv_batch(&mut got, 100).await {
                eprintln!("recv after restart: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(got, (10..30).map(ev).collect::<Vec<_>>());
    });
}

#[test]
fn an_unreachable_server_is_a_clear_error_within_the_timeout() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    rt().block_on(async {
        let mut c = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
        c.timeout_ms = 300;
        let start = Instant::now();
        let err = RedisStreamsBus::connect(c)
            .await
            .expect_err("nobody listens");
        assert!(start.elapsed() < Duration::from_secs(3));
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port}")) && text.contains("connect"),
            "{text}"
        );
        crate::util::assert_bad_bus_urls(&[
            ("redis://127.0.0.1:notaport", "bad event-bus URL"),
            ("redis://h:1?stream=", "stream= is empty"),
            ("redis://h:1?maxlen=0", "maxlen = 0"),
        ])
        .await;
    });
}

#[test]
fn trimming_keeps_the_stream_bounded_and_trim_acked_keeps_what_groups_need() {
    let server = server("redis trimming");
    rt().block_on(async {
        let mut c = config(&server);
        c.stream = "capped".into();
        c.trim = Trim::MaxLen(1000);
        let capped = RedisStreamsBus::connect(c).await.unwrap();
        capped.publish_batch((0..20_000).map(ev)).await.unwrap();
        let mut conn = raw(&server).await;
        let len: u64 = redis::cmd("XLEN")
            .arg("capped")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            (1000..2000).contains(&len),
            "MAXLEN ~ 1000 left {len} entries"
        );

        let mut c = config(&server);
        c.stream = "acked".into();
        let bus = RedisStreamsBus::connect(c).await.unwrap();
        let mut fast = bus.subscribe("fast").await.unwrap();
        let mut slow = bus.subscribe("slow").await.unwrap();
        bus.publish_batch((0..1000).map(ev)).await.unwrap();
        read_n(&mut fast, 1000, Duration::from_secs(5)).await;
        fast.ack().await.unwrap();
        let first = read_n(&mut slow, 1, Duration::from_secs(5)).await;
        assert!(!first.is_empty());
        // `slow` has read some and acked none: nothing it still needs may go.
        assert_eq!(bus.trim_acked().await.unwrap(), 0);
        let mut rest = Vec::new();
        while rest.len() + first.len() < 1000 {
            slow.recv_batch(&mut rest, 1000).await.unwrap();
        }
        slow.ack().await.unwrap();
        let removed = bus.trim_acked().await.unwrap();
        assert_eq!(
            removed, 1000,
            "everything read and acknowledged by every group"
        );
    });
}

/// `server_run_id` changes with a restart and only then; `entries` reads the whole
/// stream without a group, across pages, and after a restart of a durable server (AOF)
/// it still holds what was written more than a second before the crash.
#[test]
fn the_run_id_tells_a_restart_and_entries_reads_what_the_server_kept() {
    let mut server = RedisServer::start_durable()
        .unwrap_or_else(|e| panic!("durable redis: a real redis-server is required: {e}"));
    rt().block_on(async {
        let bus = RedisStreamsBus::connect(config(&server)).await.unwrap();
        let before = bus.server_run_id().await.unwrap();
        assert_eq!(before.len(), 40, "{before}");
        assert_eq!(bus.server_run_id().await.unwrap(), before);
        let sent: Vec<Event> = (0..2500).map(ev).collect();
        bus.publish_batch(sent.clone()).await.unwrap();
        // Pages of 1000: three round trips, in order, nothing twice.
        assert_eq!(bus.entries(1000).await.unwrap(), sent);
        // Past appendfsync everysec: the file holds every entry.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.stop();
        assert!(bus.server_run_id().await.is_err(), "the server is down");
        server.restart().unwrap();
        let start = Instant::now();
        let after = loop {
            match bus.server_run_id().await {
                Ok(id) => break id,
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("never reconnected: {e}"),
            }
        };
        assert_ne!(after, before, "a restart is a new run id");
        assert_eq!(bus.entries(700).await.unwrap(), sent);
    });
}

/// Reads with held acknowledgement: a consumer reads ahead, and only what it hands to
/// `ack_later` is acknowledged (with its next read); the rest stays pending, taken
/// over by the group's other consumers once idle.
#[test]
fn held_reads_acknowledge_only_what_is_handed_back() {
    let server = server("held reads");
    rt().block_on(async {
        let mut c = config(&server);
        c.claim_idle_ms = 200;
        c.claim_interval_ms = 50;
        let bus = RedisStreamsBus::connect(c).await.unwrap();
        let mut sub = bus.subscribe_as("g", "ahead").await.unwrap();
        bus.publish_batch((0..30).map(ev)).await.unwrap();
        let (mut first, mut first_ids) = (Vec::new(), Vec::new());
        assert_eq!(
            sub.poll_batch_held(&mut first, &mut first_ids, 10)
                .await
                .unwrap(),
            10
        );
        let (mut second, mut second_ids) = (Vec::new(), Vec::new());
        // Reading ahead acknowledges nothing of the first batch.
        assert_eq!(
            sub.poll_batch_held(&mut second, &mut second_ids, 10)
                .await
                .unwrap(),
            10
        );
        assert_eq!(first, (0..10).map(ev).collect::<Vec<_>>());
        assert_eq!(second, (10..20).map(ev).collect::<Vec<_>>());
        assert_eq!((first_ids.len(), second_ids.len()), (10, 10));
        assert_ne!(first_ids[0], second_ids[0]);
        let mut conn = raw(&server).await;
        let pending = |conn: &mut redis::aio::MultiplexedConnection| {
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg("orchbench:events").arg("g");
            let conn = conn.clone();
            async move {
                let mut conn = conn;
                let v: Vec<redis::Value> = cmd.query_async(&mut conn).await.unwrap();
                match v.first() {
                    Some(redis::Value::Int(n)) => *n,
                    other => panic!("{other:?}"),
                }
            }
        };
        assert_eq!(pending(&mut conn).await, 20);
        // The first batch is done: handed back, it goes with the next read.
        sub.ack_later(first_ids);
        let (mut third, mut third_ids) = (Vec::new(), Vec::new());
        assert_eq!(
            sub.poll_batch_held(&mut third, &mut third_ids, 10)
                .await
                .unwrap(),
            10
        );
        assert_eq!(pending(&mut conn).await, 20, "10 acked, 10 more taken");
        assert_eq!(sub.stats().acked, 10);
        // The second batch is never handed back (this consumer "died"): another
        // consumer takes it over once it has been idle for claim_idle_ms.
        sub.ack_later(third_ids);
        sub.ack().await.unwrap();
        drop(sub);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut other = bus.subscribe_as("g", "other").await.unwrap();
        let got = read_n(&mut other, 10, Duration::from_secs(5)).await;
        assert_eq!(got, second);
        other.ack().await.unwrap();
        assert_eq!(pending(&mut conn).await, 0);
    });
}

/// A server killed (SIGKILL) right after a full batch sent a read ahead, then restarted
/// with its data (AOF): no event is lost. Whether the read ahead's reply made it before
/// the kill (it is handed out) or died with the connection (what it took is either
/// still undelivered, the AOF not having recorded the read, or pending and reclaimed),
/// every event is seen; duplicates are allowed, losses are not.
#[test]
fn a_server_killed_mid_read_ahead_loses_no_event() {
    let mut server = RedisServer::start_durable()
        .unwrap_or_else(|e| panic!("a real redis-server is required: {e}"));
    rt().block_on(async {
        let mut c = config(&server);
        c.claim_idle_ms = 300;
        c.claim_interval_ms = 100;
        c.timeout_ms = 500;
        let bus = RedisStreamsBus::connect(c).await.unwrap();
        let mut sub = bus.subscribe("g").await.unwrap();
        let n = 3000u64;
        bus.publish_batch((0..n).map(ev)).await.unwrap();
        // AOF `everysec`: give the server time to have the entries on disk.
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut batch = Vec::new();
        // A full batch: the next read goes out before this one is handed back.
        assert_eq!(sub.recv_batch(&mut batch, 500).await.unwrap(), 500);
        for e in batch.drain(..) {
            *seen.entry(e.task).or_default() += 1;
        }
        server.stop();
        // The read ahead's reply may have come in before the kill (then it is handed
        // out now), or dies with the connection.
        let landed = sub.recv_batch(&mut batch, 500).await.is_ok();
        for e in batch.drain(..) {
            *seen.entry(e.task).or_default() += 1;
        }
        server.restart().unwrap();

        let start = Instant::now();
        while seen.len() < n as usize {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "only {} of {n} events after the restart",
                seen.len()
            );
            batch.clear();
            match sub.recv_batch(&mut batch, 500).await {
                Ok(_) => {
                    for e in &batch {
                        *seen.entry(e.task).or_default() += 1;
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let duplicates: u32 = seen.values().map(|&k| k - 1).sum();
        eprintln!(
            "killed after a read ahead (its reply {}): {n} published, all {} seen, {duplicates} duplicates, stats {:?}",
            if landed { "had come in" } else { "was lost" },
            seen.len(),
            sub.stats()
        );
        assert!((0..n).all(|t| seen.contains_key(&t)));
        // At most the first batch (unacknowledged) and the batch read ahead come twice.
        assert!(duplicates <= 1000, "{duplicates} duplicates");
    });
}
