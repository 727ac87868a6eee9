//! Stage 3: writes the `FederatedModel` impl for a checked [`Model`].
//!
//! The forward pass is written out twice, once on the recording tape and once
//! without, so each is plain monomorphic code: what a user would write by hand.
//! Checks the types must make are spanned at the user's tokens, so a failure
//! lands on the offending field, output list, label spec or loss; the checks that
//! name a loss or metric as written are in `checks`.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Type};

use crate::ast::Model;
use crate::checks::{
    apply_loss_fn, apply_metric_fn, is_a_metric, loss_check, metric_check, probe_metric,
};

/// The impl and the compile-time checks.
pub fn model(m: &Model) -> TokenStream {
    let ident = &m.ident;
    let module_ty = &m.module.ty;
    let member = &m.module.member;
    let x = &m.features;
    let y = &m.labels.ty;
    let names = m.outputs.iter().map(|o| &o.name);
    let weights = m.outputs.iter().map(|o| o.weight);
    let others = &m.other_fields;
    // Every use of the module goes through `Self`'s associated types and names its
    // output through `OutputFor` alone, spanned at the field's type, so that a field
    // type that is no module for `X` is one diagnostic there (see `impl_block`).
    let traced = quote!(::feddx::tensor::Traced);
    let forward_traced = forward(m, Form::Traced, Returns::Output);
    let loss_traced = forward(m, Form::Traced, Returns::Loss);
    let forward_plain = forward(m, Form::Plain, Returns::Output);
    let build_on = quote_spanned!(module_ty.span()=> ::feddx::__private::build::<Self>);
    let predict = forward_call(m, Form::Plain);
    let predictions = quote_spanned!(module_ty.span()=> <Self::Module as ::feddx::OutputFor<Self::Features>>::Output);
    let update = update_metrics(m);
    let finalize = finalize_metrics(m);
    let num_sums = m.outputs.iter().flat_map(|o| &o.metrics).map(|metric| {
        let probe = probe_metric(metric);
        quote!(+ { #probe ::feddx::MetricKind::num_sums(__m) })
    });
    let metric_checks = m.outputs.iter().flat_map(|o| &o.metrics).map(is_a_metric);
    let loss_checks = (0..m.outputs.len()).map(|k| loss_check(m, k));
    let metric_fns = m
        .outputs
        .iter()
        .enumerate()
        .flat_map(|(k, o)| (0..o.metrics.len()).map(move |j| metric_check(m, k, j)));
    let not_federated = quote_spanned! {module_ty.span()=>
        {
            #[allow(unused_imports)]
            use ::feddx::__private::{ProbeFederated as _, ProbeOther as _};
            ::feddx::__private::assert_not_federated((&::feddx::__private::Probe::<#module_ty>::new()).probe());
        }
    };
    // A federated model is no dfdx module. When another model's field holds it, the
    // two checks at that field (not a module; already a federated model) are what
    // the user needs, and this impl keeps dfdx's bounds from adding a third.
    let not_a_module = quote! {
        impl<__X: ::feddx::prelude::FeatureSpec> ::feddx::OutputFor<__X> for #ident {
            type Output = ::feddx::__private::FallbackPredictions;
        }
    };
    // Known from the attribute, so it holds whatever the module field is.
    let one_output = (m.outputs.len() == 1).then(|| quote!(impl ::feddx::OneOutput for #ident {}));
    // The impl's own tokens are spanned at the module field's type: a field type that
    // is no module for `X` fails where the impl names the module's output, and each
    // such failure is then the same diagnostic at the user's token, which rustc
    // reports once.
    let impl_block = quote_spanned! {module_ty.span()=>
        impl ::feddx::FederatedModel for #ident {
            type Module = #module_ty;
            type Features = #x;
            type Labels = #y;
            type Predictions = #predictions;

            const OUTPUTS: &'static [&'static str] = &[#(#names),*];
            const LOSS_WEIGHTS: &'static [f32] = &[#(#weights),*];

            fn build(__feddx_device: &::feddx::tensor::Device) -> Self {
                Self {
                    #member: #build_on(__feddx_device),
                    #(#others: ::core::default::Default::default(),)*
                }
            }

            #[inline]
            fn module(&self) -> &Self::Module {
                &self.#member
            }

            #[inline]
            fn module_mut(&mut self) -> &mut Self::Module {
                &mut self.#member
            }

            fn forward_pass(
                &self,
                __feddx_x: ::feddx::FeatureBatch<#x, #traced>,
                __feddx_y: &::feddx::LabelBatch<Self>,
            ) -> ::feddx::Result<::feddx::ForwardOutput<Self::Predictions, #traced>> {
                #forward_traced
            }

            fn training_loss(
                &self,
                __feddx_x: ::feddx::FeatureBatch<#x, #traced>,
                __feddx_y: &::feddx::LabelBatch<Self>,
            ) -> ::feddx::Result<::feddx::tensor::Scalar<#traced>> {
                #loss_traced
            }

            fn evaluate_batch(
                &self,
                __feddx_x: ::feddx::FeatureBatch<#x>,
                __feddx_y: &::feddx::LabelBatch<Self>,
            ) -> ::feddx::Result<::feddx::ForwardOutput<Self::Predictions>> {
                #forward_plain
            }

            #[inline]
            fn predict_on_batch(&self, __feddx_x: ::feddx::FeatureBatch<#x>) -> Self::Predictions {
                #predict(&self.#member, __feddx_x)
            }

            fn metrics_state(&self) -> ::feddx::MetricsState {
                ::feddx::MetricsState::new(0 #(#num_sums)*)
            }

            #update
            #finalize
        }
    };
    quote! {
        const _: () = {
        // Per output, its loss and metrics with the checks that they fit it, in
        // the attribute's words.
        #(#loss_checks)*
        #(#metric_fns)*

        #[allow(dead_code)]
        fn __feddx_checks() {
            #not_federated
            #(#metric_checks)*
        }

        #impl_block
        #one_output
        #not_a_module
        };
    }
}

/// `__p0, __p1, ...`
fn idents(prefix: &str, n: usize) -> Vec<Ident> {
    (0..n).map(|k| format_ident!("__{}{}", prefix, k)).collect()
}

/// The spec of output `k`'s labels.
fn label_spec(m: &Model, k: usize) -> TokenStream {
    let y = &m.labels.ty;
    match (&m.labels.parts, m.outputs.len()) {
        (Some(parts), _) => {
            let part: &Type = &parts[k];
            quote!(#part)
        }
        (None, 1) => quote!(#y),
        (None, n) => quote_spanned! {y.span()=>
            <<#y as ::feddx::__private::HasLabels<#n>>::Specs as ::feddx::__private::LabelAt<#k>>::Spec
        },
    }
}

/// Which form of the module's output a body splits.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// The traced output, by value.
    Traced,
    /// The untraced output, by value.
    Plain,
    /// The untraced output, borrowed.
    Borrowed,
}

/// Splits the module output and the labels into per-output bindings.
///
/// Every split names the untraced `Self::Predictions` and is preceded by the same
/// check at the same span, so a wrong output count is one error in one body and the
/// same error in every other, which rustc reports once.
fn split(m: &Model, out: &str, form: Form) -> TokenStream {
    let y = &m.labels.ty;
    let n = m.outputs.len();
    let p = idents("p", n);
    let ys = idents("y", n);
    let span = m.outputs_span;
    let out = Ident::new(out, span);
    let private = quote_spanned!(span=> ::feddx::__private);
    let (check, split_outputs) = if m.outputs_declared {
        let f = match form {
            Form::Traced => quote_spanned!(span=> split_traced_outputs),
            Form::Plain => quote_spanned!(span=> split_outputs),
            Form::Borrowed => quote_spanned!(span=> output_parts),
        };
        (
            quote_spanned!(span=> #private::check_outputs::<Self::Predictions, #n>();),
            quote_spanned!(span=> #private::#f::<Self::Predictions, #n>(#out)),
        )
    } else {
        let f = match form {
            Form::Traced => quote_spanned!(span=> single_traced_output),
            Form::Plain => quote_spanned!(span=> single_output),
            Form::Borrowed => quote_spanned!(span=> single_output_ref),
        };
        (
            quote_spanned!(span=> #private::check_single_output::<Self::Predictions>();),
            quote_spanned!(span=> #private::#f::<Self::Predictions>(#out)),
        )
    };
    let split_labels =
        quote_spanned!(y.span()=> ::feddx::__private::label_parts::<#y, #n>(__feddx_y));
    quote! {
        #check
        let (#(#p,)*) = #split_outputs;
        let (#(#ys,)*) = #split_labels;
    }
}

/// The module's forward pass on the tape of `form`, spanned at the module field's
/// type (see `model`).
fn forward_call(m: &Model, form: Form) -> TokenStream {
    let span = m.module.ty.span();
    match form {
        Form::Traced => quote_spanned!(span=> ::feddx::__private::forward_traced::<Self>),
        Form::Plain | Form::Borrowed => {
            quote_spanned!(span=> ::feddx::__private::forward_untraced::<Self>)
        }
    }
}

/// What a forward body returns.
#[derive(Clone, Copy, PartialEq)]
enum Returns {
    /// A `ForwardOutput`: predictions (kept aside before the loss), loss, examples.
    Output,
    /// The loss alone, so the outputs' buffers are reused by the loss ops.
    Loss,
}

/// The body of `forward_pass`, `evaluate_batch` or `training_loss`.
fn forward(m: &Model, form: Form, returns: Returns) -> TokenStream {
    let member = &m.module.member;
    let y = &m.labels.ty;
    let n = m.outputs.len();
    let call = forward_call(m, form);
    let tape = match form {
        Form::Traced => quote!(::feddx::tensor::Traced),
        Form::Plain | Form::Borrowed => quote!(::feddx::__private::dfdx::prelude::NoneTape),
    };
    let split = split(m, "__out", form);
    let out = quote_spanned!(m.module.ty.span()=> let __out = #call(&self.#member, __feddx_x););
    let (p, ys, l) = (idents("p", n), idents("y", n), idents("l", n));
    let losses = m.outputs.iter().enumerate().map(|(k, o)| {
        let (pk, yk, lk) = (&p[k], &ys[k], &l[k]);
        let loss: &Expr = &o.loss;
        let spec = label_spec(m, k);
        let apply_fn = apply_loss_fn(k);
        let apply = quote_spanned! {loss.span()=>
            #apply_fn::<_, #spec, _, #tape>(#pk, #yk, &(#loss))
        };
        quote!(let #lk = #apply?;)
    });
    let weighted = m.outputs.iter().zip(&l).map(|(o, lk)| {
        let w = o.weight;
        if w == 1.0 {
            quote!(#lk)
        } else {
            quote!((#lk * #w))
        }
    });
    let (keep, result) = match returns {
        Returns::Output => (
            quote!(let __predictions = ::feddx::__private::Detach::detached(&__out);),
            quote! {
                ::feddx::ForwardOutput {
                    predictions: __predictions,
                    loss: #(#weighted)+*,
                    num_examples: __rows,
                }
            },
        ),
        Returns::Loss => (quote!(), quote!(#(#weighted)+*)),
    };
    quote! {
        let __rows = ::feddx::__private::rows(&__feddx_x);
        ::feddx::__private::check_batch::<#y>(Self::OUTPUTS, __rows, __feddx_y)?;
        #out
        #keep
        #split
        #(#losses)*
        Ok(#result)
    }
}

/// `update_metrics`: the loss and every metric of every output.
fn update_metrics(m: &Model) -> TokenStream {
    let n = m.outputs.len();
    let split = split(m, "__feddx_predictions", Form::Borrowed);
    let (p, ys) = (idents("p", n), idents("y", n));
    let updates = m.outputs.iter().enumerate().flat_map(|(k, o)| {
        let (pk, yk) = (&p[k], &ys[k]);
        let spec = label_spec(m, k);
        o.metrics.iter().enumerate().map(move |(j, metric)| {
            let apply_fn = apply_metric_fn(k, j);
            let apply = quote_spanned! {metric.span()=>
                #apply_fn::<_, #spec, _>(#pk, #yk, __m, &mut __feddx_state.sums[__at..__at + __n])
            };
            let probe = probe_metric(metric);
            quote! {
                #probe
                let __n = ::feddx::MetricKind::num_sums(__m);
                #apply?;
                __at += __n;
            }
        })
    });
    quote_spanned! {m.module.ty.span()=>
        #[allow(unused_variables, unused_mut)]
        fn update_metrics(
            &self,
            __feddx_state: &mut ::feddx::MetricsState,
            __feddx_predictions: &Self::Predictions,
            __feddx_y: &::feddx::LabelBatch<Self>,
            __feddx_loss: f32,
            __feddx_num_examples: usize,
        ) -> ::feddx::Result<()> {
            __feddx_state.record_batch(__feddx_loss, __feddx_num_examples);
            #split
            let mut __at = 0usize;
            #(#updates)*
            Ok(())
        }
    }
}

/// `finalize_metrics`: loss, counts, then each metric by name.
fn finalize_metrics(m: &Model) -> TokenStream {
    let several = m.outputs.len() > 1;
    let values = m.outputs.iter().flat_map(|o| {
        let prefix = if several {
            format!("{}/", o.name)
        } else {
            String::new()
        };
        o.metrics.iter().map(move |metric| {
            let probe = probe_metric(metric);
            quote! {
                #probe
                let __n = ::feddx::MetricKind::num_sums(__m);
                __values.push(
                    ::std::format!("{}{}", #prefix, ::feddx::MetricKind::name(__m)),
                    ::feddx::MetricKind::finalize(__m, &__feddx_state.sums[__at..__at + __n]),
                );
                __at += __n;
            }
        })
    });
    quote! {
        #[allow(unused_mut)]
        fn finalize_metrics(&self, __feddx_state: &::feddx::MetricsState) -> ::feddx::MetricValues {
            let mut __values = ::feddx::MetricValues::default();
            __values.push("loss", __feddx_state.mean_loss());
            __values.push("num_examples", __feddx_state.num_examples as f64);
            __values.push("num_batches", __feddx_state.num_batches as f64);
            let mut __at = 0usize;
            #(#values)*
            __values
        }
    }
}
