//! Criterion benchmarks: one NASI step (forward, ∇θ, and the α-gradient passes) for both
//! finite-difference schemes, and a whole small search. `cargo bench`; for PyTorch comparisons
//! use `benches/compare.sh`, which drives `nasi bench`.

use criterion::{Criterion, criterion_group, criterion_main};
use nasi::config::{FdScheme, SearchConfig};
use nasi::nasi::trace_and_alpha_grad;
use nasi::search::{Search, run};

fn step(c: &mut Criterion) {
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
        let (batch, noise) = search.draw();
        c.bench_function(&format!("nasi step C=8 N=1 b=32 16x16 {name}"), |b| {
            b.iter(|| {
                let input = search.step_input(&batch, &noise);
                trace_and_alpha_grad(search.supernet(), &input, &device).read()
            })
        });
    }
}

fn whole_search(c: &mut Criterion) {
    let device = nasi::cpu_device();
    let cfg = SearchConfig {
        steps: 10,
        batch: 8,
        channels: 4,
        size: 8,
        ..SearchConfig::default()
    };
    c.bench_function("search T=10 C=4 b=8 8x8", |b| {
        b.iter(|| run(&cfg, &device, |_| {}).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = step, whole_search
}
criterion_main!(benches);
