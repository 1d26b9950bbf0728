//! The K best cells of an α* table, for the training-free second stage (`--refine K`, our
//! extension of Algorithm 1): eq. 18's α* ranks *every* cell, not only its argmax, and the
//! second stage rescores the K cells it ranks highest.
//!
//! Both spaces' scores are sums over independent choices: NB201 sums α*[e][op_e] over its 6
//! edges (the log-probability of the cell under softmax(α*) up to a constant, since each edge
//! contributes one op, so the order is scale-free as the argmax is); DARTS sums
//! log softmax(α*)[edge][op] over the two kept pairs of each of its 8 nodes (normal, then
//! reduce), whose maximum is exactly `genotype()`'s pick. [`k_best`] enumerates the K largest
//! such sums without listing the space (DARTS has ~10¹⁹ cells).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// One heap entry: a score and, per row, the rank of its choice in that row's descending order.
struct Entry(f64, Vec<usize>);

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Larger score first; among equal scores the lexicographically smaller rank vector (so
    /// ties go to earlier choices, as the argmax's do).
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// The `k` largest sums Σ_r rows[r][c_r] with one choice `c_r` per row, best first, as
/// `(sum, choices)`. Ties between choices of a row go to the lower index; NaN scores sort last.
/// Best-first search over rank vectors (each successor moves one row to its next-best
/// choice): O(k·R·log(k·R)) for R rows, whatever the number of combinations.
///
/// Shapes: `rows` is R rows of any non-zero lengths; each returned vector has R choices.
pub fn k_best(rows: &[Vec<f64>], k: usize) -> Vec<(f64, Vec<usize>)> {
    if k == 0 || rows.is_empty() || rows.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    // Each row's choices in descending score order (a stable sort: ties keep the lower index).
    let order: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| {
            let mut idx: Vec<usize> = (0..r.len()).collect();
            idx.sort_by(|&a, &b| key(r[b]).total_cmp(&key(r[a])));
            idx
        })
        .collect();
    let sum = |ranks: &[usize]| -> f64 {
        ranks
            .iter()
            .enumerate()
            .map(|(r, &k)| key(rows[r][order[r][k]]))
            .sum()
    };
    let start = vec![0; rows.len()];
    let mut heap = BinaryHeap::from([Entry(sum(&start), start.clone())]);
    let mut seen = HashSet::from([start]);
    let mut out = Vec::with_capacity(k);
    while let Some(Entry(s, ranks)) = heap.pop() {
        out.push((
            s,
            ranks
                .iter()
                .enumerate()
                .map(|(r, &k)| order[r][k])
                .collect(),
        ));
        if out.len() == k {
            break;
        }
        for r in 0..rows.len() {
            if ranks[r] + 1 < rows[r].len() {
                let mut next = ranks.clone();
                next[r] += 1;
                if seen.insert(next.clone()) {
                    heap.push(Entry(sum(&next), next));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every combination, sorted as `k_best` promises.
    fn brute(rows: &[Vec<f64>]) -> Vec<(f64, Vec<usize>)> {
        let mut all = vec![(0.0, Vec::new())];
        for row in rows {
            all = all
                .into_iter()
                .flat_map(|(s, c): (f64, Vec<usize>)| {
                    row.iter().enumerate().map(move |(i, v)| {
                        let mut c = c.clone();
                        c.push(i);
                        (s + v, c)
                    })
                })
                .collect();
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        all
    }

    #[test]
    fn matches_brute_force_on_random_tables() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let rows: Vec<Vec<f64>> = (0..4)
                .map(|_| (0..rng.random_range(1..5)).map(|_| rng.random()).collect())
                .collect();
            let all = brute(&rows);
            let got = k_best(&rows, 30);
            assert_eq!(got.len(), all.len().min(30));
            for (g, b) in got.iter().zip(&all) {
                // Random reals have no ties, so the order is unique.
                assert_eq!(g.1, b.1);
                assert!((g.0 - b.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn ties_go_to_lower_choices_and_empty_inputs_give_nothing() {
        let rows = vec![vec![1.0, 1.0], vec![0.0, 0.0]];
        let got: Vec<Vec<usize>> = k_best(&rows, 4).into_iter().map(|x| x.1).collect();
        assert_eq!(got, vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        assert!(k_best(&rows, 0).is_empty());
        assert!(k_best(&[vec![1.0], vec![]], 3).is_empty());
        // NaN ranks last.
        let nan = k_best(&[vec![f64::NAN, 0.5]], 2);
        assert_eq!(nan[0].1, vec![1]);
    }
}
