"""Python's grpcio calling the service `cargo kit new` generates from
cargo-kit/tests/data/catalog.rs, through stubs made from the generated .proto.

Usage: python generated_client.py HOST:PORT PROTO_DIR

The generated service answers every method "not implemented" until written:
a call whose request decodes reaches it (UNIMPLEMENTED), one that does not
is refused first (INVALID_ARGUMENT). Prints one `name=CODE:details` line per
call; .ci/generate.sh compares them with what the service must answer.
"""

import sys

import grpc

import grpc_stubs


def main():
    target, proto_dir = sys.argv[1], sys.argv[2]
    pb, stubs = grpc_stubs.load(proto_dir, "catalog.proto")
    catalog = stubs.CatalogStub(grpc.insecure_channel(target))

    item = pb.Item(
        name="héllo", price=2.25, weight=1.5, stock=7, rank=-7, sold=-9_000_000_000,
        available=True, kind=pb.KIND_TOY, also=[pb.KIND_BOOK], tags=["a", "b"],
        note="n", supplier=pb.Supplier(name="s", favourite=pb.KIND_BOOK),
        parts=[pb.Part(name="p", count=2)], sizes=[1, 2, 3])
    calls = [
        ("Add(full)", catalog.Add, pb.AddRequest(item=item)),
        ("Add(empty)", catalog.Add, pb.AddRequest()),
        ("Get", catalog.Get, pb.GetRequest(id=1)),
        ("Search(empty)", catalog.Search, pb.SearchRequest()),
        ("Remove", catalog.Remove, pb.RemoveRequest(id=1)),
        ("Has", catalog.Has, pb.HasRequest(name="x")),
        ("Price", catalog.Price, pb.PriceRequest(id=1)),
        ("Kinds", catalog.Kinds, pb.KindsRequest(available=True)),
        ("Add(kind 0)", catalog.Add, pb.AddRequest(item=pb.Item(name="x"))),
    ]
    for name, method, request in calls:
        try:
            method(request, timeout=5)
            print(f"{name}=OK")
        except grpc.RpcError as err:
            print(f"{name}={err.code().name}:{err.details()}")


if __name__ == "__main__":
    main()
