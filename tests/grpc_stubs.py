"""The Python stubs of a .proto, generated with grpcio-tools into a fresh
temporary folder and imported: what each gRPC client script here starts with.
"""

import importlib
import sys
import tempfile

from grpc_tools import protoc


def load(proto_dir, proto):
    """`(messages, services)`: the modules grpcio-tools makes of `proto`
    (e.g. "addsvc.proto") found in `proto_dir`."""
    out = tempfile.mkdtemp()
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}",
                      f"--grpc_python_out={out}", proto])
    assert rc == 0, f"protoc failed on {proto}"
    sys.path.insert(0, out)
    name = proto.removesuffix(".proto")
    return importlib.import_module(f"{name}_pb2"), importlib.import_module(f"{name}_pb2_grpc")
