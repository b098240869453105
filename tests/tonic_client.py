"""A gRPC client nobody at kit wrote (Python's grpcio) calling the plain tonic
example (examples/tonic-alacarte) with stringsvc's API.

Usage: python tonic_client.py HOST:PORT STRINGSVC_PROTO_DIR CALLS

Generates the Python stubs from stringsvc's .proto with grpcio-tools, makes
CALLS Uppercase calls one after the other, and prints one line per call:
`ok=<value> request_id=<id>` or `<CODE> pushback_ms=<ms or ->`;
tests/tests/tonic_alacarte.rs reads them.
"""

import sys

import grpc

import grpc_stubs


def main():
    target, proto_dir, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pb, stubs = grpc_stubs.load(proto_dir, "stringsvc.proto")
    strings = stubs.StringsStub(grpc.insecure_channel(target))
    for _ in range(calls):
        try:
            resp, call = strings.Uppercase.with_call(pb.UppercaseRequest(s="hi"), timeout=5)
            request_id = dict(call.initial_metadata()).get("x-request-id")
            print(f"ok={resp.v} request_id={request_id}")
        except grpc.RpcError as err:
            trailing = dict(err.trailing_metadata() or ())
            print(f"{err.code().name} pushback_ms={trailing.get('grpc-retry-pushback-ms', '-')}")


if __name__ == "__main__":
    main()
