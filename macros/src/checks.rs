//! The checks the expansion writes where types decide: that each output's loss and
//! metrics fit it, and that a metric value is a metric at all. Each is a trait whose
//! `#[diagnostic::on_unimplemented]` message names the value as the user wrote it,
//! and each is applied at the value's span, so a mistake is one error in the
//! attribute's words, at the user's token.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Expr;

use crate::ast::Model;

/// Output `k`'s loss applied on a tape, with the check that it fits the output in
/// the attribute's words: "`42` is not a loss for output `digit`, whose predictions
/// are 10 wide and whose labels are ...", naming the loss as written. The bound
/// names the training tape whatever the body's tape is, so a loss that does not fit
/// fails the same bound in every body, and rustc reports it once.
pub fn loss_check(m: &Model, k: usize) -> TokenStream {
    let output = &m.outputs[k];
    let apply = apply_loss_fn(k);
    let fits = Ident::new(&format!("LossOf_{}", output.name), output.loss.span());
    let traced = quote!(::feddx::tensor::Traced);
    let fits_trait = fits_trait(
        &fits,
        ("loss", &output.loss),
        &output.name,
        [
            "class logits take `SparseCategoricalCrossentropy` with `ClassLabels`, or `CategoricalCrossentropy` with one-hot `Targets<C>` of the output's width",
            "regression and binary losses take `Targets<N>` of the output's width N",
        ],
        quote!(::feddx::Loss<C, #traced, Y>),
    );
    // Spanned at the loss, so rustc's "required by" notes point at it too.
    quote_spanned! {output.loss.span()=>
        #fits_trait
        #[inline(always)]
        fn #apply<L, Y, const C: usize, T>(
            predictions: ::feddx::tensor::Batch<C, T>,
            labels: &<Y as ::feddx::prelude::LabelSpec>::Batch,
            loss: &L,
        ) -> ::feddx::Result<::feddx::tensor::Scalar<T>>
        where
            L: #fits<C, Y>,
            Y: ::feddx::prelude::LabelSpec,
            T: ::feddx::__private::LossTape,
        {
            <T as ::feddx::__private::LossTape>::apply::<L, Y, C>(loss, predictions, labels)
        }
    }
}

/// Metric `j` of output `k` added to its sums, with the check that it fits the
/// output in the attribute's words, as [`loss_check`] does for losses.
pub fn metric_check(m: &Model, k: usize, j: usize) -> TokenStream {
    let output = &m.outputs[k];
    let apply = apply_metric_fn(k, j);
    let fits = Ident::new(
        &format!("Metric{}Of_{}", j, output.name),
        output.metrics[j].span(),
    );
    let fits_trait = fits_trait(
        &fits,
        ("metric", &output.metrics[j]),
        &output.name,
        [
            "class logits take `SparseCategoricalAccuracy` with `ClassLabels`, or `CategoricalAccuracy` with one-hot `Targets<C>`",
            "binary and regression metrics take `Targets<N>` of the output's width N",
        ],
        quote!(::feddx::Metric<C, Y>),
    );
    quote_spanned! {output.metrics[j].span()=>
        #fits_trait
        #[inline(always)]
        fn #apply<M, Y, const C: usize>(
            predictions: &::feddx::tensor::Batch<C>,
            labels: &<Y as ::feddx::prelude::LabelSpec>::Batch,
            metric: &M,
            sums: &mut [f64],
        ) -> ::feddx::Result<()>
        where
            M: #fits<C, Y>,
            Y: ::feddx::prelude::LabelSpec,
        {
            <M as ::feddx::Metric<C, Y>>::accumulate(metric, predictions, labels, sums)
        }
    }
}

/// A trait `fits<C, Y>` that holds exactly where `bound` does, for the `kind`
/// ("loss" or "metric") written as `value` on output `output`. Its message is
/// "`value` is not a kind for output `output`, whose predictions are C wide and
/// whose labels are `Y`".
fn fits_trait(
    fits: &Ident,
    (kind, value): (&str, &Expr),
    output: &str,
    notes: [&str; 2],
    bound: TokenStream,
) -> TokenStream {
    let message = format!(
        "`{}` is not a {kind} for output `{output}`, whose predictions are {{C}} wide and whose labels are `{{Y}}`",
        escape_braces(&shown(value))
    );
    let label = format!("not a {kind} for output `{output}`");
    let [first, second] = notes;
    quote_spanned! {value.span()=>
        // Named after the output, as rustc's help line shows the name.
        #[allow(non_camel_case_types)]
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #first, note = #second)]
        trait #fits<const C: usize, Y: ::feddx::prelude::LabelSpec>: #bound {}
        #[diagnostic::do_not_recommend]
        impl<F, const C: usize, Y> #fits<C, Y> for F
        where
            F: ?::core::marker::Sized + #bound,
            Y: ::feddx::prelude::LabelSpec,
        {
        }
    }
}

/// The name of output `k`'s loss function (see [`loss_check`]).
pub fn apply_loss_fn(k: usize) -> Ident {
    format_ident!("__feddx_apply_loss_{}", k)
}

/// The name of the function of output `k`'s metric `j` (see [`metric_check`]).
pub fn apply_metric_fn(k: usize, j: usize) -> Ident {
    format_ident!("__feddx_apply_metric_{}_{}", k, j)
}

/// `let __m = ...;`: the metric, or a stand-in that fits every output when it is no
/// metric at all (see `is_a_metric`), so that such a value is reported once.
pub fn probe_metric(metric: &Expr) -> TokenStream {
    quote! {
        let __feddx_metric = #metric;
        let __m = {
            #[allow(unused_imports)]
            use ::feddx::__private::{ProbeMetric as _, ProbeNotMetric as _};
            (&::feddx::__private::MetricProbe(&__feddx_metric)).metric()
        };
    }
}

/// The one check that `metric` is a metric, in the attribute's words: "`42` is not
/// a metric; the metrics are ...", at the value. A trait of its own carries the
/// message, which names the value as written.
pub fn is_a_metric(metric: &Expr) -> TokenStream {
    let message = format!(
        "`{}` is not a metric; the metrics are {}",
        escape_braces(&shown(metric)),
        crate::suggest::list(METRICS)
    );
    let check = quote_spanned!(metric.span()=> Metric::__feddx_is_metric(__feddx_metric));
    quote! {
        {
            let __feddx_metric = &(#metric);
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "not a metric",
                note = "a metric is a value whose type implements `feddx::Metric`, or a Keras name such as `\"accuracy\"`"
            )]
            trait Metric {
                fn __feddx_is_metric(&self) {}
            }
            #[diagnostic::do_not_recommend]
            impl<M: ?::core::marker::Sized + ::feddx::MetricKind> Metric for M {}
            #check;
        }
    }
}

/// The built-in metrics, as messages list them.
const METRICS: [&str; 9] = [
    "SparseCategoricalAccuracy",
    "CategoricalAccuracy",
    "BinaryAccuracy",
    "Precision",
    "Recall",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Mean",
    "Accuracy",
];

/// An expression as the user wrote it, for a message.
fn shown(expr: &Expr) -> String {
    expr.span()
        .source_text()
        .unwrap_or_else(|| quote!(#expr).to_string())
}

/// `text` inside a `#[diagnostic]` message, where `{` and `}` are format syntax.
fn escape_braces(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}
