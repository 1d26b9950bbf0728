//! NASI — Neural Architecture Search at Initialization (Shu, Cai, Dai, Ooi, Low, ICLR 2022),
//! on burn 0.22.
//!
//! NASI picks a cell without training: it maximises the trace of the network's Neural Tangent
//! Kernel at initialisation, estimated as T̃ = ‖∇θ L(minibatch)‖² (eq. 12), over a Gumbel-softmax
//! relaxation of the cell, and takes the per-edge argmax of the normalised sum of α-gradients
//! (eq. 18). The modules, in layers from the bottom (docs/architecture.md; `tests/layers.rs` checks
//! that each imports only its own layer and those below):
//! * [`space`]: the NAS-Bench-201 and DARTS search spaces as data (ops, cells, genotype text,
//!   derivation rules, drawings; NB201's accuracy table for reporting), and [`stats`];
//! * [`data`]: seeded random streams, Gaussian and CIFAR-10 batches, Gumbel noise; [`kernels`]: the
//!   CPU ops with their own backward;
//! * [`net`]: the NB201 and DARTS supernets and standalone networks; [`loss`], [`ntk`]: T̃, the
//!   exact NTK;
//! * [`nasi`]: the objective and its α-gradient by a finite-difference Hessian-vector product;
//! * [`config`]: one settings struct for flags, files and the URL, and the presets;
//! * [`search`]: the loop, as a stream of [`search::SearchEvent`]s consumed by the CLI and the web;
//!   [`memory`]: a search's peak memory from its shapes; [`score`]: one standalone cell scored;
//!   [`proxies`]: zero-cost proxies (grad_norm, SynFlow, NASWOT) for comparison;
//! * [`plot`]: the charts shared by the CLI's run folder and the page;
//! * the faces: `cli` (native) and `web` (wasm).
//!
//! The algorithm never imports UI code.

/// Serde for a type through its `Display` / `FromStr` text (`"gaussian"`, `"mean"`, `1.5`): the
/// form the flags, the config file and the URL share. A bare number is read as its text.
macro_rules! serde_via_string {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    S(String),
                    F(f64),
                }
                let text = match <Raw as serde::Deserialize>::deserialize(d)? {
                    Raw::S(s) => s,
                    Raw::F(v) => v.to_string(),
                };
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

#[cfg(not(target_family = "wasm"))]
pub mod cli;
pub mod config;
pub mod data;
pub mod kernels;
pub mod landscape;
pub mod loss;
pub mod memory;
pub mod nasi;
pub mod net;
pub mod ntk;
pub mod plot;
pub mod proxies;
pub mod refine;
pub mod score;
pub mod search;
pub mod space;
pub mod stats;
pub mod web;

/// The default CPU device (burn's pure-Rust `flex` backend).
pub fn cpu_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}
