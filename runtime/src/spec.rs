//! Input specs: the types that say what a model eats.
//!
//! An input spec is a pair `(X, Y)`: `X` describes one batch of features fed to the
//! module, `Y` the ground truth its losses compare against — one label spec per
//! output, as a tuple when the model has several outputs. This is the typed
//! counterpart of `input_spec` in TensorFlow Federated's `from_keras_model`.

use std::fmt;

use dfdx::prelude::{Const, Cpu, HasShape, Tensor, TensorFromVec};

use crate::tensor::Batch;

/// The element type of a tensor described by a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// Unsigned integer class index.
    Usize,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::Usize => "usize",
        })
    }
}

/// Shape and dtype of one batched tensor; the batch dimension is dynamic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Sizes of the non-batch dimensions.
    pub dims: Vec<usize>,
    /// Element type.
    pub dtype: DType,
}

impl fmt::Display for TensorSpec {
    /// Formats as `f32[?, 64]`: `?` is the batch dimension.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[?", self.dtype)?;
        for d in &self.dims {
            write!(f, ", {d}")?;
        }
        f.write_str("]")
    }
}

/// A readable input spec: the features tensor and one labels tensor per output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The features fed to the module.
    pub features: TensorSpec,
    /// The labels, one per output, in output order.
    pub labels: Vec<TensorSpec>,
}

impl fmt::Display for InputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(x: {}, y: ", self.features)?;
        if let [single] = self.labels.as_slice() {
            write!(f, "{single}")?;
        } else {
            f.write_str("(")?;
            for (i, l) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{l}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(")")
    }
}

/// The features half of an input spec.
pub trait FeatureSpec: 'static {
    /// Shape of a batch, batch dimension first.
    type Shape: dfdx::shapes::Shape;
    /// One example, as stored by a client.
    type Example: Clone + Send + Sync + 'static;
    /// Stacks examples into one batch on `device`.
    fn collate<'a, I>(examples: I, device: &Cpu) -> Tensor<Self::Shape, f32, Cpu>
    where
        I: ExactSizeIterator<Item = &'a Self::Example>;
    /// Shape and dtype of a batch.
    fn describe() -> TensorSpec;
}

/// The labels half of an input spec: one label spec, or a tuple of them for several outputs.
pub trait LabelSpec: 'static {
    /// One example's labels.
    type Example: Clone + Send + Sync + 'static;
    /// A batch of labels.
    type Batch: Clone + Send + Sync;
    /// Number of outputs these labels serve.
    const ARITY: usize;
    /// Stacks examples into one batch on `device`.
    fn collate<'a, I>(examples: I, device: &Cpu) -> Self::Batch
    where
        I: ExactSizeIterator<Item = &'a Self::Example> + Clone;
    /// Calls `each` with the number of examples in each part of a batch, in output
    /// order (no allocation: it runs on every training batch).
    fn batch_lens(batch: &Self::Batch, each: &mut dyn FnMut(usize));
    /// Shape and dtype of each part of a batch, in output order.
    fn describe(out: &mut Vec<TensorSpec>);
}

/// `N` real-valued features per example: batches are `Tensor<(usize, Const<N>), f32, Cpu>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Features<const N: usize>;

impl<const N: usize> FeatureSpec for Features<N> {
    type Shape = (usize, Const<N>);
    type Example = [f32; N];

    fn collate<'a, I>(examples: I, device: &Cpu) -> Batch<N>
    where
        I: ExactSizeIterator<Item = &'a [f32; N]>,
    {
        let rows = examples.len();
        let data: Vec<f32> = examples.flat_map(|e| e.iter().copied()).collect();
        device.tensor_from_vec(data, (rows, Const::<N>))
    }

    fn describe() -> TensorSpec {
        TensorSpec {
            dims: vec![N],
            dtype: DType::F32,
        }
    }
}

/// Images of `C` channels, `H` rows and `W` columns of real values per example:
/// batches are `Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu>` (batch first,
/// then channels, as PyTorch's `NCHW`), the input of [`Conv2D`](crate::layers::builders::Conv2D).
///
/// A client stores one example as `[[[f32; W]; H]; C]`; the readable spec is
/// `f32[?, C, H, W]`.
///
/// ```
/// use feddx_runtime::spec::{input_spec, ClassLabels, Images};
///
/// assert_eq!(input_spec::<Images<1, 8, 8>, ClassLabels>().to_string(), "(x: f32[?, 1, 8, 8], y: usize[?])");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Images<const C: usize, const H: usize, const W: usize>;

impl<const C: usize, const H: usize, const W: usize> FeatureSpec for Images<C, H, W> {
    type Shape = (usize, Const<C>, Const<H>, Const<W>);
    type Example = [[[f32; W]; H]; C];

    fn collate<'a, I>(examples: I, device: &Cpu) -> Tensor<Self::Shape, f32, Cpu>
    where
        I: ExactSizeIterator<Item = &'a [[[f32; W]; H]; C]>,
    {
        let rows = examples.len();
        let mut data = Vec::with_capacity(rows * C * H * W);
        for image in examples {
            for channel in image {
                for row in channel {
                    data.extend_from_slice(row);
                }
            }
        }
        device.tensor_from_vec(data, (rows, Const::<C>, Const::<H>, Const::<W>))
    }

    fn describe() -> TensorSpec {
        TensorSpec {
            dims: vec![C, H, W],
            dtype: DType::F32,
        }
    }
}

/// Integer class labels, one per example, for a classification output whose
/// predictions are logits over the classes (`SparseCategoricalCrossentropy`).
///
/// The number of classes is the width of the output; a label at or above it is a
/// [`FeddxError::LabelOutOfRange`](crate::FeddxError::LabelOutOfRange) at run time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassLabels;

impl LabelSpec for ClassLabels {
    type Example = usize;
    type Batch = Vec<usize>;
    const ARITY: usize = 1;

    fn collate<'a, I>(examples: I, _device: &Cpu) -> Vec<usize>
    where
        I: ExactSizeIterator<Item = &'a usize> + Clone,
    {
        examples.copied().collect()
    }

    fn batch_lens(batch: &Vec<usize>, each: &mut dyn FnMut(usize)) {
        each(batch.len());
    }

    fn describe(out: &mut Vec<TensorSpec>) {
        out.push(TensorSpec {
            dims: vec![],
            dtype: DType::Usize,
        });
    }
}

/// `N` real-valued targets per example: regression values, 0/1 targets of a binary
/// output, or one-hot class probabilities. Batches are `Tensor<(usize, Const<N>), f32, Cpu>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Targets<const N: usize>;

impl<const N: usize> LabelSpec for Targets<N> {
    type Example = [f32; N];
    type Batch = Batch<N>;
    const ARITY: usize = 1;

    fn collate<'a, I>(examples: I, device: &Cpu) -> Batch<N>
    where
        I: ExactSizeIterator<Item = &'a [f32; N]> + Clone,
    {
        <Features<N> as FeatureSpec>::collate(examples, device)
    }

    fn batch_lens(batch: &Batch<N>, each: &mut dyn FnMut(usize)) {
        each(batch.shape().0);
    }

    fn describe(out: &mut Vec<TensorSpec>) {
        out.push(TensorSpec {
            dims: vec![N],
            dtype: DType::F32,
        });
    }
}

macro_rules! label_tuple {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: LabelSpec),+> LabelSpec for ($($t,)+) {
            type Example = ($($t::Example,)+);
            type Batch = ($($t::Batch,)+);
            const ARITY: usize = $n;

            fn collate<'a, I>(examples: I, device: &Cpu) -> Self::Batch
            where
                I: ExactSizeIterator<Item = &'a Self::Example> + Clone,
            {
                ($($t::collate(examples.clone().map(|e| &e.$i), device),)+)
            }

            fn batch_lens(batch: &Self::Batch, each: &mut dyn FnMut(usize)) {
                $($t::batch_lens(&batch.$i, each);)+
            }

            fn describe(out: &mut Vec<TensorSpec>) {
                $($t::describe(out);)+
            }
        }
    };
}

label_tuple!(2; A 0, B 1);
label_tuple!(3; A 0, B 1, C 2);
label_tuple!(4; A 0, B 1, C 2, D 3);
label_tuple!(5; A 0, B 1, C 2, D 3, E 4);
label_tuple!(6; A 0, B 1, C 2, D 3, E 4, F 5);

/// The readable [`InputSpec`] of the pair `(X, Y)`.
pub fn input_spec<X: FeatureSpec, Y: LabelSpec>() -> InputSpec {
    let mut labels = Vec::with_capacity(Y::ARITY);
    Y::describe(&mut labels);
    InputSpec {
        features: X::describe(),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_spec_reads_like_shapes_and_dtypes() {
        let spec = input_spec::<Features<64>, (ClassLabels, Targets<1>)>();
        assert_eq!(
            spec.to_string(),
            "(x: f32[?, 64], y: (usize[?], f32[?, 1]))"
        );
        let single = input_spec::<Features<3>, ClassLabels>();
        assert_eq!(single.to_string(), "(x: f32[?, 3], y: usize[?])");
        let images = input_spec::<Images<3, 8, 6>, ClassLabels>();
        assert_eq!(images.to_string(), "(x: f32[?, 3, 8, 6], y: usize[?])");
    }

    #[test]
    fn collate_stacks_rows_in_order() {
        let dev = Cpu::default();
        let rows = [[1.0, 2.0], [3.0, 4.0]];
        let x = <Features<2> as FeatureSpec>::collate(rows.iter(), &dev);
        assert_eq!(x.as_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        let y = <(ClassLabels, Targets<1>) as LabelSpec>::collate(
            [(3, [0.5]), (1, [1.5])].iter(),
            &dev,
        );
        assert_eq!(y.0, vec![3, 1]);
        assert_eq!(y.1.as_vec(), vec![0.5, 1.5]);
        let mut lens = Vec::new();
        <(ClassLabels, Targets<1>) as LabelSpec>::batch_lens(&y, &mut |n| lens.push(n));
        assert_eq!(lens, vec![2, 2]);
    }

    #[test]
    fn collate_stacks_images_channel_row_column() {
        let dev = Cpu::default();
        let image = |k: f32| -> [[[f32; 3]; 2]; 2] {
            let mut v = [[[0.0; 3]; 2]; 2];
            for (c, channel) in v.iter_mut().enumerate() {
                for (h, row) in channel.iter_mut().enumerate() {
                    for (w, x) in row.iter_mut().enumerate() {
                        *x = k + (c * 100 + h * 10 + w) as f32;
                    }
                }
            }
            v
        };
        let batch =
            <Images<2, 2, 3> as FeatureSpec>::collate([image(0.0), image(1000.0)].iter(), &dev);
        assert_eq!(dfdx::shapes::Shape::concrete(batch.shape()), [2, 2, 2, 3]);
        let values = batch.as_vec();
        assert_eq!(&values[..7], &[0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 100.0]);
        assert_eq!(values[12], 1000.0);
        assert_eq!(values[23], 1112.0);
    }
}
