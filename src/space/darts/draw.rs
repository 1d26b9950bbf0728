//! A DARTS genotype drawn as SVG: the normal and the reduction cell side by side, labelled as
//! DARTS's `visualize.py` labels them (inputs `c_{k-2}`, `c_{k-1}`, intermediate nodes 0–3,
//! output `c_{k}`), each kept edge coloured and dashed by its op (colour-blind safe) with its
//! op's name, its width following the op's probability softmax(α*) when given. Shared by the
//! CLI's `cell.svg` and the web page.

use std::fmt::Write;

use super::{ArchTable, Cell, EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op};

/// Colour (Okabe–Ito palette and greys) and SVG dash pattern of each op, in `PRIMITIVES` order.
pub const OP_STYLE: [(&str, &str); NUM_OPS] = [
    ("#9a9a9a", "1 4"),
    ("#56b4e9", "2 3"),
    ("#009e73", "2 3"),
    ("#0072b2", "10 4"),
    ("#d55e00", ""),
    ("#cc79a7", ""),
    ("#e69f00", "6 3 2 3"),
    ("#000000", "6 3 2 3"),
];

/// Width and height of one cell's panel.
const PANEL: (f64, f64) = (420.0, 280.0);

/// Where each node sits in a panel: the two inputs, the four intermediate nodes, the output.
fn node_xy(node: usize) -> (f64, f64) {
    match node {
        0 => (45.0, 80.0),
        1 => (45.0, 200.0),
        6 => (380.0, 140.0),
        n => (
            140.0 + 62.0 * (n - 2) as f64,
            if n % 2 == 0 { 60.0 } else { 220.0 },
        ),
    }
}

fn node_label(node: usize) -> String {
    match node {
        0 => "c_{k-2}".into(),
        1 => "c_{k-1}".into(),
        6 => "c_{k}".into(),
        n => (n - 2).to_string(),
    }
}

/// The row of α for edge `to ← from` within one cell's 14 rows.
fn row_of(to: usize, from: usize) -> usize {
    EDGES
        .iter()
        .position(|&e| e == (to, from))
        .expect("an edge of the cell")
}

fn panel(s: &mut String, name: &str, cell: &Cell, probs: Option<&[&[f32]]>, dx: f64) {
    let _ = write!(
        s,
        r##"<g class="cell" data-cell="{name}" transform="translate({dx},0)"><text x="10" y="20" font-family="sans-serif" font-size="14" font-weight="bold">{name} cell</text>"##
    );
    for (slot, &(op, from)) in cell.iter().enumerate() {
        let to = 2 + slot / 2;
        let p = probs.map_or(1.0, |p| p[row_of(to, from)][op.index()] as f64);
        let (color, dash) = OP_STYLE[op.index()];
        let ((x1, y1), (x2, y2)) = (node_xy(from), node_xy(to));
        let bend = if slot % 2 == 0 { 0.12 } else { -0.12 };
        let (mx, my) = (
            (x1 + x2) / 2.0 - (y2 - y1) * bend,
            (y1 + y2) / 2.0 + (x2 - x1) * bend,
        );
        let _ = write!(
            s,
            r##"<g class="edge"><title>{name} node {n}←{src}: {op} (p = {p:.3})</title><path d="M{x1},{y1} Q{mx:.1},{my:.1} {x2},{y2}" fill="none" stroke="{color}" stroke-width="{w:.2}" stroke-opacity="{o:.2}" stroke-dasharray="{dash}"/><text x="{tx:.1}" y="{ty:.1}" font-family="sans-serif" font-size="9" text-anchor="middle" fill="#222">{op}</text></g>"##,
            n = to - 2,
            src = node_label(from),
            w = 1.5 + 5.0 * p,
            o = 0.4 + 0.6 * p,
            tx = (x1 + 2.0 * mx + x2) / 4.0,
            ty = (y1 + 2.0 * my + y2) / 4.0 - 4.0,
        );
    }
    let (ox, oy) = node_xy(6);
    for n in 2..2 + NUM_NODES {
        let (x, y) = node_xy(n);
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{y}" x2="{ox}" y2="{oy}" stroke="#bbbbbb" stroke-width="1"/>"##
        );
    }
    for n in 0..7 {
        let (x, y) = node_xy(n);
        let (fill, r) = match n {
            0 | 1 => ("#d9ecd0", 24.0),
            6 => ("#f8e0a6", 22.0),
            _ => ("#cfe0f3", 15.0),
        };
        let _ = write!(
            s,
            r##"<g class="node"><circle cx="{x}" cy="{y}" r="{r}" fill="{fill}" stroke="#333"/><text x="{x}" y="{ty}" font-family="sans-serif" font-size="11" text-anchor="middle">{label}</text></g>"##,
            ty = y + 4.0,
            label = node_label(n),
        );
    }
    s.push_str("</g>");
}

/// SVG text of `genotype`'s two cells; `probs` (softmax of α* per row, `[28][8]`: normal rows,
/// then reduce rows) sets edge widths when given.
pub fn cells_svg(genotype: &Genotype, probs: Option<&ArchTable>) -> String {
    let rows: Option<Vec<&[f32]>> = probs.map(|p| p.iter().collect());
    let (w, h) = (2.0 * PANEL.0, PANEL.1 + 40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="cells-title"><title id="cells-title">DARTS cells {genotype}</title><rect width="{w}" height="{h}" fill="#ffffff"/>"##
    );
    panel(
        &mut s,
        "normal",
        &genotype.normal,
        rows.as_deref().map(|r| &r[..NUM_EDGES]),
        0.0,
    );
    panel(
        &mut s,
        "reduce",
        &genotype.reduce,
        rows.as_deref().map(|r| &r[NUM_EDGES..]),
        PANEL.0,
    );
    for (i, op) in Op::ALL.iter().enumerate().skip(1) {
        let (color, dash) = OP_STYLE[i];
        let x = 10.0 + (i - 1) as f64 * 118.0;
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{tx}" y="{ty}" font-family="sans-serif" font-size="10">{op}</text>"##,
            y = h - 16.0,
            x2 = x + 22.0,
            tx = x + 26.0,
            ty = h - 12.0,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_cells_with_eight_edges_each_labelled_as_visualize_py() {
        let g: Genotype = super::super::DARTS_V2.parse().unwrap();
        let probs = ArchTable::from_fn(28, 8, |_, _| 0.125);
        let svg = cells_svg(&g, Some(&probs));
        assert_eq!(svg.matches(r#"class="edge""#).count(), 16);
        assert_eq!(svg.matches(r#"class="cell""#).count(), 2);
        assert_eq!(svg.matches("<circle").count(), 14);
        for label in [
            "c_{k-2}",
            "c_{k-1}",
            "c_{k}",
            ">3<",
            "dil_conv_3x3",
            "max_pool_3x3",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        // DARTS_V2's normal node 3 (node 5) takes dil_conv_3x3 from node 0 (node 2).
        assert!(svg.contains("normal node 3←0: dil_conv_3x3 (p = 0.125)"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
