//! A trained model out: weights saved and loaded by name, checkpoints loaded into a
//! model, and predictions from plain rows.

use std::path::PathBuf;

use feddx::data::ClientData;
use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Mlp {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
}

/// `Mlp` with a wider hidden layer: the same tensor names, other shapes.
#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
)]
struct WideMlp {
    net: Built<(Linear<4, 16>, ReLU, Linear<16, 3>)>,
}

/// `Mlp` with one more hidden layer: the tensors `4.weight` and `4.bias` besides its own.
#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
)]
struct DeepMlp {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 8>, ReLU, Linear<8, 3>)>,
}

/// One binary output: one logit per row.
#[federated_model(
    input_spec = (Features<4>, Targets<1>),
    loss = BinaryCrossentropy,
)]
struct Binary {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 1>)>,
}

/// Two heads on one trunk: class logits and a binary flag.
type TwoHeadNet = (
    (Linear<4, 8>, ReLU),
    SplitInto<(Linear<8, 3>, Linear<8, 1>)>,
);

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(class, flag),
    loss(class = SparseCategoricalCrossentropy, flag = BinaryCrossentropy),
)]
struct TwoHeads {
    net: Built<TwoHeadNet>,
}

fn rows(n: usize) -> Vec<[f32; 4]> {
    (0..n)
        .map(|i| {
            let t = i as f32;
            [t.sin(), (t * 0.7).cos(), (i % 5) as f32 - 2.0, t / n as f32]
        })
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The bits of every output's predictions, in output order.
fn prediction_bits(p: &Predictions) -> Vec<Vec<u32>> {
    p.outputs().iter().map(|o| bits(o.values())).collect()
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn weights_error(result: feddx::Result<()>) -> WeightsFileError {
    match result {
        Err(FeddxError::WeightsFile(e)) => e,
        other => panic!("expected a weights file error, got {other:?}"),
    }
}

#[test]
fn a_saved_model_loads_and_predicts_bit_for_bit_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "mlp.safetensors");
    let saved = Mlp::with_seed(1);
    saved.save_weights(&path).unwrap();

    let mut loaded = Mlp::with_seed(2);
    let x = rows(50);
    assert_ne!(
        prediction_bits(&loaded.predict(&x).unwrap()),
        prediction_bits(&saved.predict(&x).unwrap())
    );
    loaded.load_weights(&path).unwrap();
    assert_eq!(
        prediction_bits(&loaded.predict(&x).unwrap()),
        prediction_bits(&saved.predict(&x).unwrap())
    );
    assert_eq!(bits(&loaded.weights_vec()), bits(&saved.weights_vec()));

    // The free functions are the same thing.
    let mut again = Mlp::with_seed(3);
    feddx::load_weights(&mut again, &path).unwrap();
    assert_eq!(bits(&again.weights_vec()), bits(&saved.weights_vec()));
}

#[test]
fn weights_of_a_wider_model_are_a_shape_error_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "wide.safetensors");
    WideMlp::with_seed(0).save_weights(&path).unwrap();
    let mut model = Mlp::with_seed(0);
    let before = model.weights_vec();
    let err = weights_error(model.load_weights(&path));
    assert_eq!(
        err,
        WeightsFileError::Shape {
            path: path.clone(),
            name: "0.weight".to_owned(),
            expected: vec![8, 4],
            found: vec![16, 4],
        }
    );
    assert!(
        err.to_string().contains("`0.weight`") && err.to_string().contains("[16, 4]"),
        "{err}"
    );
    assert_eq!(bits(&model.weights_vec()), bits(&before));
}

#[test]
fn weights_of_a_model_with_another_layer_name_the_tensor_too_many_or_missing() {
    let dir = tempfile::tempdir().unwrap();
    let deep = file(&dir, "deep.safetensors");
    let shallow = file(&dir, "shallow.safetensors");
    DeepMlp::with_seed(0).save_weights(&deep).unwrap();
    Mlp::with_seed(0).save_weights(&shallow).unwrap();

    // safetensors stores tensors sorted by name: `4.bias` is the first extra one.
    assert_eq!(
        weights_error(Mlp::with_seed(0).load_weights(&deep)),
        WeightsFileError::Unexpected {
            path: deep.clone(),
            name: "4.bias".to_owned()
        }
    );
    assert_eq!(
        weights_error(DeepMlp::with_seed(0).load_weights(&shallow)),
        WeightsFileError::Missing {
            path: shallow.clone(),
            name: "4.weight".to_owned()
        }
    );
}

#[test]
fn a_truncated_file_is_a_typed_error_and_the_model_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "mlp.safetensors");
    Mlp::with_seed(1).save_weights(&path).unwrap();
    let whole = std::fs::read(&path).unwrap();
    let mut model = Mlp::with_seed(2);
    let before = model.weights_vec();
    for len in [0, 7, 100, whole.len() / 2, whole.len() - 1] {
        std::fs::write(&path, &whole[..len]).unwrap();
        match weights_error(model.load_weights(&path)) {
            WeightsFileError::NotSafetensors { path: p, .. } => assert_eq!(p, path),
            other => panic!("{len} bytes: {other:?}"),
        }
    }
    assert_eq!(bits(&model.weights_vec()), bits(&before));
}

#[test]
fn a_checkpoint_loads_into_a_fresh_model_that_predicts_as_the_simulation_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "run.safetensors");
    let x = rows(40);
    let clients = four_clients();
    let config = FedConfig::builder()
        .rounds(2)
        .clients_per_round(ClientsPerRound::Count(2))
        .local_epochs(1)
        .batch_size(5)
        .client_learning_rate(0.1)
        .build()
        .unwrap();
    let mut sim = Simulation::new(Mlp::with_seed(0), config);
    sim.run(&clients, |_| {}).unwrap();
    sim.save_checkpoint(&path).unwrap();

    let mut fresh = Mlp::with_seed(7);
    fresh.load_weights(&path).unwrap();
    assert_eq!(
        prediction_bits(&fresh.predict(&x).unwrap()),
        prediction_bits(&sim.model().predict(&x).unwrap())
    );
    assert_ne!(
        bits(&fresh.weights_vec()),
        bits(&Mlp::with_seed(0).weights_vec()),
        "the run trained the model"
    );

    // A checkpoint of another model's size is a typed error.
    assert_eq!(
        weights_error(WideMlp::with_seed(0).load_weights(&path)),
        WeightsFileError::ParameterCount {
            path: path.clone(),
            expected: WideMlp::with_seed(0).num_trainable_params(),
            found: fresh.num_trainable_params(),
        }
    );
}

/// 40 rows spread over 4 clients, labelled by their first two features.
fn four_clients() -> Vec<ClientData<Features<4>, ClassLabels>> {
    rows(40)
        .chunks(10)
        .map(|part| {
            part.iter()
                .map(|r| (*r, usize::from(r[0] > 0.0) + usize::from(r[1] > 0.5)))
                .collect()
        })
        .collect()
}

/// The safetensors header of the file `bytes`, as text.
fn header(bytes: &[u8]) -> &str {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    std::str::from_utf8(&bytes[8..8 + len]).unwrap()
}

#[test]
fn identical_runs_write_identical_checkpoint_and_weights_files() {
    let dir = tempfile::tempdir().unwrap();
    let clients = four_clients();
    // FedAdam, so the checkpoint carries all its metadata: format, version, rounds,
    // step and the optimiser's name.
    let run = |name: &str| {
        let config = FedConfig::builder()
            .rounds(2)
            .clients_per_round(ClientsPerRound::Count(2))
            .local_epochs(1)
            .batch_size(5)
            .client_learning_rate(0.1)
            .server_optimizer(feddx::federated::ServerOptimizer::adam(0.01))
            .build()
            .unwrap();
        let mut sim = Simulation::new(Mlp::with_seed(0), config);
        sim.run(&clients, |_| {}).unwrap();
        let checkpoint = file(&dir, &format!("{name}.safetensors"));
        sim.save_checkpoint(&checkpoint).unwrap();
        let weights = file(&dir, &format!("{name}-weights.safetensors"));
        sim.model().save_weights(&weights).unwrap();
        (
            std::fs::read(checkpoint).unwrap(),
            std::fs::read(weights).unwrap(),
        )
    };
    let (checkpoint, weights) = run("first");
    for again in ["second", "third", "fourth"] {
        let (checkpoint_again, weights_again) = run(again);
        assert!(
            checkpoint_again == checkpoint,
            "{again} run's checkpoint differs"
        );
        assert!(
            weights_again == weights,
            "{again} run's weights file differs"
        );
    }
    // The metadata comes first, keys sorted.
    assert!(
        header(&checkpoint).starts_with(
            r#"{"__metadata__":{"format":"feddx-checkpoint","rounds_completed":"2","server_optimizer":"fedadam","server_step":"2","version":"1"},"#
        ),
        "{}",
        header(&checkpoint)
    );
    assert!(
        header(&weights)
            .starts_with(r#"{"__metadata__":{"format":"feddx-weights","version":"1"},"#),
        "{}",
        header(&weights)
    );
}

/// Index of the first largest value, computed here (not by the crate).
fn first_argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// `e^z_k / sum_j e^z_j` in f64.
fn softmax(z: &[f64]) -> Vec<f64> {
    let sum: f64 = z.iter().map(|v| v.exp()).sum();
    z.iter().map(|v| v.exp() / sum).collect()
}

/// `1 / (1 + e^-z)` in f64.
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Rows of `width` values from a row-major vector, in f64.
fn in_rows(values: &[f32], width: usize) -> Vec<Vec<f64>> {
    values
        .chunks(width)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

#[test]
fn probabilities_are_the_softmax_of_the_forward_logits_and_classes_their_argmax() {
    let model = Mlp::with_seed(4);
    let x = rows(30);
    let logits = in_rows(
        &model
            .predict_on_batch(Features::<4>::collate(x.iter(), &Cpu::default()))
            .as_vec(),
        3,
    );
    assert_eq!(logits.len(), 30);

    let classes = model.predict_class(&x).unwrap();
    let argmax: Vec<usize> = logits.iter().map(|z| first_argmax(z)).collect();
    assert_eq!(classes, argmax);
    assert!(
        classes
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1,
        "the rows fall in more than one class"
    );

    let proba = model.predict_proba(&x).unwrap();
    assert!(proba.are_probabilities());
    assert_eq!((proba.rows(), proba.width()), (30, 3));
    let mut spread = 0.0f64;
    for (i, (row, z)) in proba.iter_rows().zip(&logits).enumerate() {
        let expected = softmax(z);
        for (k, (&p, q)) in row.iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(p) - q).abs() < 1e-6,
                "row {i}, class {k}: {p}, expected {q} from logits {z:?}"
            );
            spread = spread.max((q - 1.0 / 3.0).abs());
        }
    }
    // Far from uniform, so the check above tells a softmax from a constant.
    assert!(spread > 0.05, "{spread}");
}

#[test]
fn a_binary_output_has_sigmoid_probabilities_and_positive_logits_as_class_1() {
    // Seed 3: 12 of the 30 rows have a positive logit, so both classes occur.
    let model = Binary::with_seed(3);
    let x = rows(30);
    let logits: Vec<f64> = model
        .predict_on_batch(Features::<4>::collate(x.iter(), &Cpu::default()))
        .as_vec()
        .into_iter()
        .map(f64::from)
        .collect();
    assert_eq!(logits.len(), 30);
    let proba = model.predict_proba(&x).unwrap();
    assert_eq!((proba.rows(), proba.width()), (30, 1));
    let classes = model.predict_class(&x).unwrap();
    for (i, ((&z, &p), &c)) in logits.iter().zip(proba.values()).zip(&classes).enumerate() {
        let expected = sigmoid(z);
        assert!(
            (f64::from(p) - expected).abs() < 1e-6,
            "row {i}: {p}, expected {expected} from logit {z}"
        );
        assert_eq!(c, usize::from(z > 0.0), "row {i}: logit {z}");
    }
    assert!(classes.contains(&0) && classes.contains(&1), "{classes:?}");
}

#[test]
fn no_rows_is_an_empty_batch() {
    let model = Mlp::with_seed(0);
    assert_eq!(model.predict(&[]).unwrap_err(), FeddxError::EmptyBatch);
    assert_eq!(
        model.predict_class(&[]).unwrap_err(),
        FeddxError::EmptyBatch
    );
    assert_eq!(
        TwoHeads::with_seed(0)
            .predict_proba_of("flag", &[])
            .unwrap_err(),
        FeddxError::EmptyBatch
    );
}

#[test]
fn a_two_output_model_gives_both_outputs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "two.safetensors");
    let model = TwoHeads::with_seed(6);
    let x = rows(12);
    let p = model.predict(&x).unwrap();
    let names: Vec<&str> = p.outputs().iter().map(|o| o.name()).collect();
    assert_eq!(names, ["class", "flag"]);

    let (class_logits, flag_logits) =
        model.predict_on_batch(Features::<4>::collate(x.iter(), &Cpu::default()));
    let class = p.output("class").unwrap();
    let flag = p.output("flag").unwrap();
    assert_eq!((class.width(), flag.width()), (3, 1));
    assert_eq!(bits(class.values()), bits(&class_logits.as_vec()));
    assert_eq!(bits(flag.values()), bits(&flag_logits.as_vec()));

    // Classes and probabilities of each head, against the forward pass's logits.
    let class_rows = in_rows(&class_logits.as_vec(), 3);
    let argmax: Vec<usize> = class_rows.iter().map(|z| first_argmax(z)).collect();
    assert_eq!(model.predict_class_of("class", &x).unwrap(), argmax);
    let class_proba = model.predict_proba_of("class", &x).unwrap();
    for (row, z) in class_proba.iter_rows().zip(&class_rows) {
        for (&p, q) in row.iter().zip(softmax(z)) {
            assert!(
                (f64::from(p) - q).abs() < 1e-6,
                "{row:?} vs softmax of {z:?}"
            );
        }
    }
    let flag_z: Vec<f64> = flag_logits.as_vec().into_iter().map(f64::from).collect();
    let positive: Vec<usize> = flag_z.iter().map(|&z| usize::from(z > 0.0)).collect();
    assert_eq!(model.predict_class_of("flag", &x).unwrap(), positive);
    let flag_proba = model.predict_proba_of("flag", &x).unwrap();
    assert_eq!(flag_proba.width(), 1);
    for (&p, &z) in flag_proba.values().iter().zip(&flag_z) {
        assert!(
            (f64::from(p) - sigmoid(z)).abs() < 1e-6,
            "{p} vs sigmoid({z})"
        );
    }
    assert_eq!(
        model.predict_proba_of("parity", &x).unwrap_err(),
        FeddxError::UnknownOutput {
            name: "parity".to_owned(),
            outputs: &["class", "flag"]
        }
    );
    assert!(matches!(
        p.output("parity"),
        Err(FeddxError::UnknownOutput { .. })
    ));

    // Both heads' weights round-trip.
    model.save_weights(&path).unwrap();
    let mut loaded = TwoHeads::with_seed(7);
    loaded.load_weights(&path).unwrap();
    assert_eq!(
        prediction_bits(&loaded.predict(&x).unwrap()),
        prediction_bits(&p)
    );
}

#[test]
fn a_single_output_model_s_predictions_read_directly_and_print_as_a_table() {
    let x = rows(12);
    let mlp = Mlp::with_seed(4);
    let p = mlp.predict(&x).unwrap();
    let classes = p.classes().unwrap();
    assert_eq!(classes, mlp.predict_class(&x).unwrap());
    assert_eq!(p.probabilities().unwrap(), mlp.predict_proba(&x).unwrap());
    assert_eq!(
        p.values().unwrap_err(),
        FeddxError::SeveralValuesPerRow {
            output: "output",
            width: 3
        }
    );
    // One value a row: the binary output's logits, as `values()` of a regression.
    let binary = Binary::with_seed(3).predict(&x).unwrap();
    assert_eq!(
        bits(binary.values().unwrap()),
        bits(binary.outputs()[0].values())
    );
    assert_eq!(binary.values().unwrap().len(), 12);
    let two = TwoHeads::with_seed(6).predict(&x).unwrap();
    assert_eq!(
        two.classes().unwrap_err(),
        FeddxError::SeveralOutputs {
            accessor: "classes",
            outputs: &["class", "flag"]
        }
    );

    let table = p.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "12 rows; output: 3 values a row");
    assert_eq!(lines.len(), 2 + 10 + 1, "{table}");
    for (line, class) in lines[2..12].iter().zip(&classes) {
        assert!(line.ends_with(&format!("argmax {class}")), "{line}");
    }
    assert_eq!(format!("{p:#}").lines().count(), 2 + 12);
}
