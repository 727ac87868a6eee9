//! A module's outputs for a batch, taken apart into plain values per output.

use dfdx::prelude::{Const, Cpu, Tensor};

/// What a model's module returns for a batch: one `(rows, C)` tensor per output, a
/// single tensor for one output and a tuple of them for several (the heads of
/// `SplitInto`). [`FederatedModel::predict`](crate::FederatedModel::predict) needs
/// it of the model's [`Predictions`](crate::FederatedModel::Predictions), which the
/// trait requires.
#[diagnostic::on_unimplemented(
    message = "the predictions `{Self}` are not one `(rows, C)` tensor per output",
    note = "a model's `Predictions` must be a `Tensor<(usize, Const<C>), f32, Cpu>` or a tuple of up to 6 of them"
)]
pub trait ModuleOutputs {
    /// Number of outputs.
    const COUNT: usize;
    /// Calls `each` with every output's width and row-major values, in output order.
    fn each_output(&self, each: &mut dyn FnMut(usize, Vec<f32>));
}

/// A model with exactly one output, which
/// [`predict_proba`](crate::FederatedModel::predict_proba) and
/// [`predict_class`](crate::FederatedModel::predict_class) need.
///
/// `#[federated_model]` implements it for a model of one output, from the
/// attribute, so that it holds whatever the module field is; a hand-written
/// single-output model implements it with an empty impl.
#[diagnostic::on_unimplemented(
    message = "this model has several outputs; say which one with `predict_proba_of(name, rows)` or `predict_class_of(name, rows)`",
    label = "for models with one output",
    note = "`predict(rows)?.output(name)?` gives an output's values, `.probabilities()` and `.classes()`"
)]
pub trait OneOutput {}

impl<const C: usize> ModuleOutputs for Tensor<(usize, Const<C>), f32, Cpu> {
    const COUNT: usize = 1;

    fn each_output(&self, each: &mut dyn FnMut(usize, Vec<f32>)) {
        each(C, self.as_vec());
    }
}

macro_rules! output_tuples {
    ($($n:literal: ($($c:ident $i:tt),+))+) => {$(
        impl<$(const $c: usize),+> ModuleOutputs for ($(Tensor<(usize, Const<$c>), f32, Cpu>,)+) {
            const COUNT: usize = $n;

            fn each_output(&self, each: &mut dyn FnMut(usize, Vec<f32>)) {
                $(each($c, self.$i.as_vec());)+
            }
        }
    )+};
}
output_tuples! {
    2: (A 0, B 1)
    3: (A 0, B 1, C 2)
    4: (A 0, B 1, C 2, D 3)
    5: (A 0, B 1, C 2, D 3, E 4)
    6: (A 0, B 1, C 2, D 3, E 4, F 5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::TensorFromVec;

    fn outputs<P: ModuleOutputs>(p: &P) -> Vec<(usize, Vec<f32>)> {
        let mut out = Vec::new();
        p.each_output(&mut |width, values| out.push((width, values)));
        assert_eq!(out.len(), P::COUNT);
        out
    }

    #[test]
    fn a_tensor_is_one_output_and_a_tuple_one_per_part() {
        let dev = Cpu::default();
        let a = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (2, Const::<2>));
        let b = dev.tensor_from_vec(vec![5.0, 6.0], (2, Const::<1>));
        assert_eq!(outputs(&a), [(2, vec![1.0, 2.0, 3.0, 4.0])]);
        assert_eq!(
            outputs(&(a, b)),
            [(2, vec![1.0, 2.0, 3.0, 4.0]), (1, vec![5.0, 6.0])]
        );
    }
}
