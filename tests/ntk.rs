//! NTK estimators against closed forms (a linear model) and the bound of eq. 10–11.

use burn::tensor::{Tensor, TensorData};
use nasi::config::DataSpec;
use nasi::data::Sampler;
use nasi::loss::one_hot;
use nasi::net::supernet::{CellMix, ReluTape, SupernetConfig, input_tensor};
use nasi::ntk::{exact_ntk, grad_norm_sq, summed_output_ntk};
use nasi::space::{Genotype, NUM_EDGES, NUM_OPS};

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn linear_model_matches_closed_forms() {
    let device = nasi::cpu_device();
    let (b, d, k) = (5usize, 4usize, 3usize);
    let xs: Vec<f32> = (0..b * d)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
        .collect();
    let wv: Vec<f32> = (0..k * d)
        .map(|i| ((i * 13 % 7) as f32 - 3.0) / 5.0)
        .collect();
    let bv: Vec<f32> = vec![0.1, -0.2, 0.05];
    let labels = vec![0usize, 2, 1, 1, 0];
    let params = vec![
        Tensor::<1>::from_data(TensorData::new(wv.clone(), [k * d]), &device),
        Tensor::<1>::from_data(TensorData::new(bv.clone(), [k]), &device),
    ];
    let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [b, d]), &device).autodiff();
    let logits = |p: &[Tensor<1>]| {
        x.clone().matmul(p[0].clone().reshape([k, d]).transpose()) + p[1].clone().reshape([1, k])
    };
    let gn = grad_norm_sq(&params, one_hot(&labels, k, &device), logits);

    // Closed form: ∇W = (1/b) Σ r_i x_iᵀ, ∇b = (1/b) Σ r_i, r_i = softmax(W x_i + b) − y_i.
    let mut gw = vec![0f64; k * d];
    let mut gb = vec![0f64; k];
    for i in 0..b {
        let z: Vec<f64> = (0..k)
            .map(|c| {
                bv[c] as f64
                    + (0..d)
                        .map(|j| wv[c * d + j] as f64 * xs[i * d + j] as f64)
                        .sum::<f64>()
            })
            .collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
        for c in 0..k {
            let r = (z[c] - m).exp() / s - (labels[i] == c) as u8 as f64;
            gb[c] += r / b as f64;
            for j in 0..d {
                gw[c * d + j] += r * xs[i * d + j] as f64 / b as f64;
            }
        }
    }
    let want: f64 = gw.iter().chain(&gb).map(|v| v * v).sum();
    let got = gn.trace.into_scalar::<f32>() as f64;
    assert!(
        (got - want).abs() / want < 1e-5,
        "T~ {got} vs closed form {want}"
    );

    // Exact NTK: Θ_ij = K·(x_i·x_j + 1) for a linear head with bias.
    let ntk = host(exact_ntk(&params, b, k, logits));
    for i in 0..b {
        for j in 0..b {
            let dot: f64 = (0..d)
                .map(|t| xs[i * d + t] as f64 * xs[j * d + t] as f64)
                .sum();
            let want = k as f64 * (dot + 1.0);
            assert!(
                (ntk[i * b + j] as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
                "Θ[{i},{j}]"
            );
        }
    }
}

#[test]
fn summed_output_ntk_matches_its_closed_form() {
    // f_k(x) = u·x for every class k (one shared vector u): ∇u Σ_k f_k(x_i) = K·x_i, so the
    // summed output's kernel is K²·x_i·x_j, while the per-class NTK is K·x_i·x_j: a shared
    // parameter tells the two apart.
    let device = nasi::cpu_device();
    let (b, d, k) = (4usize, 3usize, 5usize);
    let xs: Vec<f32> = (0..b * d)
        .map(|i| ((i * 29 % 13) as f32 - 6.0) / 5.0)
        .collect();
    let u: Vec<f32> = vec![0.3, -0.7, 0.2];
    let params = vec![Tensor::<1>::from_data(TensorData::new(u, [d]), &device)];
    let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [b, d]), &device).autodiff();
    let logits = |p: &[Tensor<1>]| {
        x.clone()
            .matmul(p[0].clone().reshape([d, 1]))
            .repeat_dim(1, k)
    };
    let summed = host(summed_output_ntk(&params, b, logits));
    let per_class = host(exact_ntk(&params, b, k, logits));
    for i in 0..b {
        for j in 0..b {
            let dot: f64 = (0..d)
                .map(|t| xs[i * d + t] as f64 * xs[j * d + t] as f64)
                .sum();
            let (want, got) = ((k * k) as f64 * dot, summed[i * b + j] as f64);
            // f32 products of O(1) values: measured error below 1e-6; bound 1e-4.
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "Θ[{i},{j}] {got} vs {want}"
            );
            let want = k as f64 * dot;
            assert!((per_class[i * b + j] as f64 - want).abs() < 1e-4 * want.abs().max(1.0));
        }
    }
}

#[test]
fn estimator_is_bounded_by_twice_the_trace_over_b() {
    let device = nasi::cpu_device();
    let ad = device.clone().autodiff();
    let (b, k) = (6, 5);
    let net = SupernetConfig {
        channels: 3,
        cells: 1,
        classes: k,
        size: 8,
    }
    .init(3, &device);
    let mut sampler = Sampler::new(&DataSpec::Gaussian, 3, b, 8, k).unwrap();
    let mut mixes: Vec<CellMix> = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
        "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"]
        .iter()
        .map(|s| CellMix::Fixed(s.parse().unwrap()))
        .collect();
    let w: Vec<f32> = (0..NUM_EDGES * NUM_OPS)
        .map(|i| ((i * 7 % 5) as f32 + 1.0) / 15.0)
        .collect();
    mixes.push(CellMix::Relaxed(Tensor::from_data(
        TensorData::new(w, [NUM_EDGES, NUM_OPS]),
        &ad,
    )));
    for mix in &mixes {
        let batch = sampler.next_batch();
        let x = input_tensor(&batch, &device).autodiff();
        let f = |p: &[Tensor<1>]| net.forward(p, x.clone(), mix, &mut ReluTape::Free);
        let t = grad_norm_sq(net.params(), one_hot(&batch.labels, k, &device), f)
            .trace
            .into_scalar::<f32>();
        let ntk = host(exact_ntk(net.params(), b, k, f));
        let tr: f32 = (0..b).map(|i| ntk[i * b + i]).sum();
        // Θ is a Gram matrix: symmetric with a non-negative spectrum.
        let ev =
            nasi::ntk::symmetric_eigenvalues(&ntk.iter().map(|&v| v as f64).collect::<Vec<_>>(), b);
        assert!(ev[0] > -1e-3 * ev[b - 1], "NTK spectrum {ev:?}");
        assert!((ev.iter().sum::<f64>() - tr as f64).abs() < 1e-3 * tr as f64);
        assert!(
            t > 0.0 && t <= 2.0 * tr / b as f32,
            "T~ = {t} exceeds 2·tr(Θ)/b = {}",
            2.0 * tr / b as f32
        );
    }
}

#[test]
fn one_hot_relaxed_cell_equals_the_standalone_network() {
    let device = nasi::cpu_device();
    let ad = device.clone().autodiff();
    let g: Genotype =
        "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let net = SupernetConfig {
        channels: 4,
        cells: 2,
        classes: 10,
        size: 8,
    }
    .init(5, &device);
    let batch = Sampler::new(&DataSpec::Gaussian, 5, 4, 8, 10)
        .unwrap()
        .next_batch();
    let x = input_tensor(&batch, &device).autodiff();
    let mut w = vec![0f32; NUM_EDGES * NUM_OPS];
    for (e, op) in g.ops.iter().enumerate() {
        w[e * NUM_OPS + op.index()] = 1.0;
    }
    let relaxed = CellMix::Relaxed(Tensor::from_data(
        TensorData::new(w, [NUM_EDGES, NUM_OPS]),
        &ad,
    ));
    let t = |mix: &CellMix| {
        grad_norm_sq(net.params(), one_hot(&batch.labels, 10, &device), |p| {
            net.forward(p, x.clone(), mix, &mut ReluTape::Free)
        })
        .trace
        .into_scalar::<f32>()
    };
    let (a, b) = (t(&relaxed), t(&CellMix::Fixed(g)));
    assert!((a - b).abs() <= 1e-4 * b, "supernet {a} vs standalone {b}");
    assert!(net.num_params(Some(&g)) < net.num_params(None));
}
