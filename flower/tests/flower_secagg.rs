//! feddx nodes in Flower's secure aggregation on loopback: `examples/flower_secagg/`
//! (Flower's legacy FedAvg whose fit runs `SecAggPlusWorkflow`) over feddx nodes, over
//! feddx nodes beside a Python `flower-supernode` running `secaggplus_mod`, and with
//! a node that drops out after share_keys. Each aggregate is checked against plain
//! FedAvg of the same nodes (the same app with `secagg=false`): the nodes' training
//! is seeded, so the two differ only by SecAgg+'s quantisation.

mod flower_harness;

use std::path::Path;
use std::time::Duration;

use feddx_flower::export::load_arrays;
use flower_harness::{
    export_initial, flwr_run_app, largest_difference, root, start_node, start_python_supernode,
    tail, wait_connected, wait_for_run, wait_until, Proc, Security, SuperLink,
};

#[path = "../examples/flower_node/federation.rs"]
#[allow(dead_code)]
mod federation;

use feddx::FederatedModel;

/// Partitions of the digits, one per node.
const PARTITIONS: usize = 3;
const SEED: u64 = 0;
/// The round's settings: one local epoch keeps runs short.
const SETTINGS: &str = "lr=0.1 local-epochs=1 batch-size=20";
/// Largest difference allowed between a SecAgg+ aggregate and plain FedAvg's.
///
/// Flower's defaults quantise each weight, once scaled by its node's share
/// `n_k / max_weight` (about 0.4 here), onto 2^22 steps over [-8, 8]: one step is
/// 3.8e-6, and the server divides the sum of at most three roundings by the total
/// share (about 1.2), so the aggregate is within some 1e-5 of FedAvg's. The
/// weighting factors are quantised to 2^-22 as well.
const QUANTISATION_TOLERANCE: f32 = 3e-5;

/// Starts the feddx node for partition `k`, polling every `poll` seconds.
fn start_feddx(link: &SuperLink, k: usize, poll: &str) -> Proc {
    let args: Vec<String> = [
        "--insecure",
        "--partition",
        &k.to_string(),
        "--partitions",
        &PARTITIONS.to_string(),
        "--seed",
        &SEED.to_string(),
        "--poll-interval",
        poll,
        "--give-up-after",
        "120",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut node = start_node(link, &format!("node-{k}"), &args);
    wait_connected(&mut node);
    node
}

/// Starts a Python SuperNode running the app's NumPy ClientApp on partition `k`.
fn start_python(link: &SuperLink, k: usize) -> Proc {
    let config = format!(
        "data-file='{}' partition={k} partitions={PARTITIONS}",
        root().join("runtime/data/digits.csv.gz").display()
    );
    start_python_supernode(link, &format!("python-{k}"), &config)
}

/// `flwr run` of one round of `examples/flower_secagg` over `nodes` nodes, with
/// `config` on top of the shared settings, saving the round's model under `dir/<save>`.
fn flwr_run(link: &SuperLink, dir: &Path, nodes: usize, save: &str, config: &str) -> Proc {
    let app = "flower_secagg";
    let config = format!(
        "num-server-rounds=1 min-nodes={nodes} {SETTINGS} initial-arrays='{}' save-dir='{}' \
         {config}",
        export_initial(dir, SEED).display(),
        dir.join(save).display(),
    );
    flwr_run_app(link, dir, app, save, &config)
}

/// Waits for `run` to succeed, failing at once if a node dies meanwhile; its log.
fn finish(mut run: Proc, nodes: &mut [Proc]) -> String {
    wait_for_run(&mut run, nodes, Duration::from_secs(240))
}

/// The app's per-round lines: (round, results, failures).
fn rounds(log: &str) -> Vec<(u64, u64, u64)> {
    log.lines()
        .filter_map(|line| line.find("{\"round\"").map(|at| &line[at..]))
        .map(|json| {
            let v: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("a round line `{json}`: {e}"));
            (
                v["round"].as_u64().unwrap(),
                v["results"].as_u64().unwrap(),
                v["failures"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The global model the run saved under `dir/<save>` after round 1.
fn round_1(dir: &Path, save: &str) -> Vec<f32> {
    let model = federation::DigitClassifier::with_seed(SEED);
    load_arrays(&dir.join(save).join("round-1"), &model.trainable_weights())
        .unwrap_or_else(|e| panic!("{save}'s round 1: {e}"))
}

/// Asserts that SecAgg+'s round 1 equals plain FedAvg's within the quantisation
/// error, and that it moved the model.
fn assert_close_to_fedavg(dir: &Path, secagg: &str, plain: &str) {
    let masked = round_1(dir, secagg);
    let fedavg = round_1(dir, plain);
    let worst = largest_difference(&masked, &fedavg);
    eprintln!("{secagg} against {plain}: largest difference {worst:e}");
    assert!(
        worst <= QUANTISATION_TOLERANCE,
        "SecAgg+ differs from plain FedAvg by up to {worst}"
    );
    let initial = federation::DigitClassifier::with_seed(SEED).weights_vec();
    assert!(
        largest_difference(&masked, &initial) > 1e-3,
        "the round moved the model"
    );
}

/// Lines of a node's log that report a SecAgg+ stage answered.
fn stages_answered(node: &Proc) -> Vec<String> {
    node.output()
        .lines()
        .filter(|l| l.contains("SecAgg+"))
        .map(str::to_string)
        .collect()
}

#[test]
fn secagg_plus_over_three_feddx_nodes_equals_plain_fedavg_within_quantisation() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let link = SuperLink::start(dir, Security::Insecure);
    let mut nodes: Vec<Proc> = (0..PARTITIONS)
        .map(|k| start_feddx(&link, k, "0.2"))
        .collect();

    let log = finish(flwr_run(&link, dir, PARTITIONS, "secagg", ""), &mut nodes);
    assert_eq!(rounds(&log), vec![(1, 3, 0)], "{}", tail(&log, 40));
    assert!(
        log.contains("Secure aggregation completed"),
        "{}",
        tail(&log, 40)
    );
    for node in &nodes {
        let stages = stages_answered(node);
        assert_eq!(stages.len(), 4, "{}: {stages:?}", node.name);
        assert!(stages[2].contains("collect_masked_vectors: sent masked"));
    }

    let log = finish(
        flwr_run(&link, dir, PARTITIONS, "plain", "secagg=false"),
        &mut nodes,
    );
    assert_eq!(rounds(&log), vec![(1, 3, 0)], "{}", tail(&log, 40));
    assert_close_to_fedavg(dir, "secagg", "plain");
}

#[test]
fn secagg_plus_with_two_feddx_nodes_and_a_python_node() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let link = SuperLink::start(dir, Security::Insecure);
    let mut nodes: Vec<Proc> = (0..2).map(|k| start_feddx(&link, k, "0.2")).collect();
    nodes.push(start_python(&link, 2));

    let log = finish(flwr_run(&link, dir, PARTITIONS, "secagg", ""), &mut nodes);
    assert_eq!(rounds(&log), vec![(1, 3, 0)], "{}", tail(&log, 40));
    assert!(
        log.contains("Secure aggregation completed"),
        "{}",
        tail(&log, 40)
    );
    let initial = federation::DigitClassifier::with_seed(SEED).weights_vec();
    assert!(largest_difference(&round_1(dir, "secagg"), &initial) > 1e-3);
}

#[test]
fn a_node_killed_after_share_keys_is_unmasked_by_the_others_shares() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let link = SuperLink::start(dir, Security::Insecure);
    let mut survivors: Vec<Proc> = (0..2).map(|k| start_feddx(&link, k, "0.2")).collect();
    // First plain FedAvg of the two nodes that will survive, while they are alone.
    let log = finish(
        flwr_run(&link, dir, 2, "plain", "secagg=false"),
        &mut survivors,
    );
    assert_eq!(rounds(&log), vec![(1, 2, 0)], "{}", tail(&log, 40));

    // The node that drops out polls every 5 s: once it has answered share_keys it
    // finds no message (the server is still collecting the others' shares) and
    // sleeps, so it is killed before the collect_masked_vectors message can reach it.
    let mut victim = start_feddx(&link, 2, "5");
    let run = flwr_run(
        &link,
        dir,
        PARTITIONS,
        "secagg",
        "stage-timeout=10.0 reconstruction-threshold=2",
    );
    wait_until(
        "node-2 to answer share_keys",
        Duration::from_secs(120),
        || {
            assert!(!victim.exited(), "{}", tail(&victim.output(), 30));
            stages_answered(&victim)
                .iter()
                .any(|l| l.contains("SecAgg+ share_keys answered"))
        },
    );
    victim.kill();
    let log = finish(run, &mut survivors);
    assert_eq!(rounds(&log), vec![(1, 2, 0)], "{}", tail(&log, 40));
    assert!(
        log.contains("Secure aggregation completed"),
        "{}",
        tail(&log, 40)
    );
    assert_eq!(
        stages_answered(&victim).len(),
        2,
        "node-2 answered setup and share_keys only"
    );

    // Its pairwise masks were removed with the survivors' shares of its key: the
    // aggregate is plain FedAvg of the two survivors.
    assert_close_to_fedavg(dir, "secagg", "plain");
}
