//! The whole NAS-Bench-201 space against its benchmark, for reporting (the page's landscape
//! panel): every cell's test accuracy on one dataset against its parameter count, a cell's rank
//! and percentile, and the random-search baseline, computed exactly from the table. It reads the
//! accuracy table, so it sits above the search's layers: no search can call it
//! (`tests/layers.rs`).

use std::fmt::Write;

use crate::net::supernet::SupernetConfig;
use crate::space::Genotype;
use crate::space::nb201::table::{Accuracies, Table};

/// One of NAS-Bench-201's three datasets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// CIFAR-10 (10 classes).
    #[default]
    Cifar10,
    /// CIFAR-100 (100 classes).
    Cifar100,
    /// ImageNet16-120 (120 classes, 16×16).
    Imagenet16,
}

impl Dataset {
    /// All three, in the table's column order.
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::Imagenet16];

    /// Its key (`cifar10`, `cifar100`, `imagenet16`), as the JSON outputs name it.
    pub fn key(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::Imagenet16 => "imagenet16",
        }
    }

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "CIFAR-10",
            Dataset::Cifar100 => "CIFAR-100",
            Dataset::Imagenet16 => "ImageNet16-120",
        }
    }

    /// The dataset of a key.
    pub fn from_key(k: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.key() == k)
    }

    /// This dataset's accuracy in a row.
    pub fn of(self, a: &Accuracies) -> f64 {
        match self {
            Dataset::Cifar10 => a.cifar10,
            Dataset::Cifar100 => a.cifar100,
            Dataset::Imagenet16 => a.imagenet16,
        }
    }

    /// Classes of its head.
    pub fn classes(self) -> usize {
        match self {
            Dataset::Cifar10 => 10,
            Dataset::Cifar100 => 100,
            Dataset::Imagenet16 => 120,
        }
    }
}

/// One cell of the landscape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The cell.
    pub genotype: Genotype,
    /// Scalars of its network at NB201's benchmark shape (C = 16, N = 5, the dataset's classes;
    /// our layout, whose batch norms have no affine parameters).
    pub params: usize,
    /// Its test accuracy on the landscape's dataset, in percent.
    pub accuracy: f64,
}

/// Every cell of a table on one dataset, with the order statistics the panel reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    /// The dataset.
    pub dataset: Dataset,
    /// One point per table row, in the table's order (NB201's index).
    pub points: Vec<Point>,
    /// The accuracies, ascending (for ranks and the random-search baseline).
    sorted: Vec<f64>,
}

impl Landscape {
    /// The landscape of `table` on `dataset`.
    pub fn new(table: &Table, dataset: Dataset) -> Self {
        let net = SupernetConfig {
            channels: 16,
            cells: 5,
            classes: dataset.classes(),
            size: 32,
        };
        let points: Vec<Point> = table
            .iter()
            .map(|(g, a)| Point {
                genotype: *g,
                params: net.num_params(g),
                accuracy: dataset.of(a),
            })
            .collect();
        let mut sorted: Vec<f64> = points.iter().map(|p| p.accuracy).collect();
        sorted.sort_by(f64::total_cmp);
        Landscape {
            dataset,
            points,
            sorted,
        }
    }

    /// The point of `g`, if the table has it.
    pub fn point(&self, g: &Genotype) -> Option<&Point> {
        self.points.iter().find(|p| p.genotype == *g)
    }

    /// The best cell (the first of the table's order among ties).
    pub fn best(&self) -> Option<&Point> {
        self.points
            .iter()
            .reduce(|b, p| if p.accuracy > b.accuracy { p } else { b })
    }

    /// `g`'s rank by accuracy (1 = best; ties share the best rank) and the share of cells it is
    /// at least as good as, in percent.
    pub fn rank(&self, g: &Genotype) -> Option<(usize, f64)> {
        let a = self.point(g)?.accuracy;
        let n = self.sorted.len();
        let better = n - self.sorted.partition_point(|&x| x <= a);
        let at_most = self.sorted.partition_point(|&x| x <= a);
        Some((better + 1, 100.0 * at_most as f64 / n as f64))
    }

    /// The expected best accuracy of `n` cells drawn uniformly without replacement, for each
    /// `n` of `ns` (exactly, from the order statistics: P(max ≤ a_(i)) = C(i, n) / C(N, n)).
    pub fn random_search(&self, ns: &[usize]) -> Vec<(usize, f64)> {
        expected_best_of_random(&self.sorted, ns)
    }
}

/// E[max of `n` draws without replacement] from the ascending values `sorted` (N of them), for
/// each `n` in `ns` (clamped to 1..=N): Σ_i a_(i)·[C(i, n) − C(i−1, n)] / C(N, n), with the
/// ratios C(i, n)/C(N, n) built downward from i = N by r_{i−1} = r_i·(i − n)/i.
pub fn expected_best_of_random(sorted: &[f64], ns: &[usize]) -> Vec<(usize, f64)> {
    let big_n = sorted.len();
    ns.iter()
        .map(|&n| {
            let n = n.clamp(1, big_n.max(1));
            let mut e = 0.0;
            // r = C(i, n)/C(N, n) for the current i, starting at i = N.
            let mut r = 1.0f64;
            for i in (1..=big_n).rev() {
                let below = if i > n {
                    r * (i - n) as f64 / i as f64
                } else {
                    0.0
                };
                e += sorted[i - 1] * (r - below);
                r = below;
                if r == 0.0 {
                    break;
                }
            }
            (n, e)
        })
        .collect()
}

/// The smallest `n` of the curve whose expected best reaches `accuracy` (the curve rises in n).
pub fn cells_to_match(curve: &[(usize, f64)], accuracy: f64) -> Option<usize> {
    curve.iter().find(|(_, e)| *e >= accuracy).map(|(n, _)| *n)
}

/// The `n` at which the page draws the random-search curve: 1…1000, denser where it bends.
pub fn curve_ns() -> Vec<usize> {
    let mut ns: Vec<usize> = (1..=20).collect();
    let mut n = 20.0f64;
    while n < 1000.0 {
        n *= 1.08;
        ns.push((n.round() as usize).min(1000));
    }
    ns.dedup();
    ns
}

/// The plot's frame: the data ranges of a landscape and the SVG box they map to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Parameters at the left and right edges.
    pub x: (f64, f64),
    /// Accuracies at the bottom and top edges (cells below the bottom are drawn on it).
    pub y: (f64, f64),
}

/// SVG size and margins of the landscape.
const W: f64 = 560.0;
const H: f64 = 300.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 8.0;
const RIGHT: f64 = 8.0;

impl Frame {
    /// The frame of `l`: all parameter counts, and accuracies from the 5th percentile up (the
    /// long tail of cells that barely train is drawn on the bottom edge).
    pub fn of(l: &Landscape) -> Frame {
        let (lo, hi) = l.points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
            (a.min(p.params as f64), b.max(p.params as f64))
        });
        let q = l.sorted.get(l.sorted.len() / 20).copied().unwrap_or(0.0);
        let top = l.sorted.last().copied().unwrap_or(100.0);
        let pad = 0.03 * (top - q).max(1.0);
        Frame {
            x: (lo, hi.max(lo + 1.0)),
            y: (q - pad, top + pad),
        }
    }

    /// SVG coordinates of a point (x jittered by `jitter` in −1..1 times a few pixels, so the
    /// cells with equal counts spread into a column).
    pub fn to_svg(&self, params: f64, accuracy: f64, jitter: f64) -> (f64, f64) {
        let fx = (params - self.x.0) / (self.x.1 - self.x.0);
        let fy = ((accuracy - self.y.0) / (self.y.1 - self.y.0)).clamp(0.0, 1.0);
        (
            LEFT + fx * (W - LEFT - RIGHT - 8.0) + 4.0 + 4.0 * jitter,
            TOP + (1.0 - fy) * (H - TOP - BOTTOM),
        )
    }

    /// The nearest point to SVG coordinates `(sx, sy)` within `radius` SVG units.
    pub fn nearest<'a>(
        &self,
        l: &'a Landscape,
        sx: f64,
        sy: f64,
        radius: f64,
    ) -> Option<&'a Point> {
        l.points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (x, y) = self.to_svg(p.params as f64, p.accuracy, jitter(i));
                (p, (x - sx).powi(2) + (y - sy).powi(2))
            })
            .filter(|(_, d)| *d <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| p)
    }
}

/// A fixed pseudo-random offset in −1..1 for point `i` (the same on every draw).
pub fn jitter(i: usize) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 2001) as f64 / 1000.0 - 1.0
}

/// The landscape's points and axes as SVG (one path of small squares: one element for the
/// 15,625 cells). Marks are drawn by [`marks_svg`] in an overlay of the same view box.
pub fn landscape_svg(l: &Landscape, f: &Frame) -> String {
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart landscape" role="img" aria-label="all {n} cells: {d} test accuracy against parameters"><title>{n} NAS-Bench-201 cells: {d} test accuracy against parameters</title>"##,
        n = l.points.len(),
        d = l.dataset.label()
    );
    // Axes: 5 accuracy ticks, 5 parameter ticks.
    for i in 0..=4 {
        let v = f.y.0 + (f.y.1 - f.y.0) * i as f64 / 4.0;
        let (_, y) = f.to_svg(f.x.0, v, 0.0);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{tx}" y="{ty:.1}" font-size="10" font-family="sans-serif" text-anchor="end">{v:.1}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 3.0
        );
        let p = f.x.0 + (f.x.1 - f.x.0) * i as f64 / 4.0;
        let (x, _) = f.to_svg(p, f.y.0, 0.0);
        // The end ticks are anchored inside the box, so their labels are not cut.
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{ty}" font-size="10" font-family="sans-serif" text-anchor="{anchor}">{m:.2} M</text>"##,
            ty = H - BOTTOM + 14.0,
            m = p / 1e6
        );
    }
    let _ = write!(
        s,
        r##"<text x="{x}" y="{y}" font-size="11" font-family="sans-serif" text-anchor="middle">parameters (C = 16, N = 5)</text><text x="10" y="{ym}" font-size="11" font-family="sans-serif" text-anchor="middle" transform="rotate(-90 10 {ym})">{d} test accuracy (%)</text>"##,
        x = (LEFT + W) / 2.0,
        y = H - 3.0,
        ym = (TOP + H - BOTTOM) / 2.0,
        d = l.dataset.label()
    );
    let mut d = String::with_capacity(l.points.len() * 20);
    for (i, p) in l.points.iter().enumerate() {
        let (x, y) = f.to_svg(p.params as f64, p.accuracy, jitter(i));
        let _ = write!(d, "M{:.1} {:.1}h1.6v1.6h-1.6z", x - 0.8, y - 0.8);
    }
    let _ = write!(
        s,
        r##"<path class="cells" d="{d}" fill="#0072b2" fill-opacity="0.35"/></svg>"##
    );
    s
}

/// One marked cell of the overlay: its point, its class (`pick`, `best`, `mine`, `hover`) and
/// its label.
pub struct Mark<'a> {
    /// The cell's point.
    pub point: &'a Point,
    /// CSS class and data attribute.
    pub class: &'static str,
    /// Colour.
    pub color: &'static str,
    /// Text next to the mark.
    pub label: String,
}

/// The overlay of marks (the pick, the best cell, the student's own, the hovered one), in the
/// same view box as [`landscape_svg`].
pub fn marks_svg(l: &Landscape, f: &Frame, marks: &[Mark]) -> String {
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart landscape-marks" aria-hidden="true">"##
    );
    for m in marks {
        let i = l
            .points
            .iter()
            .position(|p| p.genotype == m.point.genotype)
            .unwrap_or(0);
        let (x, y) = f.to_svg(m.point.params as f64, m.point.accuracy, jitter(i));
        let anchor = if x > W * 0.7 { "end" } else { "start" };
        let dx = if anchor == "end" { -9.0 } else { 9.0 };
        let _ = write!(
            s,
            r##"<g class="mark {c}" data-mark="{c}"><circle cx="{x:.1}" cy="{y:.1}" r="6" fill="none" stroke="{col}" stroke-width="2.5"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" font-family="sans-serif" fill="{col}" text-anchor="{anchor}" paint-order="stroke" stroke="#fff" stroke-width="3">{label}</text></g>"##,
            c = m.class,
            col = m.color,
            tx = x + dx,
            ty = y + 4.0,
            label = m.label
        );
    }
    s.push_str("</svg>");
    s
}

/// The random-search baseline: expected best accuracy of n random cells (log n, 1…1000), with
/// the pick's accuracy as a level line and the n where the curve reaches it.
pub fn random_search_svg(curve: &[(usize, f64)], pick: Option<f64>, dataset: Dataset) -> String {
    let (w, h, left, bottom, top, right) = (560.0, 180.0, 48.0, 30.0, 8.0, 8.0);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="chart random-search" role="img" aria-label="expected best {d} accuracy of n random cells"><title>Random search: the expected best {d} test accuracy of n cells drawn at random</title>"##,
        d = dataset.label()
    );
    let Some(&(n_max, _)) = curve.last() else {
        return s + "</svg>";
    };
    let lo = curve
        .first()
        .map_or(0.0, |c| c.1)
        .min(pick.unwrap_or(f64::MAX))
        - 0.5;
    let hi = curve
        .last()
        .map_or(100.0, |c| c.1)
        .max(pick.unwrap_or(f64::MIN))
        + 0.3;
    let x = |n: f64| left + (w - left - right) * n.ln() / (n_max as f64).ln().max(1e-9);
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    for n in [1.0, 10.0, 100.0, 1000.0] {
        if n <= n_max as f64 {
            let _ = write!(
                s,
                r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{yb}" stroke="#e3e3e3"/><text x="{xx:.1}" y="{ty}" font-size="10" font-family="sans-serif" text-anchor="middle">{n}</text>"##,
                xx = x(n),
                yb = h - bottom,
                ty = h - bottom + 13.0
            );
        }
    }
    for i in 0..=3 {
        let v = lo + (hi - lo) * i as f64 / 3.0;
        let _ = write!(
            s,
            r##"<text x="{tx}" y="{ty:.1}" font-size="10" font-family="sans-serif" text-anchor="end">{v:.1}</text>"##,
            tx = left - 4.0,
            ty = y(v) + 3.0
        );
    }
    let d: String = curve
        .iter()
        .enumerate()
        .map(|(i, &(n, e))| {
            format!(
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(n as f64),
                y(e)
            )
        })
        .collect();
    let _ = write!(
        s,
        r##"<path class="expected-best" d="{d}" fill="none" stroke="#0072b2" stroke-width="2"/>"##
    );
    if let Some(p) = pick {
        let _ = write!(
            s,
            r##"<line class="pick-level" x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#d55e00" stroke-width="1.5" stroke-dasharray="5 4"/>"##,
            x2 = w - right,
            yy = y(p)
        );
        if let Some(n) = cells_to_match(curve, p) {
            let _ = write!(
                s,
                r##"<circle class="match" data-n="{n}" cx="{cx:.1}" cy="{cy:.1}" r="5" fill="#d55e00"/>"##,
                cx = x(n as f64),
                cy = y(p)
            );
        }
    }
    let _ = write!(
        s,
        r##"<text x="{xm}" y="{yb}" font-size="11" font-family="sans-serif" text-anchor="middle">n, cells trained at random (log scale)</text></svg>"##,
        xm = (left + w) / 2.0,
        yb = h - 3.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_random_search_expectation_is_exact_on_a_small_case() {
        // Values 1..=4: E[max of 2 without replacement] over the 6 pairs = (2+3+4+3+4+4)/6.
        let v = [1.0, 2.0, 3.0, 4.0];
        let e = expected_best_of_random(&v, &[1, 2, 4, 9]);
        assert!((e[0].1 - 2.5).abs() < 1e-12, "n = 1 is the mean");
        assert!((e[1].1 - 20.0 / 6.0).abs() < 1e-12);
        assert_eq!((e[2].1, e[3]), (4.0, (4, 4.0)), "n ≥ N is the maximum");
        assert!(cells_to_match(&e, 3.0) == Some(2) && cells_to_match(&e, 5.0).is_none());
    }

    #[test]
    fn the_curve_rises_and_ns_cover_one_to_a_thousand() {
        let ns = curve_ns();
        assert_eq!((ns[0], *ns.last().unwrap()), (1, 1000));
        assert!(ns.windows(2).all(|w| w[0] < w[1]));
        let v: Vec<f64> = (0..15_625).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut v = v;
        v.sort_by(f64::total_cmp);
        let e = expected_best_of_random(&v, &ns);
        assert!(e.windows(2).all(|w| w[0].1 <= w[1].1 + 1e-12));
        assert!((0.0..1.0).contains(&jitter(3).abs()));
    }
}
