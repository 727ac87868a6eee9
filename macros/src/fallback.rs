//! The impl written when the attribute has a mistake (after thiserror's
//! `impl/src/fallback.rs`): `feddx::FederatedModel` with bodies that are never
//! reached, beside the attribute's errors.
//!
//! Without it, every later use of the struct (`Model::with_seed(0)`,
//! `Simulation::new(model, ..)`) would add an error of its own restating that the
//! struct is not a federated model; with it, only the attribute's errors show. The
//! program never runs: the errors stop the build.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Type};

/// The fallback impl for `item`. `spec` is the input spec `(X, Y)` when it was
/// written as two elements, so that code using the model's features and labels
/// type-checks as it will once the attribute is fixed; placeholders otherwise.
pub fn expand(item: &DeriveInput, spec: Option<(&Type, &Type)>) -> TokenStream {
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let x = match spec {
        Some((x, _)) => quote!(#x),
        None => quote!(::feddx::__private::FallbackFeatures),
    };
    let y = match spec {
        Some((_, y)) if labels_may_be_a_spec(y) => quote!(#y),
        _ => quote!(::feddx::__private::FallbackLabels),
    };
    // A generic struct is an error of its own; the bound keeps the impl from adding
    // "cannot be sent between threads" (a `for` bound, as trivial bounds are unstable).
    let bounds = (!item.generics.params.is_empty()).then(|| {
        let predicates = where_clause.map(|w| &w.predicates);
        let comma = predicates.filter(|p| !p.empty_or_trailing()).map(|_| quote!(,));
        let head = if where_clause.is_some() {
            quote!()
        } else {
            quote!(where)
        };
        quote!(#head #comma for<'__feddx> #ident #ty_generics: ::core::marker::Send + ::core::marker::Sync)
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics ::feddx::OneOutput for #ident #ty_generics #where_clause #bounds {}

        #[allow(unused_qualifications, unused_variables)]
        #[automatically_derived]
        impl #impl_generics ::feddx::FederatedModel for #ident #ty_generics #where_clause #bounds {
            type Module = ::feddx::__private::FallbackModule;
            type Features = #x;
            type Labels = #y;
            type Predictions = ::feddx::__private::FallbackPredictions;

            const OUTPUTS: &'static [&'static str] = &[];
            const LOSS_WEIGHTS: &'static [f32] = &[];

            fn build(_: &::feddx::tensor::Device) -> Self {
                ::core::unreachable!()
            }

            fn module(&self) -> &Self::Module {
                ::core::unreachable!()
            }

            fn module_mut(&mut self) -> &mut Self::Module {
                ::core::unreachable!()
            }

            fn forward_pass(
                &self,
                _: ::feddx::FeatureBatch<Self::Features, ::feddx::tensor::Traced>,
                _: &::feddx::LabelBatch<Self>,
            ) -> ::feddx::Result<::feddx::ForwardOutput<Self::Predictions, ::feddx::tensor::Traced>> {
                ::core::unreachable!()
            }

            fn evaluate_batch(
                &self,
                _: ::feddx::FeatureBatch<Self::Features>,
                _: &::feddx::LabelBatch<Self>,
            ) -> ::feddx::Result<::feddx::ForwardOutput<Self::Predictions>> {
                ::core::unreachable!()
            }

            fn predict_on_batch(&self, _: ::feddx::FeatureBatch<Self::Features>) -> Self::Predictions {
                ::core::unreachable!()
            }

            fn metrics_state(&self) -> ::feddx::MetricsState {
                ::core::unreachable!()
            }

            fn update_metrics(
                &self,
                _: &mut ::feddx::MetricsState,
                _: &Self::Predictions,
                _: &::feddx::LabelBatch<Self>,
                _: f32,
                _: usize,
            ) -> ::feddx::Result<()> {
                ::core::unreachable!()
            }

            fn finalize_metrics(&self, _: &::feddx::MetricsState) -> ::feddx::MetricValues {
                ::core::unreachable!()
            }
        }
    }
}

/// Whether `y` can be a label spec: a tuple of 2 to 6 (one per output), or any
/// other type. A tuple of another length is a mistake the attribute reports, and
/// would be reported again as "not a `LabelSpec`".
fn labels_may_be_a_spec(y: &Type) -> bool {
    match y {
        Type::Tuple(t) => (2..=6).contains(&t.elems.len()),
        _ => true,
    }
}
