//! `#[federated_model]`: turns a struct holding a dfdx module into a federated
//! model, checking at compile time what TensorFlow Federated's
//! `tff.learning.from_keras_model` checks at run time.
//!
//! The attribute is read in three stages, each in its own module:
//! `parse` reads the tokens into an `ast::Attr`, `validate` checks it against the
//! struct and resolves an `ast::Model`, and `expand` writes the
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

/// Turns a struct holding a dfdx module into a `feddx::FederatedModel`.
///
/// See the `feddx` crate documentation for the keys and the errors.
#[proc_macro_attribute]
pub fn federated_model(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item = match syn::parse::<syn::DeriveInput>(input.clone()) {
        Ok(item) => item,
        Err(_) => return not_a_struct(input),
    };
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

/// The item unchanged, with an error at its first token: the attribute only goes
/// on structs (enums and unions are reported by `validate`).
fn not_a_struct(input: TokenStream) -> TokenStream {
    let tokens = proc_macro2::TokenStream::from(input);
    let first = tokens.clone().into_iter().next();
    let span = first.map_or_else(proc_macro2::Span::call_site, |t| t.span());
    let error = syn::Error::new(
        span,
        "`#[federated_model]` goes on a struct that holds a dfdx module",
    );
    let mut out = tokens;
    out.extend(error.into_compile_error());
    out.into()
}
