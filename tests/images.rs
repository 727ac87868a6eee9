//! A conv net declared with `#[federated_model]` on `Images<1, 8, 8>`: its input
//! spec, a simulated federated round on synthetic images that lowers the loss, and
//! its weights through a checkpoint and a weights file.

use feddx::data::{datasets, partition, ClientData};
use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
use feddx::prelude::*;

type Cnn = (
    Conv2D<1, 4, 3, 1, 1>,
    ReLU,
    MaxPool2D<2, 2>,
    Flatten2D,
    Linear<64, 4>,
);

/// Which of four bars an 8x8 image shows.
#[federated_model(
    input_spec = (Images<1, 8, 8>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Bars {
    net: Built<Cnn>,
}

type Image = [[[f32; 8]; 8]; 1];

/// `n` noisy images of four kinds: a horizontal bar in the top or the bottom half, a
/// vertical bar in the left or the right half; the label is the kind.
fn bars(n: usize, seed: u64) -> Vec<(Image, usize)> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.6
    };
    (0..n)
        .map(|i| {
            let label = i % 4;
            let at = (i / 4) % 4 + if label % 2 == 0 { 0 } else { 4 };
            let mut image = [[[0.0; 8]; 8]; 1];
            for (y, row) in image[0].iter_mut().enumerate() {
                for (x, v) in row.iter_mut().enumerate() {
                    let on = if label < 2 { y == at } else { x == at };
                    *v = f32::from(u8::from(on)) + noise();
                }
            }
            (image, label)
        })
        .collect()
}

fn config(rounds: usize) -> FedConfig {
    FedConfig::builder()
        .rounds(rounds)
        .clients_per_round(ClientsPerRound::Count(4))
        .local_epochs(2)
        .batch_size(8)
        .client_learning_rate(0.1)
        .seed(1)
        .build()
        .unwrap()
}

fn clients() -> (
    Vec<ClientData<Images<1, 8, 8>, ClassLabels>>,
    ClientData<Images<1, 8, 8>, ClassLabels>,
) {
    let train = bars(160, 0);
    let parts = partition::Iid::default()
        .clients(4)
        .split(train.len())
        .unwrap();
    let clients = parts
        .iter()
        .map(|p| p.iter().map(|&i| train[i]).collect())
        .collect();
    (clients, ClientData::new(bars(80, 1)))
}

#[test]
fn the_input_spec_reads_as_images() {
    assert_eq!(
        Bars::input_spec().to_string(),
        "(x: f32[?, 1, 8, 8], y: usize[?])"
    );
    let model = Bars::with_seed(0);
    assert_eq!(model.num_trainable_params(), 4 * 9 + 4 + 64 * 4 + 4);
}

#[test]
fn federated_rounds_lower_the_loss_on_images() {
    let (clients, test) = clients();
    let mut sim = Simulation::new(Bars::with_seed(0), config(6)).with_evaluation_data(test.clone());
    let before = sim.evaluate(&test).unwrap();
    let reports = sim.run(&clients, |_| {}).unwrap();
    assert_eq!(reports.len(), 6);
    let loss = |m: &MetricValues| m.get("loss").unwrap();
    let after = reports[5].eval.as_ref().unwrap();
    assert!(
        loss(after) < 0.5 * loss(&before),
        "loss before {} and after 6 rounds {}",
        loss(&before),
        loss(after)
    );
    assert!(loss(&reports[5].train) < loss(&reports[0].train));
    let accuracy = after.get("sparse_categorical_accuracy").unwrap();
    assert!(accuracy > 0.9, "accuracy after 6 rounds: {accuracy}");
}

#[test]
fn image_model_weights_round_trip_through_a_checkpoint_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (clients, test) = clients();
    let mut sim = Simulation::new(Bars::with_seed(0), config(2));
    sim.run_round(&clients).unwrap();
    let checkpoint = dir.path().join("checkpoint.safetensors");
    sim.save_checkpoint(&checkpoint).unwrap();

    let mut resumed = Simulation::new(Bars::with_seed(7), config(2));
    resumed.restore_checkpoint(&checkpoint).unwrap();
    let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(resumed.global_weights()), bits(sim.global_weights()));
    assert_eq!(resumed.rounds_completed(), 1);
    // Both take the same second round.
    sim.run_round(&clients).unwrap();
    resumed.run_round(&clients).unwrap();
    assert_eq!(bits(resumed.global_weights()), bits(sim.global_weights()));

    let model = sim.into_model();
    let file = dir.path().join("bars.safetensors");
    model.save_weights(&file).unwrap();
    let mut loaded = Bars::with_seed(3);
    assert_ne!(bits(&loaded.weights_vec()), bits(&model.weights_vec()));
    loaded.load_weights(&file).unwrap();
    assert_eq!(bits(&loaded.weights_vec()), bits(&model.weights_vec()));
    let images: Vec<Image> = test.examples().iter().map(|e| e.0).collect();
    assert_eq!(
        loaded.predict_class(&images).unwrap(),
        model.predict_class(&images).unwrap()
    );
}

#[test]
fn the_digits_train_as_one_channel_images() {
    let (train, test) = datasets::digits()
        .unwrap()
        .train_test_split(0.2, 0)
        .unwrap();
    let parts = partition::Dirichlet::default()
        .clients(4)
        .alpha(0.5)
        .min_size(2)
        .split(&train.labels)
        .unwrap();
    let clients = train.image_clients::<1, 8, 8>(&parts);
    assert_eq!(
        clients.iter().map(ClientData::len).sum::<usize>(),
        train.len()
    );
    assert_eq!(
        clients[0].examples()[0].0[0][3][5],
        train.features[parts[0][0]][3 * 8 + 5]
    );

    #[federated_model(
        input_spec = (Images<1, 8, 8>, ClassLabels),
        loss = SparseCategoricalCrossentropy,
        metrics = [SparseCategoricalAccuracy],
    )]
    struct DigitCnn {
        net: Built<(
            Conv2D<1, 4, 3, 1, 1>,
            ReLU,
            MaxPool2D<2, 2>,
            Flatten2D,
            Linear<64, 10>,
        )>,
    }

    let config = FedConfig::builder()
        .rounds(2)
        .clients_per_round(ClientsPerRound::Count(4))
        .batch_size(20)
        .client_learning_rate(0.01)
        .build()
        .unwrap();
    let test = test.to_image_client_data::<1, 8, 8>();
    let mut sim = Simulation::new(DigitCnn::with_seed(0), config).with_evaluation_data(test);
    let reports = sim.run(&clients, |_| {}).unwrap();
    let loss = |i: usize| reports[i].eval.as_ref().unwrap().get("loss").unwrap();
    assert!(loss(1) < loss(0), "loss {} then {}", loss(0), loss(1));
}
