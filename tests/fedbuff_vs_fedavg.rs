//! The fedbuff_vs_fedavg example, shortened to two FedAvg rounds a data set: it
//! runs, prints its comparison, and writes both runs' CSV files and the chart, with
//! FedBuff run on the same clock up to FedAvg's end.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example, built by `cargo test` with the other examples.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir
        .join("examples")
        .join(format!("fedbuff_vs_fedavg{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

/// The `sim_time_s` column of a CSV file of steps, and its number of columns.
fn times(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..2], ["step", "sim_time_s"], "{}", path.display());
    assert!(header.contains(&"eval/sparse_categorical_accuracy"));
    lines
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_example_compares_both_runs_on_one_clock_and_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example_binary())
        .args([
            "--digits-rounds",
            "2",
            "--synthetic-rounds",
            "2",
            "--max-steps",
            "400",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for data in ["digits", "synthetic"] {
        assert!(stdout.contains(&format!("{data}: target ")), "{stdout}");
        assert!(
            stdout.contains(&format!("{data}: FedAvg  reaches target at")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{data}: FedBuff reaches target at")),
            "{stdout}"
        );
        let sync = times(&dir.path().join(format!("{data}_fedavg.csv")));
        let buffered = times(&dir.path().join(format!("{data}_fedbuff.csv")));
        assert_eq!(sync.len(), 2);
        assert!(sync[0] > 0.0 && sync[1] > sync[0], "{sync:?}");
        // FedBuff ran on the same clock until it passed FedAvg's end, no further.
        let end = sync[1];
        assert!(buffered.windows(2).all(|w| w[1] > w[0]), "{buffered:?}");
        assert!(*buffered.last().unwrap() >= end, "{buffered:?} to {end}");
        assert!(buffered[buffered.len() - 2] < end, "{buffered:?} to {end}");
        let svg =
            std::fs::read_to_string(dir.path().join(format!("{data}_time_accuracy.svg"))).unwrap();
        assert!(svg.contains("simulated time (s)"));
        assert!(svg.contains("FedBuff (concurrency 30, buffer 5)"));
        assert!(svg.contains("FedAvg (10 clients a round)"));
    }
}
