//! Every parser a user's input reaches, fuzzed: the NB201 string, the DARTS `Genotype(...)`
//! text, the accuracy CSV, the config
//! file (TOML and JSON), the URL hash, the trajectory JSONL, the result JSON and the CIFAR-10
//! batch. Arbitrary bytes and mutations of valid inputs must never panic (proptest turns a panic
//! into a failure with the shrunk input) and either parse or return the module's error; valid
//! values round-trip.
//!
//! `cargo test` runs `NASI_FUZZ_CASES` cases per property (default 2000) from a fixed seed, so
//! CI is deterministic; `scripts/fuzz.sh` runs each property for `NASI_FUZZ_SECONDS` with fresh
//! seeds.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use nasi::config::url::{ViewState, decode, encode};
use nasi::config::{
    DataSpec, FdScheme, InitKind, LossKind, NuRule, PRESETS, SearchConfig, file_keys, preset,
};
use nasi::data::{CIFAR_RECORD, Cifar10};
use nasi::search::{SearchEvent, parse_result, parse_trajectory};
use nasi::space::nb201::table::Table;
use nasi::space::{Genotype, SpaceKind};

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// Runs `test` on `strategy`: `NASI_FUZZ_CASES` cases (default 2000) from seed
/// `NASI_FUZZ_SEED` (default 0), repeated with the next seeds until `NASI_FUZZ_SECONDS` have
/// passed when that is set.
fn fuzz<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let cases = env_u64("NASI_FUZZ_CASES").unwrap_or(2000) as u32;
    let deadline = env_u64("NASI_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let mut seed = env_u64("NASI_FUZZ_SEED").unwrap_or(0);
    let mut total = 0u64;
    loop {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("seed {seed}: {e}");
        }
        total += u64::from(cases);
        seed += 1;
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    println!("{total} cases");
}

/// One edit of a valid input: at position `pos` (modulo its length), delete, insert or
/// replace with `byte`.
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 1..8)
}

fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(pos, op, byte) in edits {
        let i = if v.is_empty() { 0 } else { pos % (v.len() + 1) };
        match op {
            0 if i < v.len() => {
                v.remove(i);
            }
            1 => v.insert(i, byte),
            _ if i < v.len() => v[i] = byte,
            _ => v.push(byte),
        }
    }
    v
}

/// Arbitrary bytes, or a valid input with a few edits, as text (lossy UTF-8).
fn text_near(valid: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        edits().prop_map(move |e| mutate(valid.as_bytes(), &e)),
    ]
    .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn genotype() -> impl Strategy<Value = Genotype> {
    (0usize..Genotype::SPACE_SIZE).prop_map(Genotype::from_ordinal)
}

/// Any config that `validate` accepts, CIFAR-10 paths included.
fn valid_config() -> impl Strategy<Value = SearchConfig> {
    let data = prop_oneof![
        Just(DataSpec::Gaussian),
        Just(DataSpec::Pink),
        "[a-zA-Z0-9/ _.+&=%#~-]{1,20}".prop_map(DataSpec::Cifar10),
        "[a-zA-Z0-9/ _.+&=%#~é-]{1,20}".prop_map(DataSpec::RandomLabels),
    ];
    let nu = prop_oneof![Just(NuRule::Mean), (-1e6f64..1e6).prop_map(NuRule::Fixed)];
    (
        (
            0..=i64::MAX as u64,
            1usize..10_000,
            1usize..512,
            1usize..=512,
        ),
        (1usize..=32, 2usize..1000, 2usize..=64),
        (0f64..10.0, nu, 1e-3f64..10.0, any::<bool>()),
        (data, 1e-9f64..0.999, any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (seed, steps, batch, channels),
                (cells, classes, size4),
                (mu, nu, tau, hard),
                (data, fd_radius, central, darts),
            )| {
                let cifar = matches!(data, DataSpec::Cifar10(_) | DataSpec::RandomLabels(_));
                // DARTS needs 3 cells or more and even channels.
                let darts = darts && cells >= 3 && channels % 2 == 0;
                SearchConfig {
                    space: if darts {
                        SpaceKind::Darts
                    } else {
                        SpaceKind::Nb201
                    },
                    seed,
                    steps,
                    batch,
                    channels,
                    cells,
                    classes: if matches!(data, DataSpec::Cifar10(_)) {
                        10
                    } else {
                        classes
                    },
                    size: if cifar { 32 } else { size4 * 4 },
                    mu,
                    nu,
                    tau,
                    hard,
                    data,
                    fd_radius,
                    exclude_none: seed % 2 == 1,
                    final_norm: darts || steps % 3 != 0,
                    relinearise: (steps % 5) as f64 * 1.5,
                    loss: if steps % 4 == 0 {
                        LossKind::Mse
                    } else {
                        LossKind::CrossEntropy
                    },
                    init: if !darts && seed % 3 == 0 {
                        InitKind::Kaiming
                    } else {
                        InitKind::Default
                    },
                    bn_affine: !darts && batch % 2 == 0,
                    refine: (steps % 7) * 100,
                    refine_with: [
                        "synflow,naswot,params",
                        "alpha",
                        "nasi_trace,grad_norm",
                        "params,alpha,synflow,naswot,grad_norm,nasi_trace,depth",
                    ][seed as usize % 4]
                        .parse()
                        .unwrap(),
                    // 0 is the search's own; DARTS's stage network keeps its rules.
                    refine_channels: if darts { (batch % 8) * 2 } else { batch % 17 },
                    refine_cells: if darts {
                        [0, 3, 5][steps % 3]
                    } else {
                        steps % 6
                    },
                    refine_size: if cifar {
                        0
                    } else {
                        [0, 8, 32][seed as usize % 3]
                    },
                    refine_neighbours: steps % 2 == 1,
                    refine_draws: 1 + steps % 16,
                    refine_climb: steps % 17,
                    fd_scheme: if central {
                        FdScheme::Central
                    } else {
                        FdScheme::Forward
                    },
                }
            },
        )
}

const TINY_PRESET: &str = include_str!("../www/presets/tiny.jsonl");

#[test]
fn nb201_strings() {
    fuzz(genotype(), |g| {
        prop_assert_eq!(g.to_string().parse::<Genotype>().unwrap(), g);
        Ok(())
    });
    let valid = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    fuzz(text_near(valid), |t| {
        if let Ok(g) = t.parse::<Genotype>() {
            prop_assert_eq!(g.to_string().parse::<Genotype>().unwrap(), g);
        }
        Ok(())
    });
}

#[test]
fn darts_genotypes() {
    use nasi::space::darts::{DARTS_V2, Genotype as Darts};
    use rand::SeedableRng;
    fuzz(any::<u64>(), |seed| {
        let g = Darts::random(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        prop_assert_eq!(g.to_string().parse::<Darts>().unwrap(), g);
        Ok(())
    });
    fuzz(text_near(DARTS_V2), |t| {
        if let Ok(g) = t.parse::<Darts>() {
            prop_assert_eq!(g.to_string().parse::<Darts>().unwrap(), g);
        }
        Ok(())
    });
}

#[test]
fn accuracy_tables() {
    let rows = proptest::collection::vec(
        (genotype(), 0f64..=100.0, 0f64..=100.0, 0f64..=100.0),
        1..20,
    );
    fuzz(rows, |rows| {
        let mut want = std::collections::HashMap::new();
        let mut text = String::from("arch,cifar10_test,cifar100_test,imagenet16_test\n");
        for (g, a, b, c) in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = want.entry(g) {
                slot.insert((a, b, c));
                text += &format!("{g},{a},{b},{c}\n");
            }
        }
        let t = Table::parse(&text, "fuzz").unwrap();
        prop_assert_eq!(t.len(), want.len());
        for (g, (a, b, c)) in want {
            let got = t.get(&g).unwrap();
            prop_assert_eq!((got.cifar10, got.cifar100, got.imagenet16), (a, b, c));
        }
        Ok(())
    });
    const VALID: &str = "arch,cifar10_test,cifar100_test,imagenet16_test\n|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86,52.91,26.63\n|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,93.66,70.29,44.03\n";
    fuzz(text_near(VALID), |t| {
        if let Ok(table) = Table::parse(&t, "fuzz") {
            prop_assert!(!table.is_empty());
        }
        Ok(())
    });
}

#[test]
fn config_files() {
    fuzz(valid_config(), |c| {
        let toml = toml::to_string(&c).unwrap();
        let from_toml: SearchConfig =
            serde_json::from_value(serde_json::Value::Object(file_keys(&toml, false).unwrap()))
                .unwrap();
        prop_assert_eq!(&from_toml, &c);
        let json = serde_json::to_string(&c).unwrap();
        let from_json: SearchConfig =
            serde_json::from_value(serde_json::Value::Object(file_keys(&json, true).unwrap()))
                .unwrap();
        prop_assert_eq!(&from_json, &c);
        Ok(())
    });
    const TOML: &str = "seed = 3\nsteps = 20\nbatch = 16\nchannels = 4\nnu = \"mean\"\ntau = 1.5\ndata = \"gaussian\"\nfd-scheme = \"forward\"\n";
    const JSON: &str = r#"{"seed": 3, "steps": 20, "nu": 1.5, "hard": true, "fd-radius": 0.0001}"#;
    for (valid, json) in [(TOML, false), (JSON, true)] {
        fuzz(text_near(valid), move |t| {
            if let Ok(keys) = file_keys(&t, json) {
                // Reading the keys as settings may fail (unknown key, wrong type), never panic;
                // what it accepts must also be checked by `validate` without a panic.
                if let Ok(c) = serde_json::from_value::<SearchConfig>(keys.into()) {
                    let _ = c.validate();
                }
            }
            Ok(())
        });
    }
}

#[test]
fn url_hashes() {
    for (name, _) in PRESETS {
        let c = preset(name).unwrap();
        let (back, _, notes) = decode(&encode(&c, &ViewState::default()));
        assert_eq!(back, c, "preset {name}");
        assert!(notes.is_empty(), "{notes:?}");
    }
    fuzz(valid_config(), |c| {
        let view = ViewState {
            step: Some(3),
            embed: true,
            ..ViewState::default()
        };
        let (back, v, notes) = decode(&encode(&c, &view));
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(v, view);
        prop_assert!(notes.is_empty(), "{:?}", notes);
        Ok(())
    });
    fuzz(
        text_near("#seed=3&steps=20&channels=4&data=cifar10:x&size=32&tau=0.5&autorun=1"),
        |t| {
            let (c, _, _) = decode(&t);
            // Whatever the hash, the page gets a valid config.
            prop_assert!(c.validate().is_ok());
            Ok(())
        },
    );
}

#[test]
fn trajectories_and_results() {
    let events = parse_trajectory(TINY_PRESET).unwrap();
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    assert_eq!(parse_trajectory(&text).unwrap(), events);
    fuzz(text_near(TINY_PRESET), |t| {
        if let Ok(ev) = parse_trajectory(&t) {
            prop_assert!(ev.iter().any(|e| matches!(e, SearchEvent::Step(_))));
        }
        Ok(())
    });
    let Some(SearchEvent::Finished(result)) = events.last() else {
        panic!("the preset ends with its result")
    };
    let valid: &'static str = Box::leak(
        serde_json::to_string_pretty(result)
            .unwrap()
            .into_boxed_str(),
    );
    assert_eq!(&parse_result(valid).unwrap(), result);
    fuzz(text_near(valid), |t| {
        let _ = parse_result(&t);
        Ok(())
    });
}

#[test]
fn cifar10_batches() {
    let records = proptest::collection::vec((0u8..=9, any::<u8>()), 1..4);
    fuzz(records, |recs| {
        let mut bytes = Vec::new();
        for (label, px) in &recs {
            bytes.push(*label);
            bytes.extend(std::iter::repeat_n(*px, CIFAR_RECORD - 1));
        }
        let c = Cifar10::from_bytes(bytes, Path::new("fuzz.bin")).unwrap();
        prop_assert_eq!(c.len(), recs.len());
        Ok(())
    });
    let valid: Vec<u8> = (0..2 * CIFAR_RECORD).map(|i| (i % 10) as u8).collect();
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3 * CIFAR_RECORD),
        edits().prop_map(move |e| mutate(&valid, &e)),
    ];
    fuzz(bytes, |b| {
        let n = b.len();
        if let Ok(c) = Cifar10::from_bytes(b, Path::new("fuzz.bin")) {
            prop_assert_eq!(c.len() * CIFAR_RECORD, n);
        }
        Ok(())
    });
}
