use feddx::prelude::*;

// Keras' string names, in every form a loss or a metric takes, mixed with expressions.
#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>, Targets<3>, Targets<2>)),
    outputs(digit, parity, onehot, value),
    loss = ["sparse_categorical_crossentropy", "binary_crossentropy", CategoricalCrossentropy, "huber"],
    metrics(
        digit = ["accuracy", "sparse_categorical_accuracy"],
        parity = ["acc", "binary_accuracy", "precision", "recall", Mean],
        onehot = ["accuracy", "categorical_accuracy"],
        value = ["mse", "mean_absolute_error", "mean"],
    ),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>, Linear<4, 3>, Linear<4, 2>)>>,
}

#[federated_model(input_spec = (Features<2>, Targets<1>), loss = "mse", metrics = ["mae"])]
struct Regression {
    net: Built<Linear<2, 1>>,
}

#[federated_model(
    input_spec = (Features<2>, Targets<2>),
    loss(output = "huber"),
    metrics(output = ["mean_squared_error", "acc"]),
)]
struct ByName {
    net: Built<Linear<2, 2>>,
}

fn main() {
    let dev = Cpu::default();

    // Metric names: `"accuracy"` and `"acc"` are reported as `accuracy`, and are the
    // accuracy the output's labels and width call for.
    let model = Model::with_seed(0);
    let x: Batch<4> = dev.tensor_from_vec(
        vec![
            0.25, -0.5, 1.0, 0.0, 1.0, 0.5, -1.0, 2.0, 0.0, 0.3, -0.7, 1.5,
        ],
        (3, Const::<4>),
    );
    let y = (
        vec![1, 7, 3],
        dev.tensor_from_vec(vec![1.0, 0.0, 1.0], (3, Const::<1>)),
        dev.tensor_from_vec(
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            (3, Const::<3>),
        ),
        dev.tensor_from_vec(vec![0.5, -1.0, 2.0, 0.0, 1.0, 1.0], (3, Const::<2>)),
    );
    let mut state = model.metrics_state();
    model.evaluate_into(&mut state, x, &y).unwrap();
    let values = model.finalize_metrics(&state);
    let names: Vec<&str> = values.names().collect();
    assert_eq!(
        names,
        [
            "loss",
            "num_examples",
            "num_batches",
            "digit/accuracy",
            "digit/sparse_categorical_accuracy",
            "parity/accuracy",
            "parity/binary_accuracy",
            "parity/precision",
            "parity/recall",
            "parity/mean",
            "onehot/accuracy",
            "onehot/categorical_accuracy",
            "value/mean_squared_error",
            "value/mean_absolute_error",
            "value/mean",
        ]
    );
    let get = |name| values.get(name).unwrap();
    assert_eq!(
        get("digit/accuracy"),
        get("digit/sparse_categorical_accuracy")
    );
    assert_eq!(get("parity/accuracy"), get("parity/binary_accuracy"));
    assert_eq!(get("onehot/accuracy"), get("onehot/categorical_accuracy"));

    // `"huber"` is `Huber { delta: 1.0 }`, Keras' default.
    let by_name = ByName::with_seed(0);
    let x: Batch<2> = dev.tensor_from_vec(vec![1.0, 2.0, -3.0, 0.5], (2, Const::<2>));
    let y: Batch<2> = dev.tensor_from_vec(vec![0.0, 1.0, 4.0, -2.0], (2, Const::<2>));
    let predictions = by_name.predict_on_batch(x.clone());
    let huber = Huber { delta: 1.0 };
    let expected = Loss::<2, NoneTape, Targets<2>>::loss(&huber, predictions, &y).unwrap();
    let loss = by_name.evaluate_batch(x.clone(), &y).unwrap().loss;
    assert_eq!(loss.array(), expected.array());
    let mut state = by_name.metrics_state();
    by_name.evaluate_into(&mut state, x, &y).unwrap();
    let values = by_name.finalize_metrics(&state);
    let names: Vec<&str> = values.names().collect();
    assert_eq!(names[3..], ["mean_squared_error", "accuracy"]);

    // One training step of a model written with string names lowers its loss.
    let mut regression = Regression::with_seed(0);
    let x: Batch<2> = dev.tensor_from_vec(vec![1.0, 2.0, -1.0, 0.5], (2, Const::<2>));
    let y: Batch<1> = dev.tensor_from_vec(vec![3.0, -1.0], (2, Const::<1>));
    let before = regression
        .evaluate_batch(x.clone(), &y)
        .unwrap()
        .loss
        .array();
    let predictions = regression.predict_on_batch(x.clone());
    let mse = Loss::<1, NoneTape, Targets<1>>::loss(&MeanSquaredError, predictions, &y).unwrap();
    assert_eq!(before, mse.array());
    let grads = regression.module().alloc_grads();
    let grads = regression
        .training_loss(x.clone().traced(grads), &y)
        .unwrap()
        .backward();
    let config = SgdConfig {
        lr: 0.05,
        momentum: None,
        weight_decay: None,
    };
    let mut sgd = Sgd::new(regression.module(), config);
    sgd.update(regression.module_mut(), &grads).unwrap();
    let after = regression.evaluate_batch(x, &y).unwrap().loss.array();
    assert!(after < before, "{after} < {before}");
}
