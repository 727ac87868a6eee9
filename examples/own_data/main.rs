//! Your own data in, a trained model out: reads a CSV file, splits it 80/20, spreads
//! the training part over 10 clients, trains federatedly (FedAvg), saves the model
//! and predicts new rows.
//!
//! ```text
//! cargo run --release --example own_data                       # the bundled plants.csv
//! cargo run --release --example own_data -- FILE.csv --label-column species \
//!     [--task classification|regression] [--predict ROWS.csv] [--out DIR]
//! ```
//!
//! Models are checked at compile time, so the number of features (6) and of classes
//! (3) are constants below: change them to fit your file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use feddx::data::{
    partition, read_csv, read_features, standardize_rows, CsvOptions, Dataset, Label, LabelColumn,
};
use feddx::federated::{evaluate, BatchSize, ClientDataOf, ClientsPerRound, FedConfig, Simulation};
use feddx::prelude::*;

/// Features per row of your file (every column but the label's).
const FEATURES: usize = 6;

/// A classifier: `FEATURES` numbers in, one logit per class out (3 classes).
#[federated_model(
    input_spec = (Features<FEATURES>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Classifier {
    net: Built<(Linear<FEATURES, 32>, ReLU, Linear<32, 3>)>,
}

/// A regressor: `FEATURES` numbers in, one value out.
#[federated_model(
    input_spec = (Features<FEATURES>, Targets<1>),
    loss = MeanSquaredError,
    metrics = [MeanAbsoluteError],
)]
struct Regressor {
    net: Built<(Linear<FEATURES, 32>, ReLU, Linear<32, 1>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Task {
    /// Integer class labels (0, 1, 2): accuracy.
    Classification,
    /// A numeric target: mean squared error.
    Regression,
}

/// Federated training on your own CSV file.
#[derive(Debug, Parser)]
struct Args {
    /// The CSV file (header line, one row per example); default: the bundled
    /// plants.csv (classification) or yields.csv (regression).
    file: Option<PathBuf>,
    /// The label's column, by name or index; default: the last column.
    #[arg(long)]
    label_column: Option<String>,
    /// What the label is.
    #[arg(long, value_enum, default_value_t = Task::Classification)]
    task: Task,
    /// A CSV file of rows to predict (the feature columns only, with a header).
    #[arg(long)]
    predict: Option<PathBuf>,
    /// Where the trained model goes (`model.safetensors`).
    #[arg(long, default_value = "target/own_data")]
    out: PathBuf,
    /// Seed of the split, partition, weights and training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> Result<()> {
    let sample = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/own_data")
            .join(name)
    };
    let file = args.file.clone().unwrap_or_else(|| match args.task {
        Task::Classification => sample("plants.csv"),
        Task::Regression => sample("yields.csv"),
    });
    let label = match &args.label_column {
        Some(column) => column.parse()?,
        None => LabelColumn::Last,
    };
    let options = CsvOptions::default().label(label);
    let new_rows = match &args.predict {
        Some(path) => read_features::<FEATURES>(path, &options)?,
        None => Vec::new(),
    };
    match args.task {
        Task::Classification => {
            // The model has 3 outputs: a label of 3 or more is an error at its line.
            let data = read_csv::<FEATURES, usize>(&file, &options.clone().num_classes(3))?;
            let trained = train(Classifier::with_seed(args.seed), data, args)?;
            if !new_rows.is_empty() {
                let classes = trained
                    .model
                    .predict_class(&trained.standardized(&new_rows))?;
                for (row, class) in classes.iter().enumerate() {
                    println!("row {row}: class {class}");
                }
            }
            let accuracy = trained.test.get("sparse_categorical_accuracy");
            println!("test accuracy: {:.4}", accuracy.unwrap_or(f64::NAN));
        }
        Task::Regression => {
            let data = read_csv::<FEATURES, [f32; 1]>(&file, &options)?;
            let trained = train(Regressor::with_seed(args.seed), data, args)?;
            if !new_rows.is_empty() {
                let predictions = trained.model.predict(&trained.standardized(&new_rows))?;
                for (row, value) in predictions.values()?.iter().enumerate() {
                    println!("row {row}: {value:.4}");
                }
            }
            println!(
                "test mse: {:.4}",
                trained.test.get("loss").unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}

/// A trained model, its test metrics, and the training statistics new rows are
/// standardised with.
struct Trained<M> {
    model: M,
    test: feddx::metrics::MetricValues,
    mean: [f32; FEATURES],
    std: [f32; FEATURES],
}

impl<M> Trained<M> {
    fn standardized(&self, rows: &[[f32; FEATURES]]) -> Vec<[f32; FEATURES]> {
        let mut rows = rows.to_vec();
        standardize_rows(&mut rows, &self.mean, &self.std);
        rows
    }
}

/// Splits `data` 80/20, standardises it with the training statistics, spreads the
/// training part over 10 clients (label-skewed for classes), trains 30 rounds of
/// FedAvg, evaluates on the test part and saves the model under `--out`.
fn train<M, L>(model: M, data: Dataset<FEATURES, L>, args: &Args) -> Result<Trained<M>>
where
    L: Label,
    M: FederatedModel<Features = Features<FEATURES>, Labels = L::Spec>,
{
    let (mut train, mut test) = data.train_test_split(0.2, args.seed)?;
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let parts = match train.classes() {
        Some(classes) => partition::Dirichlet {
            clients: 10,
            alpha: 1.0,
            min_size: 2,
            seed: args.seed,
            classes: Some(train.num_classes),
        }
        .split(&classes)?,
        None => partition::Iid {
            clients: 10,
            seed: args.seed,
        }
        .split(train.len())?,
    };
    let clients: Vec<ClientDataOf<M>> = train.clients(&parts);
    println!(
        "{} training rows over {} clients, {} test rows",
        train.len(),
        clients.len(),
        test.len()
    );
    let config = FedConfig::builder()
        .rounds(30)
        .clients_per_round(ClientsPerRound::Count(5))
        .local_epochs(2)
        .batch_size(16)
        .client_learning_rate(0.05)
        .seed(args.seed)
        .build()?;
    let mut sim = Simulation::new(model, config);
    sim.run(&clients, |_| {})?;
    let model = sim.into_model();
    let test = evaluate(&model, &test.to_client_data(), BatchSize::Full)?;
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("model.safetensors");
    model.save_weights(&path)?;
    println!("saved the model to {}", path.display());
    Ok(Trained {
        model,
        test,
        mean,
        std,
    })
}
