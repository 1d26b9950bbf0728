//! What the PyTorch-fixture tests share (`tests/fixtures.rs` for NB201, `tests/darts_fixtures.rs`
//! for DARTS): the fixture format written by `tests/reference/make_*fixtures.py`, its loading, and
//! the comparison of our f32 figures with PyTorch's float64 ones.

use burn::tensor::{Device, Tensor, TensorData};
use nasi::data::Batch;
use nasi::net::supernet::ParamSpec;
use nasi::space::ArchTable;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// One parameter tensor, by name, in PyTorch's shape.
#[derive(Deserialize)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// PyTorch's float64 figures.
#[derive(Deserialize)]
pub struct Expected {
    pub loss: f64,
    pub trace: f64,
    pub exact_trace: f64,
    pub grad_trace: Vec<Vec<f64>>,
}

/// A fixture; `C` is the network's settings, which differ by space.
#[derive(Deserialize)]
pub struct Fixture<C> {
    pub config: C,
    pub params: Vec<Param>,
    pub x: Vec<f32>,
    pub labels: Vec<usize>,
    pub gumbel: ArchTable,
    pub expected: Expected,
}

impl<C: DeserializeOwned> Fixture<C> {
    /// `tests/reference/fixtures/{name}.json`, or `$NASI_FIXTURES_DIR/{name}.json` (for a test
    /// binary carried to another machine: `scripts/gpu-check.sh`).
    pub fn load(name: &str) -> Self {
        let dir = std::env::var("NASI_FIXTURES_DIR")
            .unwrap_or_else(|_| format!("{}/tests/reference/fixtures", env!("CARGO_MANIFEST_DIR")));
        let path = format!("{dir}/{name}.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }
}

/// The device the fixture tests compute on: the CPU, or with `NASI_TEST_DEVICE=wgpu` in a
/// `--features wgpu` build the GPU (`scripts/gpu-check.sh` runs the same bounds there).
pub fn test_device() -> Device {
    match std::env::var("NASI_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu_options()
            .init()
            .expect("NASI_TEST_DEVICE=wgpu needs a wgpu adapter"),
        Ok("cpu") | Err(_) => nasi::cpu_device(),
        Ok(other) => {
            panic!("NASI_TEST_DEVICE={other}: this build knows cpu (and wgpu with the feature)")
        }
    }
}

impl<C> Fixture<C> {
    /// The parameters as our tensors, after checking they are `specs`, name by name, in order.
    pub fn params_for(&self, specs: &[ParamSpec], device: &Device) -> Vec<Tensor<1>> {
        assert_eq!(specs.len(), self.params.len(), "parameter count");
        for (spec, p) in specs.iter().zip(&self.params) {
            assert_eq!(
                (&spec.name, &spec.shape),
                (&p.name, &p.shape),
                "parameter order"
            );
        }
        self.params
            .iter()
            .map(|p| Tensor::from_data(TensorData::new(p.values.clone(), [p.values.len()]), device))
            .collect()
    }

    /// The batch of `b` images of `size`².
    pub fn batch(&self, b: usize, size: usize) -> Batch {
        Batch {
            x: self.x.clone(),
            labels: self.labels.clone(),
            batch: b,
            size,
        }
    }
}

/// |a − b| / |b|.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// ‖ours − theirs‖ / ‖theirs‖ and 1 − cos(ours, theirs) of our ∇αT̃ against PyTorch's.
pub fn grad_errors(ours: &ArchTable, theirs: &[Vec<f64>]) -> (f64, f64) {
    let g: Vec<f64> = ours.values().iter().map(|&v| v as f64).collect();
    let want: Vec<f64> = theirs.iter().flatten().copied().collect();
    let n = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let cos = g.iter().zip(&want).map(|(a, b)| a * b).sum::<f64>() / (n(&g) * n(&want));
    let diff: Vec<f64> = g.iter().zip(&want).map(|(a, b)| a - b).collect();
    (n(&diff) / n(&want), 1.0 - cos)
}

/// The exact NTK trace Σᵢ Σₖ ‖∇θ fₖ(xᵢ)‖² of `net` under op weights `w` (ordinary ReLUs and
/// pools), as PyTorch's fixture script computes it: the diagonal of [`nasi::ntk::exact_ntk`].
pub fn exact_trace<N: nasi::net::Relaxed>(
    net: &N,
    batch: &Batch,
    w: Tensor<2>,
    device: &Device,
) -> f64
where
    N::Tape: Default,
{
    let x = nasi::net::supernet::input_tensor(batch, device).autodiff();
    let ntk = nasi::ntk::exact_ntk(net.params(), batch.batch, net.classes(), |p| {
        net.forward_relaxed(p, x.clone(), w.clone(), &mut Default::default())
    });
    (0..batch.batch)
        .map(|i| ntk.clone().slice([i..i + 1, i..i + 1]).into_scalar::<f32>() as f64)
        .sum()
}
