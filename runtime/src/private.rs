//! Support for the code `#[federated_model]` generates. Not a public API.
#![doc(hidden)]

use core::marker::PhantomData;

use dfdx::prelude::{Const, Cpu, NoneTape, SplitTape, Tape, Tensor, Trace};

pub use dfdx;

use crate::losses::Loss;
use crate::metrics::{Metric, MetricKind};
use crate::module::{FeatureBatch, ModuleFor, OnTape, OutputFor, TracedOutput};
use crate::spec::LabelSpec;
use crate::tensor::{Batch, Scalar, Traced};
use crate::{FeddxError, Result};

/// Builds the module of `M`. The generated impl reaches its module through `M`'s
/// associated types, not by naming the field's type, so a field type that is no
/// module for the features is reported by the impl's `type Module` alone.
#[inline]
pub fn build<M: crate::FederatedModel>(device: &Cpu) -> M::Module {
    <M::Module as ModuleFor<M::Features, M>>::build_on(device)
}

/// The traced forward pass of `M`'s module (see [`build`]).
#[inline(always)]
pub fn forward_traced<M: crate::FederatedModel>(
    module: &M::Module,
    x: FeatureBatch<M::Features, Traced>,
) -> TracedOutput<M::Module, M::Features> {
    module.forward_traced(x)
}

/// The untraced forward pass of `M`'s module (see [`build`]).
#[inline(always)]
pub fn forward_untraced<M: crate::FederatedModel>(
    module: &M::Module,
    x: FeatureBatch<M::Features>,
) -> <M::Module as OutputFor<M::Features>>::Output {
    module.forward_untraced(x)
}

/// A module output with `N` parts, one per named output.
///
/// Implemented for the untraced output (the model's `Predictions`) only, with the
/// parts of its traced counterpart, so that every body of the impl checks the same
/// bound, `Predictions: HasOutputs<N>`, and a count mismatch is reported once.
#[diagnostic::on_unimplemented(
    message = "the module's outputs are not the {N} that `outputs(...)` names",
    label = "`outputs(...)` names {N} output(s)",
    note = "a module with several outputs ends in `SplitInto<(Head1, Head2, ...)>`, one head per name in `outputs(...)`; a module with one output needs no `outputs(...)`"
)]
pub trait HasOutputs<const N: usize>: OnTape {
    /// The parts, as a tuple.
    type Parts;
    /// The parts of the traced output, as a tuple.
    type TracedParts;
    /// References to the parts, as a tuple.
    type Refs<'a>
    where
        Self: 'a;
    /// Splits the output into its parts.
    fn into_parts(self) -> Self::Parts;
    /// Splits the traced output into its parts.
    fn traced_parts(traced: Self::Traced) -> Self::TracedParts;
    /// Borrows the parts.
    fn parts(&self) -> Self::Refs<'_>;
}

impl<const C: usize> HasOutputs<1> for Tensor<(usize, Const<C>), f32, Cpu> {
    type Parts = (Self,);
    type TracedParts = (Self::Traced,);
    type Refs<'a> = (&'a Self,);
    fn into_parts(self) -> (Self,) {
        (self,)
    }
    fn traced_parts(traced: Self::Traced) -> Self::TracedParts {
        (traced,)
    }
    fn parts(&self) -> (&Self,) {
        (self,)
    }
}

/// Labels with `N` parts, one per output.
#[diagnostic::on_unimplemented(
    message = "the labels `{Self}` do not have one part for each of the {N} outputs",
    label = "expected {N} label specs here",
    note = "with several outputs, the second element of `input_spec` is a tuple with one label spec per output, in output order"
)]
pub trait HasLabels<const N: usize>: LabelSpec {
    /// The label specs, one per output, as a tuple. The impl names output `K`'s spec
    /// through it, so that labels without `N` parts fail this one bound only.
    type Specs;
    /// References to the parts of a batch, as a tuple.
    type Refs<'a>;
    /// Borrows the parts of a batch.
    fn parts(batch: &Self::Batch) -> Self::Refs<'_>;
}

impl HasLabels<1> for crate::spec::ClassLabels {
    type Specs = (Self,);
    type Refs<'a> = (&'a Vec<usize>,);
    fn parts(batch: &Vec<usize>) -> Self::Refs<'_> {
        (batch,)
    }
}

impl<const C: usize> HasLabels<1> for crate::spec::Targets<C> {
    type Specs = (Self,);
    type Refs<'a> = (&'a Batch<C>,);
    fn parts(batch: &Batch<C>) -> Self::Refs<'_> {
        (batch,)
    }
}

/// The label spec of output `K` of a tuple of label specs. The generated code reaches
/// it only through [`HasLabels::Specs`], whose bound reports labels without a spec
/// per output, so it needs no message of its own.
pub trait LabelAt<const K: usize> {
    /// The spec of that output.
    type Spec: LabelSpec;
}

macro_rules! tuples {
    ($n:literal; $($t:ident $i:tt),+) => {
        impl<$($t: OnTape),+> HasOutputs<$n> for ($($t,)+) {
            type Parts = Self;
            type TracedParts = Self::Traced;
            type Refs<'a> = ($(&'a $t,)+) where Self: 'a;
            fn into_parts(self) -> Self {
                self
            }
            fn traced_parts(traced: Self::Traced) -> Self::Traced {
                traced
            }
            fn parts(&self) -> Self::Refs<'_> {
                ($(&self.$i,)+)
            }
        }
        impl<$($t: LabelSpec),+> HasLabels<$n> for ($($t,)+) {
            type Specs = Self;
            type Refs<'a> = ($(&'a $t::Batch,)+);
            fn parts(batch: &Self::Batch) -> Self::Refs<'_> {
                ($(&batch.$i,)+)
            }
        }
        tuples!(@at [$($t),+] $($t $i),+);
    };
    (@at $all:tt $($t:ident $i:tt),+) => {$(
        tuples!(@one $all $t $i);
    )+};
    (@one [$($all:ident),+] $t:ident $i:tt) => {
        impl<$($all: LabelSpec),+> LabelAt<$i> for ($($all,)+) {
            type Spec = $t;
        }
    };
}
tuples!(2; A 0, B 1);
tuples!(3; A 0, B 1, C 2);
tuples!(4; A 0, B 1, C 2, D 3);
tuples!(5; A 0, B 1, C 2, D 3, E 4);
tuples!(6; A 0, B 1, C 2, D 3, E 4, F 5);

/// A module output that is a single tensor.
#[diagnostic::on_unimplemented(
    message = "the module has several outputs, but the attribute names none",
    label = "this module's forward pass returns a tuple",
    note = "name the outputs with `outputs(a, b, ...)`, one name per head of `SplitInto`, and give `input_spec` one label spec per output"
)]
pub trait SingleOutput: OnTape {
    /// The output itself.
    type Part;
    /// The traced output itself.
    type TracedPart;
    /// The output as its one part.
    fn into_part(self) -> Self::Part;
    /// The traced output as its one part.
    fn traced_part(traced: Self::Traced) -> Self::TracedPart;
    /// Borrows the output as its one part.
    fn part(&self) -> &Self::Part;
}

impl<const C: usize> SingleOutput for Tensor<(usize, Const<C>), f32, Cpu> {
    type Part = Self;
    type TracedPart = Self::Traced;
    fn into_part(self) -> Self {
        self
    }
    fn traced_part(traced: Self::Traced) -> Self::Traced {
        traced
    }
    fn part(&self) -> &Self {
        self
    }
}

/// Checks that `P` (a model's `Predictions`) is a single output. Each body of the
/// impl calls it before splitting, at the same span, so that a module of several
/// outputs without `outputs(...)` is one error: the splits that follow fail the
/// same bound at that span, which rustc does not report again.
#[inline(always)]
pub fn check_single_output<P: SingleOutput>() {}

/// The one part of a single-output module's output.
#[inline(always)]
pub fn single_output<P: SingleOutput>(p: P) -> (P::Part,) {
    (p.into_part(),)
}

/// The one part of a single-output module's traced output.
#[inline(always)]
pub fn single_traced_output<P: SingleOutput>(t: <P as OnTape>::Traced) -> (P::TracedPart,) {
    (P::traced_part(t),)
}

/// Borrows the one part of a single-output module's output.
#[inline(always)]
pub fn single_output_ref<P: SingleOutput>(p: &P) -> (&P::Part,) {
    (p.part(),)
}

/// Checks that `P` (a model's `Predictions`) has `N` parts (see
/// [`check_single_output`]).
#[inline(always)]
pub fn check_outputs<P: HasOutputs<N>, const N: usize>() {}

/// Splits a module output into its `N` parts.
#[inline(always)]
pub fn split_outputs<P: HasOutputs<N>, const N: usize>(p: P) -> P::Parts {
    p.into_parts()
}

/// Splits a module's traced output into its `N` parts.
#[inline(always)]
pub fn split_traced_outputs<P: HasOutputs<N>, const N: usize>(
    t: <P as OnTape>::Traced,
) -> P::TracedParts {
    P::traced_parts(t)
}

/// Borrows the `N` parts of a module output.
#[inline(always)]
pub fn output_parts<P: HasOutputs<N>, const N: usize>(p: &P) -> P::Refs<'_> {
    p.parts()
}

/// Borrows the `N` parts of a labels batch.
#[inline(always)]
pub fn label_parts<Y: HasLabels<N>, const N: usize>(y: &Y::Batch) -> Y::Refs<'_> {
    Y::parts(y)
}

/// Marker returned when a field type is itself a federated model.
pub struct AlreadyFederated<T>(PhantomData<T>);
/// Marker returned when a field type is not a federated model.
pub struct NotFederated;

/// Holds for [`NotFederated`] only.
#[diagnostic::on_unimplemented(
    message = "the module field holds a federated model (`{Self}`); `#[federated_model]` wraps a dfdx module, not another federated model",
    label = "already a federated model",
    note = "hold that model's dfdx module instead (the counterpart of from_keras_model's ValueError for a model that was already compiled)"
)]
pub trait IsNotFederated {}
impl IsNotFederated for NotFederated {}

/// Autoref probe telling federated models from other types at compile time.
pub struct Probe<T>(PhantomData<T>);
impl<T> Probe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}
/// Picked when `T` is a federated model.
pub trait ProbeFederated<T> {
    /// Returns [`AlreadyFederated`].
    fn probe(&self) -> AlreadyFederated<T> {
        AlreadyFederated(PhantomData)
    }
}
impl<T: crate::FederatedModel> ProbeFederated<T> for Probe<T> {}
/// Picked otherwise.
pub trait ProbeOther {
    /// Returns [`NotFederated`].
    fn probe(&self) -> NotFederated {
        NotFederated
    }
}
impl<T> ProbeOther for &Probe<T> {}

/// Requires `T` to be [`NotFederated`].
pub fn assert_not_federated<T: IsNotFederated>(_: T) {}

/// The tapes the generated code runs losses on: the training tape, and none.
pub trait LossTape: Tape<f32, Cpu> {
    /// `loss` of `predictions` on this tape.
    fn apply<L, Y, const C: usize>(
        loss: &L,
        predictions: Batch<C, Self>,
        labels: &Y::Batch,
    ) -> Result<Scalar<Self>>
    where
        L: Loss<C, Traced, Y>,
        Y: LabelSpec;
}

impl LossTape for Traced {
    #[inline(always)]
    fn apply<L, Y, const C: usize>(
        loss: &L,
        predictions: Batch<C, Traced>,
        labels: &Y::Batch,
    ) -> Result<Scalar<Traced>>
    where
        L: Loss<C, Traced, Y>,
        Y: LabelSpec,
    {
        loss.loss(predictions, labels)
    }
}

impl LossTape for NoneTape {
    /// On a tape that is dropped with its gradients, never read: the loss is the
    /// same value, and one loss per output serves training and evaluation alike.
    #[inline]
    fn apply<L, Y, const C: usize>(
        loss: &L,
        predictions: Batch<C>,
        labels: &Y::Batch,
    ) -> Result<Scalar>
    where
        L: Loss<C, Traced, Y>,
        Y: LabelSpec,
    {
        Ok(loss
            .loss(predictions.leaky_traced(), labels)?
            .split_tape()
            .0)
    }
}

/// A metric expression of the attribute, for [`ProbeMetric`] and [`ProbeNotMetric`].
pub struct MetricProbe<'a, M>(pub &'a M);

/// Picked when `M` is a metric: the metric itself.
pub trait ProbeMetric<'a, M> {
    /// The metric.
    fn metric(&self) -> &'a M;
}
impl<'a, M: MetricKind> ProbeMetric<'a, M> for MetricProbe<'a, M> {
    #[inline(always)]
    fn metric(&self) -> &'a M {
        self.0
    }
}

/// Picked otherwise (autoref specialisation): [`NotAMetric`], which fits every
/// output, so that a value that is no metric at all is reported once, by the check
/// the attribute writes in the user's words ("`42` is not a metric"), and not again
/// by every method that uses it.
pub trait ProbeNotMetric {
    /// The stand-in.
    fn metric(&self) -> &'static NotAMetric {
        &NotAMetric
    }
}
impl<M> ProbeNotMetric for &MetricProbe<'_, M> {}

/// The stand-in for a value that is not a metric; never run (the build fails).
pub struct NotAMetric;

impl MetricKind for NotAMetric {
    fn name(&self) -> &'static str {
        ""
    }
    fn num_sums(&self) -> usize {
        0
    }
    fn finalize(&self, _: &[f64]) -> f64 {
        f64::NAN
    }
}

impl<const C: usize, Y: LabelSpec> Metric<C, Y> for NotAMetric {
    fn accumulate(&self, _: &Batch<C>, _: &Y::Batch, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

/// A module output that can be copied off its tape (a tensor, or a tuple of them).
pub trait Detach {
    /// The same output without a tape.
    type Detached;
    /// A tape-free copy (sharing the data, not copying it).
    fn detached(&self) -> Self::Detached;
}

impl<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>> Detach for Tensor<S, f32, Cpu, T> {
    type Detached = Tensor<S, f32, Cpu>;
    #[inline(always)]
    fn detached(&self) -> Self::Detached {
        self.retaped()
    }
}

macro_rules! detach_tuples {
    ($(($($t:ident $i:tt),+))+) => {$(
        impl<$($t: Detach),+> Detach for ($($t,)+) {
            type Detached = ($($t::Detached,)+);
            #[inline(always)]
            fn detached(&self) -> Self::Detached {
                ($(self.$i.detached(),)+)
            }
        }
    )+};
}
detach_tuples! {
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}

/// Rows of a features batch.
#[inline(always)]
pub fn rows<S: dfdx::shapes::Shape, T>(x: &dfdx::prelude::Tensor<S, f32, Cpu, T>) -> usize {
    use dfdx::shapes::HasShape;
    x.shape().concrete().into_iter().next().unwrap_or(0)
}

/// Checks that every part of the labels has as many rows as the features.
pub fn check_batch<Y: LabelSpec>(
    outputs: &'static [&'static str],
    features: usize,
    y: &Y::Batch,
) -> Result<()> {
    let (mut k, mut first_mismatch) = (0, None);
    Y::batch_lens(y, &mut |labels| {
        if labels != features && first_mismatch.is_none() {
            first_mismatch = Some((k, labels));
        }
        k += 1;
    });
    if let Some((k, labels)) = first_mismatch {
        return Err(FeddxError::BatchSizeMismatch {
            output: outputs[k],
            features,
            labels,
        });
    }
    if features == 0 {
        return Err(FeddxError::EmptyBatch);
    }
    Ok(())
}

/// The module of the impl `#[federated_model]` writes when the attribute has a
/// mistake: a module for every features spec. That impl's bodies are never reached.
pub type FallbackModule = dfdx::prelude::ReLU;
/// The features of that impl when the input spec was not written as two elements.
pub type FallbackFeatures = crate::spec::Features<1>;
/// The labels of that impl when the input spec was not written as two elements.
pub type FallbackLabels = crate::spec::ClassLabels;
/// The predictions of that impl: one output, so `predict_proba` type-checks.
pub type FallbackPredictions = Batch<1>;
