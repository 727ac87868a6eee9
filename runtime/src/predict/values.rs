//! Predictions as plain values: per output, its width and row-major values.

use crate::{FeddxError, Result};

/// A model's predictions for some rows: the values of each output, in the order of
/// the model's [`OUTPUTS`](crate::FederatedModel::OUTPUTS).
///
/// For a model of one output, [`classes`](Self::classes),
/// [`probabilities`](Self::probabilities) and [`values`](Self::values) (one value a
/// row: a single-target regression) read it directly; a model with several outputs
/// takes one by name with [`output`](Self::output), and those shortcuts return
/// [`FeddxError::SeveralOutputs`] saying so. Printed (`{}`), the predictions are a
/// table of their first rows, and `{:#}` prints every row:
///
/// ```text
/// 3 rows; class: 3 values a row, flag: 1 value a row
/// row                               class     flag
///   0  [0.1000, 0.0000, -1.0000] argmax 0   0.2500
///   1  [0.1000, 1.0000, -1.0000] argmax 1  -0.7500
///   2  [0.1000, 2.0000, -1.0000] argmax 1  -1.7500
/// ```
///
/// (`argmax` is the class of a classifier's logits, as [`OutputValues::classes`]
/// picks it.)
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    names: &'static [&'static str],
    outputs: Vec<OutputValues>,
}

impl Predictions {
    /// The outputs `outputs`, named `names` in the same order.
    pub(crate) fn new(names: &'static [&'static str], outputs: Vec<OutputValues>) -> Self {
        Predictions { names, outputs }
    }

    /// Number of rows predicted.
    pub fn rows(&self) -> usize {
        self.outputs.first().map_or(0, OutputValues::rows)
    }

    /// Every output's values, in output order.
    pub fn outputs(&self) -> &[OutputValues] {
        &self.outputs
    }

    /// The values of output `name`.
    ///
    /// # Errors
    /// [`FeddxError::UnknownOutput`] if the model has no output of that name.
    pub fn output(&self, name: &str) -> Result<&OutputValues> {
        let k = output_index(self.names, name)?;
        Ok(&self.outputs[k])
    }

    /// The values of output `name`, taken out.
    ///
    /// # Errors
    /// [`FeddxError::UnknownOutput`] if the model has no output of that name.
    pub fn into_output(mut self, name: &str) -> Result<OutputValues> {
        let k = output_index(self.names, name)?;
        Ok(self.outputs.swap_remove(k))
    }

    /// The outputs' names, in order.
    pub fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// The only output of a model with one output.
    ///
    /// # Errors
    /// [`FeddxError::SeveralOutputs`] if the model has several: take one by name
    /// with [`output`](Self::output).
    pub fn single(&self) -> Result<&OutputValues> {
        self.only("single")
    }

    /// The predicted class of each row of a classifier with one output: see
    /// [`OutputValues::classes`] (the argmax of the logits, or `logit > 0` for a
    /// binary output).
    ///
    /// # Errors
    /// [`FeddxError::SeveralOutputs`] if the model has several outputs:
    /// `output(name)?.classes()` takes one.
    pub fn classes(&self) -> Result<Vec<usize>> {
        Ok(self.only("classes")?.classes())
    }

    /// The probabilities of each row of a classifier with one output: see
    /// [`OutputValues::probabilities`].
    ///
    /// # Errors
    /// [`FeddxError::SeveralOutputs`] if the model has several outputs:
    /// `output(name)?.probabilities()` takes one.
    pub fn probabilities(&self) -> Result<OutputValues> {
        Ok(self.only("probabilities")?.probabilities())
    }

    /// The predicted value of each row of a model with one output of one value a
    /// row: a single-target regression (`Targets<1>` with a regression loss). For a
    /// binary classifier these are its logits; [`classes`](Self::classes) and
    /// [`probabilities`](Self::probabilities) read those.
    ///
    /// # Errors
    /// [`FeddxError::SeveralOutputs`] if the model has several outputs
    /// (`output(name)?.values()` takes one), [`FeddxError::SeveralValuesPerRow`] if
    /// its output has several values a row (`outputs()[0].iter_rows()` gives them
    /// row by row).
    pub fn values(&self) -> Result<&[f32]> {
        let output = self.only("values")?;
        if output.width != 1 {
            return Err(FeddxError::SeveralValuesPerRow {
                output: output.name,
                width: output.width,
            });
        }
        Ok(&output.values)
    }

    /// The only output, or [`FeddxError::SeveralOutputs`] naming `accessor`.
    fn only(&self, accessor: &'static str) -> Result<&OutputValues> {
        match self.outputs.as_slice() {
            [output] => Ok(output),
            _ => Err(FeddxError::SeveralOutputs {
                accessor,
                outputs: self.names,
            }),
        }
    }

    /// The values of the first output: the only one of a single-output model.
    pub(crate) fn into_first(mut self) -> OutputValues {
        self.outputs.swap_remove(0)
    }
}

/// The position of output `name` among `names`.
///
/// # Errors
/// [`FeddxError::UnknownOutput`] if it is not there.
pub(crate) fn output_index(names: &'static [&'static str], name: &str) -> Result<usize> {
    names
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| FeddxError::UnknownOutput {
            name: name.to_owned(),
            outputs: names,
        })
}

/// One output's values for every row: the module's logits, or the
/// [probabilities](Self::probabilities) they stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputValues {
    name: &'static str,
    width: usize,
    rows: usize,
    values: Vec<f32>,
    probabilities: bool,
}

impl OutputValues {
    /// `rows` rows of `width` logits, row-major, of output `name`.
    pub(crate) fn logits(name: &'static str, width: usize, rows: usize, values: Vec<f32>) -> Self {
        debug_assert_eq!(values.len(), width * rows);
        OutputValues {
            name,
            width,
            rows,
            values,
            probabilities: false,
        }
    }

    /// The output's name, from the model's [`OUTPUTS`](crate::FederatedModel::OUTPUTS).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Values per row: the output's width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the values are [probabilities](Self::probabilities) rather than the
    /// module's outputs.
    pub fn are_probabilities(&self) -> bool {
        self.probabilities
    }

    /// All values, row-major: row `i` is `values()[i * width()..(i + 1) * width()]`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// All values, row-major, taken out.
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }

    /// Row `i`'s values, `None` past the last row.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        (i < self.rows).then(|| self.row_at(i))
    }

    /// The rows in order, each of [`width`](Self::width) values.
    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        (0..self.rows).map(|i| self.row_at(i))
    }

    /// The probabilities the logits stand for: per row, the softmax over the
    /// classes of an output wider than 1 (each row sums to 1), or the sigmoid of
    /// the one logit of a binary output. Probabilities are returned as they are.
    ///
    /// Meant for classification outputs, whose values are logits (the losses of
    /// feddx take logits); on a regression output the numbers mean nothing.
    pub fn probabilities(&self) -> OutputValues {
        if self.probabilities {
            return self.clone();
        }
        let values = if self.width == 1 {
            self.values.iter().map(|&z| sigmoid(z)).collect()
        } else {
            self.iter_rows().flat_map(softmax).collect()
        };
        OutputValues {
            values,
            probabilities: true,
            ..*self
        }
    }

    /// The predicted class of each row: for an output wider than 1, the index of
    /// its largest value (the first of equal ones, as NumPy's `argmax`); for a
    /// binary output, 1 where the logit is above 0 (the probability above 0.5, the
    /// decision of [`BinaryAccuracy::default()`](crate::metrics::BinaryAccuracy)),
    /// else 0.
    pub fn classes(&self) -> Vec<usize> {
        if self.width == 1 {
            let cut = if self.probabilities { 0.5 } else { 0.0 };
            self.values.iter().map(|&v| usize::from(v > cut)).collect()
        } else {
            self.iter_rows().map(argmax).collect()
        }
    }

    fn row_at(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// `1 / (1 + e^-z)`.
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// `e^z_k / sum_j e^z_j`, computed from `z - max z` so large logits do not overflow.
fn softmax(z: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    z.iter().map(move |&v| (v - max).exp() / sum)
}

/// Index of the first largest value (0 for an empty row).
pub(super) fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in z.iter().enumerate().skip(1) {
        if v > z[best] {
            best = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["digit", "flag"];

    fn two_outputs() -> Predictions {
        Predictions::new(
            NAMES,
            vec![
                OutputValues::logits("digit", 3, 2, vec![1.0, 3.0, 3.0, 1000.0, -1000.0, 0.0]),
                OutputValues::logits("flag", 1, 2, vec![0.0, 2.0]),
            ],
        )
    }

    #[test]
    fn outputs_are_found_by_name_and_rows_by_index() {
        let p = two_outputs();
        assert_eq!(p.rows(), 2);
        let digit = p.output("digit").unwrap();
        assert_eq!((digit.name(), digit.width(), digit.rows()), ("digit", 3, 2));
        assert_eq!(digit.row(1), Some(&[1000.0, -1000.0, 0.0][..]));
        assert_eq!(digit.row(2), None);
        assert_eq!(digit.iter_rows().len(), 2);
        assert_eq!(p.output("flag").unwrap().values(), [0.0, 2.0]);
        assert_eq!(
            p.output("digits").unwrap_err(),
            FeddxError::UnknownOutput {
                name: "digits".into(),
                outputs: NAMES
            }
        );
        assert_eq!(
            p.output("digits").unwrap_err().to_string(),
            "the model has no output `digits`; its outputs are `digit`, `flag`"
        );
        assert_eq!(p.into_output("flag").unwrap().classes(), [0, 1]);
    }

    #[test]
    fn shortcuts_read_the_only_output_and_name_the_way_to_the_others() {
        let p = two_outputs();
        let several = |accessor| FeddxError::SeveralOutputs {
            accessor,
            outputs: NAMES,
        };
        assert_eq!(p.names(), NAMES);
        assert_eq!(p.classes().unwrap_err(), several("classes"));
        assert_eq!(p.probabilities().unwrap_err(), several("probabilities"));
        assert_eq!(p.values().unwrap_err(), several("values"));
        assert_eq!(p.single().unwrap_err(), several("single"));
        assert_eq!(
            p.classes().unwrap_err().to_string(),
            "`classes()` is for a model with one output, but this one has 2: `digit`, \
             `flag`; take one by name with `output(name)`"
        );

        let digit = Predictions::new(&["digit"], vec![p.output("digit").unwrap().clone()]);
        assert_eq!(digit.single().unwrap().name(), "digit");
        assert_eq!(digit.classes().unwrap(), [1, 0]);
        assert_eq!(
            digit.probabilities().unwrap(),
            p.output("digit").unwrap().probabilities()
        );
        let err = digit.values().unwrap_err();
        assert_eq!(
            err,
            FeddxError::SeveralValuesPerRow {
                output: "digit",
                width: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "`values()` gives one value a row, but output `digit` has 3; take its rows \
             with `output(\"digit\")?.iter_rows()`"
        );

        let price = Predictions::new(
            &["price"],
            vec![OutputValues::logits("price", 1, 3, vec![1.5, -2.0, 0.25])],
        );
        assert_eq!(price.values().unwrap(), [1.5, -2.0, 0.25]);
        assert_eq!(price.classes().unwrap(), [1, 0, 1]);
    }

    #[test]
    fn softmax_rows_sum_to_one_even_for_large_logits() {
        let probs = two_outputs().output("digit").unwrap().probabilities();
        assert!(probs.are_probabilities());
        for row in probs.iter_rows() {
            assert!(row.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{row:?}");
        }
        assert_eq!(probs.row(1).unwrap()[0], 1.0);
        assert_eq!(probs.probabilities(), probs);
        // Row 0's logits 1, 3, 3: e^z / sum e^z, computed here in f64.
        let sum = 1f64.exp() + 2.0 * 3f64.exp();
        let expected = [1f64.exp() / sum, 3f64.exp() / sum, 3f64.exp() / sum];
        for (&p, q) in probs.row(0).unwrap().iter().zip(expected) {
            assert!((f64::from(p) - q).abs() < 1e-7, "{p} vs {q}");
        }
    }

    #[test]
    fn classes_are_the_first_argmax_or_a_positive_logit() {
        let p = two_outputs();
        let digit = p.output("digit").unwrap();
        assert_eq!(digit.classes(), [1, 0]);
        assert_eq!(digit.probabilities().classes(), [1, 0]);
        let flag = p.output("flag").unwrap();
        let probs = flag.probabilities();
        assert_eq!(probs.values(), [0.5, 1.0 / (1.0 + (-2.0f32).exp())]);
        // A logit of 0 is probability 0.5: not above the threshold, as `BinaryAccuracy` decides.
        assert_eq!(flag.classes(), [0, 1]);
        assert_eq!(probs.classes(), [0, 1]);
    }
}
