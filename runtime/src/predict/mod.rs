//! Predictions from plain rows of features: a trained model in use.
//!
//! [`FederatedModel::predict`] takes rows as a client stores them (`&[[f32; N]]`
//! for `Features<N>`), runs the module on them in batches of at most
//! [`PREDICT_BATCH_ROWS`], and hands back [`Predictions`]: for each output, in the
//! order of [`OUTPUTS`](FederatedModel::OUTPUTS) and by name, its width and its
//! values row by row. [`OutputValues::probabilities`] and
//! [`OutputValues::classes`] turn classification logits into probabilities and
//! classes; [`FederatedModel::predict_proba`] and
//! [`FederatedModel::predict_class`] do it in one call for a single-output model,
//! [`FederatedModel::predict_proba_of`] and [`FederatedModel::predict_class_of`]
//! for one output of several. [`Predictions::classes`],
//! [`Predictions::probabilities`] and [`Predictions::values`] read the output of a
//! single-output model directly, and `{}` prints predictions as a table.

mod outputs;
mod table;
mod values;

use dfdx::prelude::Cpu;

pub use outputs::{ModuleOutputs, OneOutput};
pub use table::SHOWN_ROWS;
pub(crate) use values::output_index;
pub use values::{OutputValues, Predictions};

use crate::spec::FeatureSpec;
use crate::{FeddxError, FederatedModel, Result};

/// Most rows [`FederatedModel::predict`] feeds the module at once, so memory stays
/// bounded however many rows are asked for.
pub const PREDICT_BATCH_ROWS: usize = 1024;

/// The predictions of `model` for `rows` (see [`FederatedModel::predict`]).
pub(crate) fn predict_rows<M>(
    model: &M,
    rows: &[<M::Features as FeatureSpec>::Example],
) -> Result<Predictions>
where
    M: FederatedModel,
{
    if rows.is_empty() {
        return Err(FeddxError::EmptyBatch);
    }
    debug_assert_eq!(M::Predictions::COUNT, M::OUTPUTS.len());
    let device = Cpu::default();
    let mut outputs: Vec<(usize, Vec<f32>)> = Vec::with_capacity(M::OUTPUTS.len());
    for (i, chunk) in rows.chunks(PREDICT_BATCH_ROWS).enumerate() {
        let x = M::Features::collate(chunk.iter(), &device);
        let mut k = 0;
        model.predict_on_batch(x).each_output(&mut |width, values| {
            if i == 0 {
                let mut all = Vec::with_capacity(width * rows.len());
                all.extend(values);
                outputs.push((width, all));
            } else {
                outputs[k].1.extend(values);
            }
            k += 1;
        });
    }
    let outputs = M::OUTPUTS
        .iter()
        .zip(outputs)
        .map(|(name, (width, values))| OutputValues::logits(name, width, rows.len(), values))
        .collect();
    Ok(Predictions::new(M::OUTPUTS, outputs))
}

/// `` `a`, `b`, `c` ``: names for a message.
pub(crate) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::*;
    use crate::federated::test_model::TinyModel;
    use crate::spec::Features;

    #[test]
    fn rows_in_several_batches_predict_as_one_batch() {
        let model = TinyModel::with_seed(0);
        let rows: Vec<[f32; 2]> = (0..PREDICT_BATCH_ROWS * 2 + 3)
            .map(|i| [i as f32 / 100.0, (i % 7) as f32 - 3.0])
            .collect();
        let p = model.predict(&rows).unwrap();
        assert_eq!(p.rows(), rows.len());
        let class = p.output("class").unwrap();
        assert_eq!(class.width(), 3);
        let whole = model.predict_on_batch(Features::<2>::collate(rows.iter(), &Cpu::default()));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(class.values()), bits(&whole.as_vec()));
    }

    #[test]
    fn no_rows_is_an_empty_batch_and_an_unknown_output_is_named() {
        let model = TinyModel::with_seed(0);
        assert_eq!(model.predict(&[]).unwrap_err(), FeddxError::EmptyBatch);
        assert_eq!(
            model.predict_proba(&[]).unwrap_err(),
            FeddxError::EmptyBatch
        );
        assert_eq!(
            model.predict_class_of("label", &[[0.0, 1.0]]).unwrap_err(),
            FeddxError::UnknownOutput {
                name: "label".into(),
                outputs: &["class"]
            }
        );
        assert_eq!(
            model.predict_class_of("class", &[[0.0, 1.0]]).unwrap(),
            model.predict_class(&[[0.0, 1.0]]).unwrap()
        );
    }
}
