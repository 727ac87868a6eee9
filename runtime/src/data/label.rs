//! What a [`Dataset`](super::Dataset) can hold as labels: a class, or regression
//! targets.

use crate::spec::{ClassLabels, LabelSpec, Targets};

/// One example's label in a [`Dataset`](super::Dataset): a class index (`usize`,
/// for [`ClassLabels`]) or `K` regression targets (`[f32; K]`, for [`Targets<K>`]).
pub trait Label: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The label spec of a model output trained on these labels.
    type Spec: LabelSpec<Example = Self>;

    /// Why this label is invalid for a data set of `num_classes` classes, if it is:
    /// a class not below `num_classes`, or a target that is NaN or infinite.
    fn invalid(&self, num_classes: usize) -> Option<LabelProblem>;

    /// The class, for stratified splits and label-skewed partitions; `None` for
    /// regression targets.
    fn class(&self) -> Option<usize>;

    /// Parses one CSV field: a non-negative integer class, or (for `K = 1`) a
    /// number. `None` if the field is not one.
    fn parse(field: &str) -> Option<Self>;
}

/// What is wrong with a label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelProblem {
    /// A class not below the number of classes.
    ClassOutOfRange(usize),
    /// A regression target that is NaN or infinite.
    NonFiniteTarget(f32),
}

impl Label for usize {
    type Spec = ClassLabels;

    fn invalid(&self, num_classes: usize) -> Option<LabelProblem> {
        (*self >= num_classes).then_some(LabelProblem::ClassOutOfRange(*self))
    }

    fn class(&self) -> Option<usize> {
        Some(*self)
    }

    fn parse(field: &str) -> Option<Self> {
        field.parse().ok()
    }
}

impl<const K: usize> Label for [f32; K] {
    type Spec = Targets<K>;

    fn invalid(&self, _num_classes: usize) -> Option<LabelProblem> {
        self.iter()
            .find(|v| !v.is_finite())
            .map(|&v| LabelProblem::NonFiniteTarget(v))
    }

    fn class(&self) -> Option<usize> {
        None
    }

    fn parse(field: &str) -> Option<Self> {
        let value: f32 = field.parse().ok()?;
        (K == 1).then_some([value; K])
    }
}
