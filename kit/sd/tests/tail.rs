//! Tail-latency tools of `Balanced`, in paused time: hedges after a fixed
//! delay or the live p95, first success wins and the loser is cancelled, the
//! hedge budget, no hedge past the deadline or without `hedging`, the retry
//! budget when every instance fails, epsilon-greedy preferring the fastest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_endpoint::{BoxEndpoint, BoxError, Context, Request, endpoint_fn};
use kit_sd::{
    Balanced, Endpointer, Factory, HedgeDelay, Hedging, Instance, RetryBudget, StaticInstancer,
    Strategy,
};
use tokio::time::Instant;
use tower::ServiceExt;

/// What the fake instances saw: calls started, and calls dropped unfinished.
#[derive(Default)]
struct Fleet {
    started: Mutex<HashMap<String, usize>>,
    cancelled: AtomicUsize,
}

/// Counts a call dropped before it finished.
struct Unfinished<'a>(&'a AtomicUsize, bool);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Instances named `<ms>ms-<x>` answer after that many milliseconds;
/// `bad-<x>` fail at once.
fn factory(fleet: Arc<Fleet>) -> Factory<u32, String> {
    Arc::new(move |instance: &Instance| {
        let addr = instance.addr.clone();
        let fleet = fleet.clone();
        Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<u32>| {
            let (addr, fleet) = (addr.clone(), fleet.clone());
            async move {
                *fleet
                    .started
                    .lock()
                    .unwrap()
                    .entry(addr.clone())
                    .or_default() += 1;
                if addr.starts_with("bad") {
                    return Err::<String, BoxError>(format!("{addr} refused").into());
                }
                let ms: u64 = addr.split("ms").next().unwrap().parse().unwrap();
                let mut guard = Unfinished(&fleet.cancelled, false);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                guard.1 = true;
                Ok(addr)
            }
        })))
    })
}

fn balanced(
    fleet: &Arc<Fleet>,
    addrs: &[&str],
    build: impl FnOnce(kit_sd::Builder<u32, String>) -> kit_sd::Builder<u32, String>,
) -> Balanced<u32, String> {
    let instancer = StaticInstancer::new(addrs.iter().map(|a| Instance::new(*a)).collect());
    let endpointer = Endpointer::new(&instancer, factory(fleet.clone()), None);
    build(Balanced::builder(endpointer).strategy(Strategy::RoundRobin)).build()
}

fn started(fleet: &Fleet) -> usize {
    fleet.started.lock().unwrap().values().sum()
}

#[tokio::test(start_paused = true)]
async fn a_hedge_after_the_delay_wins_and_the_slow_attempt_is_cancelled() {
    let fleet = Arc::new(Fleet::default());
    let ep = balanced(&fleet, &["100ms-a", "1ms-b"], |b| {
        b.hedging(Hedging::new(HedgeDelay::Fixed(Duration::from_millis(10))))
    });
    let began = Instant::now();
    let got = ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    assert_eq!(got, "1ms-b");
    assert_eq!(
        began.elapsed(),
        Duration::from_millis(11),
        "hedge at 10 ms + 1 ms"
    );
    assert_eq!(
        fleet.cancelled.load(Ordering::SeqCst),
        1,
        "the slow attempt dropped"
    );
    let stats = ep.stats();
    assert_eq!((stats.hedges, stats.hedges_won), (1, 1));

    // The next call starts on the slow one again, but the budget (5% of
    // calls, one token to start) is spent: no hedge.
    let got = ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    assert_eq!(got, "100ms-a");
    assert_eq!((ep.stats().hedges, ep.stats().hedges_denied), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn without_hedging_or_past_the_deadline_nothing_is_sent_twice() {
    let fleet = Arc::new(Fleet::default());
    let plain = balanced(&fleet, &["100ms-a", "1ms-b"], |b| b);
    plain.oneshot(Request::from_msg(1)).await.unwrap();
    assert_eq!(started(&fleet), 1, "not marked for hedging: one attempt");

    let fleet = Arc::new(Fleet::default());
    let hedged = balanced(&fleet, &["100ms-a", "1ms-b"], |b| {
        b.hedging(Hedging::new(HedgeDelay::Fixed(Duration::from_millis(10))))
    });
    let ctx = Context::new().with_timeout(Duration::from_millis(5));
    // (The transport cuts the call at its deadline; here it runs to its end.)
    let _ = hedged.clone().oneshot(Request::new(ctx, 1)).await;
    assert_eq!(
        started(&fleet),
        1,
        "the hedge would come after the deadline"
    );
    assert_eq!(hedged.stats().hedges, 0);
}

#[tokio::test(start_paused = true)]
async fn the_hedge_budget_caps_hedges_to_their_share() {
    let fleet = Arc::new(Fleet::default());
    // Every call's first attempt is slow (round robin over one slow, one
    // fast, each call starting on the slow one half the time).
    let ep = balanced(&fleet, &["50ms-a", "1ms-b"], |b| {
        b.hedging(Hedging {
            delay: HedgeDelay::Fixed(Duration::from_millis(5)),
            budget_percent: 5.0,
        })
    });
    for _ in 0..400 {
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let stats = ep.stats();
    // 5% of 400 calls, plus the initial token.
    assert!(stats.hedges <= 21, "{stats:?}");
    assert!(stats.hedges >= 15, "{stats:?}");
    assert!(stats.hedges_denied > 100, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_live_p95_delay_hedges_only_the_tail() {
    let fleet = Arc::new(Fleet::default());
    let ep = balanced(&fleet, &["2ms-a", "2ms-b", "2ms-c"], |b| {
        b.hedging(Hedging {
            delay: HedgeDelay::Percentile(0.95),
            budget_percent: 100.0,
        })
    });
    for _ in 0..300 {
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    assert_eq!(ep.stats().hedges, 0, "no call is slower than the p95");

    // A fleet of 20 where one instance is slow (90 ms): its calls (5%) are
    // hedged at about the p95 of what the fleet answers in (~2 ms), not
    // after 90 ms.
    let fleet = Arc::new(Fleet::default());
    let mut addrs: Vec<String> = (0..19).map(|i| format!("2ms-{i}")).collect();
    addrs.push("90ms-slow".into());
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let ep = balanced(&fleet, &addrs, |b| {
        b.hedging(Hedging {
            delay: HedgeDelay::Percentile(0.95),
            budget_percent: 100.0,
        })
    });
    let mut slowest = Duration::ZERO;
    for i in 0..400 {
        let began = Instant::now();
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
        if i >= 200 {
            slowest = slowest.max(began.elapsed());
        }
    }
    assert!(
        slowest < Duration::from_millis(10),
        "tail cut to {slowest:?}"
    );
    let stats = ep.stats();
    assert!(stats.hedges_won >= 9 && stats.hedges <= 40, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_keeps_retries_to_their_share_when_everything_fails() {
    let run = |budget: Option<RetryBudget>| async move {
        let fleet = Arc::new(Fleet::default());
        let ep = balanced(&fleet, &["bad-a", "bad-b", "bad-c"], |b| {
            let b = b.max_attempts(3);
            match budget {
                Some(budget) => b.retry_budget(budget),
                None => b,
            }
        });
        for _ in 0..1000 {
            let _ = ep.clone().oneshot(Request::from_msg(1)).await;
        }
        (started(&fleet) as f64 / 1000.0, ep.stats())
    };
    let (without, _) = run(None).await;
    assert_eq!(without, 3.0, "every call tries all three");
    let (with, stats) = run(Some(RetryBudget::default())).await;
    assert!(with <= 1.22, "{with} calls sent per request ({stats:?})");
    assert!(stats.retries_denied > 700, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn epsilon_greedy_prefers_the_fastest_and_keeps_exploring() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(
        ["1ms-a", "5ms-b", "20ms-c"]
            .iter()
            .map(|a| Instance::new(*a))
            .collect(),
    );
    let ep = Balanced::builder(Endpointer::new(&instancer, factory(fleet.clone()), None))
        .strategy(Strategy::EpsilonGreedy)
        .epsilon(0.1)
        .build();
    for _ in 0..1000 {
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let calls = fleet.started.lock().unwrap().clone();
    assert!(calls["1ms-a"] >= 850, "{calls:?}");
    assert!(
        calls["5ms-b"] >= 10 && calls["20ms-c"] >= 10,
        "explores: {calls:?}"
    );
}

/// With ejection off (the library's default), an instance that fails at once
/// must not look fastest: with two healthy instances beside it, it gets at
/// most 15% of 300 calls under peak EWMA and under epsilon-greedy (without
/// the failure penalty it drew about two thirds and nine tenths of them),
/// and under least pending (where it looked idle, having no calls in
/// flight: a third of sequential calls, most of concurrent ones, as a
/// stopped stringsvc with its breaker open did in a rolling restart).
#[tokio::test(start_paused = true)]
async fn an_instance_that_fails_fast_does_not_draw_the_traffic() {
    for strategy in [
        Strategy::PeakEwma,
        Strategy::EpsilonGreedy,
        Strategy::LeastPending,
    ] {
        let fleet = Arc::new(Fleet::default());
        let svc = balanced(&fleet, &["10ms-a", "10ms-b", "bad-c"], |b| {
            b.strategy(strategy).max_attempts(1)
        });
        for _ in 0..300 {
            let _ = svc.clone().oneshot(Request::from_msg(0)).await;
        }
        let started = fleet.started.lock().unwrap().clone();
        let bad = started.get("bad-c").copied().unwrap_or(0);
        assert_eq!(started.values().sum::<usize>(), 300);
        assert!(bad <= 45, "{strategy:?}: {started:?}");
        assert!(bad >= 1, "{strategy:?}: it is still tried: {started:?}");
    }
}

/// With one instance, a hedge has nowhere to go: it is counted as unsent and
/// takes no budget token, so the one token the budget starts with is still
/// there for the first hedge that can be sent once a second instance comes.
#[tokio::test(start_paused = true)]
async fn a_hedge_with_nowhere_to_go_takes_no_token() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(vec![Instance::new("100ms-a")]);
    let endpointer = Endpointer::new(&instancer, factory(fleet.clone()), None);
    let ep = Balanced::builder(endpointer)
        .strategy(Strategy::RoundRobin)
        .hedging(Hedging {
            delay: HedgeDelay::Fixed(Duration::from_millis(10)),
            budget_percent: 0.0,
        })
        .build();
    for _ in 0..3 {
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let stats = ep.stats();
    assert_eq!(
        (stats.hedges, stats.hedges_denied, stats.hedges_unsent),
        (0, 0, 3),
        "{stats:?}"
    );

    instancer.set(vec![Instance::new("100ms-a"), Instance::new("1ms-b")]);
    tokio::task::yield_now().await;
    // Round robin: the next call starts on whichever; call until one starts
    // on the slow instance and is hedged with the token kept so far.
    for _ in 0..2 {
        ep.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let stats = ep.stats();
    assert_eq!((stats.hedges, stats.hedges_unsent), (1, 3), "{stats:?}");
}
