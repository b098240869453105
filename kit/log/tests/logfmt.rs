//! logfmt output: exact lines for tricky values, and every line checked by a
//! real logfmt parser (the `logfmt` npm package, see `kit_tests::external`).

use kit_endpoint::{BoxError, Context, Request, RequestId, endpoint_fn};
use kit_log::{Logfmt, LoggingLayer, Memory};
use slog::{Drain, Logger, info, o, warn};
use tower::{Layer, ServiceExt};

fn logger(sink: &Memory) -> Logger {
    Logger::root(
        Logfmt::new(sink.clone()).without_timestamps().fuse(),
        o!("svc" => "test"),
    )
}

/// What a parser that takes the character after a `\` literally (as the npm
/// `logfmt` package does) reads back from kit's escaping of `value`.
fn as_parsed(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\n' => out.push('n'),
            '\r' => out.push('r'),
            '\t' => out.push('t'),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{a0}') => {
                out.push_str(&format!("u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Tricky values give exactly these lines, and parse back to the same fields.
#[test]
fn tricky_values_cannot_forge_fields_or_lines() {
    let sink = Memory::new();
    let log = logger(&sink);
    let cases: Vec<(&str, &str)> = vec![
        ("plain", "plain"),
        ("", r#""""#),
        ("two words", r#""two words""#),
        ("k=v", r#""k=v""#),
        (r#"say "hi""#, r#""say \"hi\"""#),
        (r"C:\path", r#""C:\\path""#),
        (
            "x\nts=0 level=crit msg=forged",
            r#""x\nts=0 level=crit msg=forged""#,
        ),
        ("cr\rlf", r#""cr\rlf""#),
        ("tab\there", r#""tab\there""#),
        ("bell\u{7}nul\0", r#""bell\u0007nul\u0000""#),
        ("line\u{2028}sep", r#""line\u2028sep""#),
        ("héllo wörld ✓", r#""héllo wörld ✓""#),
        ("trailing\\", r#""trailing\\""#),
        ("\"", r#""\"""#),
    ];
    for (value, _) in &cases {
        info!(log, "tricky"; "v" => *value, "after" => "intact");
    }
    let lines = sink.lines();
    assert_eq!(
        lines.len(),
        cases.len(),
        "a value produced an extra line: {lines:#?}"
    );
    for ((_, escaped), line) in cases.iter().zip(&lines) {
        let caller = line.split(' ').nth(1).expect("a caller field").to_owned();
        assert_eq!(
            line,
            &format!("level=info {caller} msg=tricky v={escaped} after=intact svc=test")
        );
    }

    let Some(parsed) = kit_tests::external::parse_logfmt(&lines) else {
        return;
    };
    for ((value, _), fields) in cases.iter().zip(&parsed) {
        assert_eq!(
            fields.keys(),
            ["level", "caller", "msg", "v", "after", "svc"],
            "{fields:?}"
        );
        assert_eq!(
            fields["v"].as_str(),
            Some(as_parsed(value).as_str()),
            "{fields:?}"
        );
        assert_eq!(fields["after"], "intact");
    }
}

/// Keys keep their written order, then the logger context innermost first;
/// unusable key characters become `_`; `None` is `null`; non-UTF-8 bytes are replaced.
#[test]
fn key_order_context_none_and_bytes() {
    let sink = Memory::new();
    let log = logger(&sink).new(o!("transport" => "HTTP"));
    warn!(log, ""; "z" => 1, "a" => 2, "m" => 3, "bad key=x" => "v", "none" => None::<u8>, "bytes" => &b"ok\xffno"[..]);
    let line = &sink.lines()[0];
    let rest = line.split_once(' ').unwrap().1.split_once(' ').unwrap().1;
    assert_eq!(
        rest,
        "z=1 a=2 m=3 bad_key_x=v none=null bytes=ok\u{fffd}no transport=HTTP svc=test"
    );
    assert!(line.starts_with("level=warn caller=logfmt.rs:"), "{line}");
    if let Some(parsed) = kit_tests::external::parse_logfmt(&sink.lines()) {
        assert_eq!(
            parsed[0].keys(),
            [
                "level",
                "caller",
                "z",
                "a",
                "m",
                "bad_key_x",
                "none",
                "bytes",
                "transport",
                "svc"
            ]
        );
    }
}

/// A response that may carry a business error (`Err`).
type Resp = Result<(), std::io::Error>;

/// The logging layer writes one line per call: success, business error, failure,
/// each with the request ID; all lines parse.
#[tokio::test]
async fn the_logging_layer_tells_business_errors_from_failures() {
    let sink = Memory::new();
    let ep = endpoint_fn(|req: Request<u8>| async move {
        match req.msg() {
            0 => Ok(Ok(())),
            1 => Ok(Err(std::io::Error::other("integer overflow"))),
            _ => Err::<Resp, BoxError>("upstream unreachable: connection refused".into()),
        }
    });
    let ep = LoggingLayer::new(logger(&sink), "sum").layer(ep);
    for n in 0..3 {
        let ctx = Context::new().with_request_id(RequestId::parse(&format!("req-{n}")).unwrap());
        let _ = ep.clone().oneshot(Request::new(ctx, n)).await;
    }
    let lines = sink.lines();
    assert_eq!(lines.len(), 3);
    let tail = |i: usize| {
        let l = &lines[i];
        let took = l.find(" took=").unwrap();
        let after = l[took + 6..].find(' ').unwrap() + took + 6;
        (l[..took].to_owned(), l[after..].to_owned())
    };
    // No `caller=`: kit's own file is not the service's code.
    assert_eq!(
        tail(0).0,
        "level=info method=sum request_id=req-0",
        "{}",
        lines[0]
    );
    assert_eq!(tail(0).1, " err=null svc=test");
    assert_eq!(
        tail(1).1,
        r#" err="integer overflow" err_kind=business svc=test"#
    );
    assert!(tail(2).0.starts_with("level=warn"));
    assert_eq!(
        tail(2).1,
        r#" err="upstream unreachable: connection refused" err_kind=failure svc=test"#
    );
    if let Some(parsed) = kit_tests::external::parse_logfmt(&lines) {
        for (i, fields) in parsed.iter().enumerate() {
            assert_eq!(fields["method"], "sum");
            assert_eq!(fields["request_id"], format!("req-{i}"));
            assert!(fields["took"].as_str().unwrap().ends_with('s'));
        }
        assert_eq!(parsed[2]["err_kind"], "failure");
    }
}

/// A call cut off by an outer deadline (its future dropped) is still logged,
/// once, as cancelled, with its request ID.
#[tokio::test(start_paused = true)]
async fn a_call_cut_off_by_its_deadline_is_logged_as_cancelled() {
    let sink = Memory::new();
    let slow = endpoint_fn(|_req: Request<()>| async {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        Ok::<Resp, BoxError>(Ok(()))
    });
    let ep = tower::ServiceBuilder::new()
        .layer(kit_endpoint::DeadlineLayer::new())
        .layer(LoggingLayer::new(logger(&sink), "slow"))
        .service(slow);
    let ctx = Context::new()
        .with_request_id(RequestId::parse("req-9").unwrap())
        .with_timeout(std::time::Duration::from_secs(1));
    let err = ep.oneshot(Request::new(ctx, ())).await.unwrap_err();
    assert!(kit_endpoint::is_caused_by::<kit_endpoint::DeadlineExceeded>(&*err));
    let lines = sink.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("method=slow request_id=req-9")
            && lines[0].contains("err=cancelled err_kind=cancelled"),
        "{}",
        lines[0]
    );
}

/// A sampled call's line carries its trace and span IDs; an unsampled call's
/// line carries neither (nothing from the trace header itself ever reaches
/// the line: the IDs are written from bytes, as hex).
#[tokio::test]
async fn sampled_calls_log_their_trace_and_span_ids() {
    let sink = Memory::new();
    let ep = endpoint_fn(|_: Request<u8>| async { Ok::<Resp, BoxError>(Ok(())) });
    let ep = LoggingLayer::new(logger(&sink), "sum").layer(ep);
    let sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for tp in [sampled, &sampled.replace("-01", "-00")] {
        let trace = kit_endpoint::TraceContext::parse(tp, None).unwrap();
        let ctx = Context::new().with_trace(trace);
        ep.clone()
            .oneshot(Request::new(ctx, 0))
            .await
            .unwrap()
            .unwrap();
    }
    let lines = sink.lines();
    assert!(
        lines[0].ends_with(
            " err=null trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331 svc=test"
        ),
        "{}",
        lines[0]
    );
    assert!(!lines[1].contains("trace_id"), "{}", lines[1]);
}
