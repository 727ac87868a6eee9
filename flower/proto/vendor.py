"""Writes the Fleet API's protobuf definitions, as shipped in the pinned flwr wheel, to
`flwr.fds.bin` beside this script: a `google.protobuf.FileDescriptorSet` holding every
`flwr/proto/*.proto` file the Fleet API needs, dependencies first.

Each `flwr/proto/*_pb2.py` in the wheel embeds its file's serialized descriptor; this
script collects them, so the crate's build needs neither the network nor `protoc`.

Usage (from the repository root):
    python3 -m venv /tmp/flwr && /tmp/flwr/bin/pip install flwr==1.42.0
    /tmp/flwr/bin/python flower/proto/vendor.py
"""
import importlib.metadata
import pathlib

from google.protobuf import descriptor_pb2

import flwr.proto.fleet_pb2 as fleet_pb2

PINNED = "1.42.0"
version = importlib.metadata.version("flwr")
if version != PINNED:
    raise SystemExit(f"flwr {version} is installed; the crate is pinned to {PINNED}")

files, seen = [], set()


def visit(fd):
    """Adds `fd` after its dependencies."""
    if fd.name in seen:
        return
    seen.add(fd.name)
    for dep in fd.dependencies:
        visit(dep)
    proto = descriptor_pb2.FileDescriptorProto()
    fd.CopyToProto(proto)
    files.append(proto)


visit(fleet_pb2.DESCRIPTOR)
fds = descriptor_pb2.FileDescriptorSet(file=files)
out = pathlib.Path(__file__).with_name("flwr.fds.bin")
out.write_bytes(fds.SerializeToString(deterministic=True))
(out.with_name("VERSION")).write_text(f"flwr=={version}\n")
print(f"wrote {out} ({len(files)} files: {', '.join(f.name for f in files)})")
