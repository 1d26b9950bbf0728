//! The page's landscape on the real NAS-Bench-201 table: ranks, the best cell and the exact
//! random-search baseline (against brute force on a slice of the table).

use nasi::landscape::{Dataset, Landscape, expected_best_of_random};
use nasi::space::nb201::table::Table;

fn table() -> Table {
    Table::load(std::path::Path::new(&format!(
        "{}/../shared/data/nb201_test_acc_200ep.csv",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap()
}

#[test]
fn ranks_best_cells_and_the_random_baseline_on_the_table() {
    let t = table();
    let l = Landscape::new(&t, Dataset::Cifar10);
    assert_eq!(l.points.len(), 15_625);
    // The data README: best CIFAR-10 94.37333 (two cells), mean 87.06.
    let best = l.best().unwrap();
    assert!((best.accuracy - 94.37333).abs() < 1e-4);
    assert_eq!(l.rank(&best.genotype), Some((1, 100.0)));
    let mean = l.random_search(&[1])[0].1;
    assert!((mean - 87.06).abs() < 0.01, "n = 1 is the mean: {mean}");
    let all = l.random_search(&[15_625])[0].1;
    assert!((all - best.accuracy).abs() < 1e-9);
    // The worst cells (the ~2 % that do not train, tied near 10 %) share one rank near the end,
    // and are at least as good as only their ties (measured: rank 15,285, 2.18 %).
    let worst = l
        .points
        .iter()
        .min_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
        .unwrap();
    let (r, pct) = l.rank(&worst.genotype).unwrap();
    assert!(r > 15_000 && pct < 5.0, "{r} {pct}");
    let ties = l
        .points
        .iter()
        .filter(|p| p.accuracy == worst.accuracy)
        .count();
    assert_eq!(r, 15_625 - ties + 1);
    // Parameters grow with convolutions: the all-3×3 cell is the largest network.
    let big: nasi::space::Genotype =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let max = l.points.iter().map(|p| p.params).max().unwrap();
    assert_eq!(l.point(&big).unwrap().params, max);
    assert!(
        Landscape::new(&t, Dataset::Imagenet16)
            .best()
            .unwrap()
            .accuracy
            > 47.3
    );
}

#[test]
fn the_expectation_equals_brute_force_over_all_triples_of_a_slice() {
    let t = table();
    let mut v: Vec<f64> = t.iter().take(40).map(|(_, a)| a.cifar100).collect();
    v.sort_by(f64::total_cmp);
    let mut sum = 0.0;
    let mut count = 0.0;
    for i in 0..v.len() {
        for j in i + 1..v.len() {
            for k in j + 1..v.len() {
                sum += v[i].max(v[j]).max(v[k]);
                count += 1.0;
            }
        }
    }
    let e = expected_best_of_random(&v, &[3])[0].1;
    // Measured difference 0 to ~1e-13 (float summation order).
    assert!((e - sum / count).abs() < 1e-9, "{e} vs {}", sum / count);
}
