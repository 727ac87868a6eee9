//! A feddx node in a Flower federation: it takes the place of `flower-supernode` and
//! its `ClientApp`, with no Python, and trains the digits MLP on one Dirichlet
//! partition of the embedded UCI digits.
//!
//! ```text
//! cargo run --release -p feddx-flower --example flower_node -- \
//!     --superlink 127.0.0.1:9092 --insecure --partition 0 --partitions 10
//! ```
//!
//! A ServerApp that wraps its strategy in Flower's
//! `DifferentialPrivacyClientSide*Clipping` gets updates clipped as Flower's client
//! mods clip them. The node's owner can refuse rounds: `--require-client-clipping`,
//! `--max-clipping-norm N`, `--require-secure-aggregation` (see
//! `feddx_flower::Policy`).
//!
//! Subcommands serve the ServerApp in `examples/flower/`, so that Python never
//! needs to know the model: `export-initial --out DIR` writes the model's initial
//! arrays, `evaluate --arrays DIR` prints the test accuracy of arrays as JSON, and
//! `keygen --out FILE` makes a key pair for SuperNode authentication.

mod federation;
mod flags;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use feddx::federated::{evaluate, Algorithm, BatchSize, LocalTraining};
use feddx::FederatedModel;
use feddx_flower::{
    export, Backoff, ClientApp, ClippingMod, Limits, NodeBuilder, NodeKeys, Policy,
};
use federation::{DigitClassifier, LOCAL_TRAINING};

/// A feddx node for a Flower SuperLink, training the digits MLP on one partition.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    join: Join,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the model's initial arrays (seeded by `--seed`) for the ServerApp.
    ExportInitial {
        /// Directory to write `names.json` and one `.npy` per array to.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the initial weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Prints the held-out test metrics of the arrays in a directory as one JSON line.
    Evaluate {
        /// Directory with `names.json` and the arrays, as `export-initial` writes it.
        #[arg(long)]
        arrays: PathBuf,
        /// Seed of the data split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Writes an ECDSA P-384 key pair: FILE (OpenSSH private key) and FILE.pub,
    /// for `flwr supernode register FILE.pub` and `--auth-key FILE`.
    Keygen {
        /// The private key file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Joins a SuperLink and answers its messages until Ctrl-C.
#[derive(Debug, clap::Args)]
struct Join {
    /// The SuperLink's Fleet API address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    superlink: String,
    /// Plain HTTP (the SuperLink runs with `--insecure`).
    #[arg(long, conflicts_with = "root_certificates")]
    insecure: bool,
    /// PEM file of the CA that signed the SuperLink's certificate (TLS).
    #[arg(long)]
    root_certificates: Option<PathBuf>,
    /// Private key registered with `flwr supernode register` (SuperNode authentication).
    #[arg(long)]
    auth_key: Option<PathBuf>,
    /// The partition this node holds (0-based).
    #[arg(long, default_value_t = 0)]
    partition: usize,
    /// Partitions the training digits are spread over.
    #[arg(long, default_value_t = 10)]
    partitions: usize,
    /// Dirichlet concentration of the label skew (smaller is more skewed).
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// Seed of the data split and of local training, as the simulation's run seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Local epochs, unless the ServerApp's config sets `local-epochs`.
    #[arg(long, default_value_t = LOCAL_TRAINING.local_epochs)]
    local_epochs: usize,
    /// Batch size, unless the config sets `batch-size`.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Learning rate, unless the config sets `lr`.
    #[arg(long, default_value_t = LOCAL_TRAINING.learning_rate)]
    lr: f32,
    /// FedProx's `mu`, unless the config sets `proximal-mu` (0: FedAvg).
    #[arg(long, default_value_t = 0.0)]
    mu: f32,
    /// Seconds between polls when no message is waiting.
    #[arg(long, default_value = "1", value_parser = flags::seconds, allow_negative_numbers = true)]
    poll_interval: Duration,
    /// Seconds between heartbeats.
    #[arg(long, default_value = "30", value_parser = flags::seconds, allow_negative_numbers = true)]
    heartbeat_interval: Duration,
    /// Give up after this many seconds without the SuperLink (default: never).
    #[arg(long, value_parser = flags::seconds, allow_negative_numbers = true)]
    give_up_after: Option<Duration>,
    /// Largest answer of the SuperLink read, in bytes (64 MiB: Flower's objects are
    /// at most 5 MiB).
    #[arg(long, default_value_t = Limits::default().max_response_bytes)]
    max_response_bytes: u64,
    /// Most objects in one message's object tree.
    #[arg(long, default_value_t = Limits::default().max_objects)]
    max_objects: usize,
    /// Most bytes of one message's objects (1 GiB).
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: u64,
    /// Most local epochs the ServerApp's `local-epochs` may ask for.
    #[arg(long, default_value_t = Limits::default().max_local_epochs)]
    max_local_epochs: usize,
    /// Largest batch the ServerApp's `batch-size` may ask for (0, full batches,
    /// counts as the partition's size).
    #[arg(long, default_value_t = Limits::default().max_batch_size)]
    max_batch_size: usize,
    /// Largest learning rate the ServerApp's `lr` may ask for.
    #[arg(long, default_value_t = Limits::default().max_learning_rate)]
    max_learning_rate: f64,
    /// Largest FedProx `mu` the ServerApp's `proximal-mu` may ask for.
    #[arg(long, default_value_t = Limits::default().max_proximal_mu)]
    max_proximal_mu: f64,
    /// Refuse training outside a SecAgg+ round (Flower's `SecAggPlusWorkflow`).
    #[arg(long)]
    require_secure_aggregation: bool,
    /// Refuse training without a clipping norm (a ServerApp whose strategy is not
    /// wrapped in `DifferentialPrivacyClientSide*Clipping`).
    #[arg(long)]
    require_client_clipping: bool,
    /// Refuse a clipping norm above this.
    #[arg(long, value_parser = flags::clipping_norm, allow_negative_numbers = true)]
    max_clipping_norm: Option<f64>,
    /// Act as Flower's `adaptiveclipping_mod` (report `norm_bit`) or
    /// `fixedclipping_mod` (for a fixed-clipping federation with Python nodes).
    #[arg(long, default_value = "adaptive", value_parser = flags::clipping_mod)]
    clipping_mod: ClippingMod,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::ExportInitial { out, seed }) => export_initial(&out, seed),
        Some(Command::Evaluate { arrays, seed }) => evaluate_arrays(&arrays, seed),
        Some(Command::Keygen { out }) => keygen(&out),
        None => join(&cli.join),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn join(args: &Join) -> Result {
    let data = federation::digits(args.partitions, args.alpha, args.seed)?;
    let Some(part) = data.parts.get(args.partition) else {
        return Err(format!(
            "--partition {} is out of range: there are {} partitions (0..{})",
            args.partition, args.partitions, args.partitions
        )
        .into());
    };
    let defaults = LocalTraining {
        algorithm: if args.mu > 0.0 {
            Algorithm::FedProx { mu: args.mu }
        } else {
            Algorithm::FedAvg
        },
        local_epochs: args.local_epochs,
        batch_size: BatchSize::Examples(args.batch_size),
        learning_rate: args.lr,
    };
    defaults.validate()?;
    let app = ClientApp::new(
        DigitClassifier::with_seed(args.seed),
        data.train.subset(part).to_client_data(),
        defaults,
    )
    .with_seed(args.seed, args.partition);

    let mut builder = NodeBuilder::new(&args.superlink)
        .poll_interval(args.poll_interval)
        .heartbeat_interval(args.heartbeat_interval)
        .backoff(Backoff {
            give_up_after: args.give_up_after,
            ..Backoff::default()
        })
        .limits(Limits {
            max_response_bytes: args.max_response_bytes,
            max_objects: args.max_objects,
            max_message_bytes: args.max_message_bytes,
            max_local_epochs: args.max_local_epochs,
            max_batch_size: args.max_batch_size,
            max_learning_rate: args.max_learning_rate,
            max_proximal_mu: args.max_proximal_mu,
        })
        .policy(Policy {
            require_secure_aggregation: args.require_secure_aggregation,
            require_client_clipping: args.require_client_clipping,
            max_clipping_norm: args.max_clipping_norm,
            clipping_mod: args.clipping_mod,
        });
    builder = match (&args.root_certificates, args.insecure) {
        (Some(path), _) => builder.root_certificates(read(path)?),
        (None, true) => builder.insecure(),
        (None, false) => {
            return Err(
                "say how to reach the SuperLink: --insecure, or --root-certificates CA.pem".into(),
            )
        }
    };
    if let Some(path) = &args.auth_key {
        builder = builder.authentication_keys(NodeKeys::from_file(path)?);
    }
    let mut node = builder.build(app)?;

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    println!(
        "partition {}/{}: {} examples; joining {}",
        args.partition,
        args.partitions,
        part.len(),
        args.superlink
    );
    let summary = node.run(&stop, |event| println!("{event}"))?;
    println!(
        "{} replies ({} of them errors), {} reconnection(s); {} bytes sent, {} received",
        summary.replied,
        summary.error_replies,
        summary.reconnections,
        summary.bytes_sent,
        summary.bytes_received
    );
    Ok(())
}

fn export_initial(out: &std::path::Path, seed: u64) -> Result {
    let model = DigitClassifier::with_seed(seed);
    export::save_arrays(out, &model.trainable_weights())?;
    println!(
        "wrote {} arrays to {}",
        model.trainable_weights().len(),
        out.display()
    );
    Ok(())
}

fn evaluate_arrays(dir: &std::path::Path, seed: u64) -> Result {
    let mut model = DigitClassifier::with_seed(seed);
    let weights = export::load_arrays(dir, &model.trainable_weights())?;
    model.set_weights_vec(&weights)?;
    let test = federation::digits(1, 0.5, seed)?.test;
    let metrics = evaluate(&model, &test.to_client_data(), BatchSize::Full)?;
    let fields: Vec<String> = metrics
        .iter()
        .map(|(name, value)| format!("\"{name}\": {value}"))
        .collect();
    println!("{{{}}}", fields.join(", "));
    Ok(())
}

fn keygen(out: &std::path::Path) -> Result {
    let keys = NodeKeys::generate();
    std::fs::write(out, keys.private_key_openssh()?)?;
    let public = PathBuf::from(format!("{}.pub", out.display()));
    std::fs::write(&public, keys.public_key_openssh()? + "\n")?;
    println!("wrote {} and {}", out.display(), public.display());
    Ok(())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}
