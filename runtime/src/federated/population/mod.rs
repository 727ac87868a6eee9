//! The population's systems behaviour: how fast each client works ([`speed`]) and
//! when it can be reached ([`availability`]), both seeded, both on the simulated
//! clock ([`time`](super::time)).

pub mod availability;
pub mod speed;

pub use availability::Availability;
pub use speed::{SpeedModel, SpeedTrace, SpeedTraceError};
