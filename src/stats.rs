//! Rank statistics and moments for reporting: Spearman's ρ and Kendall's τ-b of a proxy against
//! benchmark accuracy (`nasi correlate`), mean ± std over seeds (`nasi reproduce`).

/// Average ranks (ties share the mean rank), 1-based.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ: Pearson correlation of average ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Pearson correlation of two equally long samples.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    cov / (va * vb).sqrt()
}

/// Kendall's τ-b (ties in either variable corrected), O(n²).
pub fn kendall_tau_b(a: &[f64], b: &[f64]) -> f64 {
    let (mut conc, mut disc, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ta += 1.0;
            } else if db == 0.0 {
                tb += 1.0;
            } else if (da > 0.0) == (db > 0.0) {
                conc += 1.0;
            } else {
                disc += 1.0;
            }
        }
    }
    (conc - disc) / ((conc + disc + ta) * (conc + disc + tb)).sqrt()
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_statistics_match_hand_computed_values() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&a, &[5.0, 6.0, 7.0, 8.0, 7.5]) - 0.9).abs() < 1e-12);
        assert!((spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // τ-b with one tie in b: concordant 8, discordant 1, tied in b 1 → 7/√(9·10).
        let t = kendall_tau_b(&a, &[1.0, 3.0, 2.0, 4.0, 4.0]);
        assert!((t - 7.0 / 90f64.sqrt()).abs() < 1e-12, "{t}");
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
    }
}
