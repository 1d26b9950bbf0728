//! The NB201 cell drawn as an SVG graph: 4 nodes, 6 edges, each edge coloured *and* dashed by
//! its op (colour-blind safe), its width following the op's probability, dead edges greyed.
//! Shared by the CLI's `cell.svg` and the web page.

use std::fmt::Write;

use super::{ArchTable, EDGES, Genotype, NUM_NODES, Op};

/// Colour (Okabe–Ito palette), SVG dash pattern and short glyph of each op, in op order.
pub const OP_STYLE: [(&str, &str, &str); 5] = [
    ("#9a9a9a", "1 4", "∅"),
    ("#0072b2", "10 4", "id"),
    ("#e69f00", "6 3 2 3", "1×1"),
    ("#d55e00", "", "3×3"),
    ("#009e73", "2 3", "avg"),
];

const NODE_XY: [(f64, f64); NUM_NODES] =
    [(50.0, 150.0), (190.0, 50.0), (330.0, 250.0), (470.0, 150.0)];

/// SVG text of `genotype`; `probs` (softmax of α*, `[6][5]`) sets edge widths when given.
pub fn cell_svg(genotype: &Genotype, probs: Option<&ArchTable>) -> String {
    let live = genotype.live_edges();
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 520 300" width="520" height="300" role="img" aria-labelledby="cell-title"><title id="cell-title">NAS-Bench-201 cell {genotype}</title><rect width="520" height="300" fill="#ffffff"/>"##
    );
    for (e, &(to, from)) in EDGES.iter().enumerate() {
        let op = genotype.ops[e];
        let (color, dash, glyph) = OP_STYLE[op.index()];
        let p = probs.map_or(1.0, |p| p[e][op.index()] as f64);
        let width = 1.5 + 5.0 * p;
        let (x1, y1) = NODE_XY[from];
        let (x2, y2) = NODE_XY[to];
        // Curve edges that would overlap the straight 0→3 line.
        let bend = if (from, to) == (0, 3) { 0.0 } else { 0.18 };
        let (mx, my) = (
            (x1 + x2) / 2.0 - (y2 - y1) * bend,
            (y1 + y2) / 2.0 + (x2 - x1) * bend,
        );
        let (color, opacity) = if live[e] {
            (color, 0.35 + 0.65 * p)
        } else {
            ("#c8c8c8", 0.6)
        };
        let _ = write!(
            s,
            r#"<g class="edge" data-edge="{e}"><title>edge {to}←{from}: {op} (p = {p:.3}){dead}</title><path d="M{x1},{y1} Q{mx},{my} {x2},{y2}" fill="none" stroke="{color}" stroke-width="{width:.2}" stroke-opacity="{opacity:.2}" stroke-dasharray="{dash}"/><text x="{tx:.1}" y="{ty:.1}" font-family="sans-serif" font-size="13" text-anchor="middle" fill="{tc}">{glyph}</text></g>"#,
            dead = if live[e] {
                ""
            } else {
                ", not on any input→output path"
            },
            tx = (x1 + 2.0 * mx + x2) / 4.0,
            ty = (y1 + 2.0 * my + y2) / 4.0 - 6.0,
            tc = if live[e] { "#222" } else { "#999" },
        );
    }
    for (i, &(x, y)) in NODE_XY.iter().enumerate() {
        let _ = write!(
            s,
            r##"<g class="node"><title>node {i}{role}</title><circle cx="{x}" cy="{y}" r="18" fill="#f4f4f4" stroke="#333"/><text x="{x}" y="{ty}" font-family="sans-serif" font-size="15" text-anchor="middle">{i}</text></g>"##,
            role = match i {
                0 => " (cell input)",
                3 => " (cell output)",
                _ => "",
            },
            ty = y + 5.0
        );
    }
    let _ = write!(s, "{}</svg>", legend());
    s
}

fn legend() -> String {
    let mut s = String::new();
    for (i, op) in Op::ALL.iter().enumerate() {
        let (color, dash, _) = OP_STYLE[i];
        let x = 10.0 + i as f64 * 102.0;
        let _ = write!(
            s,
            r#"<line x1="{x}" y1="290" x2="{x2}" y2="290" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{tx}" y="294" font-family="sans-serif" font-size="10">{op}</text>"#,
            x2 = x + 22.0,
            tx = x + 26.0
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_six_edges_and_four_nodes() {
        let g: Genotype =
            "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
                .parse()
                .unwrap();
        let svg = cell_svg(&g, None);
        assert_eq!(svg.matches(r#"class="edge""#).count(), 6);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains(&g.to_string()));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
