//! The Fleet API's protobuf messages, generated at build time from the descriptor set
//! vendored from `flwr==1.42.0` (`proto/flwr.fds.bin`; `proto/vendor.py` rewrites it).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/flwr.proto.rs"));
