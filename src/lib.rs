pub use feddx_runtime::*;
