//! The `nasi` binary end to end: flags, run folder, JSON output, errors, determinism.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const TINY: &[&str] = &[
    "--steps",
    "3",
    "--batch",
    "8",
    "--channels",
    "4",
    "--size",
    "8",
];

fn table() -> String {
    format!(
        "{}/../shared/data/nb201_test_acc_200ep.csv",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn nasi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nasi"))
        .args(args)
        .output()
        .expect("runs")
}

/// Runs `nasi` with `args`, asserts success (showing stderr if not) and parses stdout as JSON.
fn nasi_json(args: &[&str]) -> Value {
    let o = nasi(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nasi-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn search_json(extra: &[&str], out: &Path) -> Value {
    search_json_with(TINY, extra, out)
}

fn search_json_with(base: &[&str], extra: &[&str], out: &Path) -> Value {
    let mut args = vec!["search", "--json", "--out", out.to_str().unwrap()];
    args.extend_from_slice(base);
    args.extend_from_slice(extra);
    let o = nasi(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object on stdout: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn search_prints_json_and_writes_a_run_folder() {
    let dir = tmp("search");
    let t = table();
    let v = search_json(&["--seed", "7", "--nb201", &t], &dir);
    let g: nasi::space::Genotype = v["genotype"].as_str().unwrap().parse().unwrap();
    let alpha = v["alpha"].as_array().unwrap();
    assert_eq!(alpha.len(), 6);
    assert!(alpha.iter().all(|r| r.as_array().unwrap().len() == 5));
    assert_eq!(v["steps"], 3);
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    for k in ["cifar10", "cifar100", "imagenet16"] {
        let a = v["nb201"][k].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&a), "{k} = {a}");
    }
    // The run folder: resolved config, one event per line, result and drawing.
    let cfg: nasi::config::SearchConfig =
        toml::from_str(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
    assert_eq!((cfg.seed, cfg.steps, cfg.channels), (7, 3, 4));
    let lines: Vec<Value> = std::fs::read_to_string(dir.join("trajectory.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3 + 2);
    assert_eq!(lines[0]["type"], "started");
    assert!(
        lines[1..4]
            .iter()
            .enumerate()
            .all(|(i, l)| l["type"] == "step" && l["data"]["step"] == i + 1)
    );
    assert_eq!(lines[4]["type"], "finished");
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["genotype"], v["genotype"]);
    // The default stage scores on three weight draws (docs/results.md).
    assert_eq!(v["refined"]["draws"], 3, "the default draws");
    // The drawing is of the final pick: the second stage's (on by default) or the argmax's.
    let pick = v["refined"]["genotype"]
        .as_str()
        .unwrap_or(&g.to_string())
        .to_string();
    assert_eq!(v["refined"]["genotype"], result["refined"]["genotype"]);
    let svg = std::fs::read_to_string(dir.join("cell.svg")).unwrap();
    assert!(svg.contains(&pick), "{pick}");
}

/// `--refine K`: the K cells α* ranks highest (Σ_e α*[e][op_e], recomputed here from the printed
/// α*) and the cells the climb added, each scored by the proxies, and the pick is the best
/// Σ_p ln(rank_p/n) over those n, recomputed here with ranks counted independently of the
/// crate's code.
#[test]
fn the_second_stage_rescores_the_cells_alpha_ranks_highest() {
    let dir = tmp("refine");
    let k = 12;
    let ks = k.to_string();
    // One weight draw: the aggregate is then Σ_p ln(rank_p/n) of the printed scores themselves
    // (with the default three, each draw ranks on its own and the scores printed are means;
    // `refine::tests::weight_draws_average_each_draws_own_ranks` checks that).
    let v = search_json(
        &["--seed", "1", "--refine", &ks, "--refine-draws", "1"],
        &dir,
    );
    let r = &v["refined"];
    let cands = r["candidates"].as_array().unwrap();
    // α*'s K and the cells the default climb (`--refine-climb 8`) added, one pool.
    let climbed = r["climbed"].as_u64().unwrap() as usize;
    assert!(climbed > 0, "the default stage climbs");
    let n = k + climbed;
    assert_eq!(cands.len(), n);
    assert_eq!(
        cands[0]["genotype"], v["genotype"],
        "the argmax is the first candidate"
    );
    let alpha: Vec<Vec<f64>> = serde_json::from_value(v["alpha"].clone()).unwrap();
    let score = |c: &Value| -> f64 {
        let g: nasi::space::Genotype = c["genotype"].as_str().unwrap().parse().unwrap();
        assert!(
            !g.ops.contains(&nasi::space::Op::None),
            "`none` is left out by default"
        );
        g.indices()
            .iter()
            .enumerate()
            .map(|(e, &o)| alpha[e][o])
            .sum()
    };
    let s: Vec<f64> = cands.iter().map(score).collect();
    // α* is printed as f32 values; the crate sums them in f64 as here.
    assert!(s.windows(2).all(|w| w[0] >= w[1] - 1e-9), "α* order: {s:?}");
    let names: Vec<&str> = r["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["naswot", "params", "gsc", "depth"],
        "the default proxies"
    );
    let mut agg = vec![0.0f64; n];
    for p in 0..names.len() {
        let col: Vec<f64> = cands
            .iter()
            .map(|c| c["scores"][p].as_f64().unwrap())
            .collect();
        for i in 0..n {
            // Average rank among ties, 1 = lowest value.
            let below = col.iter().filter(|&&x| x < col[i]).count() as f64;
            let equal = col.iter().filter(|&&x| x == col[i]).count() as f64;
            agg[i] += ((below + (equal + 1.0) / 2.0) / n as f64).ln();
        }
    }
    for (c, a) in cands.iter().zip(&agg) {
        assert!((c["aggregate"].as_f64().unwrap() - a).abs() < 1e-9);
    }
    let pick = r["pick"].as_u64().unwrap() as usize;
    let best = agg.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(agg[pick], best);
    assert!(
        agg[..pick].iter().all(|&a| a < best),
        "ties go to the better α* rank"
    );
    assert_eq!(r["genotype"], cands[pick]["genotype"]);
    // The printed line is the final pick; `--refine 0` is Algorithm 1 alone.
    let mut args = vec!["search", "--seed", "1", "--refine", &ks, "--out"];
    let d2 = tmp("refine-line");
    args.push(d2.to_str().unwrap());
    args.extend_from_slice(TINY);
    let o = nasi(&args);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        r["genotype"].as_str().unwrap()
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("second stage"));
    let off = search_json(&["--seed", "1", "--refine", "0"], &tmp("refine-off"));
    assert!(off.get("refined").is_none());
    assert_eq!(
        off["alpha"], v["alpha"],
        "the second stage does not change the search"
    );
}

#[test]
fn same_seed_same_genotype_and_trajectory() {
    let (a, b) = (tmp("det-a"), tmp("det-b"));
    let va = search_json(&["--seed", "3"], &a);
    let vb = search_json(&["--seed", "3"], &b);
    assert_eq!(va["genotype"], vb["genotype"]);
    assert_eq!(va["alpha"], vb["alpha"]);
    let strip = |d: &Path| -> Vec<Value> {
        std::fs::read_to_string(d.join("trajectory.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                if let Some(o) = v["data"].as_object_mut() {
                    o.remove("elapsed_ms");
                    o.remove("seconds");
                    if let Some(r) = o.get_mut("refined").and_then(Value::as_object_mut) {
                        r.remove("seconds");
                    }
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    let vc = search_json(&["--seed", "4"], &tmp("det-c"));
    assert_ne!(
        va["alpha"], vc["alpha"],
        "another seed gives another trajectory"
    );
}

/// Runs `nasi search` with a config file holding `file_text` and the given flags, and returns the
/// resolved config the run folder records.
fn resolved_config(name: &str, file_text: &str, flags: &[&str]) -> nasi::config::SearchConfig {
    let dir = tmp(name);
    let file = dir.join("nasi.toml");
    std::fs::write(&file, file_text).unwrap();
    let out = dir.join("run");
    let mut args = vec!["search", "--config", file.to_str().unwrap()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--out", out.to_str().unwrap(), "--quiet"]);
    let o = nasi(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap()
}

#[test]
fn config_file_under_command_line_flags() {
    let flags = [
        "--seed",
        "5",
        "--batch",
        "4",
        "--channels",
        "2",
        "--size",
        "8",
    ];
    let cfg = resolved_config("cfgfile", "seed = 3\nsteps = 2\ntau = 0.5\n", &flags);
    assert_eq!((cfg.seed, cfg.steps, cfg.tau, cfg.batch), (5, 2, 0.5, 4));
}

#[test]
fn preset_under_config_file_under_flags() {
    // tiny = steps 10, batch 8, channels 4, size 8; the file sets only batch and seed.
    let flags = ["--preset", "tiny", "--seed", "5", "--steps", "2"];
    let cfg = resolved_config("preset", "batch = 4\nseed = 3\n", &flags);
    assert_eq!(
        (cfg.seed, cfg.steps, cfg.batch, cfg.channels, cfg.size),
        (5, 2, 4, 4, 8)
    );
    // reproduce takes the same layers.
    let t = table();
    let v = nasi_json(&[
        "reproduce",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--seeds",
        "1",
        "--json",
        "--nb201",
        &t,
    ]);
    assert_eq!(v["config"]["channels"], 4);
    assert_eq!(v["config"]["steps"], 2);
    assert_eq!(v["runs"][0]["seed"], 1);
    assert_eq!(
        nasi::config::preset("paper").unwrap().steps,
        4 * nasi::config::SearchConfig::default().steps,
        "the paper preset is NASI-4T"
    );
}

#[test]
fn cifar_batches_from_a_binary_file() {
    let dir = tmp("cifar");
    let mut bytes = Vec::new();
    for i in 0..20u32 {
        bytes.push((i % 10) as u8);
        bytes.extend((0..3072u32).map(|j| ((i * 31 + j * 7) % 256) as u8));
    }
    let f = dir.join("data_batch_1.bin");
    std::fs::write(&f, bytes).unwrap();
    for spec in ["cifar10", "random-labels"] {
        let data = format!("{spec}:{}", f.display());
        let base = [
            "--steps",
            "2",
            "--batch",
            "4",
            "--channels",
            "2",
            "--size",
            "32",
        ];
        let v = search_json_with(&base, &["--data", &data], &dir.join(spec));
        assert!(
            v["genotype"]
                .as_str()
                .unwrap()
                .parse::<nasi::space::Genotype>()
                .is_ok()
        );
        assert_eq!(v["config"]["data"], data);
    }
}

#[test]
fn bad_input_gets_one_line_and_exit_code_2() {
    let dir = tmp("bad");
    let bad_csv = dir.join("bad.csv");
    std::fs::write(
        &bad_csv,
        "arch,cifar10_test,cifar100_test,imagenet16_test\n|nope~0|,1,2,3\n",
    )
    .unwrap();
    let bad_bin = dir.join("data_batch_1.bin");
    std::fs::write(&bad_bin, [1u8; 100]).unwrap();
    let g = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let cifar = format!("cifar10:{}", bad_bin.display());
    let table_path = table();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["search", "--batch", "0"], "batch must be at least 1"),
        (vec!["search", "--steps", "0"], "steps must be at least 1"),
        (
            vec!["search", "--tau", "0"],
            "tau must be a positive number",
        ),
        (
            vec!["search", "--tau", "-1"],
            "tau must be a positive number",
        ),
        (
            vec!["search", "--mu", "-2"],
            "mu must be a non-negative number",
        ),
        (
            vec!["search", "--loss", "l1"],
            "invalid value 'l1' for '--loss <LOSS>' [possible values: ce, mse]",
        ),
        (
            vec!["search", "--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
        (
            vec!["search", "--relinearise", "60"],
            "relinearise must be a number in 0..=50",
        ),
        (
            vec!["search", "--space", "darts", "--init", "kaiming"],
            "init is NB201's diagnostic",
        ),
        (
            vec!["search", "--space", "darts", "--bn-affine", "true"],
            "bn-affine is NB201's diagnostic",
        ),
        (
            vec!["search", "--nb201", "/no/such/table.csv"],
            "cannot read NB201 table",
        ),
        (
            vec!["search", "--nb201", bad_csv.to_str().unwrap()],
            "line 2",
        ),
        (
            vec!["search", "--data", &cifar, "--size", "32"],
            "not a positive multiple of 3073",
        ),
        (
            vec!["search", "--preset", "huge"],
            "unknown preset `huge` (expected one of default, paper, tiny, batch1, darts, darts-tiny)",
        ),
        (
            vec!["reproduce", "--preset", "huge", "--nb201", &table_path],
            "unknown preset `huge`",
        ),
        (
            vec!["score", "|nor_conv_3x3~0|+|oops|"],
            "malformed NB201 string",
        ),
        (
            vec!["lookup", "|x~0|", "--nb201", bad_csv.to_str().unwrap()],
            "malformed NB201 string",
        ),
        (
            vec!["lookup", g, "--nb201", bad_csv.to_str().unwrap()],
            "malformed NB201 table",
        ),
        // Memory, refused from the shapes before anything is allocated.
        (
            vec!["search", "--batch", "1000000", "--steps", "1"],
            "needs about 444 GB of memory; this machine has",
        ),
        (
            vec![
                "bench",
                "--channels",
                "512",
                "--size",
                "256",
                "--batch",
                "64",
            ],
            "lower --batch or --channels (--force tries anyway)",
        ),
        // 10¹¹ seeds are walked one by one, not allocated (the memory check comes first).
        (
            vec![
                "reproduce",
                "--seeds",
                "0-99999999999",
                "--batch",
                "1000000",
                "--nb201",
                &table_path,
            ],
            "needs about",
        ),
        (
            vec!["correlate", "--sample", "20000", "--nb201", &table_path],
            "more than the 15625 cells of NAS-Bench-201",
        ),
        (
            vec!["search", "--seed", "18446744073709551615"],
            "seed must be at most 9223372036854775807",
        ),
        (
            vec![
                "darts",
                "Genotype(normal=[('none', 0)], normal_concat=[2, 3, 4, 5])",
            ],
            "malformed DARTS genotype: `reduce` is missing",
        ),
    ];
    let mut cases = cases.to_vec();
    if !cfg!(feature = "wgpu") && !cfg!(feature = "cuda") {
        cases.push((
            vec!["search", "--device", "wgpu", "--preset", "tiny"],
            "this build has no wgpu backend: build with `--features wgpu` (or use --device cpu)",
        ));
        cases.push((
            vec!["--device", "cuda:1", "search", "--preset", "tiny"],
            "this build has no cuda backend",
        ));
    }
    for (args, needle) in cases {
        let o = nasi(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: one line, got {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn neighbours_scores_every_one_edge_variant_and_names_each_proxys_choice() {
    let g =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    let mut args = vec!["neighbours", g, "--json", "--nb201"];
    let t = table();
    args.push(&t);
    args.extend_from_slice(TINY);
    let v = nasi_json(&args);
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    let own: Vec<&Value> = edges
        .iter()
        .map(|e| {
            let ops = e["ops"].as_array().unwrap();
            assert_eq!(ops.len(), 5);
            // The preferred op is the argmax of that proxy's column, the first of equal ones (the
            // depth ties on most edges).
            for p in [
                "nasi_trace",
                "grad_norm",
                "synflow",
                "naswot",
                "params",
                "depth",
            ] {
                let f = |o: &Value| o["scores"][p].as_f64().unwrap_or(f64::NAN);
                let best = ops
                    .iter()
                    .filter(|o| f(o).is_finite())
                    .reduce(|b, o| if f(o) > f(b) { o } else { b })
                    .unwrap();
                assert_eq!(e["preferred"][p], best["op"], "{} {p}", e["edge"]);
            }
            let own = ops.iter().find(|o| o["op"] == e["current"]).unwrap();
            assert_eq!(
                own["genotype"], g,
                "the cell itself is one of each edge's variants"
            );
            assert!(own["nb201"]["cifar10"].as_f64().unwrap() > 0.0);
            own
        })
        .collect();
    // The cell itself is scored once: the same figures on every edge.
    assert!(own.windows(2).all(|w| w[0]["scores"] == w[1]["scores"]));
}

#[test]
fn darts_counts_a_pasted_genotype_as_the_reference() {
    let text = nasi::space::darts::DARTS_V2.replace('\'', "\"");
    let v = nasi_json(&["darts", &text, "--json"]);
    assert_eq!(v["genotype"], nasi::space::darts::DARTS_V2);
    assert_eq!(v["params"], 3_349_342);
    let v = nasi_json(&[
        "darts",
        &text,
        "--json",
        "--channels",
        "16",
        "--layers",
        "8",
    ]);
    assert!(v["params"].as_u64().unwrap() < 1_000_000);
}

/// A DARTS search end to end: the JSON's genotype is DARTS's text, its α is the two cells'
/// `[14][8]` tables, DARTS's rule on that α gives the genotype (here and, where Python is
/// installed, in `tests/reference/check_darts_genotype.py`, which also `eval`s the text as
/// `genotypes.py` would), the parameter count is the evaluation network's, the run folder draws
/// both cells, and the same seed gives the same search.
#[test]
fn a_darts_search_prints_a_genotype_that_darts_reads_and_derives() {
    use nasi::space::darts::Genotype;
    let run = |out: &Path| {
        nasi_json(&[
            "search",
            "--space",
            "darts",
            "--preset",
            "darts-tiny",
            "--steps",
            "3",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let (a, b) = (tmp("darts-a"), tmp("darts-b"));
    let v = run(&a);
    assert_eq!(v["space"], "darts");
    assert!(
        v.get("nb201").is_none() && v.get("op_indices").is_none(),
        "{v}"
    );
    let g: Genotype = v["genotype"].as_str().unwrap().parse().unwrap();
    let alpha: nasi::space::ArchTable = serde_json::from_value(json_rows(&v["alpha"])).unwrap();
    assert_eq!(alpha.shape(), [28, 8]);
    assert_eq!(
        Genotype::derive(&alpha, 1.0),
        g,
        "the rule on the printed α"
    );
    let count = nasi_json(&["darts", v["genotype"].as_str().unwrap(), "--json"]);
    assert_eq!(v["params"], count["params"]);
    let svg = std::fs::read_to_string(a.join("cell.svg")).unwrap();
    assert!(svg.contains(r#"data-cell="normal""#) && svg.contains(r#"data-cell="reduce""#));
    let w = run(&b);
    assert_eq!((&v["genotype"], &v["alpha"]), (&w["genotype"], &w["alpha"]));
    let python = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/check_darts_genotype.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = python {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(v.to_string().as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && said.starts_with("ok:"), "{said}");
    } else {
        eprintln!("python3 is not installed: the Python check of the genotype is skipped");
    }
}

/// T̃ of a `score --json` is positive and at most its bound 2·tr(Θ)/b (eq. 11).
fn assert_trace_within_bound(v: &Value, b: usize) {
    let (t, tr) = (
        v["trace"].as_f64().unwrap(),
        v["exact_trace"].as_f64().unwrap(),
    );
    assert!(
        t > 0.0 && t <= 2.0 * tr / b as f64,
        "T~ {t} within 2·tr/b of {tr}"
    );
}

/// `{normal, reduce}` as one list of 28 rows.
fn json_rows(v: &Value) -> Value {
    let mut rows = v["normal"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 14);
    rows.extend(v["reduce"].as_array().unwrap().iter().cloned());
    Value::Array(rows)
}

#[test]
fn a_darts_genotype_is_scored_and_mismatched_spaces_are_named() {
    let v = nasi_json(&[
        "score",
        "--space",
        "darts",
        nasi::space::darts::DARTS_V2,
        "--batch",
        "4",
        "--json",
    ]);
    assert_eq!(v["params"], 3_349_342);
    assert_eq!(v["proxy"]["cells"], 5, "the darts-tiny proxy size");
    assert_trace_within_bound(&v, 4);
    for (args, says) in [
        (
            vec!["score", nasi::space::darts::DARTS_V2],
            "a darts genotype but the space is nb201: add --space darts",
        ),
        (
            vec!["search", "--space", "darts", "--cells", "2"],
            "at least 3 cells",
        ),
        (
            vec!["search", "--space", "darts", "--channels", "5"],
            "must be even",
        ),
        (
            vec!["search", "--preset", "darts-tiny", "--nb201", "x.csv"],
            "it needs --space nb201",
        ),
    ] {
        let o = nasi(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

/// `--exclude-none` (default true) leaves `none` out of NB201's final argmax; `false` is the
/// paper's plain argmax. On the tiny shape both runs see the same α, and only the none edges of
/// the plain pick change.
/// `--relinearise S` runs 2T steps, the second T around the first pass's cell, and says so in
/// the result and the trajectory; the diagnostics' flags reach the run's config.
#[test]
fn a_relinearised_search_records_both_passes() {
    let dir = tmp("relin");
    let v = search_json(
        &["--relinearise", "4", "--loss", "mse", "--init", "kaiming"],
        &dir,
    );
    let t = v["config"]["steps"].as_u64().unwrap();
    assert_eq!(v["steps"].as_u64().unwrap(), 2 * t);
    assert_eq!(v["config"]["relinearise"], 4.0);
    assert_eq!(v["config"]["loss"], "mse");
    assert_eq!(v["config"]["init"], "kaiming");
    let run = PathBuf::from(v["run_dir"].as_str().unwrap());
    let traj = std::fs::read_to_string(run.join("trajectory.jsonl")).unwrap();
    let steps: Vec<Value> = traj
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "step")
        .collect();
    assert_eq!(steps.len() as u64, 2 * t);
    assert_eq!(
        v["first_pass"],
        steps[t as usize - 1]["data"]["genotype"],
        "the first pass ends with step T's cell"
    );
    let plain = search_json(&[], &tmp("relin-plain"));
    assert!(plain.get("first_pass").is_none());
}

#[test]
fn exclude_none_changes_only_the_none_edges_of_the_pick() {
    let (a, b) = (tmp("none-a"), tmp("none-b"));
    let plain = search_json(&["--exclude-none", "false", "--seed", "3"], &a);
    let without = search_json(&["--seed", "3"], &b);
    assert_eq!(plain["alpha"], without["alpha"], "the same search");
    assert_eq!(without["config"]["exclude-none"], true);
    let (p, w): (Vec<u64>, Vec<u64>) = (
        serde_json::from_value(plain["op_indices"].clone()).unwrap(),
        serde_json::from_value(without["op_indices"].clone()).unwrap(),
    );
    assert!(p.contains(&0) && !w.contains(&0), "{p:?} vs {w:?}");
    for (x, y) in p.iter().zip(&w) {
        assert!(x == y || *x == 0, "{p:?} vs {w:?}");
    }
}

/// The page's bundled table (`www/nb201.bin`) holds exactly the CSV's rows, in the CSV's order
/// (NB201's own index), to the CSV's rounding of 0.01; `nasi pack-nb201` makes it byte for byte
/// from the CSV; a damaged asset or a partial table is refused.
#[test]
fn the_bundled_table_is_the_csv_to_its_rounding_in_nb201_order() {
    use nasi::space::nb201::table::Table;
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/www/nb201.bin")).unwrap();
    let bundled = Table::from_bundle(&bytes).unwrap();
    let csv = Table::load(Path::new(&table())).unwrap();
    assert_eq!(bundled.len(), csv.len());
    let mut worst = 0f64;
    for ((g, a), (h, b)) in bundled.iter().zip(csv.iter()) {
        assert_eq!(g, h, "same cell at the same index");
        for (x, y) in [
            (a.cifar10, b.cifar10),
            (a.cifar100, b.cifar100),
            (a.imagenet16, b.imagenet16),
        ] {
            worst = worst.max((x - y).abs());
        }
    }
    // Rounded to hundredths: at most 0.005 off (measured: 0.005).
    assert!(worst <= 0.005 + 1e-9, "{worst}");
    // NB201's index of its best CIFAR-10 cells (the data README: 6111 and 13714).
    let best: nasi::space::Genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|".parse().unwrap();
    assert_eq!(bundled.position(&best), Some(6111));
    assert_eq!(bundled.cifar10_rank(&best), Some(1));
    let out = tmp("bundle").join("nb201.bin");
    let o = nasi(&["pack-nb201", &table(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        bytes,
        "the committed asset is the CSV's"
    );
    for bad in [&bytes[..bytes.len() - 1], &bytes[1..], b"NB2"] {
        let e = Table::from_bundle(bad).unwrap_err().to_string();
        assert!(e.contains("bundled NB201 table"), "{e}");
    }
    let partial = tmp("bundle").join("part.csv");
    let text = std::fs::read_to_string(table()).unwrap();
    std::fs::write(
        &partial,
        text.lines().take(10).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let o = nasi(&[
        "pack-nb201",
        partial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has 9 cells"));
}

#[test]
fn lookup_and_score_report_a_cell() {
    let g = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let v = nasi_json(&["lookup", g, "--nb201", &table(), "--json"]);
    assert!((v["nb201"]["cifar10"].as_f64().unwrap() - 94.3633).abs() < 0.01);
    let v = nasi_json(&[
        "score",
        g,
        "--batch",
        "4",
        "--channels",
        "2",
        "--size",
        "8",
        "--json",
    ]);
    assert_trace_within_bound(&v, 4);
    assert_eq!(v["eigenvalues"].as_array().unwrap().len(), 4);
}

#[test]
fn reproduce_correlate_and_bench_print_their_json() {
    let t = table();
    let robot = format!(
        "{}/../shared/data/nb201_test_acc_200ep_robot.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut args = vec![
        "reproduce",
        "--seeds",
        "0-1",
        "--json",
        "--nb201",
        &t,
        "--nb201",
        &robot,
    ];
    args.extend_from_slice(TINY);
    let v = nasi_json(&args);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["seed"], i);
        assert!(
            r["genotype"]
                .as_str()
                .unwrap()
                .parse::<nasi::space::Genotype>()
                .is_ok()
        );
        assert!(r["seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(r["nb201_by_table"].as_array().unwrap().len(), 2);
    }
    for k in ["cifar10", "cifar100", "imagenet16"] {
        let accs: Vec<f64> = runs
            .iter()
            .map(|r| r["nb201"][k].as_f64().unwrap())
            .collect();
        let mean = (accs[0] + accs[1]) / 2.0;
        assert!((v["mean"][k].as_f64().unwrap() - mean).abs() < 1e-9, "{k}");
        assert!(
            (v["std"][k].as_f64().unwrap() - (accs[0] - accs[1]).abs() / 2.0).abs() < 1e-9,
            "{k}"
        );
    }

    let v = nasi_json(&[
        "correlate",
        "--sample",
        "20",
        "--seed",
        "3",
        "--batch",
        "4",
        "--channels",
        "2",
        "--size",
        "8",
        "--exact",
        "--json",
        "--nb201",
        &t,
    ]);
    assert_eq!(v["sample"], 20);
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 20);
    let column = |f: &dyn Fn(&Value) -> f64| cells.iter().map(f).collect::<Vec<f64>>();
    let score = |p: &'static str| column(&move |c: &Value| c["scores"][p].as_f64().unwrap());
    // T̃ estimates the exact NTK trace (eq. 12's bound): the two rank the cells alike.
    // Measured ρ = 0.84 on these 20 cells; swapped or mislabelled columns would not give it.
    let rho = nasi::stats::spearman(&score("nasi_trace"), &score("exact_ntk_trace"));
    assert!(rho > 0.5, "ρ(T̃, exact trace) = {rho}");
    for p in [
        "nasi_trace",
        "grad_norm",
        "synflow",
        "naswot",
        "exact_ntk_trace",
    ] {
        for k in ["cifar10", "cifar100", "imagenet16"] {
            // The reported ρ is that of this proxy's column against this dataset's column.
            let acc = column(&|c: &Value| c["nb201"][k].as_f64().unwrap());
            let want = nasi::stats::spearman(&score(p), &acc);
            let got = v["proxies"][p][k]["spearman"].as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{p} {k}: {got} vs {want}");
            let tau = v["proxies"][p][k]["kendall"].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&tau), "{p} {k} τ = {tau}");
        }
    }

    // The same cells scored in two shards, the second cut off mid-line and resumed, then
    // merged: the same correlations as one run.
    let dir = tmp("shards");
    let small = [
        "--sample",
        "20",
        "--seed",
        "3",
        "--batch",
        "4",
        "--channels",
        "2",
        "--size",
        "8",
    ];
    let file = |i: usize| {
        dir.join(format!("s{i}.jsonl"))
            .to_str()
            .unwrap()
            .to_string()
    };
    for i in 1..=2 {
        let (shard, f) = (format!("{i}/2"), file(i));
        let mut args = vec!["correlate", "--shard", &shard, "--out", &f];
        args.extend_from_slice(&small);
        let o = nasi(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let full = std::fs::read_to_string(file(2)).unwrap();
    assert_eq!(full.lines().count(), 1 + 10, "a header and every 2nd cell");
    std::fs::write(file(2), &full[..full.len() - 30]).unwrap();
    let (f2, mut args) = (
        file(2),
        vec!["correlate", "--shard", "2/2", "--json", "--out"],
    );
    args.push(&f2);
    args.extend_from_slice(&small);
    let resumed = nasi_json(&args);
    assert_eq!(
        (resumed["scored"].as_u64(), resumed["new"].as_u64()),
        (Some(10), Some(1))
    );
    assert_eq!(
        std::fs::read_to_string(file(2)).unwrap(),
        full,
        "resumed to the same file"
    );
    let (f1, f2) = (file(1), file(2));
    let mut whole = vec!["correlate", "--json", "--nb201", &t];
    whole.extend_from_slice(&small);
    let one = nasi_json(&whole);
    let merged = nasi_json(&["correlate", "--merge", &f1, &f2, "--json", "--nb201", &t]);
    assert_eq!(merged["proxies"], one["proxies"]);
    assert!(one["proxies"]["ensemble(naswot+params+gsc+depth)"]["cifar10"]["spearman"].is_f64());
    // The cell the parameter count ranks first has the most 3×3 convolutions among the scored.
    let top = one["proxies"]["params"]["top"]["genotype"]
        .as_str()
        .unwrap();
    let n3 = |g: &str| g.matches("nor_conv_3x3").count();
    let cells = one["cells"].as_array().unwrap();
    let most = cells
        .iter()
        .map(|c| n3(c["genotype"].as_str().unwrap()))
        .max();
    assert_eq!(Some(n3(top)), most, "{top}");
    // The depth column is computed from each genotype: the cell it ranks first is as deep as the
    // deepest scored.
    let depth = |g: &str| g.parse::<nasi::space::Genotype>().unwrap().depth();
    let top = one["proxies"]["depth"]["top"]["genotype"].as_str().unwrap();
    let deepest = cells
        .iter()
        .map(|c| depth(c["genotype"].as_str().unwrap()))
        .max()
        .flatten();
    assert_eq!(depth(top), deepest, "{top}");
    let o = nasi(&["correlate", "--merge", &f1, "--nb201", &t]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("10 are missing"));
    let mut other = vec!["correlate", "--shard", "1/2", "--out", &f1, "--seed", "4"];
    other.extend_from_slice(&small[..2]);
    let o = nasi(&other);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other settings"));
    // A file of an older nasi, or a JSON line that is no scores header, is refused in one line.
    let old = full.replacen("\"nasi_scores\":4", "\"nasi_scores\":3", 1);
    assert_ne!(old, full, "the header names its version");
    for (text, says) in [
        (old, "another nasi"),
        ("{}\n".to_string(), "not a scores file"),
    ] {
        std::fs::write(file(2), text).unwrap();
        let o = nasi(&["correlate", "--merge", &f2, "--nb201", &t]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    let mut args = vec!["bench", "--repeats", "2", "--json"];
    args.extend_from_slice(TINY);
    let v = nasi_json(&args);
    assert!(v["sec_per_step"].as_f64().unwrap() > 0.0);
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
}
