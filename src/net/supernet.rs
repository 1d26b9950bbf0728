//! The NAS-Bench-201 supernet (paper §3.3, NB201's macro skeleton) and standalone cell networks.
//!
//! Skeleton: 3×3 stem conv + BN → N cells at C channels → ResNet reduction block → N cells at 2C
//! → reduction → N cells at 4C → BN + ReLU → global average pool → linear head. Every cell shares
//! one architecture: on each edge the five ops are mixed with the weights of a relaxed cell
//! ([`CellMix::Relaxed`], a Gumbel-softmax sample of α) or one op is fixed ([`CellMix::Fixed`], a
//! standalone network for one genotype). Batch norms have no affine parameters and use batch
//! statistics, as in NB201's search models.
//!
//! Parameters are held as a flat list of 1-D tensors (`Supernet::params`) in a documented order
//! ([`Supernet::specs`]): the NASI gradient needs θ ± ε·v on all of them at once, and the PyTorch
//! fixtures load the same list. ReLUs go through a [`ReluTape`] so that the two perturbed passes
//! of the Hessian-vector product can replay the activation pattern of the unperturbed pass.

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

use crate::data::{RngStream, rng};
use crate::kernels;
use crate::space::{EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op};

/// Shape hyper-parameters of a supernet (NB201: C = 16, N = 5, 10 classes, 32×32 inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupernetConfig {
    /// C, channels of the first stage.
    pub channels: usize,
    /// N, cells per stage.
    pub cells: usize,
    /// Classes of the linear head.
    pub classes: usize,
    /// Input height and width.
    pub size: usize,
}

/// Name and shape of one parameter tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Dotted path, e.g. `stage0.cell0.edge2.conv3x3`.
    pub name: String,
    /// PyTorch shape (`[out, in, k, k]` for convs, `[classes, 4C]` / `[classes]` for the head).
    pub shape: Vec<usize>,
}

/// Whether `params` fit `specs`: as many tensors, each with its spec's number of values.
pub fn check_params(specs: &[ParamSpec], params: &[Tensor<1>]) -> Result<(), String> {
    if params.len() != specs.len() {
        return Err(format!(
            "expected {} parameter tensors, got {}",
            specs.len(),
            params.len()
        ));
    }
    for (s, p) in specs.iter().zip(params) {
        if p.dims()[0] != s.numel() {
            return Err(format!(
                "{} needs {} values, got {}",
                s.name,
                s.numel(),
                p.dims()[0]
            ));
        }
    }
    Ok(())
}

impl ParamSpec {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// How the supernet's weights are drawn at initialisation (`--init`, NB201 only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum InitKind {
    /// PyTorch's default for convs and linear layers, U(±1/√fan_in) (bias likewise): NB201's
    /// and HNAS's networks.
    #[default]
    Default,
    /// Kaiming-normal, fan-in, ReLU gain: N(0, 2/fan_in) for the convs and the head's weight,
    /// head bias 0 (TE-NAS's and AZ-NAS's initialisation).
    Kaiming,
}

impl std::fmt::Display for InitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InitKind::Default => "default",
            InitKind::Kaiming => "kaiming",
        })
    }
}

/// What a parameter tensor is filled with at initialisation.
#[derive(Clone, Copy, Debug)]
enum Fill {
    /// A conv's or the head's weight: `InitKind`'s law with this fan-in.
    Weight(usize),
    /// The head's bias, with the head's fan-in.
    Bias(usize),
    /// A batch norm's γ (1).
    Ones,
    /// A batch norm's β (0).
    Zeros,
}

#[derive(Clone, Debug)]
enum Layer {
    Cell {
        /// Parameter indices of the 1×1 and 3×3 conv of each edge.
        edges: [(usize, usize); NUM_EDGES],
    },
    /// NB201's residual block between stages (stride 2, doubling C): not a reduction cell.
    ResBlock {
        conv_a: usize,
        conv_b: usize,
        down: usize,
    },
}

/// A supernet (or, with [`CellMix::Fixed`], a standalone network) with its initial weights.
#[derive(Clone, Debug)]
pub struct Supernet {
    /// The shape it was built with.
    pub config: SupernetConfig,
    specs: Vec<ParamSpec>,
    params: Vec<Tensor<1>>,
    batch_norm: bool,
    final_norm: bool,
    /// With affine batch norms: (γ, β) parameter indices of the norm after each conv, by the
    /// conv's parameter index (`None` for convs without one, and for all without `bn_affine`).
    affine: Vec<Option<(usize, usize)>>,
    /// (γ, β) of the batch norm before the head, with affine norms.
    final_affine: Option<(usize, usize)>,
    stem: usize,
    layers: Vec<Layer>,
    head: (usize, usize),
}

/// How each edge of every cell combines its five ops.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per pass, never stored in bulk
pub enum CellMix {
    /// `[6, 5]` weights: edge output = Σ_k w[e, k]·op_k(x) (soft or straight-through hard
    /// Gumbel-softmax, eq. 13 of the paper). May be tracked (for ∇α).
    Relaxed(Tensor<2>),
    /// One op per edge: the standalone network of a genotype; `none` edges are skipped.
    Fixed(Genotype),
}

/// How ReLUs behave in one forward pass: free, recording their masks (`x > 0`, untracked), or
/// `x ↦ x·mask` with recorded ones ([`super::tape`]).
pub type ReluTape = super::tape::Tape<Tensor<4>>;

impl ReluTape {
    /// Applies the ReLU of this pass to `x` `[b, c, h, w]`.
    pub fn relu(&mut self, x: Tensor<4>) -> Tensor<4> {
        match self.choice(|| kernels::relu_mask(&x)) {
            None => relu(x),
            Some(m) => kernels::mask_mul(x, m),
        }
    }
}

/// Convolution of `x` `[b, ci, h, w]` with the flat weights `w` of a [`ParamSpec`] of shape
/// `[co, ci, k, k]`, padding k/2 and no bias (NB201's convs), giving `[b, co, h/stride, w/stride]`.
pub fn conv(x: Tensor<4>, w: Tensor<1>, shape: &[usize], stride: usize) -> Tensor<4> {
    let [co, ci, k, _] = [shape[0], shape[1], shape[2], shape[3]];
    // Our kernels with their own backward on the CPU (src/kernels.rs).
    kernels::conv(x, w.reshape([co, ci, k, k]), stride)
}

/// Batch norm with batch statistics and no affine parameters (γ = 1, β = 0, ε = 1e-5, biased
/// variance as in PyTorch's training mode), on `[b, c, h, w]`; on the CPU a fused kernel with its
/// own backward ([`kernels::batch_norm`]).
pub fn batch_norm(x: Tensor<4>) -> Tensor<4> {
    kernels::batch_norm(x)
}

/// NB201's `avg_pool_3x3`: 3×3 mean, stride 1, padding 1, padded cells not counted
/// (`count_include_pad=False`), on `[b, c, h, w]`; on the CPU a kernel with its own backward
/// ([`kernels::avg_pool_3x3`]).
pub fn avg_pool_3x3(x: Tensor<4>) -> Tensor<4> {
    kernels::avg_pool_3x3(x)
}

impl SupernetConfig {
    /// Convolution layers on the deepest path from the input to the head of `g`'s standalone
    /// network with this shape: the stem's, 3·N times the cell's [`Genotype::depth`], and two
    /// in each residual block (3×3 stride 2, then 3×3; its 1×1 shortcut is the shallow path);
    /// `None` when the cell connects no path (the network's output is then the same for every
    /// input). The second stage's `depth` proxy: the counterweight to GSC's liking for cells
    /// with a parameter-free op on their deepest path.
    pub fn depth(&self, g: &Genotype) -> Option<usize> {
        g.depth().map(|d| 1 + 3 * self.cells * d + 2 * 2)
    }

    /// Scalars of the standalone network of `g` with this shape, in closed form (no tensors):
    /// the stem 3×3 conv (3 → C), two residual blocks (3×3 stride 2, 3×3, 1×1 shortcut; C_s →
    /// 2C_s), N cells per stage whose edges add C_s² (1×1) or 9·C_s² (3×3) each, and the head
    /// (4C → classes, with bias); batch norms carry no parameters here (non-affine). Equal to
    /// [`Supernet::num_params`] of `Some(g)` (tested), and cheap enough for all 15,625 cells.
    pub fn num_params(&self, g: &Genotype) -> usize {
        let c = self.channels;
        let n1 = g.ops.iter().filter(|&&o| o == Op::NorConv1x1).count();
        let n3 = g.ops.iter().filter(|&&o| o == Op::NorConv3x3).count();
        let mut total = 27 * c;
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let (ci, co) = (ch, 2 * ch);
                total += 9 * co * ci + 9 * co * co + co * ci;
                ch = co;
            }
            total += self.cells * ch * ch * (n1 + 9 * n3);
        }
        total + self.classes * ch + self.classes
    }

    /// Builds the supernet with PyTorch's default initialisation (convs and the head's weight
    /// U(±1/√fan_in), the head's bias likewise) drawn from `seed`'s init stream on the host, so a
    /// seed gives the same weights on every backend.
    pub fn init(&self, seed: u64, device: &Device) -> Supernet {
        self.init_with(seed, InitKind::Default, false, device)
    }

    /// [`SupernetConfig::init`] with the quality issue's diagnostics: the weights' law `init`,
    /// and with `bn_affine` a γ (1) and β (0) of `[channels]` after every batch norm's conv
    /// (named `CONV.bn.weight` / `CONV.bn.bias`, right after it) and before the head
    /// (`lastact.bn.*`), which then are part of θ and of T̃ = ‖∇θL‖² (eq. 12). The defaults
    /// (`Default`, no affine) give exactly [`SupernetConfig::init`]'s network.
    pub fn init_with(
        &self,
        seed: u64,
        init: InitKind,
        bn_affine: bool,
        device: &Device,
    ) -> Supernet {
        let mut specs = Vec::new();
        let mut fills = Vec::new();
        let mut affine_of = Vec::new();
        // A conv's weight; with `normed` and affine norms, its batch norm's γ and β after it.
        let mut conv = |name: String, shape: Vec<usize>, normed: bool| {
            let fan_in = shape[1..].iter().product();
            let co = shape[0];
            specs.push(ParamSpec {
                name: name.clone(),
                shape,
            });
            fills.push(Fill::Weight(fan_in));
            let i = specs.len() - 1;
            if normed && bn_affine {
                for (part, fill) in [("weight", Fill::Ones), ("bias", Fill::Zeros)] {
                    specs.push(ParamSpec {
                        name: format!("{name}.bn.{part}"),
                        shape: vec![co],
                    });
                    fills.push(fill);
                }
                affine_of.push((i, (i + 1, i + 2)));
            }
            i
        };
        let c = self.channels;
        let stem = conv("stem.conv".into(), vec![c, 3, 3, 3], true);
        let mut layers = Vec::new();
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let (ci, co) = (ch, ch * 2);
                let p = format!("reduce{stage}");
                layers.push(Layer::ResBlock {
                    conv_a: conv(format!("{p}.conv_a"), vec![co, ci, 3, 3], true),
                    conv_b: conv(format!("{p}.conv_b"), vec![co, co, 3, 3], true),
                    down: conv(format!("{p}.down"), vec![co, ci, 1, 1], false),
                });
                ch = co;
            }
            for cell in 0..self.cells {
                let edges = std::array::from_fn(|e| {
                    let p = format!("stage{stage}.cell{cell}.edge{e}");
                    (
                        conv(format!("{p}.conv1x1"), vec![ch, ch, 1, 1], true),
                        conv(format!("{p}.conv3x3"), vec![ch, ch, 3, 3], true),
                    )
                });
                layers.push(Layer::Cell { edges });
            }
        }
        let mut add = |name: &str, shape: Vec<usize>, fill: Fill| {
            specs.push(ParamSpec {
                name: name.into(),
                shape,
            });
            fills.push(fill);
            specs.len() - 1
        };
        let final_affine = bn_affine.then(|| {
            (
                add("lastact.bn.weight", vec![ch], Fill::Ones),
                add("lastact.bn.bias", vec![ch], Fill::Zeros),
            )
        });
        let head = (
            add("head.weight", vec![self.classes, ch], Fill::Weight(ch)),
            add("head.bias", vec![self.classes], Fill::Bias(ch)),
        );
        let mut affine = vec![None; specs.len()];
        for (conv, norm) in affine_of {
            affine[conv] = Some(norm);
        }
        let mut r = rng(seed, RngStream::Init);
        let params = specs
            .iter()
            .zip(&fills)
            .map(|(s, &fill)| {
                let n = s.numel();
                let v: Vec<f32> = match (fill, init) {
                    (Fill::Ones, _) => vec![1.0; n],
                    (Fill::Zeros, _) | (Fill::Bias(_), InitKind::Kaiming) => vec![0.0; n],
                    (Fill::Weight(fan_in) | Fill::Bias(fan_in), InitKind::Default) => {
                        let bound = 1.0 / (fan_in as f32).sqrt();
                        (0..n).map(|_| r.random_range(-bound..bound)).collect()
                    }
                    (Fill::Weight(fan_in), InitKind::Kaiming) => {
                        let std = (2.0 / fan_in as f32).sqrt();
                        crate::data::normal(&mut r, n)
                            .into_iter()
                            .map(|z| z * std)
                            .collect()
                    }
                };
                Tensor::from_data(TensorData::new(v, [n]), device)
            })
            .collect();
        Supernet {
            config: *self,
            specs,
            params,
            batch_norm: true,
            final_norm: true,
            affine,
            final_affine,
            stem,
            layers,
            head,
        }
    }
}

impl Supernet {
    /// The same network with every batch norm replaced by the identity (SynFlow's convention).
    pub fn without_batch_norm(&self) -> Supernet {
        Supernet {
            batch_norm: false,
            ..self.clone()
        }
    }

    /// The same network without the batch norm before the head (NB201's `lastact` is BN then
    /// ReLU): a diagnostic of the quality issue's hypothesis that this last normalisation is what
    /// makes parameter-free ops (a skip, a pool) lower T̃, since the extra variance they add to
    /// the last cell's output divides every convolution's gradient.
    pub fn without_final_norm(&self) -> Supernet {
        Supernet {
            final_norm: false,
            ..self.clone()
        }
    }

    fn bn(&self, x: Tensor<4>) -> Tensor<4> {
        if self.batch_norm { batch_norm(x) } else { x }
    }

    /// The batch norm after conv `conv` (a parameter index), with its γ and β from `params`
    /// when the norms are affine: `[b, c, h, w]` → the same.
    fn bn_after(&self, params: &[Tensor<1>], conv: usize, x: Tensor<4>) -> Tensor<4> {
        self.affine_bn(params, self.affine[conv], x)
    }

    fn affine_bn(
        &self,
        params: &[Tensor<1>],
        affine: Option<(usize, usize)>,
        x: Tensor<4>,
    ) -> Tensor<4> {
        let y = self.bn(x);
        match affine {
            Some((g, b)) if self.batch_norm => {
                let c = y.dims()[1];
                y * params[g].clone().reshape([1, c, 1, 1])
                    + params[b].clone().reshape([1, c, 1, 1])
            }
            _ => y,
        }
    }

    /// Whether the batch norms carry γ and β (`bn_affine`).
    fn is_affine(&self) -> bool {
        self.final_affine.is_some()
    }

    /// Names and shapes of [`Supernet::params`], in order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The initial weights θ₀, one flat (untracked) tensor per [`ParamSpec`].
    pub fn params(&self) -> &[Tensor<1>] {
        &self.params
    }

    /// Replaces the weights (e.g. with a PyTorch fixture's); shapes must match [`Supernet::specs`].
    pub fn set_params(&mut self, params: Vec<Tensor<1>>) -> Result<(), String> {
        check_params(&self.specs, &params)?;
        self.params = params;
        Ok(())
    }

    /// Number of scalars the network uses under `mix` (ops absent from a fixed genotype's cells
    /// are not counted).
    pub fn num_params(&self, mix: Option<&Genotype>) -> usize {
        let mut used = vec![true; self.specs.len()];
        if let Some(g) = mix {
            for l in &self.layers {
                if let Layer::Cell { edges } = l {
                    for (e, &(c1, c3)) in edges.iter().enumerate() {
                        for (conv, op) in [(c1, Op::NorConv1x1), (c3, Op::NorConv3x3)] {
                            let on = g.ops[e] == op;
                            used[conv] = on;
                            if let Some((gamma, beta)) = self.affine[conv] {
                                (used[gamma], used[beta]) = (on, on);
                            }
                        }
                    }
                }
            }
        }
        self.specs
            .iter()
            .zip(used)
            .filter(|(_, u)| *u)
            .map(|(s, _)| s.numel())
            .sum()
    }

    /// Logits `[b, classes]` of inputs `x` `[b, 3, size, size]` under weights `params` (the same
    /// list as [`Supernet::params`], possibly tracked or perturbed).
    pub fn forward(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        mix: &CellMix,
        tape: &mut ReluTape,
    ) -> Tensor<2> {
        let weights = edge_weights(mix);
        let mut h = self.stem(params, x);
        for layer in &self.layers {
            h = self.layer(params, layer, h, mix, weights.as_deref(), tape);
        }
        self.head(params, h, tape)
    }

    /// Number of layers between the stem and the head (3N cells and 2 residual blocks), the
    /// `i` of [`Supernet::layer_of`].
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The feature maps of `g`'s standalone network on `x` `[b, 3, size, size]`: the stem's
    /// output, then each layer's (`1 + num_layers` maps `[b, c, h, w]`, before any ReLU), as
    /// AZ-NAS's expressivity and trainability (Lee & Ham, CVPR 2024) read them.
    pub fn features(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        g: &Genotype,
        tape: &mut ReluTape,
    ) -> Vec<Tensor<4>> {
        let mix = CellMix::Fixed(*g);
        let mut out = vec![self.stem(params, x)];
        for layer in &self.layers {
            let h = out.last().expect("the stem's map").clone();
            out.push(self.layer(params, layer, h, &mix, None, tape));
        }
        out
    }

    /// Layer `i` (0-based, of [`Supernet::num_layers`]) of `g`'s standalone network applied to
    /// `h` (the map before it, `[b, c, h, w]`): the function whose Jacobian AZ-NAS's
    /// trainability estimates.
    pub fn layer_of(
        &self,
        params: &[Tensor<1>],
        i: usize,
        h: Tensor<4>,
        g: &Genotype,
        tape: &mut ReluTape,
    ) -> Tensor<4> {
        self.layer(params, &self.layers[i], h, &CellMix::Fixed(*g), None, tape)
    }

    /// SynFlow's forward pass (Tanaka et al., 2020) without overflow: the logits `[b, classes]`
    /// of `g`'s network on `x` `[b, 3, size, size]` divided by S = Π_l s_l, with s_l the
    /// (detached) mean of the map after the stem and after each layer, and ln S `[1]`. SynFlow
    /// runs the network with |θ|, no batch norm ([`Supernet::without_batch_norm`]) and a
    /// positive input, so every map is positive, every ReLU the identity and the network linear
    /// in each map: dividing a map by a constant divides what follows (the head's bias is
    /// divided by S too) and so divides R = Σ logits and every θ ⊙ ∂R/∂θ by it, exactly. The
    /// undivided R is a product over the 3N + 2 layers that overflows f32 at NB201's
    /// evaluation depth (N = 5, C = 8 already); S is kept as its logarithm, so only the
    /// caller's f64 product S · Σ θ ⊙ ∂R/∂θ leaves f32.
    pub fn forward_rescaled(
        &self,
        params: &[Tensor<1>],
        x: Tensor<4>,
        g: &Genotype,
    ) -> (Tensor<2>, Tensor<1>) {
        let mix = CellMix::Fixed(*g);
        let mut tape = ReluTape::Free;
        let mut ln_s = Tensor::<1>::zeros([1], &x.device());
        // A map of zeros (a cell whose output is cut off) stays zeros: its s is 1, not 0.
        let mut rescale = |h: Tensor<4>| {
            let m = h.clone().mean().detach();
            let s = m.clone().mask_fill(m.equal_elem(0.0), 1.0);
            ln_s = ln_s.clone() + s.clone().log();
            h / s.reshape([1, 1, 1, 1])
        };
        let mut h = rescale(self.stem(params, x));
        for layer in &self.layers {
            h = rescale(self.layer(params, layer, h, &mix, None, &mut tape));
        }
        // The head's bias enters as b / S: its term |b|·(1/S) underflows only where it is below
        // f32's resolution of the rest.
        let mut p = params.to_vec();
        let bi = self.head.1;
        p[bi] = p[bi].clone() * ln_s.clone().neg().exp();
        (self.head(&p, h, &mut tape), ln_s)
    }

    /// The stem: 3×3 conv and its batch norm, `[b, 3, s, s]` → `[b, C, s, s]`; public so that a
    /// proxy of the body alone (the gradient scale) starts from its map without a whole forward.
    pub fn stem(&self, params: &[Tensor<1>], x: Tensor<4>) -> Tensor<4> {
        let (i, shape) = (self.stem, self.specs[self.stem].shape.as_slice());
        self.bn_after(params, i, conv(x, params[i].clone(), shape, 1))
    }

    /// The head: the last batch norm (`lastact`), ReLU, global average pool and the linear
    /// layer, `[b, c, h, w]` → logits `[b, classes]`; public so that the gradient scale along
    /// the loss's own gradient ([`crate::proxies::ProxyContext::loss_gradient_scale`]) can pull
    /// the loss back onto the body's output.
    pub fn head(&self, params: &[Tensor<1>], h: Tensor<4>, tape: &mut ReluTape) -> Tensor<2> {
        let h = if self.final_norm {
            self.affine_bn(params, self.final_affine, h)
        } else {
            h
        };
        let h = tape.relu(h);
        let [b, c, _, _] = h.dims();
        let feat = h.mean_dim(3).mean_dim(2).reshape([b, c]);
        let (wi, bi) = self.head;
        let w = params[wi].clone().reshape([self.config.classes, c]);
        feat.matmul(w.transpose()) + params[bi].clone().reshape([1, self.config.classes])
    }

    /// One layer (a cell under `mix`, or a residual block) on `h`; `weights` are the relaxed
    /// mix's per-edge weights of the four ops other than `none` ([`edge_weights`]).
    fn layer(
        &self,
        params: &[Tensor<1>],
        layer: &Layer,
        h: Tensor<4>,
        mix: &CellMix,
        weights: Option<&[Tensor<1>]>,
        tape: &mut ReluTape,
    ) -> Tensor<4> {
        let p = |i: usize| params[i].clone();
        let sh = |i: usize| self.specs[i].shape.as_slice();
        match layer {
            Layer::Cell { edges } => {
                let mut nodes: Vec<Option<Tensor<4>>> = vec![Some(h)];
                // ReLU and 3×3 mean of each node, shared by all its out-edges (relaxed).
                let mut relus: Vec<Option<Tensor<4>>> = vec![None; NUM_NODES];
                let mut pools: Vec<Option<Tensor<4>>> = vec![None; NUM_NODES];
                for to in 1..NUM_NODES {
                    let mut acc: Option<Tensor<4>> = None;
                    for (e, &(t, from)) in EDGES.iter().enumerate() {
                        if t != to {
                            continue;
                        }
                        let Some(x) = nodes[from].clone() else {
                            continue;
                        };
                        let out = match (weights, mix) {
                            (Some(w), _) => {
                                let (c1, c3) = edges[e];
                                let r = relus[from]
                                    .get_or_insert_with(|| tape.relu(x.clone()))
                                    .clone();
                                let pool = pools[from]
                                    .get_or_insert_with(|| avg_pool_3x3(x.clone()))
                                    .clone();
                                let y1 = conv(r.clone(), p(c1), sh(c1), 1);
                                let y3 = conv(r, p(c3), sh(c3), 1);
                                Some(if self.batch_norm && !self.is_affine() {
                                    kernels::mixed_edge(x, y1, y3, pool, w[e].clone())
                                } else {
                                    let y1 = self.bn_after(params, c1, y1);
                                    let y3 = self.bn_after(params, c3, y3);
                                    kernels::mix([x, y1, y3, pool], w[e].clone())
                                })
                            }
                            (None, CellMix::Fixed(g)) => {
                                let (c1, c3) = edges[e];
                                match g.ops[e] {
                                    Op::None => None,
                                    Op::SkipConnect => Some(x),
                                    Op::NorConv1x1 => Some(self.bn_after(
                                        params,
                                        c1,
                                        conv(tape.relu(x), p(c1), sh(c1), 1),
                                    )),
                                    Op::NorConv3x3 => Some(self.bn_after(
                                        params,
                                        c3,
                                        conv(tape.relu(x), p(c3), sh(c3), 1),
                                    )),
                                    Op::AvgPool3x3 => Some(avg_pool_3x3(x)),
                                }
                            }
                            _ => unreachable!("weights exist exactly for relaxed mixes"),
                        };
                        if let Some(o) = out {
                            acc = Some(match acc {
                                Some(a) => a + o,
                                None => o,
                            });
                        }
                    }
                    nodes.push(acc);
                }
                // A cell whose output is disconnected outputs zeros.
                match nodes.pop().flatten() {
                    Some(o) => o,
                    None => nodes[0].clone().expect("input node").zeros_like(),
                }
            }
            Layer::ResBlock {
                conv_a,
                conv_b,
                down,
            } => {
                let a = conv(tape.relu(h.clone()), p(*conv_a), sh(*conv_a), 2);
                let a = self.bn_after(params, *conv_a, a);
                let b = conv(tape.relu(a), p(*conv_b), sh(*conv_b), 1);
                let b = self.bn_after(params, *conv_b, b);
                let s = conv(kernels::avg_pool_2x2(h), p(*down), sh(*down), 1);
                b + s
            }
        }
    }
}

/// Per-edge weights `[4]` of the four ops other than `none` (in `Op` order) of a relaxed mix,
/// sliced once for all cells; `None` for a fixed cell. `none` contributes 0·w_none; its weight
/// still shapes the softmax through which α receives gradient.
fn edge_weights(mix: &CellMix) -> Option<Vec<Tensor<1>>> {
    let order = [
        Op::SkipConnect,
        Op::NorConv1x1,
        Op::NorConv3x3,
        Op::AvgPool3x3,
    ];
    debug_assert_eq!(
        order.map(Op::index),
        [1, 2, 3, 4],
        "terms of `kernels::mix` in `Supernet::layer`"
    );
    match mix {
        CellMix::Relaxed(w) => Some(
            (0..NUM_EDGES)
                .map(|e| {
                    w.clone()
                        .slice([e..e + 1, 1..NUM_OPS])
                        .reshape([NUM_OPS - 1])
                })
                .collect(),
        ),
        CellMix::Fixed(_) => None,
    }
}

/// Uploads a host batch's inputs as a `[b, 3, size, size]` tensor.
pub fn input_tensor(batch: &crate::data::Batch, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(batch.x.clone(), [batch.batch, 3, batch.size, batch.size]),
        device,
    )
}

#[cfg(test)]
mod tests {
    //! The hand-written ops against burn's own (which the PyTorch fixtures also pin down).
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::{avg_pool2d, batch_norm_train, conv2d};
    use burn::tensor::ops::{AvgPoolOptions, ConvOptions};

    #[test]
    fn closed_form_parameters_match_the_built_network() {
        for cfg in [
            SupernetConfig {
                channels: 4,
                cells: 2,
                classes: 10,
                size: 8,
            },
            SupernetConfig {
                channels: 16,
                cells: 5,
                classes: 100,
                size: 32,
            },
        ] {
            let net = cfg.init(0, &crate::cpu_device());
            for ordinal in [0, 1, 777, 4095, 9999, 15_624] {
                let g = Genotype::from_ordinal(ordinal);
                assert_eq!(cfg.num_params(&g), net.num_params(Some(&g)), "{g}");
            }
        }
    }

    #[test]
    fn network_depth_is_the_stem_the_cells_and_the_blocks() {
        let cfg = SupernetConfig {
            channels: 16,
            cells: 5,
            classes: 10,
            size: 32,
        };
        // All 3×3: the stem, 15 cells of 3 and two blocks of 2: 1 + 45 + 4.
        let all3: Genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|".parse().unwrap();
        assert_eq!(cfg.depth(&all3), Some(50));
        // Parameter-free cells leave the stem and the blocks' two layers each.
        let free: Genotype = "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|skip_connect~2|".parse().unwrap();
        assert_eq!(cfg.depth(&free), Some(5));
        assert_eq!(cfg.depth(&Genotype::from_ordinal(0)), None, "all `none`");
    }

    #[test]
    fn affine_norms_start_as_the_identity_and_add_their_gradients() {
        let cfg = SupernetConfig {
            channels: 4,
            cells: 1,
            classes: 10,
            size: 8,
        };
        let dev = crate::cpu_device();
        let plain = cfg.init(3, &dev);
        let affine = cfg.init_with(3, InitKind::Default, true, &dev);
        assert_eq!(
            cfg.init_with(3, InitKind::Default, false, &dev).params()[0]
                .clone()
                .into_data(),
            plain.params()[0].clone().into_data(),
            "the defaults are init's network"
        );
        // γ, β after the stem (C), the 12 edge convs of each stage's cell (C, 2C, 4C), the two
        // convs of each residual block (2C, 4C), and before the head (4C).
        let c = 4;
        let extra = 2 * (c + 12 * 7 * c + 2 * 2 * c + 2 * 4 * c + 4 * c);
        assert_eq!(affine.num_params(None), plain.num_params(None) + extra);
        let batch = crate::data::Sampler::new(&crate::data::DataSpec::Gaussian, 0, 4, 8, 10)
            .unwrap()
            .next_batch();
        let g: Genotype = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        // Its three convolutions per cell keep their norms.
        let one_conv_each = 2 * (c + 3 * 7 * c + 2 * 2 * c + 2 * 4 * c + 4 * c);
        assert_eq!(
            affine.num_params(Some(&g)),
            plain.num_params(Some(&g)) + one_conv_each,
            "only the chosen convs' norms count"
        );
        let run = |net: &Supernet| {
            let x = input_tensor(&batch, &dev);
            let onehot = crate::loss::one_hot(&batch.labels, 10, &dev);
            let y = net.forward(
                net.params(),
                x.clone(),
                &CellMix::Fixed(g),
                &mut ReluTape::Free,
            );
            let gn = crate::ntk::grad_norm_sq(net.params(), onehot, |p| {
                net.forward(
                    p,
                    x.clone().autodiff(),
                    &CellMix::Fixed(g),
                    &mut ReluTape::Free,
                )
            });
            (
                y.into_data().try_to_vec::<f32>().unwrap(),
                gn.trace.into_scalar::<f32>(),
            )
        };
        let ((y0, t0), (y1, t1)) = (run(&plain), run(&affine));
        let diff = y0
            .iter()
            .zip(&y1)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-5,
            "γ = 1, β = 0 leave the logits as they were ({diff})"
        );
        assert!(t1 > t0, "γ's and β's gradients add to T̃: {t1} against {t0}");
    }

    #[test]
    fn kaiming_init_has_its_variance_and_a_zero_head_bias() {
        let cfg = SupernetConfig {
            channels: 16,
            cells: 1,
            classes: 10,
            size: 8,
        };
        let net = cfg.init_with(0, InitKind::Kaiming, false, &crate::cpu_device());
        let find = |name: &str| {
            let i = net.specs().iter().position(|s| s.name == name).unwrap();
            net.params()[i]
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        // stage2's 3×3 convs: 64·64·9 = 36,864 values, fan-in 576.
        let w = find("stage2.cell0.edge0.conv3x3");
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let want = 2.0 / 576.0;
        // Sampling error of a variance from 36,864 normals: about √(2/n) = 0.7 %.
        assert!(
            (var / want - 1.0).abs() < 0.05,
            "variance {var} against {want}"
        );
        assert!(mean.abs() < 0.01 * want.sqrt(), "mean {mean}");
        assert!(find("head.bias").iter().all(|&b| b == 0.0));
    }

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    fn input() -> Tensor<4> {
        // Odd, non-square spatial size so that border counts differ per row and column.
        Tensor::random(
            [2, 3, 5, 6],
            Distribution::Normal(0.5, 2.0),
            &crate::cpu_device(),
        )
    }

    #[test]
    fn avg_pool_matches_burns_without_padded_cells() {
        let x = input();
        let reference = avg_pool2d(
            x.clone(),
            AvgPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1])
                .with_count_include_pad(false),
        );
        assert!(max_abs_diff(avg_pool_3x3(x), reference) < 1e-5);
    }

    #[test]
    fn batch_norm_matches_burns_training_mode() {
        let x = input();
        let dev = x.device();
        let reference = batch_norm_train(
            x.clone(),
            Tensor::ones([3], &dev),
            Tensor::zeros([3], &dev),
            1e-5,
        );
        assert!(max_abs_diff(batch_norm(x), reference.output) < 1e-4);
    }

    #[test]
    fn one_by_one_conv_as_matmul_matches_conv2d() {
        let x = input();
        let w = Tensor::<1>::random([4 * 3], Distribution::Normal(0.0, 1.0), &x.device());
        let reference = conv2d(
            x.clone(),
            w.clone().reshape([4, 3, 1, 1]),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        assert!(max_abs_diff(conv(x, w, &[4, 3, 1, 1], 1), reference) < 1e-4);
    }
}
