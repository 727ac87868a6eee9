//! Generates the Fleet API's protobuf types from the descriptor set vendored from the
//! pinned flwr wheel (`proto/flwr.fds.bin`, written by `proto/vendor.py`): no network,
//! no `protoc`.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = "proto/flwr.fds.bin";
    println!("cargo:rerun-if-changed={path}");
    let bytes = std::fs::read(path)?;
    let fds = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
