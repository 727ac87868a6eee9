//! Pins every compile error `#[federated_model]` emits, and those of the typed APIs it
//! enables such as `predict_proba` on a model of several outputs (`tests/ui/*.rs` with their
//! `.stderr`), and compiles the pass cases (`tests/ui/pass/*.rs`).
//! `TRYBUILD=overwrite cargo test --test ui` rewrites the `.stderr` files.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
