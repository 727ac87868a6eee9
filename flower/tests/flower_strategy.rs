//! feddx nodes under Flower's Strategy API on loopback: `examples/flower_strategy/`
//! (`ServerApp(server_fn=...)` with a `flwr.server.strategy` strategy) over feddx
//! nodes, and a mixed federation of feddx nodes and a Python `flower-supernode`
//! under both that app and the Message API's (`examples/flower/`).

mod flower_harness;

#[path = "../examples/flower_node/federation.rs"]
#[allow(dead_code)]
mod federation;

use std::path::Path;
use std::time::Duration;

use feddx::FederatedModel;
use flower_harness::{
    export_initial, flwr_run_app, largest_difference, root, start_node, start_python_supernode,
    tail, wait_connected, wait_for_run, Proc, Security, SuperLink,
};

/// Partitions of the digits, one per node.
const PARTITIONS: usize = 3;
const SEED: u64 = 0;
/// Rounds of each run.
const ROUNDS: usize = 2;
/// The round's settings, the same for every app: one local epoch keeps runs short.
const SETTINGS: &str = "lr=0.1 local-epochs=1 batch-size=20";

/// Starts feddx nodes for `partitions` of [`PARTITIONS`], once connected.
fn start_nodes(link: &SuperLink, partitions: &[usize]) -> Vec<Proc> {
    let mut nodes: Vec<Proc> = partitions
        .iter()
        .map(|k| {
            let args: Vec<String> = [
                "--insecure",
                "--partition",
                &k.to_string(),
                "--partitions",
                &PARTITIONS.to_string(),
                "--seed",
                &SEED.to_string(),
                "--poll-interval",
                "0.2",
                "--give-up-after",
                "120",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            start_node(link, &format!("node-{k}"), &args)
        })
        .collect();
    nodes.iter_mut().for_each(wait_connected);
    nodes
}

/// `flwr run` of `examples/<app>` for [`ROUNDS`] rounds over `nodes` nodes with
/// `config` on top of the shared settings, saving each round's model under
/// `dir/<save>`.
fn flwr_run(
    link: &SuperLink,
    dir: &Path,
    app: &str,
    nodes: usize,
    save: &str,
    config: &str,
) -> Proc {
    let config = format!(
        "num-server-rounds={ROUNDS} min-nodes={nodes} round-timeout=60.0 {SETTINGS} \
         initial-arrays='{}' save-dir='{}' {config}",
        export_initial(dir, SEED).display(),
        dir.join(save).display(),
    );
    flwr_run_app(link, dir, app, save, &config)
}

/// Waits for `run` to succeed, failing at once if a node dies meanwhile; its log.
fn finish(mut run: Proc, nodes: &mut [Proc]) -> String {
    wait_for_run(&mut run, nodes, Duration::from_secs(150))
}

/// The strategy app's per-round lines: (round, stage, results, failures, errors).
fn stages(log: &str) -> Vec<(u64, String, u64, u64, String)> {
    log.lines()
        .filter_map(|line| line.find("{\"round\"").map(|at| &line[at..]))
        .filter(|json| json.contains("\"stage\""))
        .map(|json| {
            let v: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("a round line `{json}`: {e}"));
            (
                v["round"].as_u64().unwrap(),
                v["stage"].as_str().unwrap().to_string(),
                v["results"].as_u64().unwrap(),
                v["failures"].as_u64().unwrap(),
                v["errors"].to_string(),
            )
        })
        .collect()
}

/// Asserts that every round's fit and evaluate aggregated `results` replies and no
/// failure.
fn assert_every_round_aggregates(log: &str, results: u64, what: &str) {
    let mut expected = Vec::new();
    for round in 1..=ROUNDS as u64 {
        for stage in ["fit", "evaluate"] {
            expected.push((round, stage.to_string(), results, 0, "[]".to_string()));
        }
    }
    assert_eq!(stages(log), expected, "{what}:\n{}", tail(log, 60));
}

/// The strategy app's per-round update norms, as the server received them, and the
/// clipping norm the round asked for: (clipping norm, update norms).
fn update_norms(log: &str) -> Vec<(f64, Vec<f64>)> {
    log.lines()
        .filter_map(|line| line.find("{\"round\"").map(|at| &line[at..]))
        .filter(|json| json.contains("update_norms"))
        .map(|json| {
            let v: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("a norms line `{json}`: {e}"));
            let norms = v["update_norms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_f64().unwrap())
                .collect();
            (v["clipping_norm"].as_f64().unwrap_or(f64::INFINITY), norms)
        })
        .collect()
}

/// The global model a run saved after `round`.
fn saved_round(dir: &Path, save: &str, round: usize) -> Vec<f32> {
    let model = federation::DigitClassifier::with_seed(SEED);
    feddx_flower::export::load_arrays(
        &dir.join(save).join(format!("round-{round}")),
        &model.trainable_weights(),
    )
    .unwrap_or_else(|e| panic!("{save}'s round {round}: {e}"))
}

#[test]
fn five_legacy_strategies_over_three_feddx_nodes_aggregate_every_reply() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let link = SuperLink::start(dir, Security::Insecure);
    let mut nodes = start_nodes(&link, &[0, 1, 2]);

    // The Message API's FedAvg first, for round 1's global model.
    let run = flwr_run(&link, dir, "flower", PARTITIONS, "message", "evaluator=''");
    finish(run, &mut nodes);

    for strategy in ["fedavg", "fedprox", "fedadam", "fedmedian", "krum"] {
        let config = format!("strategy='{strategy}' proximal-mu=0.5");
        let run = flwr_run(&link, dir, "flower_strategy", PARTITIONS, strategy, &config);
        let log = finish(run, &mut nodes);
        assert_every_round_aggregates(&log, PARTITIONS as u64, strategy);
    }
    // Central DP with client-side adaptive clipping under the Strategy API: every
    // update the server receives is within the round's norm, and the wrapper, which
    // needs each reply's `norm_bit` in `fitres.metrics`, adapts the norm.
    let config = "strategy='fedavg' client-dp='adaptive' clipping-norm=0.5";
    let run = flwr_run(
        &link,
        dir,
        "flower_strategy",
        PARTITIONS,
        "adaptive",
        config,
    );
    let log = finish(run, &mut nodes);
    assert_every_round_aggregates(&log, PARTITIONS as u64, "adaptive clipping");
    let norms = update_norms(&log);
    assert_eq!(norms.len(), ROUNDS, "{}", tail(&log, 40));
    for (round, (clipping_norm, updates)) in norms.iter().enumerate() {
        assert_eq!(updates.len(), PARTITIONS);
        for norm in updates {
            assert!(
                *norm <= clipping_norm * (1.0 + 1e-5),
                "round {}: an update of norm {norm} over the clipping norm {clipping_norm}",
                round + 1
            );
        }
    }
    // One local epoch moves the model much further than 0.5, so every node clipped
    // and set its norm bit (Flower's bit says "clipped"), and the wrapper, without
    // noise, lowered the norm by its rule: C * exp(-0.2 * (3/3 - 0.5)).
    let expected = 0.5 * (-0.2f64 * (1.0 - 0.5)).exp();
    assert!(
        (norms[1].0 - expected).abs() <= 1e-9,
        "the adaptive norm went from {} to {}, expected {expected}",
        norms[0].0,
        norms[1].0
    );

    for node in &nodes {
        let out = node.output();
        assert!(
            !out.contains("error reply"),
            "{}: {}",
            node.name,
            tail(&out, 20)
        );
    }

    // FedAvg's round 1 is the same under both APIs: same nodes, seeds and settings.
    let message = saved_round(dir, "message", 1);
    let fedavg = saved_round(dir, "fedavg", 1);
    let worst = largest_difference(&message, &fedavg);
    eprintln!("round 1, Strategy API vs Message API FedAvg: largest difference {worst:e}");
    assert!(worst <= 1e-5, "the APIs' round 1 differ by up to {worst}");
    let initial = federation::DigitClassifier::with_seed(SEED).weights_vec();
    assert!(
        largest_difference(&fedavg, &initial) > 1e-3,
        "round 1 trained"
    );

    // FedProx's `proximal_mu` reached the nodes: its round 1 is not FedAvg's.
    let fedprox = saved_round(dir, "fedprox", 1);
    let prox_gap = largest_difference(&fedprox, &fedavg);
    assert!(
        prox_gap > 1e-6,
        "FedProx's mu changed training ({prox_gap})"
    );
}

#[test]
fn a_mixed_federation_of_feddx_and_python_nodes_works_under_both_apis() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let link = SuperLink::start(dir, Security::Insecure);
    let mut nodes = start_nodes(&link, &[0, 1]);
    let data = root().join("runtime/data/digits.csv.gz");
    let node_config = format!(
        "data-file='{}' partition=2 partitions={PARTITIONS}",
        data.display()
    );
    let python = start_python_supernode(&link, "python-supernode", &node_config);
    nodes.push(python);

    // The Message API: Flower's own log line, once per round.
    let run = flwr_run(&link, dir, "flower", PARTITIONS, "message", "evaluator=''");
    let log = finish(run, &mut nodes);
    let aggregated = log
        .matches("aggregate_train: Received 3 results and 0 failures")
        .count();
    assert_eq!(aggregated, ROUNDS, "{}", tail(&log, 60));

    // The Strategy API, train and evaluate.
    let run = flwr_run(&link, dir, "flower_strategy", PARTITIONS, "fedavg", "");
    let log = finish(run, &mut nodes);
    assert_every_round_aggregates(&log, PARTITIONS as u64, "mixed fedavg");
    let initial = federation::DigitClassifier::with_seed(SEED).weights_vec();
    let round_2 = saved_round(dir, "fedavg", 2);
    assert!(largest_difference(&round_2, &initial) > 1e-3);

    // Both apps carry the same NumPy model for Python nodes.
    let copy = |app: &str, package: &str| {
        std::fs::read_to_string(
            root()
                .join("examples")
                .join(app)
                .join(package)
                .join("numpy_mlp.py"),
        )
        .unwrap()
    };
    for (app, package) in [
        ("flower_strategy", "feddx_strategy"),
        ("flower_secagg", "secagg_app"),
    ] {
        assert_eq!(
            copy("flower", "feddx_app"),
            copy(app, package),
            "examples/flower*/…/numpy_mlp.py are one file in three apps ({app} differs)"
        );
    }
}
