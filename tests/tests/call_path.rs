//! kit's three servers (HTTP, gRPC, NATS) run one call path: the same
//! endpoint, fed the same inputs through each, meets the same hooks in the
//! same order, and each error is answered with the same class whatever the
//! transport (a lost business error as internal on all three).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kit_endpoint::{BadRequest, BoxError, Context, ErrorClass, Failer, Request, endpoint_fn};
use tower::ServiceExt;

/// The endpoint's response: a number, or a business error.
struct Answer {
    v: i64,
    /// The business error, if any.
    err: Option<BadRequest>,
    /// A business error that shows at the first look only (a `Failer` that
    /// is not deterministic): the call path sees it, the encoder does not.
    lost: AtomicBool,
}

impl Failer for Answer {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        if self.lost.swap(false, Ordering::Relaxed) {
            return Some(&Lost);
        }
        self.err.as_ref().map(|e| e as _)
    }
}

/// The business error that is lost.
#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lost")
    }
}

impl std::error::Error for Lost {}

/// What each input makes the endpoint do, and the class every transport must
/// answer with (`None`: success).
const CASES: [(&str, Option<ErrorClass>); 6] = [
    ("1", None),
    ("2", Some(ErrorClass::InvalidArgument)), // a business error
    ("3", Some(ErrorClass::Internal)),        // the endpoint fails
    ("4", Some(ErrorClass::Internal)),        // the endpoint panics
    ("5", Some(ErrorClass::Internal)),        // a business error that is lost
    ("x", Some(ErrorClass::InvalidArgument)), // does not decode
];

/// What the endpoint and the hooks saw, in order.
type Journal = Arc<Mutex<Vec<String>>>;

fn endpoint(
    journal: Journal,
) -> impl tower::Service<
    Request<i64>,
    Response = Answer,
    Error = BoxError,
    Future = impl Future<Output = Result<Answer, BoxError>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    endpoint_fn(move |req: Request<i64>| {
        let transport = req.ctx().transport().unwrap_or("none");
        journal
            .lock()
            .unwrap()
            .push(format!("endpoint {transport}"));
        let n = *req.msg();
        async move {
            let answer = |err| Answer {
                v: n,
                err,
                lost: AtomicBool::new(n == 5),
            };
            match n {
                2 => Ok(answer(Some(BadRequest::new("two is not allowed")))),
                3 => Err("the endpoint failed".into()),
                4 => panic!("the endpoint panicked on purpose"),
                _ => Ok(answer(None)),
            }
        }
    })
}

fn parse(bytes: &[u8]) -> Result<i64, BoxError> {
    let text = std::str::from_utf8(bytes)?;
    text.parse::<i64>()
        .map_err(|e| BadRequest::new(format!("not a number: {e}")).into())
}

/// Each hook notes itself in the journal: before, error handler, after,
/// finalizer, with what it was given.
macro_rules! journaled {
    ($server:expr, $journal:expr, $status:expr) => {{
        let (b, h, a, f) = (
            $journal.clone(),
            $journal.clone(),
            $journal.clone(),
            $journal.clone(),
        );
        $server
            .before(move |_, ctx: &mut Context| {
                b.lock().unwrap().push("before".into());
                ctx.metadata_mut().insert("seen-by", "before").unwrap();
            })
            .error_handler(move |ctx: &Context, err| {
                let by = ctx.metadata().get("seen-by").unwrap_or("-");
                h.lock()
                    .unwrap()
                    .push(format!("error handler {err} ({by})"));
            })
            .after(move |_, _| a.lock().unwrap().push("after".into()))
            .finalizer(move |_, out| {
                let status = $status(out);
                f.lock().unwrap().push(format!("finalizer {status}"))
            })
    }};
}

/// The journal of serving every case, one case after the other, and the class
/// each answer stands for.
type Served = (Vec<String>, Vec<Option<ErrorClass>>);

async fn over_http() -> Served {
    let journal = Journal::default();
    let server = kit_transport::Server::new(
        endpoint(journal.clone()),
        |_: &http::request::Parts, body: Bytes| parse(&body),
        |_: &Context, a: Answer| Ok(http::Response::new(a.v.to_string().into())),
    );
    let server = journaled!(server, journal, |r: &http::Response<
        kit_transport::Body,
    >| r.status().as_u16());
    let mut classes = Vec::new();
    for (input, _) in CASES {
        let req = http::Request::post("/n")
            .body(kit_transport::Body::from(input))
            .unwrap();
        let resp = server.clone().oneshot(req).await.unwrap();
        classes.push(match resp.status().as_u16() {
            200 => None,
            400 => Some(ErrorClass::InvalidArgument),
            500 => Some(ErrorClass::Internal),
            other => panic!("unexpected status {other}"),
        });
    }
    let journal = journal.lock().unwrap().clone();
    (journal, classes)
}

async fn over_grpc() -> Served {
    let journal = Journal::default();
    let server = kit_grpc::Server::new(
        endpoint(journal.clone()),
        |msg: String| parse(msg.as_bytes()),
        |_: &Context, a: Answer| Ok(a.v),
    );
    let code = |out: Result<(), &kit_grpc::Status>| match out {
        Ok(()) => 0,
        Err(status) => status.code() as i32,
    };
    let server = journaled!(server, journal, code);
    let mut classes = Vec::new();
    for (input, _) in CASES {
        let out = server.serve(tonic::Request::new(input.to_owned())).await;
        classes.push(out.err().map(|s| match s.code() {
            kit_grpc::Code::InvalidArgument => ErrorClass::InvalidArgument,
            kit_grpc::Code::Internal => ErrorClass::Internal,
            other => panic!("unexpected code {other:?}"),
        }));
    }
    let journal = journal.lock().unwrap().clone();
    (journal, classes)
}

async fn over_nats() -> Served {
    let journal = Journal::default();
    let server = kit_nats::Server::new(
        endpoint(journal.clone()),
        |_: Option<&async_nats::HeaderMap>, payload: &[u8]| parse(payload),
        |_: &Context, a: Answer| Ok(Bytes::from(a.v.to_string())),
    );
    let class = |reply: &kit_nats::Reply| {
        reply
            .headers
            .get(kit_nats::ERROR_CLASS)
            .map_or("ok", |c| c.as_str())
            .to_owned()
    };
    let server = journaled!(server, journal, class);
    let mut classes = Vec::new();
    for (input, _) in CASES {
        let msg = async_nats::Message {
            subject: "n".into(),
            reply: Some("inbox".into()),
            payload: Bytes::from(input),
            headers: None,
            status: None,
            description: None,
            length: input.len(),
        };
        let reply = server.serve(&msg).await;
        let class = reply.headers.get(kit_nats::ERROR_CLASS);
        classes.push(class.map(|c| ErrorClass::parse(c.as_str()).unwrap()));
    }
    let journal = journal.lock().unwrap().clone();
    (journal, classes)
}

/// The hooks run in go-kit's order on every transport, the error handler is
/// told of every error (refusals, failures, panics, business errors) with the
/// context the before hooks made, and the endpoint sees which transport the
/// call came by.
#[tokio::test]
async fn three_transports_one_call_path() {
    let want: Vec<Option<ErrorClass>> = CASES.iter().map(|(_, class)| *class).collect();
    let mut journals = Vec::new();
    for (name, (journal, classes)) in [
        ("HTTP", over_http().await),
        ("gRPC", over_grpc().await),
        ("NATS", over_nats().await),
    ] {
        assert_eq!(classes, want, "{name}: the classes answered");
        // The endpoint saw its transport; the rest is the same everywhere.
        let endpoint_line = format!("endpoint {name}");
        assert_eq!(
            journal.iter().filter(|l| **l == endpoint_line).count(),
            5,
            "{name}: {journal:?}"
        );
        let same: Vec<String> = journal
            .into_iter()
            .map(|l| {
                if l == endpoint_line {
                    "endpoint".into()
                } else {
                    l
                }
            })
            // Finalizers see each transport's own answer.
            .map(|l| match l.strip_prefix("finalizer ") {
                Some(_) => "finalizer".into(),
                None => l,
            })
            .collect();
        journals.push(same);
    }
    let handled = |err: &str| format!("error handler {err} (before)");
    let mut want = Vec::new();
    for (input, class) in CASES {
        want.push("before".to_owned());
        if input != "x" {
            want.push("endpoint".into());
        }
        match input {
            "2" => want.push(handled("two is not allowed")),
            "3" => want.push(handled("the endpoint failed")),
            "4" | "5" => want.push(handled("internal error")),
            "x" => want.push(handled("not a number: invalid digit found in string")),
            _ => assert!(class.is_none()),
        }
        want.push("after".into());
        want.push("finalizer".into());
    }
    for journal in journals {
        assert_eq!(journal, want);
    }
}
