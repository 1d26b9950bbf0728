//! The kernels against burn's own ops and the definitions, value and every gradient.

use super::raw::conv::{forward, out_len, w_backward, x_backward};
use super::raw::edge::{edge_reductions, mix_dots, mix_forward};
use super::raw::norm::bn_stats;
use super::raw::par::{CHUNK, PARALLEL_MIN, in_serial};
use super::raw::pool::box_mean;
use super::*;
use crate::cpu_device;
use burn::tensor::Distribution;

/// Direct summation, the definition.
fn naive(x: &[f32], w: &[f32], [b, ci, co, h, wd, k, s]: [usize; 7]) -> Vec<f32> {
    let pad = k / 2;
    let (ho, wo) = (out_len(h, k, s), out_len(wd, k, s));
    let mut y = vec![0.0; b * co * ho * wo];
    for n in 0..b {
        for o in 0..co {
            for i in 0..ho {
                for j in 0..wo {
                    let mut sum = 0.0;
                    for c in 0..ci {
                        for kh in 0..k {
                            for kw in 0..k {
                                let (r, q) = (
                                    (i * s + kh).wrapping_sub(pad),
                                    (j * s + kw).wrapping_sub(pad),
                                );
                                if r < h && q < wd {
                                    sum += x[((n * ci + c) * h + r) * wd + q]
                                        * w[((o * ci + c) * k + kh) * k + kw];
                                }
                            }
                        }
                    }
                    y[((n * co + o) * ho + i) * wo + j] = sum;
                }
            }
        }
    }
    y
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Forward against the definition, and both gradients against it through the adjoint
/// identity ⟨dy, conv(x, W)⟩ = ⟨∇x, x⟩ = ⟨∇W, W⟩ (the convolution is bilinear), on an odd
/// shape (ci ≠ co, h ≠ w, w odd, an odd batch split over threads), for 1×1 and 3×3 kernels
/// with stride 1 and 3×3 with stride 2.
#[test]
fn kernels_match_the_definition_and_its_adjoints() {
    for (k, s) in [(1, 1), (3, 1), (3, 2)] {
        conv_kernels_check([3, 5, 7, 6, 9, k, s]);
    }
}

fn conv_kernels_check(dims: [usize; 7]) {
    let [b, ci, co, h, wd, k, s] = dims;
    let (ho, wo) = (out_len(h, k, s), out_len(wd, k, s));
    let (x, w, dy) = (
        values(b * ci * h * wd, 1),
        values(co * ci * k * k, 2),
        values(b * co * ho * wo, 3),
    );
    let y = forward(&x, &w, dims);
    let reference = naive(&x, &w, dims);
    let err = y
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-5, "{k}×{k}/{s}: forward max error {err}");
    let l = dot(&dy, &reference);
    let lx = dot(&x_backward(&dy, &w, dims), &x);
    let lw = dot(&w_backward(&x, &dy, dims), &w);
    assert!(
        (lx - l).abs() < 1e-4 * l.abs().max(1.0),
        "{k}×{k}/{s}: ⟨∇x, x⟩ {lx} vs {l}"
    );
    assert!(
        (lw - l).abs() < 1e-4 * l.abs().max(1.0),
        "{k}×{k}/{s}: ⟨∇W, W⟩ {lw} vs {l}"
    );
}

/// Through burn's autodiff on flex: the value and both gradients of Σ(conv(x, W) ⊙ g) equal
/// those of burn's `conv2d`, for 1×1 and 3×3 kernels with stride 1 and 3×3 with stride 2.
#[test]
fn autodiff_node_matches_burns_conv2d() {
    for (k, s) in [(1, 1), (3, 1), (3, 2)] {
        autodiff_conv_check(k, s);
    }
}

fn autodiff_conv_check(k: usize, s: usize) {
    let dev = cpu_device().autodiff();
    let x = Tensor::<4>::random([4, 3, 6, 7], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<4>::random([6, 3, k, k], Distribution::Normal(0.0, 1.0), &dev);
    let out = [4, 6, out_len(6, k, s), out_len(7, k, s)];
    let g = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &dev);
    assert_same_value_and_grads(
        &format!("{k}×{k} conv, stride {s}"),
        &[x, w],
        &g,
        |t| conv(t[0].clone(), t[1].clone(), s),
        |t| conv2d(t[0].clone(), t[1].clone(), None, options(k, s)),
    );
}

/// DARTS's depthwise convolutions through autodiff on flex: the value and both gradients equal
/// burn's grouped `conv2d` for 3×3 and 5×5 filters, stride 1 and 2, dilation 1 and 2, on an odd
/// shape (h ≠ w, both odd, an odd batch; at 5×5 dilation 2 the taps reach past a 7-pixel side),
/// and on one big enough to be split over threads.
#[test]
fn depthwise_node_matches_burns_grouped_conv2d() {
    use super::raw::depthwise::dw_out_len;
    let dev = cpu_device().autodiff();
    let mut cases = vec![];
    for k in [3, 5] {
        for s in [1, 2] {
            for d in [1, 2] {
                cases.push(([3, 5, 7, 9], k, s, d));
            }
        }
    }
    // Sides shorter than the reach of the taps (a 2×2 plane under 5×5 at dilation 2).
    cases.push(([2, 3, 2, 3], 5, 1, 2));
    cases.push(([2, 3, 2, 2], 5, 2, 2));
    cases.push(([4, 16, 33, 31], 5, 1, 2));
    cases.push(([4, 16, 33, 31], 3, 2, 1));
    for ([b, c, h, wd], k, s, d) in cases {
        let x = Tensor::<4>::random([b, c, h, wd], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<4>::random([c, 1, k, k], Distribution::Normal(0.0, 1.0), &dev);
        let out = [b, c, dw_out_len(h, s), dw_out_len(wd, s)];
        let g = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &dev);
        // The weight's gradient sums b·h·w products (4092 on the largest plane), summed in
        // another order than burn's: measured up to 8.4e-5 relative over 15 runs of random
        // tensors (the forward and the input's gradient 2e-6), so 1e-3 here.
        assert_same_value_and_grads_within(
            1e-3,
            &format!("{k}×{k} depthwise, stride {s}, dilation {d}"),
            &[x, w],
            &g,
            |t| depthwise_conv(t[0].clone(), t[1].clone(), s, d),
            |t| {
                conv2d(
                    t[0].clone(),
                    t[1].clone(),
                    None,
                    dw_conv_options(k, c, s, d),
                )
            },
        );
    }
}

/// DARTS's 3×3 max pool (padding 1) as our argmax kernel and [`pick`]: the value and the
/// gradient equal burn's `max_pool2d` at stride 1 and 2, on odd shapes (a 1-pixel side
/// included) and on one big enough to be split over threads; the positions are burn's indices.
#[test]
fn max_pool_by_positions_matches_burns_max_pool2d() {
    use burn::tensor::module::{max_pool2d, max_pool2d_with_indices};
    use burn::tensor::ops::MaxPoolOptions;
    let dev = cpu_device().autodiff();
    for ([b, c, h, wd], s) in [
        ([3, 2, 7, 9], 1),
        ([3, 2, 7, 9], 2),
        ([2, 3, 1, 5], 1),
        ([2, 3, 4, 4], 2),
        ([8, 16, 32, 32], 2),
        ([8, 16, 16, 16], 1),
    ] {
        let options = MaxPoolOptions::new([3, 3])
            .with_stride([s, s])
            .with_padding([1, 1]);
        let x = Tensor::<4>::random([b, c, h, wd], Distribution::Normal(0.0, 1.0), &dev);
        let (ho, wo) = ((h - 1) / s + 1, (wd - 1) / s + 1);
        let g = Tensor::<4>::random([b, c, ho, wo], Distribution::Normal(0.0, 1.0), &dev);
        let at = max_pool_argmax(&x, s);
        let idx = max_pool2d_with_indices(x.clone().detach(), options.clone()).1;
        assert_eq!(
            at.clone().into_data().try_to_vec::<f32>().unwrap(),
            idx.float().into_data().try_to_vec::<f32>().unwrap(),
            "{h}×{wd} stride {s}: the positions are burn's indices"
        );
        assert_same_value_and_grads(
            &format!("max pool {h}×{wd}, stride {s}"),
            &[x],
            &g,
            |t| pick(t[0].clone(), at.clone()),
            |t| max_pool2d(t[0].clone(), options.clone()),
        );
    }
}

/// The 2×2 mean with stride 2 and its gradient through autodiff on flex equal burn's
/// `avg_pool2d`.
#[test]
fn pool2_node_matches_burns_avg_pool2d() {
    let dev = cpu_device().autodiff();
    let x = Tensor::<4>::random([2, 3, 4, 6], Distribution::Normal(0.0, 1.0), &dev);
    let g = Tensor::<4>::random([2, 3, 2, 3], Distribution::Normal(0.0, 1.0), &dev);
    assert_same_value_and_grads(
        "2×2 mean",
        &[x],
        &g,
        |t| avg_pool_2x2(t[0].clone()),
        |t| avg_pool2d(t[0].clone(), AvgPoolOptions::new([2, 2])),
    );
}

/// Tracks `inputs`, and asserts that `ours` and `reference` give the same value and the same
/// gradient of Σ(op(inputs) ⊙ g) for every input (each within 1e-4 relative).
fn assert_same_value_and_grads(
    name: &str,
    inputs: &[Tensor<4>],
    g: &Tensor<4>,
    ours: impl Fn(&[Tensor<4>]) -> Tensor<4>,
    reference: impl Fn(&[Tensor<4>]) -> Tensor<4>,
) {
    assert_same_value_and_grads_within(1e-4, name, inputs, g, ours, reference)
}

/// [`assert_same_value_and_grads`] within `tol` relative, for gradients that are long sums.
fn assert_same_value_and_grads_within(
    tol: f32,
    name: &str,
    inputs: &[Tensor<4>],
    g: &Tensor<4>,
    ours: impl Fn(&[Tensor<4>]) -> Tensor<4>,
    reference: impl Fn(&[Tensor<4>]) -> Tensor<4>,
) {
    let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");
    let run = |op: &dyn Fn(&[Tensor<4>]) -> Tensor<4>| {
        let tracked: Vec<Tensor<4>> = inputs.iter().map(|t| t.clone().require_grad()).collect();
        let y = op(&tracked);
        let grads = (y.clone() * g.clone()).sum().backward();
        let mut out = vec![flat(y)];
        out.extend(
            tracked
                .iter()
                .map(|t| flat(t.grad(&grads).expect("tracked input"))),
        );
        out
    };
    let (ours, reference) = (run(&ours), run(&reference));
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let what = if i == 0 {
            "forward".to_string()
        } else {
            format!("∇ of input {}", i - 1)
        };
        assert!(close(a, b, tol), "{name}: {what}");
    }
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p - q).abs() < tol * (1.0 + q.abs()))
}

/// Batch norm and its gradient through autodiff on flex equal burn's `batch_norm_train`
/// (γ = 1, β = 0) differentiated by burn, on a shape with a non-zero mean and scale.
#[test]
fn batch_norm_node_matches_burns_batch_norm_train() {
    let dev = cpu_device().autodiff();
    let x = Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(2.0, 3.0), &dev);
    let g = Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(0.0, 1.0), &dev);
    let (gamma, beta) = (Tensor::<1>::ones([4], &dev), Tensor::<1>::zeros([4], &dev));
    assert_same_value_and_grads(
        "batch norm",
        &[x],
        &g,
        |t| batch_norm(t[0].clone()),
        |t| {
            let (gamma, beta) = (gamma.clone(), beta.clone());
            burn::tensor::module::batch_norm_train(t[0].clone(), gamma, beta, 1e-5).output
        },
    );
}

/// NB201's 3×3 average pool and its gradient through autodiff on flex equal burn's depthwise
/// `conv2d` with ones times 1/count (the definition), on a non-square shape with 1-pixel-wide
/// edges included.
#[test]
fn avg_pool_node_matches_a_depthwise_conv_with_ones() {
    let dev = cpu_device().autodiff();
    let x = Tensor::<4>::random([2, 3, 4, 7], Distribution::Normal(0.0, 1.0), &dev);
    let g = Tensor::<4>::random([2, 3, 4, 7], Distribution::Normal(0.0, 1.0), &dev);
    let ones = Tensor::<4>::ones([3, 1, 3, 3], &dev);
    let inv = Tensor::<4>::from_data(TensorData::new(inverse_counts(4, 7), [1, 1, 4, 7]), &dev);
    let depthwise = depthwise_options(3);
    assert_same_value_and_grads(
        "avg pool",
        &[x],
        &g,
        |t| avg_pool_3x3(t[0].clone()),
        |t| conv2d(t[0].clone(), ones.clone(), None, depthwise.clone()) * inv.clone(),
    );
}

/// The reference mixture in burn's own ops: `Σᵢ w[i]·xᵢ` for weights `w` `[4, 1, 1, 1]`.
fn weighted_sum(xs: [Tensor<4>; 4], w: &Tensor<4>) -> Tensor<4> {
    xs.into_iter()
        .enumerate()
        .map(|(i, x)| x * w.clone().narrow(0, i, 1))
        .reduce(|a, b| a + b)
        .expect("four terms")
}

/// The relaxed edge's mixture through autodiff on flex: its value and the gradients of all
/// four terms and of the weights equal burn's own `Σᵢ wᵢ·xᵢ`.
#[test]
fn mix_node_matches_burns_weighted_sum() {
    let dev = cpu_device().autodiff();
    let shape = [2, 3, 5, 7];
    let normal = |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &dev);
    let mut inputs: Vec<Tensor<4>> = (0..4).map(|_| normal(shape)).collect();
    inputs.push(normal([4, 1, 1, 1]));
    let g = normal(shape);
    let terms = |t: &[Tensor<4>]| [0, 1, 2, 3].map(|i| t[i].clone());
    assert_same_value_and_grads(
        "mix",
        &inputs,
        &g,
        |t| mix(terms(t), t[4].clone().reshape([4])),
        |t| weighted_sum(terms(t), &t[4]),
    );
}

/// A batch-normed relaxed edge through autodiff on flex: its value and the gradients of x,
/// both conv outputs, the pool and the weights equal burn's `w₀x + w₁·BN(y1) + w₂·BN(y3) +
/// w₃p` with burn's own `batch_norm_train`. Two shapes: a small odd one, and one over two
/// parallel tasks with planes of 272 pixels (not a multiple of the 16 lanes).
#[test]
fn edge_node_matches_burns_batch_norms_and_weighted_sum() {
    let dev = cpu_device().autodiff();
    for shape in [[2, 3, 5, 7], [40, 8, 16, 17]] {
        let c = shape[1];
        let normal = |s: [usize; 4], m: f64, sd: f64| {
            Tensor::<4>::random(s, Distribution::Normal(m, sd), &dev)
        };
        let inputs = vec![
            normal(shape, 0.0, 1.0),
            normal(shape, 1.5, 2.0),
            normal(shape, -0.5, 0.5),
            normal(shape, 0.0, 1.0),
            normal([4, 1, 1, 1], 0.0, 1.0),
        ];
        let g = normal(shape, 0.0, 1.0);
        let (gamma, beta) = (Tensor::<1>::ones([c], &dev), Tensor::<1>::zeros([c], &dev));
        let bn = |y: Tensor<4>| {
            burn::tensor::module::batch_norm_train(y, gamma.clone(), beta.clone(), 1e-5).output
        };
        assert_same_value_and_grads(
            "edge",
            &inputs,
            &g,
            |t| {
                let [x, y1, y3, p] = [0, 1, 2, 3].map(|i| t[i].clone());
                mixed_edge(x, y1, y3, p, t[4].clone().reshape([4]))
            },
            |t| {
                let terms = [
                    t[0].clone(),
                    bn(t[1].clone()),
                    bn(t[2].clone()),
                    t[3].clone(),
                ];
                weighted_sum(terms, &t[4])
            },
        );
    }
}

/// On a thread in [`serial`] mode the kernels run without rayon tasks and give the same bits:
/// the conv and its two gradients, the box mean both ways, and the edge's reductions, on
/// shapes large enough to be split into tasks otherwise.
#[test]
fn serial_mode_gives_the_same_bits() {
    let (b, c, h, w) = (8, 8, 16, 16);
    let x = values(b * c * h * w, 1);
    let dy = values(b * c * h * w, 2);
    let wt = values(c * c * 9, 3);
    let dims = [b, c, c, h, w, 3, 1];
    let run = || {
        let stats = bn_stats(&x, [b, c, h * w]);
        [
            forward(&x, &wt, dims),
            x_backward(&dy, &wt, dims),
            w_backward(&x, &dy, dims),
            box_mean(&x, [b * c, h, w], false),
            box_mean(&dy, [b * c, h, w], true),
            edge_reductions([&x, &dy, &x, &dy], [&stats, &stats], &dy, [b, c, h * w]),
        ]
    };
    let parallel = run();
    assert!(x.len() >= PARALLEL_MIN, "large enough to be split");
    assert_eq!(parallel, serial(run));
    assert!(!in_serial(), "serial mode ends with the call");
}

/// The elementwise kernels on more than one chunk (three, the last partial): the mixture and
/// its weight gradient (per-chunk sums added in f64) against plain loops in f64.
#[test]
fn chunked_mix_matches_plain_loops() {
    let n = 2 * CHUNK + 1234;
    let xs: Vec<Vec<f32>> = (0..4).map(|i| values(n, 10 + i)).collect();
    let dy = values(n, 20);
    let w = [0.5, -1.25, 2.0, 0.75];
    let x = [&xs[0][..], &xs[1], &xs[2], &xs[3]];
    let y = mix_forward(x, w);
    for j in (0..n).step_by(997) {
        let exact: f64 = (0..4).map(|i| w[i] as f64 * x[i][j] as f64).sum();
        assert!((y[j] as f64 - exact).abs() < 1e-5, "mix at {j}");
    }
    let dots = mix_dots(x, &dy);
    for i in 0..4 {
        // f32 lanes within a chunk: error relative to Σ|dy·x|, not to the (cancelling) sum.
        let exact = dot(&dy, x[i]);
        let scale: f64 = dy.iter().zip(x[i]).map(|(a, b)| (a * b).abs() as f64).sum();
        let err = (dots[i] - exact).abs();
        assert!(err < 1e-6 * scale, "⟨dy, x{i}⟩: {} vs {exact}", dots[i]);
    }
}

/// The recorded ReLU (mask, then `x ⊙ m`) through autodiff on flex equals burn's `relu` in
/// value and gradient, and its mask is `1[x > 0]`.
#[test]
fn masked_relu_matches_burns_relu() {
    let dev = cpu_device().autodiff();
    let x = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
    let g = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
    assert_same_value_and_grads(
        "masked ReLU",
        std::slice::from_ref(&x),
        &g,
        |t| mask_mul(t[0].clone(), relu_mask(&t[0])),
        |t| burn::tensor::activation::relu(t[0].clone()),
    );
    let mask = relu_mask(&x).into_data().try_to_vec::<f32>().expect("f32");
    let values = x.into_data().try_to_vec::<f32>().expect("f32");
    assert!(
        mask.iter()
            .zip(&values)
            .all(|(m, v)| *m == (*v > 0.0) as u8 as f32)
    );
}
