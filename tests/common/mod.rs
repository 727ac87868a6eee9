//! What the integration tests share: every trainable tensor's gradient, by name.
#![allow(dead_code)]

use feddx::prelude::*;

/// The gradient of each trainable tensor of a module, named by its path as
/// `feddx::weights::named_weights` names the tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedGradient {
    /// Dotted path of the tensor, such as `0.weight`.
    pub name: String,
    /// The gradient, row-major, as the bits of each f32 (so `-0.0` and `0.0` differ).
    pub bits: Vec<u32>,
}

/// Visits trainable tensors and copies out each one's gradient.
struct GradientReader<'a> {
    grads: &'a Gradients<f32, Cpu>,
    out: Vec<NamedGradient>,
}

impl TensorVisitor<f32, Cpu> for GradientReader<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if opts.do_gradient_update {
            let bits = self
                .grads
                .get(t)
                .as_vec()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            self.out.push(NamedGradient { name, bits });
        }
        Ok(None)
    }
}

/// The gradients `grads` holds for every trainable tensor of `module`, in the
/// module's visiting order (that of its flat weight vector).
pub fn named_gradients<M: TensorCollection<f32, Cpu>>(
    module: &M,
    grads: &Gradients<f32, Cpu>,
) -> Vec<NamedGradient> {
    let mut reader = GradientReader {
        grads,
        out: Vec::new(),
    };
    let walked = M::iter_tensors(&mut RecursiveWalker {
        m: (module, String::new()),
        f: &mut reader,
    });
    match walked {
        Ok(_) => reader.out,
        Err(never) => match never {},
    }
}

/// Asserts that two sets of gradients of `module` are equal bit for bit, that they
/// cover every trainable tensor, and that no tensor's gradient is all zero (so the
/// comparison is not between two vacuous zeros).
pub fn assert_same_gradients<M: TensorCollection<f32, Cpu>>(
    module: &M,
    left: &Gradients<f32, Cpu>,
    right: &Gradients<f32, Cpu>,
    what: &str,
) {
    let (left, right) = (
        named_gradients(module, left),
        named_gradients(module, right),
    );
    let tensors: Vec<String> = feddx::weights::named_weights(module)
        .into_iter()
        .map(|t| t.name)
        .collect();
    let names: Vec<&String> = left.iter().map(|g| &g.name).collect();
    assert_eq!(
        names,
        tensors.iter().collect::<Vec<_>>(),
        "{what}: every tensor"
    );
    let num_params: usize = left.iter().map(|g| g.bits.len()).sum();
    assert_eq!(num_params, feddx::weights::num_trainable(module), "{what}");
    for (l, r) in left.iter().zip(&right) {
        assert!(
            l.bits.iter().any(|&b| f32::from_bits(b) != 0.0),
            "{what}: the gradient of {} is all zero",
            l.name
        );
        assert_eq!(l, r, "{what}: the gradient of {}", l.name);
    }
}
