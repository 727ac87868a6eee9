//! Counts the instructions of training steps, for a comparison that machine noise
//! cannot blur: `benches/instructions.sh` runs this under valgrind's callgrind.
//!
//! ```text
//! bash benches/instructions.sh            # all variants, 200 steps each
//! target/release/deps/step_instructions-* generated 200   # one variant
//! ```
//!
//! Variants: `generated`, `hand_written`, `generated_keeping_predictions` (the MLP
//! of `train_step`), and the same three with a `two_heads_` prefix and with a
//! `cnn_` prefix (the conv net of the `digits_cnn` example). With no
//! variant (as under `cargo bench`) it runs one step of each and exits.

use feddx::prelude::*;

mod common;
use common::*;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let variant = args.next();
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let variants: Vec<String> = match variant {
        Some(v) => vec![v],
        None => VARIANTS.iter().map(|v| v.to_string()).collect(),
    };
    for variant in &variants {
        run(variant, steps);
    }
}

const VARIANTS: [&str; 9] = [
    "generated",
    "hand_written",
    "generated_keeping_predictions",
    "two_heads_generated",
    "two_heads_hand_written",
    "two_heads_generated_keeping_predictions",
    "cnn_generated",
    "cnn_hand_written",
    "cnn_generated_keeping_predictions",
];

/// Builds both sides (checked equal) and runs `steps` steps of `variant`.
fn run(variant: &str, steps: usize) {
    let dev = Cpu::seed_from_u64(SEED);
    if let Some(side) = variant.strip_prefix("cnn_") {
        let (x, y) = digits_image_batch(&dev);
        let loss = cnn_loss(&dev, &x, &y);
        repeat(side, steps, DigitsCnn::build, loss, &x, &y);
        return;
    }
    match variant.strip_prefix("two_heads_") {
        None => {
            let (x, y) = digits_batch(&dev);
            repeat(
                variant,
                steps,
                Digits::build,
                mlp_loss(&dev, &x, &y),
                &x,
                &y,
            );
        }
        Some(side) => {
            let (x, y) = two_head_batch(&dev);
            let loss = two_heads_loss(&dev, &x, &y);
            repeat(side, steps, DigitParity::build, loss, &x, &y);
        }
    }
}

/// Runs `steps` steps of one side (`generated`, `hand_written` or
/// `generated_keeping_predictions`) of a model and its hand-written twin.
fn repeat<M, Net>(
    side: &str,
    steps: usize,
    build: fn(&Cpu) -> M,
    loss: impl Fn(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>,
    x: &FeatureBatch<M::Features>,
    y: &LabelBatch<M>,
) where
    M: FederatedModel<Module = Net>,
    Net: TensorCollection<f32, Cpu> + Clone,
{
    let (mut g, mut h) = same_start(build, &loss, x, y);
    for _ in 0..steps {
        match side {
            "generated" => g.step(x, y),
            "hand_written" => h.step(&loss),
            "generated_keeping_predictions" => g.step_keeping_predictions(x, y),
            other => panic!("unknown variant `{other}`; one of {VARIANTS:?}"),
        }
    }
}
