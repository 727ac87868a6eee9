//! feddx nodes in a real Flower 1.42 federation, on loopback: a `flower-superlink`,
//! `flower_node` processes (the example), and `flwr run` of the example app
//! (`examples/flower/`, Flower's own FedAvg). The virtualenv with Flower is made on
//! first use (see `flower_harness`); without Python 3 these tests fail and say so.

mod flower_harness;

#[path = "../examples/flower_node/federation.rs"]
#[allow(dead_code)]
mod federation;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
use feddx::FederatedModel;
use flower_harness::{
    copy_app, export_initial, make_certificates, node_binary, start_node, tail, wait_connected,
    wait_for_run, wait_until, Proc, Security, SuperLink,
};

/// Settings shared by the nodes and the simulation they are compared with.
const PARTITIONS: usize = 3;
const SEED: u64 = 0;

/// Node arguments for partition `k` of [`PARTITIONS`].
fn node_args(k: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--partition",
        &k.to_string(),
        "--partitions",
        &PARTITIONS.to_string(),
        "--seed",
        &SEED.to_string(),
        "--poll-interval",
        "0.2",
        "--heartbeat-interval",
        "10",
        "--give-up-after",
        "120",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Starts nodes for partitions `0..count` with `extra` arguments, once connected.
fn start_nodes(link: &SuperLink, count: usize, extra: &[&str]) -> Vec<Proc> {
    let mut nodes: Vec<Proc> = (0..count)
        .map(|k| start_node(link, &format!("node-{k}"), &node_args(k, extra)))
        .collect();
    nodes.iter_mut().for_each(wait_connected);
    nodes
}

/// `flwr run` of the example app with `rounds` rounds for `nodes` nodes, saving
/// every round's global model under `dir/rounds` and evaluating it with the
/// example's evaluator.
fn flwr_run(link: &SuperLink, dir: &Path, rounds: usize, nodes: usize, timeout: f64) -> Proc {
    let app = copy_app(dir);
    let initial = export_initial(dir, SEED);
    let config = format!(
        "num-server-rounds={rounds} min-nodes={nodes} round-timeout={timeout} \
         initial-arrays='{}' save-dir='{}' evaluator='{} evaluate --arrays'",
        initial.display(),
        dir.join("rounds").display(),
        node_binary().display()
    );
    let mut cmd = link.flwr(&["run"]);
    cmd.arg(&app)
        .args(["local", "--stream", "--run-config", &config]);
    cmd.current_dir(dir);
    Proc::spawn("flwr run", cmd, dir.join("flwr-run.log"))
}

/// The final test accuracy the ServerApp printed.
fn final_accuracy(log: &str) -> f64 {
    let line = log
        .lines()
        .rev()
        .find_map(|l| l.split("final test accuracy: ").nth(1))
        .unwrap_or_else(|| panic!("no final accuracy in the run's output:\n{}", tail(log, 60)));
    line.trim().parse().expect("a number")
}

#[test]
fn five_rounds_of_flower_fedavg_over_three_feddx_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(dir.path(), Security::Insecure);
    let mut nodes = start_nodes(&link, PARTITIONS, &["--insecure"]);

    let mut run = flwr_run(&link, dir.path(), 5, PARTITIONS, 60.0);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(300));
    let log = run.output();
    let accuracy = final_accuracy(&log);
    eprintln!("final test accuracy after 5 rounds: {accuracy}");
    assert!(accuracy >= 0.90, "final test accuracy {accuracy} < 0.90");

    // Round 1 over the network equals round 1 of feddx's own simulation of the
    // same partitions, seeds and settings.
    let fed = federation::digits(PARTITIONS, 0.5, SEED).unwrap();
    let clients = fed.train.clients(&fed.parts);
    let l = federation::LOCAL_TRAINING;
    let config = FedConfig::builder()
        .rounds(1)
        .clients_per_round(ClientsPerRound::Count(PARTITIONS))
        .local_epochs(l.local_epochs)
        .batch_size(20)
        .client_learning_rate(l.learning_rate)
        .seed(SEED)
        .build()
        .unwrap();
    let mut sim = Simulation::new(federation::DigitClassifier::with_seed(SEED), config);
    sim.run_round(&clients).unwrap();
    let model = federation::DigitClassifier::with_seed(SEED);
    let flower = feddx_flower::export::load_arrays(
        &dir.path().join("rounds/round-1"),
        &model.trainable_weights(),
    )
    .unwrap();
    let expected = sim.global_weights();
    assert_eq!(flower.len(), expected.len());
    let worst = flower
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("round 1 over Flower vs the simulation: largest difference {worst:e}");
    assert!(
        worst <= 1e-5,
        "round 1 differs from the simulation by up to {worst}"
    );
    let moved = flower
        .iter()
        .zip(model.weights_vec())
        .any(|(a, b)| (a - b).abs() > 1e-3);
    assert!(moved, "round 1 changed the model");

    // Ctrl-C: each node deactivates and exits cleanly.
    for node in &mut nodes {
        node.interrupt();
        assert!(
            node.wait_exit(Duration::from_secs(30)),
            "{} did not stop cleanly",
            node.name
        );
        assert!(
            node.output().contains("left the federation"),
            "{}",
            tail(&node.output(), 20)
        );
    }
}

/// Lines of a node's log that report a `train` reply.
fn train_replies(node: &Proc) -> usize {
    node.output()
        .lines()
        .filter(|l| l.contains(": train on "))
        .count()
}

#[test]
fn a_node_killed_in_round_three_does_not_stop_the_run_and_a_restarted_node_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(dir.path(), Security::Insecure);
    let mut nodes = start_nodes(&link, PARTITIONS, &["--insecure"]);
    // Rounds need 2 nodes and wait 15 s for replies, then go on without the missing.
    let mut run = flwr_run(&link, dir.path(), 5, 2, 15.0);

    // Kill node 2 (SIGKILL: no goodbye) as soon as round 3 reaches it.
    let mut victim = nodes.pop().unwrap();
    wait_until("round 3 to reach node 2", Duration::from_secs(120), || {
        assert!(
            !run.exited(),
            "the run ended early:\n{}",
            tail(&run.output(), 40)
        );
        victim.output().matches("received `train`").count() >= 3
    });
    victim.kill();
    let before = train_replies(&victim);

    // A node restarted on the same partition registers anew and takes part again.
    let mut restarted = start_node(&link, "node-2-restarted", &node_args(2, &["--insecure"]));
    wait_connected(&mut restarted);
    nodes.push(restarted);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(300));

    let log = run.output();
    assert!(
        log.contains("[ROUND 5/5]"),
        "all 5 rounds ran:\n{}",
        tail(&log, 60)
    );
    let accuracy = final_accuracy(&log);
    assert!(accuracy >= 0.80, "final test accuracy {accuracy} < 0.80");
    assert!(
        before >= 2,
        "node 2 trained in rounds 1 and 2 before it was killed"
    );
    let rejoined = &nodes[2];
    assert!(
        train_replies(rejoined) >= 1,
        "the restarted node trained in a later round:\n{}",
        tail(&rejoined.output(), 20)
    );
    for node in &nodes[..2] {
        assert_eq!(
            train_replies(node),
            5,
            "{} trained in every round",
            node.name
        );
    }
}

#[test]
fn a_federation_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certificates(dir.path());
    let link = SuperLink::start(dir.path(), Security::Tls(&certs));
    let ca = certs.ca.display().to_string();
    let mut nodes = start_nodes(&link, 2, &["--root-certificates", &ca]);
    let mut run = flwr_run(&link, dir.path(), 2, 2, 60.0);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(180));
    let accuracy = final_accuracy(&run.output());
    assert!(
        accuracy >= 0.5,
        "final test accuracy {accuracy} after 2 rounds over TLS"
    );
    for node in &nodes {
        assert_eq!(
            train_replies(node),
            2,
            "{} trained in both rounds",
            node.name
        );
    }

    // A node that does not trust the SuperLink's CA does not connect, and says why.
    let other_dir = dir.path().join("other-ca");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = make_certificates(&other_dir);
    let mut stranger = start_node(
        &link,
        "untrusting-node",
        &node_args(0, &["--root-certificates", &other.ca.display().to_string()]),
    );
    assert!(
        !stranger.wait_exit(Duration::from_secs(30)),
        "the node fails at once"
    );
    let out = stranger.output();
    assert!(
        out.contains("error: TLS with the SuperLink"),
        "{}",
        tail(&out, 10)
    );
    assert!(
        !out.contains("trying again"),
        "a certificate error is not retried"
    );
}

#[test]
fn node_authentication_admits_registered_keys_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certificates(dir.path());
    let link = SuperLink::start(dir.path(), Security::TlsWithNodeAuth(&certs));
    let ca = certs.ca.display().to_string();
    let keygen = |name: &str| {
        let key = dir.path().join(name);
        let status = Command::new(node_binary())
            .args(["keygen", "--out"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        key
    };
    let mut nodes = Vec::new();
    for k in 0..2 {
        let key = keygen(&format!("node-{k}-key"));
        let out = link
            .flwr(&["supernode", "register"])
            .arg(format!("{}.pub", key.display()))
            .arg("local")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "flwr supernode register: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let key = key.display().to_string();
        nodes.push(start_node(
            &link,
            &format!("node-{k}"),
            &node_args(k, &["--root-certificates", &ca, "--auth-key", &key]),
        ));
    }
    nodes.iter_mut().for_each(wait_connected);

    // A key the SuperLink does not know is refused, and the node says what to do.
    let unknown = keygen("unregistered-key").display().to_string();
    let mut stranger = start_node(
        &link,
        "unregistered-node",
        &node_args(2, &["--root-certificates", &ca, "--auth-key", &unknown]),
    );
    assert!(
        !stranger.wait_exit(Duration::from_secs(60)),
        "the unregistered node fails"
    );
    let out = stranger.output();
    assert!(out.contains("refused this node"), "{}", tail(&out, 10));
    assert!(
        out.contains("flwr supernode register"),
        "{}",
        tail(&out, 10)
    );

    let mut run = flwr_run(&link, dir.path(), 2, 2, 60.0);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(180));
    assert!(final_accuracy(&run.output()) >= 0.5);
    for node in &nodes {
        assert_eq!(
            train_replies(node),
            2,
            "{} trained in both rounds",
            node.name
        );
    }
}

#[test]
fn a_node_outlives_its_superlink_and_joins_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut link = SuperLink::start(&dir.path().join("first"), Security::Insecure);
    let mut node = start_node(&link, "node-0", &node_args(0, &["--insecure"]));
    wait_connected(&mut node);

    // The SuperLink goes away: the node retries with backoff and says so each time.
    link.proc.kill();
    wait_until(
        "the node to report its retries",
        Duration::from_secs(60),
        || {
            assert!(
                !node.exited(),
                "the node gave up:\n{}",
                tail(&node.output(), 20)
            );
            node.output().matches("pull-messages failed (try").count() >= 3
        },
    );

    // A SuperLink comes back on the same address, knowing nothing of the node: the
    // node registers anew.
    let _next = SuperLink::start_on(&dir.path().join("second"), link.port, Security::Insecure);
    wait_until("the node to rejoin", Duration::from_secs(60), || {
        assert!(
            !node.exited(),
            "the node gave up:\n{}",
            tail(&node.output(), 20)
        );
        node.output().matches("connected as node").count() >= 2
    });
    let out = node.output();
    assert!(out.contains("reconnecting:"), "{}", tail(&out, 20));

    node.interrupt();
    assert!(
        node.wait_exit(Duration::from_secs(30)),
        "the node stops cleanly on Ctrl-C"
    );
    let out = node.output();
    assert!(out.contains("left the federation"), "{}", tail(&out, 10));
    assert!(out.contains("1 reconnection(s)"), "{}", tail(&out, 10));
}
