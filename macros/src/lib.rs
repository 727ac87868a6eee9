//! `#[federated_model]`: turns a struct holding a dfdx module into a federated
//! model, checking at compile time what TensorFlow Federated's
//! `tff.learning.from_keras_model` checks at run time.
//!
//! The attribute is read in three stages, each in its own module:
//! `parse` reads the tokens into an `ast::Attr`, `validate` checks it against the
//! struct and resolves an `ast::Model`, and `expand` writes the
//! `feddx::FederatedModel` impl. Errors of the first two stages are collected and
//! reported together, beside a `fallback` impl whose bodies are never reached, so
//! that code using the struct adds no errors of its own. See the `feddx` crate for the user-facing documentation.

extern crate proc_macro;

mod ast;
mod builders;
mod checks;
mod ctxt;
mod expand;
mod fallback;
mod keras;
mod parse;
mod suggest;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;

#[cfg(test)]
mod tests;

/// Turns a struct holding a dfdx module into a `feddx::FederatedModel`.
///
/// See the `feddx` crate documentation for the keys and the errors.
#[proc_macro_attribute]
pub fn federated_model(
    args: proc_macro::TokenStream,
    input: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    federated_model_impl(args.into(), input.into()).into()
}

/// The attribute on `proc_macro2` tokens: parse, validate, expand. Every mistake
/// comes back as `compile_error!`s beside the item, never as a panic.
fn federated_model_impl(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item = match syn::parse2::<syn::DeriveInput>(input.clone()) {
        Ok(item) => item,
        Err(_) => return not_a_struct(input),
    };
    let mut cx = ctxt::Ctxt::default();
    let attr = parse::attr(args, &mut cx);
    let spec = attr.spec_types();
    let model = validate::model(attr, &mut item, &mut cx);
    let mut out = item.to_token_stream();
    match cx.finish(model) {
        Ok(Some(model)) => out.extend(expand::model(&model)),
        result => {
            if let Err(errors) = result {
                out.extend(errors.into_compile_error());
            }
            // With the attribute applied again, that application writes the impl.
            if !validate::applied_again(&item) {
                let spec = spec.as_ref().map(|(x, y)| (x, y));
                out.extend(fallback::expand(&item, spec));
            }
        }
    }
    out
}

/// The item unchanged, with an error at its first token: the attribute only goes
/// on structs (enums and unions are reported by `validate`).
fn not_a_struct(input: TokenStream) -> TokenStream {
    let first = input.clone().into_iter().next();
    let span = first.map_or_else(proc_macro2::Span::call_site, |t| t.span());
    let error = syn::Error::new(
        span,
        "`#[federated_model]` goes on a struct that holds a dfdx module",
    );
    let mut out = input;
    out.extend(error.into_compile_error());
    out
}
