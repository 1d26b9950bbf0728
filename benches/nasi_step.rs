//! Criterion benchmarks: one NASI step (forward, ∇θ, and the α-gradient passes) for both
//! finite-difference schemes, a whole small search, and the supernet's hand-written ops against
//! burn's (forward + backward on `[64, 16, 32, 32]`: the op-level rows of docs/performance.md's log).
//! `cargo bench`; for PyTorch comparisons use `benches/compare.sh`, which drives `nasi bench`.

use burn::tensor::module::{avg_pool2d, batch_norm_train, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use nasi::config::{FdScheme, SearchConfig};
use nasi::net::supernet;
use nasi::search::{Search, run};

fn step(c: &mut Criterion) {
    // As the `nasi` binary does (cli::keep_freed_memory), so the figures match `nasi bench`.
    nasi::cli::keep_freed_memory();
    let device = nasi::cpu_device();
    for (name, scheme, r) in [
        ("central", FdScheme::Central, 1e-3),
        ("forward", FdScheme::Forward, 1e-4),
    ] {
        let cfg = SearchConfig {
            fd_scheme: scheme,
            fd_radius: r,
            ..SearchConfig::default()
        };
        let mut search = Search::new(&cfg, &device).unwrap();
        c.bench_function(&format!("nasi step C=8 N=1 b=32 16x16 {name}"), |b| {
            // One step's device half and its read-back (a fresh batch and noise each time, of
            // the same shapes).
            b.iter(|| search.begin_step().tensors.read())
        });
    }
}

fn whole_search(c: &mut Criterion) {
    let device = nasi::cpu_device();
    let cfg = nasi::config::preset("tiny").expect("the page's CPU preset");
    c.bench_function("search: the tiny preset (T=10 C=4 b=8 8x8)", |b| {
        b.iter(|| run(&cfg, &device, |_| {}).unwrap())
    });
}

/// Forward and backward (input and, for convs, weight gradients) of one op, ours against burn's.
fn ops(c: &mut Criterion) {
    let device = nasi::cpu_device();
    let shape = [64, 16, 32, 32];
    let x0 = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let g = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).autodiff();
    // Weights for a 16→16 3×3 conv; the 1×1 cases use the first 16·16.
    let w1 = Tensor::<1>::random([16 * 16 * 9], Distribution::Normal(0.0, 0.1), &device);
    // Runs `op` on a tracked copy of x (and w), backpropagates ⟨op(x), g⟩, reads ∂/∂x back.
    let fwd_bwd = |op: &dyn Fn(Tensor<4>, Tensor<1>) -> Tensor<4>| {
        let x = x0.clone().autodiff().require_grad();
        let w = w1.clone().autodiff().require_grad();
        let grads = (op(x.clone(), w.clone()) * g.clone()).sum().backward();
        let gx: f32 = x.grad(&grads).expect("x is tracked").sum().into_scalar();
        gx + w.grad(&grads).map_or(0.0, |gw| gw.sum().into_scalar())
    };
    let pool = |x: Tensor<4>, _: Tensor<1>| {
        let opts = AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false);
        avg_pool2d(x, opts)
    };
    let bn = |x: Tensor<4>, _: Tensor<1>| {
        let dev = x.device();
        let (ones, zeros) = (Tensor::ones([16], &dev), Tensor::zeros([16], &dev));
        batch_norm_train(x, ones, zeros, 1e-5).output
    };
    let conv1x1 = |x: Tensor<4>, w: Tensor<1>| {
        let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        conv2d(x, w.narrow(0, 0, 256).reshape([16, 16, 1, 1]), None, opts)
    };
    let conv3x3 = |x: Tensor<4>, w: Tensor<1>| {
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        conv2d(x, w.reshape([16, 16, 3, 3]), None, opts)
    };
    type Op<'a> = &'a dyn Fn(Tensor<4>, Tensor<1>) -> Tensor<4>;
    let cases: [(&str, Op, Op); 4] = [
        ("avg_pool_3x3", &pool, &|x, _| supernet::avg_pool_3x3(x)),
        ("batch_norm", &bn, &|x, _| supernet::batch_norm(x)),
        ("conv1x1", &conv1x1, &|x, w| {
            supernet::conv(x, w.narrow(0, 0, 256), &[16, 16, 1, 1], 1)
        }),
        ("conv3x3", &conv3x3, &|x, w| {
            supernet::conv(x, w, &[16, 16, 3, 3], 1)
        }),
    ];
    for (name, theirs, ours) in cases {
        c.bench_function(&format!("{name} fwd+bwd [64,16,32,32] burn"), |b| {
            b.iter(|| fwd_bwd(theirs))
        });
        c.bench_function(&format!("{name} fwd+bwd [64,16,32,32] ours"), |b| {
            b.iter(|| fwd_bwd(ours))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = step, whole_search, ops
}
criterion_main!(benches);
