//! Client data: the examples each client keeps, and how they are batched.

mod client;

pub use client::ClientData;
