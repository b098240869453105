//! Step 16's checkpoint: the service's `Set` served over gRPC (a real HTTP/2
//! listener), called with kit-grpc's client: a sum, a message that does not
//! decode (INVALID_ARGUMENT), a business error (INTERNAL without the
//! challenge). And the challenge: the business error crosses as itself.

use kit_endpoint::{ErrorClass, Request};
use kit_workshop::s01_service::{AddError, BasicService};
use kit_workshop::s02_endpoints::{Set, SumRequest};
use kit_workshop::s16_grpc::{router, sum_client};
use tonic::transport::Channel;
use tower::ServiceExt;

async fn serve(router: kit_grpc::Router) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(kit_grpc::serve(listener, router, std::future::pending()));
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

#[tokio::test]
async fn the_set_answers_over_grpc() {
    let channel = serve(router(Set::new(BasicService))).await;
    let sum = sum_client(channel.clone());
    let resp = sum
        .clone()
        .oneshot(Request::from_msg(SumRequest { a: 1, b: 2 }))
        .await
        .unwrap();
    assert_eq!(resp.v, 3);

    // Without the challenge, the business error is a failure to the client.
    let err = sum
        .oneshot(Request::from_msg(SumRequest { a: i64::MAX, b: 1 }))
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Upstream {
            caller_fault: false
        }
    );

    // Bytes that are not a SumRequest: the caller's fault.
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    // A message whose field 1 is a string where an int64 is expected.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Wrong {
        #[prost(string, tag = "1")]
        a: String,
    }
    let codec =
        tonic_prost::ProstCodec::<Wrong, kit_workshop::s16_grpc::pb::SumResponse>::default();
    let path = http::uri::PathAndQuery::from_static(kit_workshop::s16_grpc::SUM);
    let status = grpc
        .unary(tonic::Request::new(Wrong { a: "x".into() }), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn challenge_the_business_error_crosses_grpc_as_itself() {
    use kit_workshop::s16_challenge::{router, sum_client};
    let channel = serve(router(Set::new(BasicService))).await;
    let resp = sum_client(channel)
        .oneshot(Request::from_msg(SumRequest { a: i64::MAX, b: 1 }))
        .await
        .unwrap();
    assert_eq!(resp.err, Some(AddError::Overflow));
}
