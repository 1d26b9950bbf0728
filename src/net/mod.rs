//! Networks over a search space: the relaxed supernet and the standalone network of one cell
//! (paper §3.3), with their parameters held as one flat list so that the NASI step can perturb
//! them all at once (θ ± εv).
//!
//! * [`darts`]: the DARTS search and evaluation networks' parameters, named and counted as the
//!   reference code does, and the search network's forward pass with its ReLU and max-pool tapes.
//! * [`Relaxed`]: what NASI's step needs of a network, implemented by both supernets.
//! * [`tape`]: the piecewise-linear choices of a pass, recorded and replayed by NASI's step.
//! * [`supernet`]: NB201's macro skeleton with a relaxed or fixed cell, and the ReLU tape that the
//!   finite-difference Hessian-vector product replays.

pub mod darts;
pub mod supernet;
pub mod tape;

use burn::tensor::Tensor;

/// A relaxed network that NASI's step (eq. 12 and its α-gradient) can differentiate, whatever
/// its space: a flat parameter list (θ ± εv perturbs all of it at once), a forward pass over
/// `[rows, ops]` op weights (eq. 13), and a tape of its piecewise-linear choices (ReLU masks,
/// max-pool argmaxes) that the perturbed passes of the Hessian-vector product replay.
pub trait Relaxed: Sync {
    /// What one pass records and the others replay.
    type Tape: Sync;
    /// The parameters, flat, in the network's documented order.
    fn params(&self) -> &[Tensor<1>];
    /// Outputs of the head (and classes of the labels).
    fn classes(&self) -> usize;
    /// A tape that records this pass's choices.
    fn recording_tape(&self) -> Self::Tape;
    /// A tape that replays `tape`'s choices from the start.
    fn replay(tape: &Self::Tape) -> Self::Tape;
    /// Logits `[b, classes]` of `x` `[b, 3, h, w]` under `params` with op weights `weights`.
    fn forward_relaxed(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        weights: Tensor<2>,
        tape: &mut Self::Tape,
    ) -> Tensor<2>;
}

impl Relaxed for supernet::Supernet {
    type Tape = supernet::ReluTape;
    fn params(&self) -> &[Tensor<1>] {
        supernet::Supernet::params(self)
    }
    fn classes(&self) -> usize {
        self.config.classes
    }
    fn recording_tape(&self) -> Self::Tape {
        supernet::ReluTape::Record(Vec::new())
    }
    fn replay(tape: &Self::Tape) -> Self::Tape {
        tape.replay()
    }
    fn forward_relaxed(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        weights: Tensor<2>,
        tape: &mut Self::Tape,
    ) -> Tensor<2> {
        self.forward(params, x, &supernet::CellMix::Relaxed(weights), tape)
    }
}

impl Relaxed for darts::DartsSupernet {
    type Tape = (supernet::ReluTape, darts::PoolTape);
    fn params(&self) -> &[Tensor<1>] {
        darts::DartsSupernet::params(self)
    }
    fn classes(&self) -> usize {
        self.config.classes
    }
    fn recording_tape(&self) -> Self::Tape {
        (
            supernet::ReluTape::Record(Vec::new()),
            darts::PoolTape::Record(Vec::new()),
        )
    }
    fn replay((relus, pools): &Self::Tape) -> Self::Tape {
        (relus.replay(), pools.replay())
    }
    fn forward_relaxed(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        weights: Tensor<2>,
        (relus, pools): &mut Self::Tape,
    ) -> Tensor<2> {
        self.forward(params, x, &weights, relus, pools)
    }
}
