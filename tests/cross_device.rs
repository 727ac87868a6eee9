//! The cross_device example and the client store it trains from: a Synthetic(1, 1)
//! population of 20,000 clients, two rounds, trained from owned `ClientData`, from an
//! in-memory store, from a memory-mapped store file, from a store file read back and
//! from clients generated on demand: the same bits every way, and the same bits as
//! the example prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use feddx::data::{
    ClientSizes, ClientSource, ClientStore, StoreAccess, StoreError, Synthetic, SyntheticClient,
};
use feddx::federated::{ClientsPerRound, FedConfig, RoundReport, Simulation};
use feddx::prelude::*;

/// The example's model.
#[federated_model(
    input_spec = (Features<60>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Softmax {
    net: Built<Linear<60, 10>>,
}

const CLIENTS: usize = 20_000;
const PER_ROUND: usize = 200;
const ROUNDS: usize = 2;
const SEED: u64 = 3;

fn synthetic() -> Synthetic {
    Synthetic::new(1.0, 1.0, SEED)
        .unwrap()
        .with_sizes(ClientSizes::Fixed(10))
        .unwrap()
}

/// The example's run, on `clients`: the final weights' bits and the reports.
fn run<S>(clients: &S) -> (Vec<u32>, Vec<RoundReport>)
where
    S: ClientSource<Features<60>, ClassLabels> + ?Sized,
{
    let config = FedConfig::builder()
        .rounds(ROUNDS)
        .clients_per_round(ClientsPerRound::Count(PER_ROUND))
        .local_epochs(1)
        .batch_size(10)
        .client_learning_rate(0.01)
        .seed(SEED)
        .parallel(true)
        .build()
        .unwrap();
    let mut sim = Simulation::new(Softmax::build(&Cpu::seed_from_u64(SEED)), config);
    let reports = sim.run(clients, |_| {}).unwrap();
    let bits = sim.global_weights().iter().map(|w| w.to_bits()).collect();
    (bits, reports)
}

/// The example's digest: FNV-1a over the weights' little-endian bits.
fn digest(bits: &[u32]) -> u64 {
    bits.iter().fold(0xcbf2_9ce4_8422_2325, |h, w| {
        w.to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    })
}

#[test]
fn every_kind_of_client_source_trains_the_same_bits() {
    let synthetic = synthetic();
    let owned: Vec<SyntheticClient> = (0..CLIENTS).map(|k| synthetic.client(k)).collect();
    let store = synthetic.store(CLIENTS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("synthetic.store");
    synthetic.write_store(CLIENTS, &file).unwrap();
    // SAFETY: the file was written above and nothing writes it again.
    let mapped = ClientStore::<60>::open(&file, unsafe { StoreAccess::mmap() }).unwrap();
    let read = ClientStore::<60>::open(&file, StoreAccess::read()).unwrap();
    assert!(mapped.is_mapped() && !read.is_mapped() && !store.is_mapped());
    assert_eq!(mapped.features(), store.features());
    assert_eq!(read.labels(), store.labels());

    let (expected, reports) = run(&owned);
    assert_eq!(reports.len(), ROUNDS);
    assert_eq!(reports[0].counts.succeeded, PER_ROUND);
    assert!(
        expected.iter().any(|&b| f32::from_bits(b) != 0.0),
        "trained weights"
    );
    for (name, (bits, r)) in [
        ("in-memory store", run(&store)),
        ("mapped store", run(&mapped)),
        ("read store", run(&read)),
        ("on demand", run(&synthetic.population(CLIENTS))),
    ] {
        assert_eq!(bits, expected, "{name}");
        for (a, b) in r.iter().zip(&reports) {
            assert_eq!((&a.clients, &a.train), (&b.clients, &b.train), "{name}");
        }
    }
}

#[test]
fn store_files_refuse_what_they_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.store");
    synthetic().write_store(3, &file).unwrap();
    let other = ClientStore::<59>::open(&file, StoreAccess::read()).unwrap_err();
    assert!(
        matches!(other, StoreError::Shape { .. }),
        "{other}: asked for 59 features"
    );
    assert!(other.to_string().ends_with(
        "holds 60 features, class labels; the store asked for holds 59 features, class labels"
    ));
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.store");
    std::fs::write(&cut, &bytes[..bytes.len() - 4]).unwrap();
    let err = ClientStore::<60>::open(&cut, StoreAccess::read()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let text = dir.path().join("text.store");
    std::fs::write(&text, "not a store at all, just text").unwrap();
    let err = ClientStore::<60>::open(&text, StoreAccess::read()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    let mut newer = bytes.clone();
    newer[8] = 2;
    std::fs::write(&text, &newer).unwrap();
    let err = ClientStore::<60>::open(&text, StoreAccess::read()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Version {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}

/// The `cross_device` example, built by `cargo test` with the other examples.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir
        .join("examples")
        .join(format!("cross_device{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

/// Runs the example with `extra` arguments: its last two lines.
fn example(extra: &[&str]) -> (String, String) {
    let out = Command::new(example_binary())
        .args([
            "--clients",
            "20000",
            "--rounds",
            "2",
            "--per-round",
            "200",
            "--seed",
            "3",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let [.., weights, last] = lines.as_slice() else {
        panic!("two lines expected: {stdout}");
    };
    (weights.to_string(), last.to_string())
}

/// The numbers of `clients: <n>, updates/s: <u>, peak rss: <r> MB, data: <d> MB`.
fn parse(line: &str) -> (f64, f64, f64, f64) {
    let mut values = Vec::new();
    for (part, key) in line
        .split(", ")
        .zip(["clients: ", "updates/s: ", "peak rss: ", "data: "])
    {
        let value = part
            .strip_prefix(key)
            .unwrap_or_else(|| panic!("`{part}` does not start with `{key}`: {line}"));
        let value = value.strip_suffix(" MB").unwrap_or(value);
        values.push(value.parse::<f64>().unwrap());
    }
    let [n, u, r, d] = values[..] else {
        panic!("four values expected: {line}");
    };
    (n, u, r, d)
}

#[test]
fn the_example_reports_its_run_and_trains_the_same_bits_mapped() {
    let (weights, last) = example(&[]);
    let (n, u, r, d) = parse(&last);
    assert_eq!(n, 20_000.0);
    assert!(u > 0.0 && r > 0.0, "{last}");
    // 200,000 examples of 60 f32 and a usize label.
    assert_eq!(d, (200_000.0 * 248.0 / 1048576.0f64).round());
    let (expected, _) = run(&synthetic().store(CLIENTS));
    assert_eq!(weights, format!("weights: {:016x}", digest(&expected)));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("population.store");
    let file = file.to_str().unwrap();
    let (first, _) = example(&["--mmap", file]);
    let (again, line) = example(&["--mmap", file]);
    assert_eq!((&first, &again), (&weights, &weights));
    assert_eq!(parse(&line).3, d);
    let (on_demand, _) = example(&["--on-demand"]);
    assert_eq!(on_demand, weights);
}
