"""A gRPC client nobody at kit wrote (Python's grpcio) calling addsvc over gRPC.

Usage: python grpc_client.py ADDSVC_HOST:PORT ADDSVC_PROTO_DIR [CA_PEM]

With CA_PEM, the channel is TLS (grpc.ssl_channel_credentials), trusting that
CA, for a server certificate that names `localhost`.

Generates the Python stubs from addsvc's .proto with grpcio-tools, runs a fixed
set of calls, and prints one `name=result` line per call; tests/tests/grpc.rs
compares them with what addsvc must answer.
"""

import concurrent.futures
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import grpc_stubs


def status(err):
    return f"{err.code().name}:{err.details()}"


def main():
    target, proto_dir = sys.argv[1], sys.argv[2]
    pb, stubs = grpc_stubs.load(proto_dir, "addsvc.proto")

    if len(sys.argv) > 3:
        with open(sys.argv[3], "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(
            target, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
    else:
        channel = grpc.insecure_channel(target)
    add = stubs.AddStub(channel)
    results = []

    resp, call = add.Sum.with_call(pb.SumRequest(a=1, b=2), timeout=5,
                                   metadata=[("x-request-id", "py-1")])
    echoed = dict(call.initial_metadata()).get("x-request-id")
    results.append(f"sum={resp.v} request_id={echoed}")
    for name, req in [("overflow", pb.SumRequest(a=2**63 - 1, b=1))]:
        try:
            add.Sum(req, timeout=5)
            results.append(f"{name}=OK")
        except grpc.RpcError as e:
            results.append(f"{name}={status(e)}")
    results.append(f"concat={add.Concat(pb.ConcatRequest(a='go', b='kit'), timeout=5).v}")
    try:
        add.Concat(pb.ConcatRequest(a="", b=""), timeout=5)
        results.append("empty=OK")
    except grpc.RpcError as e:
        results.append(f"empty={status(e)}")

    # Bytes that are not a SumRequest: field 1 as a truncated varint.
    raw = channel.unary_unary("/addsvc.Add/Sum", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    try:
        raw(b"\x08\xff\xff", timeout=5)
        results.append("garbage=OK")
    except grpc.RpcError as e:
        results.append(f"garbage={e.code().name}")

    try:
        channel.unary_unary("/addsvc.Add/Nothing", request_serializer=lambda b: b,
                            response_deserializer=lambda b: b)(b"", timeout=5)
        results.append("unknown_method=OK")
    except grpc.RpcError as e:
        results.append(f"unknown_method={e.code().name}")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        sums = list(pool.map(lambda i: add.Sum(pb.SumRequest(a=i, b=i), timeout=10).v, range(100)))
    results.append(f"concurrent={'ok' if sums == [2 * i for i in range(100)] else sums}")

    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "addsvc.Add"]:
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        results.append(f"health[{service}]={health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}")
    try:
        health.Check(health_pb2.HealthCheckRequest(service="nope.Nope"), timeout=5)
        results.append("health[nope]=OK")
    except grpc.RpcError as e:
        results.append(f"health[nope]={e.code().name}")

    print("\n".join(results))


if __name__ == "__main__":
    main()
