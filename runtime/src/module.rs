//! The bridge between a dfdx module and an input spec.

use dfdx::prelude::{BuildModule, Cpu, Module, NoneTape, Tensor};

use crate::spec::FeatureSpec;
use crate::tensor::Traced;

/// A batch of features `X` on tape `T`.
pub type FeatureBatch<X, T = NoneTape> = Tensor<<X as FeatureSpec>::Shape, f32, Cpu, T>;

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
/// The trait has no supertraits, so that a field of the wrong type is one error with
/// this message; what optimisers and weight access need of the module is reached
/// through [`net`](Self::net), which is the module itself.
pub trait ModuleFor<X: FeatureSpec, Model> {
    /// The module seen as a dfdx tensor collection (always `Self`).
    type Net: BuildModule<Cpu, f32> + Clone + Send + Sync;
    /// What the module returns for an untraced batch: one tensor per output.
    type Output;
    /// What the module returns for a traced batch.
    type TracedOutput;
    /// Builds the module with fresh weights drawn from `device`'s generator.
    fn build_on(device: &Cpu) -> Self;
    /// The module as a tensor collection: for optimisers, gradients and weights.
    fn net(&self) -> &Self::Net;
    /// The module as a tensor collection, mutably.
    fn net_mut(&mut self) -> &mut Self::Net;
    /// Forward pass without recording gradients.
    fn forward_untraced(&self, x: FeatureBatch<X>) -> Self::Output;
    /// Forward pass that records for backpropagation.
    fn forward_traced(&self, x: FeatureBatch<X, Traced>) -> Self::TracedOutput;
}

#[diagnostic::do_not_recommend]
impl<M, X, Model> ModuleFor<X, Model> for M
where
    X: FeatureSpec,
    M: BuildModule<Cpu, f32> + Clone + Send + Sync,
    M: Module<FeatureBatch<X>> + Module<FeatureBatch<X, Traced>>,
{
    type Net = M;
    type Output = <M as Module<FeatureBatch<X>>>::Output;
    type TracedOutput = <M as Module<FeatureBatch<X, Traced>>>::Output;

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
    fn forward_untraced(&self, x: FeatureBatch<X>) -> Self::Output {
        Module::forward(self, x)
    }

    #[inline]
    fn forward_traced(&self, x: FeatureBatch<X, Traced>) -> Self::TracedOutput {
        Module::forward(self, x)
    }
}
