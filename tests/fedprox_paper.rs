//! The `fedprox_paper` example, small: it runs, and its CSVs and charts say what
//! became of the stragglers (dropped by FedAvg, partial work for FedProx).

#[path = "../examples/fedprox_paper.rs"]
#[allow(dead_code)]
mod fedprox_paper;

use clap::Parser;
use fedprox_paper::Args;

/// The CSV's column `name`, one value per row.
fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let at = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == name)
        .unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_example_writes_a_csv_per_run_and_a_chart_per_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = Args::try_parse_from([
        "fedprox_paper",
        "--rounds",
        "2",
        "--clients",
        "6",
        "--per-round",
        "3",
        "--epochs",
        "3",
        "--stragglers",
        "0,67",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let results = fedprox_paper::run(&args).unwrap();
    assert_eq!(results.len(), 4);

    for (level, stragglers) in [(0, 0.0), (67, 2.0)] {
        let fedavg =
            std::fs::read_to_string(out.join(format!("stragglers_{level}_fedavg.csv"))).unwrap();
        let fedprox =
            std::fs::read_to_string(out.join(format!("stragglers_{level}_fedproxmu1.csv")))
                .unwrap();
        // Round 0 (the initial model), then each round.
        assert_eq!(column(&fedavg, "round"), [0.0, 1.0, 2.0]);
        assert_eq!(column(&fedprox, "round"), [0.0, 1.0, 2.0]);
        // FedAvg drops the round's stragglers; FedProx keeps their partial work.
        assert_eq!(column(&fedavg, "dropped")[1..], [stragglers; 2]);
        assert_eq!(column(&fedavg, "partial")[1..], [0.0; 2]);
        assert_eq!(column(&fedavg, "updates")[1..], [3.0 - stragglers; 2]);
        assert_eq!(column(&fedprox, "partial")[1..], [stragglers; 2]);
        assert_eq!(column(&fedprox, "dropped")[1..], [0.0; 2]);
        assert_eq!(column(&fedprox, "updates")[1..], [3.0; 2]);
        // Both start from the same model, and the loss is a number.
        assert_eq!(
            column(&fedavg, "train_loss")[0],
            column(&fedprox, "train_loss")[0]
        );
        assert!(column(&fedprox, "train_loss").iter().all(|l| l.is_finite()));
        let svg = std::fs::read_to_string(out.join(format!("stragglers_{level}.svg"))).unwrap();
        assert!(svg.contains("FedAvg") && svg.contains("FedProx (mu=1)"));
        assert!(svg.contains(&format!("training loss, {level}% stragglers")));
    }
    let table = fedprox_paper::table(&results);
    assert_eq!(table.lines().count(), 2 + 4, "{table}");
}

#[test]
fn a_straggler_level_over_100_percent_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = Args::try_parse_from([
        "fedprox_paper",
        "--stragglers",
        "150",
        "--out",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    let error = fedprox_paper::run(&args).unwrap_err().to_string();
    assert!(error.contains("150"), "{error}");
}
