//! `#[federated_model]`: turns a struct holding a dfdx module into a federated
//! model, checking at compile time what TensorFlow Federated's
//! `tff.learning.from_keras_model` checks at run time.
//!
//! The attribute is read in three stages, each in its own module:
//! [`parse`] reads the tokens into an [`ast::Attr`], [`validate`] checks it against
//! the struct and resolves an [`ast::Model`], and [`expand`] writes the
//! `feddx::FederatedModel` impl. Errors of the first two stages are collected and
//! reported together. See the `feddx` crate for the user-facing documentation.

extern crate proc_macro;

mod ast;
mod ctxt;
mod expand;
mod parse;
mod suggest;
mod validate;

use proc_macro::TokenStream;
use quote::ToTokens;
use syn::parse_macro_input;

/// Turns a struct holding a dfdx module into a `feddx::FederatedModel`.
///
/// See the `feddx` crate documentation for the keys and the errors.
#[proc_macro_attribute]
pub fn federated_model(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item = parse_macro_input!(input as syn::DeriveInput);
    let mut cx = ctxt::Ctxt::default();
    let attr = parse::attr(args.into(), &mut cx);
    let model = validate::model(attr, &mut item, &mut cx);
    let mut out = item.to_token_stream();
    match cx.finish(model) {
        Ok(Some(model)) => out.extend(expand::model(&model)),
        Ok(None) => {}
        Err(errors) => out.extend(errors.into_compile_error()),
    }
    out.into()
}
