//! Agreement with PyTorch (issue item 5b): fixtures written by `tests/reference/make_fixtures.py`
//! with exact float64 second-order autograd; the same weights, inputs, labels and Gumbel noise are
//! loaded here and pushed through our f32 supernet.

use burn::tensor::{Tensor, TensorData};
use nasi::config::FdScheme;
use nasi::data::Batch;
use nasi::nasi::relax::relaxed_weights;
use nasi::nasi::{StepInput, trace_and_alpha_grad};
use nasi::net::supernet::{CellMix, ReluTape, SupernetConfig, input_tensor};
use nasi::ntk::exact_ntk;
use nasi::space::{ArchTable, NUM_EDGES, NUM_OPS};
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
#[derive(Deserialize)]
struct Param {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}
#[derive(Deserialize)]
struct Expected {
    loss: f64,
    trace: f64,
    exact_trace: f64,
    grad_trace: [[f64; 5]; 6],
}
#[derive(Deserialize)]
struct Fixture {
    config: Cfg,
    params: Vec<Param>,
    x: Vec<f32>,
    labels: Vec<usize>,
    gumbel: ArchTable,
    expected: Expected,
}

/// Bounds on the α-gradient of one fixture and scheme, about 10× the error measured there.
struct GradBound {
    /// On ‖∇αT̃ − PyTorch's‖ / ‖PyTorch's‖.
    rel: f64,
    /// On 1 − cosine.
    one_minus_cos: f64,
}

fn check(name: &str, fd_scheme: FdScheme, bound: GradBound) {
    let path = format!(
        "{}/tests/reference/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: Fixture = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let c = &f.config;
    let device = nasi::cpu_device();
    let mut net = SupernetConfig {
        channels: c.channels,
        cells: c.cells,
        classes: c.classes,
        size: c.size,
    }
    .init(0, &device);
    for (spec, p) in net.specs().iter().zip(&f.params) {
        assert_eq!(
            (&spec.name, &spec.shape),
            (&p.name, &p.shape),
            "parameter order"
        );
    }
    net.set_params(
        f.params
            .iter()
            .map(|p| {
                Tensor::from_data(TensorData::new(p.values.clone(), [p.values.len()]), &device)
            })
            .collect(),
    )
    .unwrap();
    let batch = Batch {
        x: f.x.clone(),
        labels: f.labels.clone(),
        batch: c.batch,
        size: c.size,
    };
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
    };
    let got = trace_and_alpha_grad(&net, &input, &device).read();

    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    let e = &f.expected;
    let (rl, rt) = (rel(got.loss as f64, e.loss), rel(got.trace as f64, e.trace));

    let g: Vec<f64> = got.grad_trace.values().iter().map(|&v| v as f64).collect();
    let want: Vec<f64> = e.grad_trace.iter().flatten().copied().collect();
    let dot: f64 = g.iter().zip(&want).map(|(a, b)| a * b).sum();
    let n = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let cos = dot / (n(&g) * n(&want));
    let diff: Vec<f64> = g.iter().zip(&want).map(|(a, b)| a - b).collect();
    let rg = n(&diff) / n(&want);

    let ad = device.clone().autodiff();
    let choice = c.hard.then(|| f.gumbel.row_argmax());
    let w = relaxed_weights(
        Tensor::zeros([NUM_EDGES, NUM_OPS], &ad),
        &f.gumbel,
        c.tau,
        choice.as_deref(),
    );
    let x = input_tensor(&batch, &device).autodiff();
    let ntk = exact_ntk(net.params(), c.batch, c.classes, |p| {
        net.forward(
            p,
            x.clone(),
            &CellMix::Relaxed(w.clone()),
            &mut ReluTape::Free,
        )
    });
    let diag: f64 = (0..c.batch)
        .map(|i| ntk.clone().slice([i..i + 1, i..i + 1]).into_scalar::<f32>() as f64)
        .sum();
    let rx = rel(diag, e.exact_trace);
    println!(
        "{name} ({fd_scheme}): loss rel {rl:.1e}; T~ {:.6} vs {:.6} (rel {rt:.1e}); exact tr {diag:.3} vs {:.3} (rel {rx:.1e}); \
         grad_alpha T~ rel {rg:.1e}, 1 - cosine {:.1e}",
        got.trace,
        e.trace,
        e.exact_trace,
        1.0 - cos
    );
    // Measured over the three fixtures: loss ≤ 9.3e-8, T̃ ≤ 4.2e-7, exact trace ≤ 2.7e-7 (f32
    // against float64).
    assert!(rl <= 1e-6, "loss relative error {rl}");
    assert!(rt <= 4e-6, "T~ relative error {rt}");
    assert!(rx <= 3e-6, "exact trace relative error {rx}");
    assert!(rg <= bound.rel, "grad relative error {rg}");
    assert!(
        1.0 - cos <= bound.one_minus_cos,
        "grad 1 - cosine {}",
        1.0 - cos
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
