//! A user's own data: a regression data set built from plain rows, trained
//! federatedly, recovers the coefficients that generated it; the bundled sample
//! files of the `own_data` example load and train.

use feddx::data::{partition, read_csv, CsvOptions, Dataset, LabelColumn};
use feddx::federated::{evaluate, BatchSize, ClientsPerRound, FedConfig, Simulation};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, Targets<1>),
    loss = MeanSquaredError,
    metrics = [MeanAbsoluteError],
)]
struct Linear4 {
    net: Built<Linear<4, 1>>,
}

/// `y = 1.5 x0 - 2 x1 + 0.5 x2 + 0 x3 + 3`, no noise.
const COEFFICIENTS: [f32; 4] = [1.5, -2.0, 0.5, 0.0];
const INTERCEPT: f32 = 3.0;

#[test]
fn federated_linear_regression_recovers_the_true_coefficients() {
    // Features uniform in -1..1 from a 64-bit LCG (Knuth's MMIX constants).
    let mut state = 7u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let rows: Vec<[f32; 4]> = (0..400)
        .map(|_| std::array::from_fn(|_| uniform()))
        .collect();
    let targets: Vec<[f32; 1]> = rows
        .iter()
        .map(|x| [x.iter().zip(COEFFICIENTS).map(|(x, w)| x * w).sum::<f32>() + INTERCEPT])
        .collect();
    let data = Dataset::<4, [f32; 1]>::regression(&rows, targets).unwrap();
    let (train, test) = data.train_test_split(0.2, 0).unwrap();
    let parts = partition::Iid::default()
        .clients(8)
        .split(train.len())
        .unwrap();
    let config = FedConfig::builder()
        .rounds(40)
        .clients_per_round(ClientsPerRound::Count(4))
        .local_epochs(2)
        .batch_size(10)
        .client_learning_rate(0.1)
        .build()
        .unwrap();
    let mut sim = Simulation::new(Linear4::with_seed(0), config);
    sim.run(&train.clients(&parts), |_| {}).unwrap();
    let model = sim.into_model();

    // Tolerance: 0.02 on each coefficient and the intercept.
    let weights = model.trainable_weights();
    let (w, b) = (&weights[0].values, &weights[1].values);
    for (got, want) in w.iter().zip(COEFFICIENTS) {
        assert!(
            (got - want).abs() < 0.02,
            "coefficients {w:?}, expected {COEFFICIENTS:?}"
        );
    }
    assert!((b[0] - INTERCEPT).abs() < 0.02, "intercept {}", b[0]);
    let mse = evaluate(&model, &test.to_client_data(), BatchSize::Full).unwrap();
    assert!(mse.get("loss").unwrap() < 1e-3, "{mse}");
}

#[test]
fn the_example_samples_load_with_the_types_they_need() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/own_data");
    let by_name = CsvOptions::default().label(LabelColumn::Name("species".into()));
    let plants: Dataset<6> = read_csv(dir.join("plants.csv"), &by_name).unwrap();
    assert_eq!((plants.len(), plants.num_classes), (600, 3));
    assert!(plants.class_counts().iter().all(|&c| c > 150));
    let yields: Dataset<6, [f32; 1]> =
        read_csv(dir.join("yields.csv"), &CsvOptions::default()).unwrap();
    assert_eq!(yields.len(), 600);
    // Reading the classes as 6 features fails at the header's width, with the line.
    let err = read_csv::<5, usize>(dir.join("plants.csv"), &by_name)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("plants.csv, line 2: 7 fields, expected 6 (5 features and the label)"),
        "{err}"
    );
}

/// The `own_data` example, built by `cargo test` with the other examples.
fn own_data_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let path = dir
        .join("examples")
        .join(format!("own_data{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

#[test]
fn the_example_ends_a_bad_file_with_one_line_naming_it_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.csv");
    std::fs::write(&file, "a,b,c,d,e,f,y\n1,2,3,4,5,6,0\n1,2,x,4,5,6,1\n").unwrap();
    let out = std::process::Command::new(own_data_binary())
        .arg(&file)
        .args(["--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "error: {}, line 3: `x` in column `c` is not a number\n",
            file.display()
        )
    );
}

#[test]
fn the_example_trains_saves_and_predicts_on_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/own_data");
    let out = std::process::Command::new(own_data_binary())
        .arg("--predict")
        .arg(samples.join("new_plants.csv"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let accuracy: f64 = last
        .strip_prefix("test accuracy: ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(accuracy > 0.8, "{stdout}");
    // The 5 new plants were drawn around the centres of species 0, 1, 2, 0, 2.
    for (row, class) in [0, 1, 2, 0, 2].iter().enumerate() {
        assert!(
            stdout.contains(&format!("row {row}: class {class}\n")),
            "{stdout}"
        );
    }
    assert!(dir.path().join("model.safetensors").exists());
}
