//! The demo's learning problem: L2-regularized logistic regression trained by minibatch
//! gradient descent on a synthetic, deterministic binary classification dataset.
//!
//! Invariants: everything is a pure function of its inputs — the dataset of
//! [`DATA_SEED`], a run of its [`Hyper`] parameters (the seed drives weight initialization
//! and minibatch order) — so a run trained twice gives bit-identical metrics and weights, and
//! a resumed sweep stores exactly what an uninterrupted one would have. No floating-point
//! value is ever NaN or infinite (the loss is computed in a numerically stable form).

use serde::{Deserialize, Serialize};

/// Seed of the dataset, fixed so every run of every invocation sees the same data.
pub const DATA_SEED: u64 = 2026;
/// Number of input features.
const FEATURES: usize = 48;
/// Training examples: few for the number of features, so regularization matters.
const TRAIN: usize = 96;
/// Validation examples.
const VALIDATION: usize = 512;
/// Examples per gradient step.
const BATCH: usize = 16;
/// Passes over the training set.
pub const EPOCHS: usize = 60;

/// SplitMix64 (Steele, Lea & Flood, 2014): a small, fast, well-mixed 64-bit generator,
/// enough for synthetic data and shuffling (not for cryptography).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller; one of the pair is discarded for simplicity).
    pub fn normal(&mut self) -> f64 {
        // 1 - uniform() is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform()).cos()
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible for small n).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A labelled set of examples, row-major.
#[derive(Debug, Clone)]
struct Examples {
    x: Vec<[f64; FEATURES]>,
    y: Vec<f64>,
}

/// The training and validation sets.
#[derive(Debug, Clone)]
pub struct Dataset {
    train: Examples,
    validation: Examples,
}

impl Dataset {
    /// The synthetic dataset: features are standard normal with a shared latent factor (so
    /// they correlate), labels are drawn from a logistic model whose true weights are sparse
    /// — a problem where the learning rate and the L2 penalty visibly matter.
    pub fn synthetic() -> Self {
        let mut rng = Rng::new(DATA_SEED);
        let truth: Vec<f64> = (0..FEATURES)
            .map(|i| if i % 4 == 0 { 2.0 * rng.normal() } else { 0.0 })
            .collect();
        let mut draw = |n: usize| {
            let mut examples = Examples {
                x: Vec::with_capacity(n),
                y: Vec::with_capacity(n),
            };
            for _ in 0..n {
                let latent = rng.normal();
                let mut x = [0.0; FEATURES];
                for v in &mut x {
                    *v = 0.6 * latent + 0.8 * rng.normal();
                }
                let p = sigmoid(dot(&truth, &x) + 0.25);
                examples.x.push(x);
                examples.y.push(if rng.uniform() < p { 1.0 } else { 0.0 });
            }
            examples
        };
        let train = draw(TRAIN);
        let validation = draw(VALIDATION);
        Dataset { train, validation }
    }
}

/// The hyper-parameters of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Step size of gradient descent.
    pub lr: f64,
    /// L2 penalty on the weights (not the bias).
    pub l2: f64,
    /// Seed of weight initialization and minibatch order.
    pub seed: u64,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The intercept.
    pub bias: f64,
    /// One weight per feature.
    pub w: Vec<f64>,
}

/// What a run reports (saved as its `metrics` result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean log-loss on the training set after the last epoch (without the penalty).
    pub train_loss: f64,
    /// Mean log-loss on the validation set after the last epoch.
    pub val_loss: f64,
    /// Fraction of validation examples classified correctly.
    pub val_accuracy: f64,
    /// The epoch (1-based) with the lowest validation loss.
    pub best_epoch: usize,
    /// Euclidean norm of the weights.
    pub weight_norm: f64,
    /// Epochs trained.
    pub epochs: usize,
}

/// Loss and accuracy after one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training log-loss.
    pub train_loss: f64,
    /// Mean validation log-loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
}

/// Trains a model with `hyper` on `data`, calling `each_epoch` after every epoch (the caller
/// streams these into the run's log; an error from it stops training).
///
/// # Errors
/// Only what `each_epoch` returns.
pub fn train<E>(
    data: &Dataset,
    hyper: Hyper,
    mut each_epoch: impl FnMut(&EpochReport) -> Result<(), E>,
) -> Result<(Weights, Metrics), E> {
    let mut rng = Rng::new(hyper.seed ^ 0x5eed_0000_0000_0000);
    let mut model = Weights {
        bias: 0.0,
        w: (0..FEATURES).map(|_| 0.1 * rng.normal()).collect(),
    };
    let mut order: Vec<usize> = (0..data.train.y.len()).collect();
    let mut best = (f64::INFINITY, 0);
    let mut last = report(0, &model, data);
    for epoch in 1..=EPOCHS {
        shuffle(&mut order, &mut rng);
        for batch in order.chunks(BATCH) {
            step(&mut model, &data.train, batch, hyper);
        }
        last = report(epoch, &model, data);
        if last.val_loss < best.0 {
            best = (last.val_loss, epoch);
        }
        each_epoch(&last)?;
    }
    let metrics = Metrics {
        train_loss: last.train_loss,
        val_loss: last.val_loss,
        val_accuracy: last.val_accuracy,
        best_epoch: best.1,
        weight_norm: dot(&model.w, &model.w).sqrt(),
        epochs: EPOCHS,
    };
    Ok((model, metrics))
}

/// Losses and accuracy of `model` after `epoch` epochs.
fn report(epoch: usize, model: &Weights, data: &Dataset) -> EpochReport {
    let (train_loss, _) = evaluate(model, &data.train);
    let (val_loss, val_accuracy) = evaluate(model, &data.validation);
    EpochReport {
        epoch,
        train_loss,
        val_loss,
        val_accuracy,
    }
}

/// One gradient step on the examples `batch` of `set`.
fn step(model: &mut Weights, set: &Examples, batch: &[usize], hyper: Hyper) {
    let mut grad = [0.0; FEATURES];
    let mut grad_bias = 0.0;
    for &i in batch {
        let x = &set.x[i];
        let error = sigmoid(dot(&model.w, x) + model.bias) - set.y[i];
        for (g, xi) in grad.iter_mut().zip(x) {
            *g += error * xi;
        }
        grad_bias += error;
    }
    let scale = 1.0 / batch.len() as f64;
    for (w, g) in model.w.iter_mut().zip(grad) {
        *w -= hyper.lr * (g * scale + hyper.l2 * *w);
    }
    model.bias -= hyper.lr * grad_bias * scale;
}

/// Mean log-loss and accuracy of `model` on `set`.
fn evaluate(model: &Weights, set: &Examples) -> (f64, f64) {
    let mut loss = 0.0;
    let mut correct = 0usize;
    for (x, &y) in set.x.iter().zip(&set.y) {
        let z = dot(&model.w, x) + model.bias;
        // log(1 + e^z) - y z, computed without overflow for large |z|.
        loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z;
        if (z > 0.0) == (y > 0.5) {
            correct += 1;
        }
    }
    let n = set.y.len() as f64;
    (loss / n, correct as f64 / n)
}

/// Fisher–Yates shuffle.
fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &EpochReport) -> Result<(), ()> {
        Ok(())
    }

    #[test]
    fn training_is_deterministic_and_depends_on_the_seed() {
        let data = Dataset::synthetic();
        let hyper = Hyper {
            lr: 0.1,
            l2: 1e-3,
            seed: 3,
        };
        let a = train(&data, hyper, never);
        let b = train(&data, hyper, never);
        assert_eq!(a, b);
        let c = train(&data, Hyper { seed: 4, ..hyper }, never);
        assert_ne!(a, c);
    }

    #[test]
    fn training_learns_something_and_reports_every_epoch() -> Result<(), ()> {
        let data = Dataset::synthetic();
        let hyper = Hyper {
            lr: 0.1,
            l2: 1e-2,
            seed: 0,
        };
        let mut epochs = Vec::new();
        let (_, metrics) = train(&data, hyper, |r| {
            epochs.push(r.epoch);
            Ok(())
        })?;
        assert_eq!(epochs, (1..=EPOCHS).collect::<Vec<_>>());
        // Chance is about one half and ln 2 ≈ 0.693; a trained model does clearly better.
        assert!(metrics.val_accuracy > 0.75, "{metrics:?}");
        assert!(metrics.val_loss < 0.6, "{metrics:?}");
        Ok(())
    }

    #[test]
    fn regularization_shrinks_the_weights() -> Result<(), ()> {
        let data = Dataset::synthetic();
        let weak = Hyper {
            lr: 0.1,
            l2: 0.0,
            seed: 1,
        };
        let (_, free) = train(&data, weak, never)?;
        let (_, shrunk) = train(&data, Hyper { l2: 0.1, ..weak }, never)?;
        assert!(shrunk.weight_norm < free.weight_norm, "{free:?} {shrunk:?}");
        Ok(())
    }

    #[test]
    fn errors_from_the_epoch_callback_stop_training() {
        let data = Dataset::synthetic();
        let hyper = Hyper {
            lr: 0.1,
            l2: 0.0,
            seed: 0,
        };
        let mut calls = 0;
        let result: Result<_, &str> = train(&data, hyper, |_| {
            calls += 1;
            if calls == 3 { Err("stop") } else { Ok(()) }
        });
        assert_eq!(result.err(), Some("stop"));
        assert_eq!(calls, 3);
    }
}
