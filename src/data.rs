//! Mini-batches and random draws for the search, all made on the host from a seeded stream so
//! that a seed gives the same numbers on every backend (CPU, wgpu, WebGPU, CUDA).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::space::ArchTable;

/// Where a search's mini-batches come from.
///
/// NASI is data- and label-agnostic (paper §4.3), so the default feeds noise with uniformly
/// random labels: spatially correlated noise ([`DataSpec::Pink`]) since the quality tests
/// (docs/results.md), white Gaussian noise on request; CIFAR-10 binary batches can be used
/// instead.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSpec {
    /// Inputs ~ N(0, 1), labels uniform over the classes: no data at all.
    Gaussian,
    /// Spatially correlated noise, still no data: each image channel is a sum of white Gaussian
    /// noise at every octave (sides s, s/2, s/4, … down to 2 pixels, bilinearly upsampled to s),
    /// one unit of variance per octave, which is the 1/f² power spectrum of natural images;
    /// scaled to unit variance per channel. Labels uniform. On white noise a 3×3 average pool
    /// passes a ninth of the variance and looks like `none`; here it passes most of it, as on
    /// images (the quality issue's hypothesis).
    Pink,
    /// CIFAR-10 images from a `data_batch_*.bin` file or a folder of them, labels replaced by
    /// uniformly random ones (label-agnostic).
    RandomLabels(String),
    /// CIFAR-10 images with their true labels.
    Cifar10(String),
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Gaussian => f.write_str("gaussian"),
            DataSpec::Pink => f.write_str("pink"),
            DataSpec::RandomLabels(p) => write!(f, "random-labels:{p}"),
            DataSpec::Cifar10(p) => write!(f, "cifar10:{p}"),
        }
    }
}

impl FromStr for DataSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "gaussian" => Ok(DataSpec::Gaussian),
            None if s == "pink" => Ok(DataSpec::Pink),
            None if s == "random-labels" || s == "cifar10" => Err(format!(
                "data `{s}` needs a CIFAR-10 path: `{s}:PATH` (a data_batch_*.bin file or its folder); \
                 `gaussian` needs no data"
            )),
            Some(("cifar10", p)) if !p.is_empty() => Ok(DataSpec::Cifar10(p.to_string())),
            Some(("random-labels", p)) if !p.is_empty() => {
                Ok(DataSpec::RandomLabels(p.to_string()))
            }
            _ => Err(format!(
                "unknown data `{s}`: expected `gaussian`, `pink`, `random-labels:PATH` or `cifar10:PATH`"
            )),
        }
    }
}
serde_via_string!(DataSpec);

/// The independent random streams of one seed: weights, batches and Gumbel noise never share
/// draws, so changing e.g. the batch size leaves the initial weights unchanged.
#[derive(Clone, Copy, Debug)]
pub enum RngStream {
    /// Weight initialisation of the supernet or a standalone network.
    Init = 1,
    /// Mini-batch inputs and labels.
    Data = 2,
    /// Gumbel noise of the relaxed cell.
    Gumbel = 3,
    /// Random probes of a proxy (AZ-NAS's Rademacher vectors in [`crate::proxies`]).
    Probe = 4,
}

/// A seeded ChaCha8 generator for one [`RngStream`] of `seed`.
pub fn rng(seed: u64, stream: RngStream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream as u64);
    r
}

/// `n` draws from N(0, 1).
pub fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// Standard Gumbel noise g = −ln(−ln U) for a relaxed cell of shape `[rows, ops]` (NB201's
/// `[6, 5]`; Gumbel-softmax, paper §3.3), drawn row by row.
pub fn gumbel(rng: &mut ChaCha8Rng, [rows, ops]: [usize; 2]) -> ArchTable {
    ArchTable::from_fn(rows, ops, |_, _| {
        // U in (0, 1): avoid the endpoints, where the transform is infinite.
        let u: f64 = rng.random_range(1e-12..1.0 - 1e-12);
        (-(-u.ln()).ln()) as f32
    })
}

/// One mini-batch on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Inputs, row-major `[b, 3, size, size]`.
    pub x: Vec<f32>,
    /// Labels, `b` values in `0..classes`.
    pub labels: Vec<usize>,
    /// b.
    pub batch: usize,
    /// Input height and width.
    pub size: usize,
}

/// Why a CIFAR-10 binary file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The path cannot be read.
    #[error("cannot read CIFAR-10 data at {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not in the `data_batch_*.bin` format.
    #[error("{path} is not a CIFAR-10 binary batch: {why}")]
    Format {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Bytes of one CIFAR-10 binary record: 1 label byte and 3×32×32 pixel bytes (R, G, B planes).
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const CIFAR_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

/// CIFAR-10 images held as raw bytes (30 MB for the 50,000 training images).
#[derive(Clone, Debug)]
pub struct Cifar10 {
    records: Vec<u8>,
}

impl Cifar10 {
    /// Loads a `data_batch_*.bin` file, or every `data_batch_*.bin` in a folder (sorted by name).
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let io = |error| DataError::Io {
            path: path.to_path_buf(),
            error,
        };
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    why: "the folder holds no data_batch_*.bin file".into(),
                });
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut records = Vec::new();
        for f in files {
            let bytes = std::fs::read(&f).map_err(|error| DataError::Io {
                path: f.clone(),
                error,
            })?;
            records.extend(Self::from_bytes(bytes, &f)?.records);
        }
        Ok(Cifar10 { records })
    }

    /// Reads the contents of one `data_batch_*.bin` file (`path` names it in errors): records
    /// of 1 label byte (0..=9) and 3·32·32 pixel bytes; anything else is a [`DataError::Format`].
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self, DataError> {
        let fmt = |why: String| DataError::Format {
            path: path.to_path_buf(),
            why,
        };
        if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR_RECORD) {
            return Err(fmt(format!(
                "its size {} is not a positive multiple of {CIFAR_RECORD} bytes",
                bytes.len()
            )));
        }
        if let Some((i, rec)) = bytes
            .chunks(CIFAR_RECORD)
            .enumerate()
            .find(|(_, r)| r[0] > 9)
        {
            return Err(fmt(format!(
                "record {i} has label {} (expected 0..=9)",
                rec[0]
            )));
        }
        Ok(Cifar10 { records: bytes })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.records.len() / CIFAR_RECORD
    }

    /// Whether there are no images (never true for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i` normalised per channel with CIFAR-10's mean and std, `[3, 32, 32]`, and its label.
    pub fn image(&self, i: usize) -> (Vec<f32>, usize) {
        let rec = &self.records[i * CIFAR_RECORD..(i + 1) * CIFAR_RECORD];
        let px = rec[1..]
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let c = j / 1024;
                (v as f32 / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c]
            })
            .collect();
        (px, rec[0] as usize)
    }
}

/// Draws mini-batches for one search: the data source plus its seeded stream.
pub struct Sampler {
    source: Source,
    rng: ChaCha8Rng,
    batch: usize,
    size: usize,
    classes: usize,
}

enum Source {
    Gaussian,
    Pink,
    Cifar { set: Cifar10, true_labels: bool },
}

impl Sampler {
    /// A sampler for `spec`; loads CIFAR-10 from disk when asked.
    pub fn new(
        spec: &DataSpec,
        seed: u64,
        batch: usize,
        size: usize,
        classes: usize,
    ) -> Result<Self, DataError> {
        let source = match spec {
            DataSpec::Gaussian => Source::Gaussian,
            DataSpec::Pink => Source::Pink,
            DataSpec::Cifar10(p) => Source::Cifar {
                set: Cifar10::load(Path::new(p))?,
                true_labels: true,
            },
            DataSpec::RandomLabels(p) => Source::Cifar {
                set: Cifar10::load(Path::new(p))?,
                true_labels: false,
            },
        };
        Ok(Sampler {
            source,
            rng: rng(seed, RngStream::Data),
            batch,
            size,
            classes,
        })
    }

    /// The next mini-batch: `[b, 3, size, size]` inputs and `b` labels.
    pub fn next_batch(&mut self) -> Batch {
        let (b, s) = (self.batch, self.size);
        let (x, labels) = match &self.source {
            Source::Gaussian => {
                let x = normal(&mut self.rng, b * 3 * s * s);
                let labels = (0..b)
                    .map(|_| self.rng.random_range(0..self.classes))
                    .collect();
                (x, labels)
            }
            Source::Pink => {
                let x = (0..b * 3)
                    .flat_map(|_| octave_noise(&mut self.rng, s))
                    .collect();
                let labels = (0..b)
                    .map(|_| self.rng.random_range(0..self.classes))
                    .collect();
                (x, labels)
            }
            Source::Cifar { set, true_labels } => {
                let mut x = Vec::with_capacity(b * 3 * s * s);
                let mut labels = Vec::with_capacity(b);
                for _ in 0..b {
                    let (img, y) = set.image(self.rng.random_range(0..set.len()));
                    x.extend(img);
                    labels.push(if *true_labels {
                        y
                    } else {
                        self.rng.random_range(0..self.classes)
                    });
                }
                (x, labels)
            }
        };
        Batch {
            x,
            labels,
            batch: b,
            size: s,
        }
    }
}

/// One `s × s` plane of [`DataSpec::Pink`] noise: white noise at sides s, s/2, … ≥ 2, each
/// bilinearly upsampled to s and added, then scaled to zero mean and unit variance.
fn octave_noise(rng: &mut ChaCha8Rng, s: usize) -> Vec<f32> {
    let mut plane = vec![0f32; s * s];
    let mut m = s;
    while m >= 2 {
        let grid = normal(rng, m * m);
        // Pixel i of the s-side plane sits at grid coordinate `at(i)`: its two grid
        // neighbours and the weight of the second.
        let taps = |i: usize| {
            let at = ((i as f32 + 0.5) * m as f32 / s as f32 - 0.5).clamp(0.0, (m - 1) as f32);
            let lo = at.floor() as usize;
            (lo, (lo + 1).min(m - 1), at - at.floor())
        };
        let g = |r: usize, c: usize| grid[r * m + c];
        for i in 0..s {
            let (r0, r1, fr) = taps(i);
            for j in 0..s {
                let (c0, c1, fc) = taps(j);
                let top = g(r0, c0) * (1.0 - fc) + g(r0, c1) * fc;
                let bottom = g(r1, c0) * (1.0 - fc) + g(r1, c1) * fc;
                plane[i * s + j] += top * (1.0 - fr) + bottom * fr;
            }
        }
        m /= 2;
    }
    let n = plane.len() as f32;
    let mean = plane.iter().sum::<f32>() / n;
    let var = plane.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / var.sqrt().max(1e-12);
    plane.iter().map(|v| (v - mean) * inv).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pink_noise_is_unit_variance_and_correlated_between_neighbours() {
        let s = 16;
        let mut r = rng(3, RngStream::Data);
        let p = octave_noise(&mut r, s);
        let n = p.len() as f32;
        let mean = p.iter().sum::<f32>() / n;
        let var = p.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
        // Neighbouring pixels are strongly correlated (white noise: about 0).
        let corr: f32 = (0..s)
            .flat_map(|i| (0..s - 1).map(move |j| (i, j)))
            .map(|(i, j)| p[i * s + j] * p[i * s + j + 1])
            .sum::<f32>()
            / (s * (s - 1)) as f32;
        eprintln!("neighbour correlation {corr}");
        assert!(corr > 0.5, "{corr}");
        let mut a = Sampler::new(&DataSpec::Pink, 7, 2, 8, 10).unwrap();
        let mut b = Sampler::new(&DataSpec::Pink, 7, 2, 8, 10).unwrap();
        assert_eq!(a.next_batch().x, b.next_batch().x, "same seed, same batch");
        assert_eq!("pink".parse::<DataSpec>().unwrap().to_string(), "pink");
    }

    fn write_cifar(dir: &Path, n: usize, bad_label: bool) -> PathBuf {
        let mut bytes = Vec::new();
        for i in 0..n {
            bytes.push(if bad_label && i == 1 {
                12
            } else {
                (i % 10) as u8
            });
            bytes.extend((0..3072).map(|j| ((i * 7 + j) % 256) as u8));
        }
        let p = dir.join("data_batch_1.bin");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn cifar_file_and_folder_load_and_normalise() {
        let dir = std::env::temp_dir().join(format!("nasi-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = write_cifar(&dir, 5, false);
        let set = Cifar10::load(&p).unwrap();
        assert_eq!(set.len(), 5);
        assert_eq!(Cifar10::load(&dir).unwrap().len(), 5);
        let (img, y) = set.image(3);
        assert_eq!(y, 3);
        assert_eq!(img.len(), 3072);
        // Byte 0 of image 3's green plane is (3*7 + 1024) % 256.
        let v = ((3 * 7 + 1024) % 256) as f32 / 255.0;
        assert!((img[1024] - (v - CIFAR_MEAN[1]) / CIFAR_STD[1]).abs() < 1e-6);
        let mut s =
            Sampler::new(&DataSpec::Cifar10(p.display().to_string()), 0, 4, 32, 10).unwrap();
        let b = s.next_batch();
        assert_eq!(b.x.len(), 4 * 3072);
        assert!(b.labels.iter().all(|&l| l < 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_cifar_files_are_rejected() {
        let dir = std::env::temp_dir().join(format!("nasi-cifar-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = write_cifar(&dir, 3, true);
        let e = Cifar10::load(&p).unwrap_err().to_string();
        assert!(e.contains("record 1 has label 12"), "{e}");
        std::fs::write(&p, [0u8; 100]).unwrap();
        let e = Cifar10::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a positive multiple of 3073"), "{e}");
        let e = Cifar10::load(&dir.join("missing.bin"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a = Sampler::new(&DataSpec::Gaussian, 7, 3, 8, 10).unwrap();
        let mut b = Sampler::new(&DataSpec::Gaussian, 7, 3, 8, 10).unwrap();
        assert_eq!(a.next_batch(), b.next_batch());
        let g1 = gumbel(&mut rng(7, RngStream::Gumbel), [6, 5]);
        let g2 = gumbel(&mut rng(7, RngStream::Gumbel), [6, 5]);
        assert_eq!(g1, g2);
        assert_ne!(
            normal(&mut rng(7, RngStream::Init), 4),
            normal(&mut rng(7, RngStream::Data), 4)
        );
        assert!(g1.iter().flatten().all(|v| v.is_finite()));
    }
}
