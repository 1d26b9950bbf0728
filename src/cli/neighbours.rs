//! `nasi neighbours`: a diagnosis of what the training-free proxies see around one cell. The cell
//! and its 24 one-edge variants (each edge set to each of the 5 ops, the others kept) are scored
//! as standalone networks on the same weights and batch with every proxy (T̃, the exact NTK trace,
//! grad_norm, SynFlow, NASWOT, parameter count, AZ-NAS's three, TE-NAS's NTK conditioning, MeCo,
//! ZiCo, −ln GSC), and for each edge the op each proxy prefers is named: where NASI's objective
//! and the others disagree with the cell's context, edge by edge.
//! A `--nb201` table only adds each variant's accuracies to the report.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Value, json};

use super::args::NeighboursCmd;
use super::run::{check_memory, load_table, select_device};
use crate::proxies::{ProxyContext, ProxyScores};
use crate::space::{EDGES, Genotype, NUM_OPS, Op};

/// The proxies in report order, with how each reads a score (larger is preferred for all).
const PROXIES: [&str; 15] = [
    "nasi_trace",
    "exact_trace",
    "grad_norm",
    "synflow",
    "naswot",
    "params",
    "expressivity",
    "progressivity",
    "trainability",
    "conditioning",
    "meco",
    "zico",
    "gsc",
    "gsc_loss",
    "depth",
];

/// One variant's proxies: the network's scores and the ones computed beside them.
#[derive(Clone, Copy)]
struct Scored {
    scores: ProxyScores,
    params: usize,
    conditioning: f64,
    /// Convolution layers on the deepest path (NaN when the cell connects none).
    depth: f64,
}

fn column(v: &Scored, name: &str) -> f64 {
    let s = &v.scores;
    match name {
        "conditioning" => v.conditioning,
        "depth" => v.depth,
        "nasi_trace" => s.nasi_trace,
        "exact_trace" => s.exact_trace,
        "grad_norm" => s.grad_norm,
        "synflow" => s.synflow,
        "naswot" => s.naswot,
        "expressivity" => s.az.expressivity,
        "progressivity" => s.az.progressivity,
        "trainability" => s.az.trainability,
        "meco" => s.meco,
        "zico" => s.zico,
        "gsc" => s.gsc,
        "gsc_loss" => s.gsc_loss,
        _ => v.params as f64,
    }
}

pub(crate) fn neighbours(cmd: NeighboursCmd) -> Result<()> {
    let g: Genotype = cmd.genotype.parse()?;
    cmd.cfg.validate()?;
    check_memory(&cmd.cfg)?;
    let table = cmd.nb201.as_deref().map(load_table).transpose()?;
    let proxy = ProxyContext::new(&cmd.cfg, &select_device()?)?;
    let mut cache: HashMap<Genotype, Scored> = HashMap::new();
    let mut score = |v: &Genotype| {
        *cache.entry(*v).or_insert_with(|| Scored {
            scores: proxy.scores(v, cmd.exact),
            params: proxy.params(v),
            conditioning: proxy.conditioning(v),
            depth: proxy.depth(v).map_or(f64::NAN, |d| d as f64),
        })
    };
    let names: Vec<&str> = PROXIES
        .iter()
        .copied()
        .filter(|p| cmd.exact || *p != "exact_trace")
        .collect();
    let mut edges = Vec::new();
    for (e, &(to, from)) in EDGES.iter().enumerate() {
        let variants: Vec<Genotype> = Op::ALL
            .iter()
            .map(|&op| {
                let mut v = g;
                v.ops[e] = op;
                v
            })
            .collect();
        let scored: Vec<Scored> = variants.iter().map(&mut score).collect();
        let preferred: serde_json::Map<String, Value> = names
            .iter()
            .map(|&name| {
                // The first of equal values, in op order (the depth often ties).
                let best = (0..NUM_OPS)
                    .filter(|&k| column(&scored[k], name).is_finite())
                    .reduce(|b, k| {
                        if column(&scored[k], name) > column(&scored[b], name) {
                            k
                        } else {
                            b
                        }
                    });
                (
                    name.to_string(),
                    best.map_or(Value::Null, |k| json!(Op::ALL[k].name())),
                )
            })
            .collect();
        let ops: Vec<Value> = variants
            .iter()
            .zip(&scored)
            .map(|(v, scored)| {
                let scores: serde_json::Map<String, Value> = names
                    .iter()
                    .map(|&n| (n.to_string(), json!(column(scored, n))))
                    .collect();
                json!({"op": v.ops[e].name(), "genotype": v.to_string(), "scores": scores,
                       "nb201": table.as_ref().and_then(|t| t.get(v))})
            })
            .collect();
        edges.push(
            json!({"edge": format!("{to}←{from}"), "current": g.ops[e].name(),
                          "ops": ops, "preferred": preferred}),
        );
    }
    if cmd.json {
        println!(
            "{}",
            json!({"genotype": g.to_string(), "config": cmd.cfg, "edges": edges})
        );
        return Ok(());
    }
    println!("cell {g}");
    println!(
        "each edge set to each op, the rest kept; * marks the op each proxy prefers (the first of equal ones), > the cell's own"
    );
    for edge in &edges {
        println!(
            "\nedge {} (now {})",
            edge["edge"].as_str().unwrap_or(""),
            edge["current"].as_str().unwrap_or("")
        );
        let mut head = format!("  {:<14}", "op");
        for n in &names {
            head += &format!(" {n:>14}");
        }
        if table.is_some() {
            head += &format!(" {:>8}", "C10");
        }
        println!("{head}");
        for op in edge["ops"].as_array().into_iter().flatten() {
            let name = op["op"].as_str().unwrap_or("");
            let own = if name == edge["current"] { ">" } else { " " };
            let mut line = format!("{own} {name:<14}");
            for n in &names {
                let v = op["scores"][*n].as_f64().unwrap_or(f64::NAN);
                let star = if edge["preferred"][*n] == name {
                    "*"
                } else {
                    " "
                };
                line += &format!(" {:>13}{star}", format!("{v:.4e}"));
            }
            if let Some(a) = op["nb201"]["cifar10"].as_f64() {
                line += &format!(" {a:>8.2}");
            }
            println!("{line}");
        }
    }
    Ok(())
}
