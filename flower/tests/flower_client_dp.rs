//! Central DP with client-side clipping, with feddx nodes in a real Flower 1.42
//! federation on loopback: the example app's FedAvg wrapped in Flower's own
//! `DifferentialPrivacyClientSideFixedClipping` (`client-dp = "fixed"`). The
//! ServerApp records the norm of every update it receives before aggregating it
//! (`update-norms`), so the clipping is measured where it matters, on the server.

mod flower_harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flower_harness::{
    copy_app, export_initial, node_binary, start_node, tail, wait_connected, wait_for_run, Proc,
    Security, SuperLink,
};

const PARTITIONS: usize = 3;

/// Node arguments for partition `k`, with `extra` on top.
fn node_args(k: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--insecure",
        "--partition",
        &k.to_string(),
        "--partitions",
        &PARTITIONS.to_string(),
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

/// `flwr run` of the example app with client-side clipping (`mode`: `fixed` or
/// `adaptive`) at `norm`, no noise, for `rounds` rounds over [`PARTITIONS`] nodes;
/// every update's norm goes to [`norms_file`]. `name` keeps runs in one directory
/// apart.
fn flwr_run_with_dp(
    link: &SuperLink,
    dir: &Path,
    name: &str,
    mode: &str,
    rounds: usize,
    norm: f64,
) -> Proc {
    let app = copy_app(&dir.join(name));
    let config = format!(
        "num-server-rounds={rounds} min-nodes={PARTITIONS} round-timeout=60.0 \
         initial-arrays='{}' client-dp='{mode}' clipping-norm={norm:?} \
         noise-multiplier=0.0 update-norms='{}'",
        export_initial(dir, 0).display(),
        norms_file(dir, name).display(),
    );
    let mut cmd = link.flwr(&["run"]);
    cmd.arg(&app)
        .args(["local", "--stream", "--run-config", &config])
        .current_dir(dir);
    Proc::spawn(
        &format!("flwr run {name}"),
        cmd,
        dir.join(format!("{name}.log")),
    )
}

fn norms_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-norms.jsonl"))
}

/// What the ServerApp recorded of one train reply.
#[derive(Debug)]
enum Reply {
    Update {
        round: u64,
        norm: f64,
        norm_bit: Option<i64>,
    },
    Error {
        reason: String,
    },
}

fn replies(dir: &Path, name: &str) -> Vec<Reply> {
    let text = std::fs::read_to_string(norms_file(dir, name)).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let round = v["round"].as_u64().expect("a round");
            match v.get("error") {
                Some(reason) => Reply::Error {
                    reason: reason.as_str().unwrap_or_default().to_owned(),
                },
                None => Reply::Update {
                    round,
                    norm: v["update_norm"].as_f64().expect("a norm"),
                    norm_bit: v["norm_bit"].as_i64(),
                },
            }
        })
        .collect()
}

/// The updates a node logged clipping: (norm before, norm after).
fn logged_clipping(node: &Proc) -> Vec<(f64, f64)> {
    node.output()
        .lines()
        .filter_map(|line| {
            let rest = line.split("update norm ").nth(1)?;
            let mut words = rest.split_whitespace();
            let before = words.next()?.parse().ok()?;
            let after = words.nth(2)?.parse().ok()?;
            Some((before, after))
        })
        .collect()
}

#[test]
fn client_side_fixed_clipping_over_three_feddx_nodes() {
    const NORM: f64 = 0.5;
    const ROUNDS: u64 = 2;
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(dir.path(), Security::Insecure);
    let mut nodes: Vec<Proc> = (0..PARTITIONS)
        .map(|k| start_node(&link, &format!("node-{k}"), &node_args(k, &[])))
        .collect();
    nodes.iter_mut().for_each(wait_connected);

    let mut run = flwr_run_with_dp(&link, dir.path(), "dp", "fixed", ROUNDS as usize, NORM);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(180));

    let replies = replies(dir.path(), "dp");
    assert_eq!(
        replies.len(),
        PARTITIONS * ROUNDS as usize,
        "{replies:?}\n{}",
        tail(&run.output(), 40)
    );
    for round in 1..=ROUNDS {
        let updates: Vec<(f64, Option<i64>)> = replies
            .iter()
            .filter_map(|r| match r {
                Reply::Update {
                    round: r,
                    norm,
                    norm_bit,
                } if *r == round => Some((*norm, *norm_bit)),
                _ => None,
            })
            .collect();
        assert_eq!(updates.len(), PARTITIONS, "round {round}: {replies:?}");
        for (norm, norm_bit) in updates {
            eprintln!("round {round}: an update of norm {norm} (clipping norm {NORM})");
            // At most the norm sent (up to float32 rounding), and clipped onto it:
            // unclipped, these updates are several times larger (see below).
            assert!(
                norm <= NORM * (1.0 + 1e-5),
                "round {round}: {norm} > {NORM}"
            );
            assert!(
                norm >= NORM * (1.0 - 1e-4),
                "round {round}: {norm} < {NORM}"
            );
            assert_eq!(norm_bit, Some(1), "the node reports the norm bit");
        }
    }
    let log = run.output();
    assert_eq!(
        log.matches("aggregate_train: Received 3 results and 0 failures")
            .count(),
        // The DP wrapper and FedAvg each say it, every round.
        2 * ROUNDS as usize,
        "{}",
        tail(&log, 60)
    );
    assert!(!log.contains("Skipping aggregation"), "{}", tail(&log, 60));

    for node in &nodes {
        let clipped = logged_clipping(node);
        assert_eq!(
            clipped.len(),
            ROUNDS as usize,
            "{}",
            tail(&node.output(), 10)
        );
        for (before, after) in clipped {
            assert!(
                before > 2.0 * NORM,
                "the update was worth clipping: {before}"
            );
            assert!((after - NORM).abs() <= 1e-4 * NORM, "{after}");
        }
    }
}

#[test]
fn a_node_capping_the_clipping_norm_refuses_a_larger_one_and_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let link = SuperLink::start(dir.path(), Security::Insecure);
    let mut nodes: Vec<Proc> = (0..PARTITIONS)
        .map(|k| {
            let extra: &[&str] = if k == 2 {
                &["--max-clipping-norm", "0.1"]
            } else {
                &[]
            };
            start_node(&link, &format!("node-{k}"), &node_args(k, extra))
        })
        .collect();
    nodes.iter_mut().for_each(wait_connected);

    // The server's norm is above node 2's cap: node 2 answers with an error reply.
    let mut run = flwr_run_with_dp(&link, dir.path(), "above-cap", "fixed", 1, 0.5);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(180));
    let replies_above = replies(dir.path(), "above-cap");
    let errors: Vec<&String> = replies_above
        .iter()
        .filter_map(|r| match r {
            Reply::Error { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{replies_above:?}");
    assert!(errors[0].contains("--max-clipping-norm"), "{}", errors[0]);
    assert!(errors[0].contains("0.5"), "{}", errors[0]);
    assert!(nodes[2]
        .output()
        .contains("`train` answered with an error: the clipping norm 0.5 is above"));

    // The node serves on: a run whose norm is within its cap gets its update. This
    // one clips adaptively: Flower's wrapper fails the run if a reply lacks the
    // norm bit.
    let mut run = flwr_run_with_dp(&link, dir.path(), "within-cap", "adaptive", 1, 0.05);
    wait_for_run(&mut run, &mut nodes, Duration::from_secs(180));
    let replies_within = replies(dir.path(), "within-cap");
    assert_eq!(replies_within.len(), PARTITIONS, "{replies_within:?}");
    for reply in &replies_within {
        let Reply::Update { norm, norm_bit, .. } = reply else {
            panic!("an update from every node: {replies_within:?}");
        };
        assert!(*norm <= 0.05 * (1.0 + 1e-5), "{norm}");
        assert_eq!(*norm_bit, Some(1));
    }
    let log = run.output();
    assert!(
        log.contains("aggregate_train: Received 3 results and 0 failures"),
        "{}",
        tail(&log, 40)
    );
    assert_eq!(logged_clipping(&nodes[2]).len(), 1);
}

#[test]
fn bad_clipping_flags_are_refused_before_the_node_starts() {
    for (flag, value, why) in [
        ("--max-clipping-norm", "-1", "not a positive finite number"),
        ("--max-clipping-norm", "nan", "not a positive finite number"),
        ("--max-clipping-norm", "big", "not a number"),
        ("--clipping-mod", "gaussian", "not a clipping mod"),
    ] {
        let out = Command::new(node_binary())
            .args(["--insecure", flag, value])
            .output()
            .expect("flower_node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
        assert!(stderr.contains(why), "{flag} {value}: {stderr}");
    }
}
