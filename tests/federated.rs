//! Federated training of a `#[federated_model]` on the real digits data.

use feddx::data::{datasets, partition, ClientData};
use feddx::federated::{
    evaluate, train_client, Algorithm, BatchSize, ClientsPerRound, FedConfig, LocalTraining,
    Simulation,
};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<(Linear<64, 32>, ReLU, Linear<32, 10>)>,
}

const ACCURACY: &str = "sparse_categorical_accuracy";

type Data = ClientData<Features<64>, ClassLabels>;

fn split() -> (datasets::Dataset<64>, Data) {
    let (train, test) = datasets::digits()
        .unwrap()
        .train_test_split(0.2, 0)
        .unwrap();
    let test = test.to_client_data();
    (train, test)
}

/// Plain minibatch SGD over all the training data, for `epochs` epochs: the
/// centralised baseline, which is one client holding everything.
fn centralised(train: &Data, test: &Data, epochs: usize) -> f64 {
    let mut model = Digits::with_seed(0);
    let global = model.weights_vec();
    let training = LocalTraining {
        algorithm: Algorithm::FedAvg,
        local_epochs: epochs,
        batch_size: BatchSize::Examples(20),
        learning_rate: 0.1,
    };
    let update = train_client(&mut model, &global, train, &training, 0).unwrap();
    let trained: Vec<f32> = global
        .iter()
        .zip(&update.delta)
        .map(|(g, d)| g + d)
        .collect();
    model.set_weights_vec(&trained).unwrap();
    evaluate(&model, test, BatchSize::Full)
        .unwrap()
        .get(ACCURACY)
        .unwrap()
}

fn config(
    rounds: usize,
    per_round: ClientsPerRound,
    local_epochs: usize,
    parallel: bool,
) -> FedConfig {
    FedConfig::builder()
        .rounds(rounds)
        .clients_per_round(per_round)
        .local_epochs(local_epochs)
        .batch_size(20)
        .client_learning_rate(0.1)
        .seed(3)
        .parallel(parallel)
        .build()
        .unwrap()
}

/// Centralised SGD runs 20 epochs; FedAvg runs 20 rounds in which all 10 IID
/// clients train 5 local epochs (each round averages the clients' models, so FedAvg
/// needs more local work than centralised SGD for the same accuracy; McMahan et al.
/// 2017). The bound: FedAvg's test accuracy is within 2 points of the centralised one.
#[test]
fn fedavg_on_iid_digits_comes_close_to_centralised_training() {
    let (train, test) = split();
    let central = centralised(&train.to_client_data(), &test, 20);

    let parts = partition::Iid::default()
        .clients(10)
        .seed(1)
        .split(train.len())
        .unwrap();
    let clients = train.clients(&parts);
    let config = config(20, ClientsPerRound::Fraction(1.0), 5, true);
    let mut sim = Simulation::new(Digits::with_seed(0), config).with_evaluation_data(test);
    let reports = sim.run(&clients, |_| {}).unwrap();
    let last = reports.last().unwrap().eval.as_ref().unwrap();
    let federated = last.get(ACCURACY).unwrap();
    println!("centralised {central:.4}, FedAvg {federated:.4}");

    assert!(
        central > 0.93,
        "centralised baseline only reached {central}"
    );
    assert!(
        federated >= central - 0.02,
        "FedAvg reached {federated}, centralised {central}"
    );
}

/// A round's clients trained on all cores give the same bits as one after the other.
#[test]
fn parallel_rounds_equal_sequential_rounds_bit_for_bit() {
    let (train, _) = split();
    let parts = partition::Dirichlet::default()
        .clients(8)
        .alpha(0.5)
        .min_size(2)
        .seed(4)
        .split(&train.labels)
        .unwrap();
    let clients = train.clients(&parts);
    let run = |parallel| {
        let mut sim = Simulation::new(
            Digits::with_seed(1),
            config(3, ClientsPerRound::Count(4), 1, parallel),
        );
        let reports = sim.run(&clients, |_| {}).unwrap();
        let losses: Vec<u64> = reports
            .iter()
            .map(|r| r.train.get("loss").unwrap().to_bits())
            .collect();
        let bits: Vec<u32> = sim.global_weights().iter().map(|w| w.to_bits()).collect();
        (bits, losses)
    };
    assert_eq!(run(true), run(false));
}

/// A round's example counts: 692 examples over 4 clients, all sampled, trained for
/// 5 local epochs, cover 692 examples and process 3,460 (the training metrics'
/// `num_examples`, which count every batch); the CSV shows both.
#[test]
fn a_round_reports_the_examples_it_covered_and_those_it_processed() {
    let (train, _) = split();
    let first: Vec<usize> = (0..692).collect();
    let train = train.subset(&first);
    let parts = partition::Iid::default()
        .clients(4)
        .split(train.len())
        .unwrap();
    let clients = train.clients(&parts);
    let mut sim = Simulation::new(
        Digits::with_seed(0),
        config(1, ClientsPerRound::Fraction(1.0), 5, false),
    );
    let report = sim.run_round(&clients).unwrap();
    assert_eq!(report.counts.succeeded, 4);
    assert_eq!(report.examples_covered, 692);
    assert_eq!(report.examples_processed, 3460);
    assert_eq!(report.train.get("num_examples"), Some(3460.0));

    let mut csv = feddx::report::RoundCsv::from_writer(Vec::new());
    csv.write_round(&report).unwrap();
    let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cell = |name: &str| {
        let column = lines[0].split(',').position(|c| c == name).unwrap();
        lines[1].split(',').nth(column).unwrap().to_owned()
    };
    assert_eq!(cell("examples_covered"), "692");
    assert_eq!(cell("examples_processed"), "3460");
}
