//! The bridge between a dfdx module and an input spec.

use dfdx::prelude::{BuildModule, Cpu, Module, NoneTape, Shape, Tensor};

use crate::spec::FeatureSpec;
use crate::tensor::Traced;

/// A batch of features `X` on tape `T`.
pub type FeatureBatch<X, T = NoneTape> = Tensor<<X as FeatureSpec>::Shape, f32, Cpu, T>;

/// What a module returns for an untraced batch of features `X`.
///
/// This is the one projection through the module that the code `#[federated_model]`
/// generates names (for `Predictions` and the forward passes), and its impl has a
/// single bound, `Module<FeatureBatch<X>>`. A field type that is no module for `X`
/// therefore fails that one bound wherever the generated code names the output,
/// and rustc reports it once, beside [`ModuleFor`]'s own message at the field.
///
/// `#[federated_model]` also implements it, with a placeholder output, for the
/// struct it is on: a federated model is no module, and when another model's field
/// holds one, that field's own two checks say so without dfdx's bounds adding a
/// third error.
pub trait OutputFor<X: FeatureSpec> {
    /// One tensor per output, without a tape.
    type Output: OnTape;
}

impl<M, X> OutputFor<X> for M
where
    X: FeatureSpec,
    M: Module<FeatureBatch<X>>,
    <M as Module<FeatureBatch<X>>>::Output: OnTape,
{
    type Output = <M as Module<FeatureBatch<X>>>::Output;
}

/// A module's untraced output, and the same output on the recording tape.
pub trait OnTape {
    /// The output of a traced forward pass.
    type Traced;
}

impl<S: Shape> OnTape for Tensor<S, f32, Cpu> {
    type Traced = Tensor<S, f32, Cpu, Traced>;
}

macro_rules! on_tape_tuples {
    ($(($($t:ident),+))+) => {$(
        impl<$($t: OnTape),+> OnTape for ($($t,)+) {
            type Traced = ($($t::Traced,)+);
        }
    )+};
}
on_tape_tuples! {
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
}

/// What module `M` returns for a traced batch of features `X`.
pub type TracedOutput<M, X> = <<M as OutputFor<X>>::Output as OnTape>::Traced;

/// A built dfdx module that runs on batches of features `X`, with and without a tape.
///
/// The `Model` parameter only names the federated model in error messages. This is
/// the compile-time counterpart of `from_keras_model`'s `TypeError` for a
/// `keras_model` that is not a model: a field type that is not a module for `X`
/// (a builder instead of a built module, or a first layer of another width) is an
/// error at that field.
#[diagnostic::on_unimplemented(
    message = "the module of `{Model}` must be a built dfdx module that accepts features `{X}`, but `{Self}` is not",
    label = "not a dfdx module for `{X}`",
    note = "hold the built module, such as `Built<(Linear<64, 32>, ReLU, Linear<32, 10>)>`, whose first layer takes the width of `{X}`"
)]
///
/// What optimisers and weight access need of the module is reached through
/// [`net`](Self::net), which is the module itself; its outputs are named through
/// [`OutputFor`] alone (see there).
pub trait ModuleFor<X: FeatureSpec, Model>: OutputFor<X> {
    /// The module seen as a dfdx tensor collection (always `Self`).
    type Net: BuildModule<Cpu, f32> + Clone + Send + Sync;
    /// Builds the module with fresh weights drawn from `device`'s generator.
    fn build_on(device: &Cpu) -> Self;
    /// The module as a tensor collection: for optimisers, gradients and weights.
    fn net(&self) -> &Self::Net;
    /// The module as a tensor collection, mutably.
    fn net_mut(&mut self) -> &mut Self::Net;
    /// Forward pass without recording gradients.
    fn forward_untraced(&self, x: FeatureBatch<X>) -> <Self as OutputFor<X>>::Output;
    /// Forward pass that records for backpropagation.
    fn forward_traced(&self, x: FeatureBatch<X, Traced>) -> TracedOutput<Self, X>;
}

#[diagnostic::do_not_recommend]
impl<M, X, Model> ModuleFor<X, Model> for M
where
    X: FeatureSpec,
    M: BuildModule<Cpu, f32> + Clone + Send + Sync,
    M: OutputFor<X> + Module<FeatureBatch<X>, Output = <M as OutputFor<X>>::Output>,
    M: Module<FeatureBatch<X, Traced>, Output = TracedOutput<M, X>>,
{
    type Net = M;

    #[inline]
    fn build_on(device: &Cpu) -> Self {
        BuildModule::build(device)
    }

    #[inline(always)]
    fn net(&self) -> &M {
        self
    }

    #[inline(always)]
    fn net_mut(&mut self) -> &mut M {
        self
    }

    #[inline]
    fn forward_untraced(&self, x: FeatureBatch<X>) -> <M as OutputFor<X>>::Output {
        Module::forward(self, x)
    }

    #[inline]
    fn forward_traced(&self, x: FeatureBatch<X, Traced>) -> TracedOutput<M, X> {
        Module::forward(self, x)
    }
}
