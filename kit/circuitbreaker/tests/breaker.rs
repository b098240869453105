//! The breaker's life cycle on failsafe's frozen clock: opens after the
//! configured failures, sheds calls while open, probes, closes or reopens; business
//! errors and unclassified errors never trip it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_circuitbreaker::{
    Change, CircuitBreakerLayer, Observer, Open, State, backoff, failure_policy,
};
use kit_endpoint::{BoxError, Classified, ErrorClass, Failer, Request, endpoint_fn, is_caused_by};
use tower::{Layer, ServiceExt};

/// A response that may carry a business error (`Err`).
type Resp = Result<(), std::io::Error>;

/// What the test endpoint does on each call.
#[derive(Default)]
struct Backend {
    calls: AtomicUsize,
    failing: AtomicBool,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn opens_sheds_probes_then_closes_or_reopens() {
    let rt = runtime();
    failsafe::clock::freeze(|clock| {
        let states = Arc::new(Mutex::new(Vec::new()));
        let seen = states.clone();
        let layer = CircuitBreakerLayer::with_instrument(
            failure_policy::consecutive_failures(3, backoff::constant(Duration::from_secs(10))),
            Observer::new(move |c: Change| seen.lock().unwrap().push(c.to)),
        );
        let backend = Arc::new(Backend::default());
        let b = backend.clone();
        let ep = layer.layer(endpoint_fn(move |_req: Request<()>| {
            let b = b.clone();
            async move {
                b.calls.fetch_add(1, Ordering::SeqCst);
                if b.failing.load(Ordering::SeqCst) {
                    Err::<Resp, BoxError>("connection refused".into())
                } else {
                    Ok(Ok(()))
                }
            }
        }));
        let call = || rt.block_on(ep.clone().oneshot(Request::from_msg(())));

        backend.failing.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(call().unwrap_err().to_string(), "connection refused");
        }
        assert_eq!(*states.lock().unwrap(), [State::Closed, State::Open]);

        // Open: 100 calls fail at once, none reaches the backend; each says
        // to come back when the next probe is due.
        for _ in 0..100 {
            assert!(is_caused_by::<Open>(&*call().unwrap_err()));
        }
        assert_eq!(backend.calls.load(Ordering::SeqCst), 3);
        let hint = |err: BoxError| ErrorClass::of(&*err).retry_after();
        assert_eq!(hint(call().unwrap_err()), Some(Duration::from_secs(10)));
        clock.advance(Duration::from_millis(7_500));
        assert_eq!(
            hint(call().unwrap_err()),
            Some(Duration::from_millis(2_500))
        );
        clock.advance(Duration::from_millis(2_500));

        // After the backoff one probe goes through; it fails: open again.
        clock.advance(Duration::from_secs(1));
        assert_eq!(call().unwrap_err().to_string(), "connection refused");
        assert_eq!(backend.calls.load(Ordering::SeqCst), 4);
        assert!(is_caused_by::<Open>(&*call().unwrap_err()));
        assert_eq!(hint(call().unwrap_err()), Some(Duration::from_secs(10)));

        // Next probe succeeds: closed, and calls flow again.
        clock.advance(Duration::from_secs(11));
        backend.failing.store(false, Ordering::SeqCst);
        assert!(call().is_ok());
        assert!(call().is_ok());
        assert_eq!(backend.calls.load(Ordering::SeqCst), 6);
        assert_eq!(
            *states.lock().unwrap(),
            [
                State::Closed,
                State::Open,
                State::HalfOpen,
                State::Open,
                State::HalfOpen,
                State::Closed
            ]
        );
    });
}

#[test]
fn business_errors_and_unclassified_errors_never_trip_it() {
    let rt = runtime();
    failsafe::clock::freeze(|_clock| {
        let layer = CircuitBreakerLayer::new(failure_policy::consecutive_failures(
            2,
            backoff::constant(Duration::from_secs(10)),
        ))
        // "bad request" is the caller's fault, not the backend's.
        .classify(|e| e.to_string() != "bad request");
        let business = layer.layer(endpoint_fn(|_req: Request<()>| async {
            Ok::<Resp, BoxError>(Err(std::io::Error::other("integer overflow")))
        }));
        let rejected = layer.layer(endpoint_fn(|_req: Request<()>| async {
            Err::<Resp, BoxError>("bad request".into())
        }));
        for _ in 0..50 {
            let resp = rt
                .block_on(business.clone().oneshot(Request::from_msg(())))
                .unwrap();
            assert!(resp.failed().is_some());
            let err = rt
                .block_on(rejected.clone().oneshot(Request::from_msg(())))
                .unwrap_err();
            assert_eq!(err.to_string(), "bad request");
        }
    });
}

#[test]
fn a_failure_rate_policy_opens_when_the_success_rate_drops() {
    let rt = runtime();
    failsafe::clock::freeze(|clock| {
        let breaker = failure_policy::success_rate_over_time_window(
            0.5,
            4,
            Duration::from_secs(1),
            backoff::constant(Duration::from_secs(10)),
        );
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        // Three calls out of four fail.
        let ep = CircuitBreakerLayer::new(breaker).layer(endpoint_fn(move |_req: Request<()>| {
            let i = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if i.is_multiple_of(4) {
                    Ok(Ok(()))
                } else {
                    Err::<Resp, BoxError>("timeout".into())
                }
            }
        }));
        let mut opened_after = None;
        for i in 0..40 {
            clock.advance(Duration::from_millis(100));
            if let Err(e) = rt.block_on(ep.clone().oneshot(Request::from_msg(())))
                && is_caused_by::<Open>(&*e)
            {
                opened_after = Some(i);
                break;
            }
        }
        let opened_after = opened_after.expect("the breaker opened");
        // Not before the 1 s window has filled.
        assert!(opened_after >= 10, "opened after {opened_after} calls");
    });
}

/// The docs say one call probes a half-open breaker: of 100 concurrent calls
/// arriving after the backoff, exactly one reaches the endpoint; the rest fail
/// with `Open` while it is in flight. (failsafe alone lets all 100 through.)
#[test]
fn a_half_open_breaker_lets_exactly_one_of_100_concurrent_calls_probe() {
    let rt = runtime();
    failsafe::clock::freeze(|clock| {
        let layer = CircuitBreakerLayer::new(failure_policy::consecutive_failures(
            1,
            backoff::constant(Duration::from_secs(10)),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(true));
        let (c, f) = (calls.clone(), failing.clone());
        // Calls wait on a gate the test opens, so all 100 are in flight at once.
        let (release, wait) = tokio::sync::watch::channel(false);
        let ep = layer.layer(endpoint_fn(move |_req: Request<()>| {
            c.fetch_add(1, Ordering::SeqCst);
            let failing = f.load(Ordering::SeqCst);
            let mut wait = wait.clone();
            async move {
                if failing {
                    return Err::<Resp, BoxError>("refused".into());
                }
                let _ = wait.wait_for(|open| *open).await;
                Ok(Ok(()))
            }
        }));
        // One failure opens it.
        assert!(
            rt.block_on(ep.clone().oneshot(Request::from_msg(())))
                .is_err()
        );
        clock.advance(Duration::from_secs(11));
        failing.store(false, Ordering::SeqCst);
        calls.store(0, Ordering::SeqCst);
        let results = rt.block_on(async {
            let pending: Vec<_> = (0..100)
                .map(|_| tokio::spawn(ep.clone().oneshot(Request::from_msg(()))))
                .collect();
            // Every call has been made (the spawned tasks ran up to their wait).
            tokio::task::yield_now().await;
            while pending.iter().filter(|p| p.is_finished()).count() < 99 {
                tokio::task::yield_now().await;
            }
            release.send(true).unwrap();
            let mut results = Vec::new();
            for p in pending {
                results.push(p.await.unwrap());
            }
            results
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one probe reached the endpoint"
        );
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| is_caused_by::<Open>(&**e))
        );
        // The probe succeeded: closed, and calls flow again.
        assert!(
            rt.block_on(ep.clone().oneshot(Request::from_msg(())))
                .is_ok()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    });
}

/// Errors whose class says the caller was at fault never trip the breaker,
/// without any classify function.
#[test]
fn caller_faults_do_not_count_by_class() {
    let rt = runtime();
    failsafe::clock::freeze(|_clock| {
        let layer = CircuitBreakerLayer::new(failure_policy::consecutive_failures(
            2,
            backoff::constant(Duration::from_secs(10)),
        ));
        let ep = layer.layer(endpoint_fn(|_req: Request<()>| async {
            Err::<Resp, BoxError>(
                Classified::new(
                    ErrorClass::Upstream { caller_fault: true },
                    "422 from upstream",
                )
                .into(),
            )
        }));
        for _ in 0..20 {
            let err = rt
                .block_on(ep.clone().oneshot(Request::from_msg(())))
                .unwrap_err();
            assert!(!is_caused_by::<Open>(&*err));
        }
        let down = layer.layer(endpoint_fn(|_req: Request<()>| async {
            Err::<Resp, BoxError>(
                Classified::new(
                    ErrorClass::Upstream {
                        caller_fault: false,
                    },
                    "502",
                )
                .into(),
            )
        }));
        for _ in 0..2 {
            let _ = rt.block_on(down.clone().oneshot(Request::from_msg(())));
        }
        let err = rt
            .block_on(down.clone().oneshot(Request::from_msg(())))
            .unwrap_err();
        assert!(is_caused_by::<Open>(&*err));
        assert!(matches!(
            ErrorClass::of(&*err),
            ErrorClass::Unavailable {
                retry_after: Some(_)
            }
        ));
    });
}

/// With a backoff that doubles (1 s, 2 s, 4 s...), each refusal's retry-after
/// hint is the time left until the next probe, not a fixed second.
#[test]
fn the_retry_after_hint_is_the_time_until_the_next_probe() {
    let rt = runtime();
    failsafe::clock::freeze(|clock| {
        let layer = CircuitBreakerLayer::new(failure_policy::consecutive_failures(
            1,
            backoff::exponential(Duration::from_secs(1), Duration::from_secs(30)),
        ));
        let ep = layer.layer(endpoint_fn(|_req: Request<()>| async {
            Err::<Resp, BoxError>("connection refused".into())
        }));
        let call = || rt.block_on(ep.clone().oneshot(Request::from_msg(())));
        let hint = |err: BoxError| {
            assert!(is_caused_by::<Open>(&*err), "{err}");
            ErrorClass::of(&*err).retry_after()
        };
        assert!(!is_caused_by::<Open>(&*call().unwrap_err()));
        let mut open_for = Duration::from_secs(1);
        for _ in 0..4 {
            assert_eq!(hint(call().unwrap_err()), Some(open_for));
            clock.advance(open_for - Duration::from_millis(1));
            assert_eq!(hint(call().unwrap_err()), Some(Duration::from_millis(1)));
            clock.advance(Duration::from_millis(2));
            // The probe fails: open again, for twice as long.
            assert!(!is_caused_by::<Open>(&*call().unwrap_err()));
            open_for *= 2;
        }
    });
}
