//! Reading and writing a module's trainable weights, by name or as one flat vector.
//!
//! Federated averaging, server optimisers and checkpoints all work on the flat
//! vector: the trainable tensors of the module, each flattened row-major, one after
//! the other in the module's visiting order (the order of [`named_weights`]).

use dfdx::prelude::*;

use crate::{FeddxError, Result};

/// One trainable tensor: its path in the module, shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dotted path of the tensor in the module, such as `0.weight`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// Visits trainable tensors and hands each to a closure.
struct Reader<F>(F);

impl<F: FnMut(String, Vec<usize>, Vec<f32>)> TensorVisitor<f32, Cpu> for Reader<F> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = FeddxError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>> {
        if opts.do_gradient_update {
            (self.0)(name, t.shape().concrete().into_iter().collect(), t.as_vec());
        }
        Ok(None)
    }
}

/// Writes consecutive slices of a flat vector into trainable tensors.
struct Writer<'a> {
    values: &'a [f32],
    offset: usize,
}

impl TensorVisitor<f32, Cpu> for Writer<'_> {
    type Viewer = ViewTensorMut;
    type Err = FeddxError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        t: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>> {
        if opts.do_gradient_update {
            let end = self.offset + t.shape().num_elements();
            t.copy_from(&self.values[self.offset..end]);
            self.offset = end;
        }
        Ok(None)
    }
}

/// The trainable tensors of `module`, in visiting order.
pub fn named_weights<M: TensorCollection<f32, Cpu>>(module: &M) -> Vec<NamedTensor> {
    let mut out = Vec::new();
    walk(module, |name, shape, values| {
        out.push(NamedTensor {
            name,
            shape,
            values,
        })
    });
    out
}

/// The trainable weights of `module` as one flat vector.
pub fn flat_weights<M: TensorCollection<f32, Cpu>>(module: &M) -> Vec<f32> {
    let mut out = Vec::new();
    walk(module, |_, _, values| out.extend_from_slice(&values));
    out
}

/// Number of trainable parameters of `module`.
pub fn num_trainable<M: TensorCollection<f32, Cpu>>(module: &M) -> usize {
    let mut n = 0;
    walk(module, |_, shape, _| n += shape.iter().product::<usize>());
    n
}

/// Writes a flat vector (as from [`flat_weights`]) back into `module`.
///
/// # Errors
/// [`FeddxError::WeightLengthMismatch`] if `values` does not hold exactly one value
/// per trainable parameter; `module` is left unchanged then.
pub fn set_flat_weights<M: TensorCollection<f32, Cpu>>(
    module: &mut M,
    values: &[f32],
) -> Result<()> {
    let expected = num_trainable(module);
    if values.len() != expected {
        return Err(FeddxError::WeightLengthMismatch {
            expected,
            actual: values.len(),
        });
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: module,
        f: &mut Writer { values, offset: 0 },
    })?;
    Ok(())
}

fn walk<M: TensorCollection<f32, Cpu>>(module: &M, f: impl FnMut(String, Vec<usize>, Vec<f32>)) {
    let result = M::iter_tensors(&mut RecursiveWalker {
        m: (module, String::new()),
        f: &mut Reader(f),
    });
    // The reader never fails: it only copies tensors out.
    debug_assert!(result.is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;

    type Net = (Linear<3, 2>, ReLU, Linear<2, 1>);

    #[test]
    fn flat_weights_round_trip_and_follow_named_order() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = dev.build_module::<Net, f32>();
        let named = named_weights(&m);
        let names: Vec<_> = named.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        assert_eq!(num_trainable(&m), 3 * 2 + 2 + 2 + 1);
        let flat = flat_weights(&m);
        let concat: Vec<f32> = named.into_iter().flat_map(|t| t.values).collect();
        assert_eq!(flat, concat);
        let new: Vec<f32> = (0..flat.len()).map(|i| i as f32).collect();
        set_flat_weights(&mut m, &new).unwrap();
        assert_eq!(flat_weights(&m), new);
        assert_eq!(m.0.bias.as_vec(), vec![6.0, 7.0]);
    }

    #[test]
    fn wrong_length_is_an_error_and_leaves_weights_alone() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = dev.build_module::<Net, f32>();
        let before = flat_weights(&m);
        let err = set_flat_weights(&mut m, &[1.0; 3]).unwrap_err();
        assert_eq!(
            err,
            FeddxError::WeightLengthMismatch {
                expected: 11,
                actual: 3
            }
        );
        assert_eq!(flat_weights(&m), before);
    }
}
