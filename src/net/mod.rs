//! Networks over a search space: the relaxed supernet and the standalone network of one cell
//! (paper §3.3), with their parameters held as one flat list so that the NASI step can perturb
//! them all at once (θ ± εv).
//!
//! * [`darts`]: the DARTS search and evaluation networks' parameters, named and counted as the
//!   reference code does, and the search network's forward pass with its ReLU and max-pool tapes.
//! * [`supernet`]: NB201's macro skeleton with a relaxed or fixed cell, and the ReLU tape that the
//!   finite-difference Hessian-vector product replays.

pub mod darts;
pub mod supernet;
