//! Agreement with PyTorch (issue item 5b): fixtures written by `tests/reference/make_fixtures.py`
//! with exact float64 second-order autograd; the same weights, inputs, labels and Gumbel noise are
//! loaded here and pushed through our f32 supernet.

mod common;

use burn::tensor::Tensor;
use common::{Fixture, exact_trace, grad_errors, rel};
use nasi::config::FdScheme;
use nasi::nasi::relax::relaxed_weights;
use nasi::nasi::{StepInput, trace_and_alpha_grad};
use nasi::net::supernet::SupernetConfig;
use nasi::space::{NUM_EDGES, NUM_OPS};
use serde::Deserialize;

#[derive(Deserialize)]
struct Cfg {
    channels: usize,
    cells: usize,
    classes: usize,
    size: usize,
    batch: usize,
    tau: f64,
    hard: bool,
}

/// Bounds on the α-gradient of one fixture and scheme, about 10× the error measured there.
struct GradBound {
    /// On ‖∇αT̃ − PyTorch's‖ / ‖PyTorch's‖.
    rel: f64,
    /// On 1 − cosine.
    one_minus_cos: f64,
}

fn check(name: &str, fd_scheme: FdScheme, bound: GradBound) {
    let f: Fixture<Cfg> = Fixture::load(name);
    let c = &f.config;
    let device = common::test_device();
    let mut net = SupernetConfig {
        channels: c.channels,
        cells: c.cells,
        classes: c.classes,
        size: c.size,
    }
    .init(0, &device);
    net.set_params(f.params_for(net.specs(), &device)).unwrap();
    let batch = f.batch(c.batch, c.size);
    let input = StepInput {
        batch: &batch,
        gumbel: &f.gumbel,
        tau: c.tau,
        hard: c.hard,
        // The forward scheme's O(ε) truncation error wants a smaller radius.
        fd_radius: if fd_scheme == FdScheme::Forward {
            1e-4
        } else {
            1e-3
        },
        fd_scheme,
        loss: nasi::loss::LossKind::CrossEntropy,
    };
    let got = trace_and_alpha_grad(&net, &input, &device).read();
    let e = &f.expected;
    let (rl, rt) = (rel(got.loss as f64, e.loss), rel(got.trace as f64, e.trace));
    let (rg, one_minus_cos) = grad_errors(&got.grad_trace, &e.grad_trace);
    let choice = c.hard.then(|| f.gumbel.row_argmax());
    let w = relaxed_weights(
        Tensor::zeros([NUM_EDGES, NUM_OPS], &device.clone().autodiff()),
        &f.gumbel,
        c.tau,
        choice.as_deref(),
    );
    let diag = exact_trace(&net, &batch, w, &device);
    let rx = rel(diag, e.exact_trace);
    println!(
        "{name} ({fd_scheme}): loss rel {rl:.1e}; T~ {:.6} vs {:.6} (rel {rt:.1e}); exact tr {diag:.3} vs {:.3} (rel {rx:.1e}); \
         grad_alpha T~ rel {rg:.1e}, 1 - cosine {one_minus_cos:.1e}",
        got.trace, e.trace, e.exact_trace,
    );
    // Measured over the three fixtures: loss ≤ 9.3e-8, T̃ ≤ 4.2e-7, exact trace ≤ 2.7e-7 (f32
    // against float64).
    assert!(rl <= 1e-6, "loss relative error {rl}");
    assert!(rt <= 4e-6, "T~ relative error {rt}");
    assert!(rx <= 3e-6, "exact trace relative error {rx}");
    assert!(rg <= bound.rel, "grad relative error {rg}");
    assert!(
        one_minus_cos <= bound.one_minus_cos,
        "grad 1 - cosine {one_minus_cos}"
    );
}

#[test]
fn pytorch_soft_c4_n1() {
    // Measured: rel 2.0e-4, 1 − cos 5.2e-9.
    check(
        "tiny_soft",
        FdScheme::Central,
        GradBound {
            rel: 2e-3,
            one_minus_cos: 1e-7,
        },
    );
    // Measured: rel 2.5e-3, 1 − cos 2.2e-6.
    check(
        "tiny_soft",
        FdScheme::Forward,
        GradBound {
            rel: 2.5e-2,
            one_minus_cos: 2e-5,
        },
    );
}

#[test]
fn pytorch_hard_straight_through() {
    // Measured: rel 2.3e-4, 1 − cos 6.6e-9.
    check(
        "tiny_hard",
        FdScheme::Central,
        GradBound {
            rel: 2.5e-3,
            one_minus_cos: 1e-7,
        },
    );
    // Measured: rel 1.2e-3, 1 − cos 6.0e-7.
    check(
        "tiny_hard",
        FdScheme::Forward,
        GradBound {
            rel: 1.2e-2,
            one_minus_cos: 6e-6,
        },
    );
}

#[test]
fn pytorch_two_cells_per_stage() {
    // Measured: rel 1.3e-3, 1 − cos 2.3e-7.
    check(
        "tiny_n2",
        FdScheme::Central,
        GradBound {
            rel: 1.3e-2,
            one_minus_cos: 2.5e-6,
        },
    );
    // Measured: rel 3.6e-3, 1 − cos 5.8e-6.
    check(
        "tiny_n2",
        FdScheme::Forward,
        GradBound {
            rel: 3.6e-2,
            one_minus_cos: 6e-5,
        },
    );
}
