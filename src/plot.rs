//! SVG charts of a search, as strings: the per-edge op probabilities over steps, the trace and
//! reward against the step (with ν), and the NTK matrix. Pure functions of the event stream, so
//! the web page draws exactly what the CLI recorded, and they are tested natively.

use std::fmt::Write;

use crate::search::StepRecord;
use crate::space::SpaceKind;

/// Stacked bars of softmax(α*) per edge (rows, in the space's row order) over steps
/// (columns); the column of `selected` (0-based) is outlined and the row of `hover_edge`
/// highlighted. The space is the steps' table shape: NB201's 6 edges, or DARTS's 14 normal
/// and 14 reduction edges, the two cells' rows grouped with a gap between them.
pub fn alpha_chart(
    steps: &[StepRecord],
    selected: Option<usize>,
    hover_edge: Option<usize>,
) -> String {
    let space = steps
        .first()
        .and_then(|s| SpaceKind::of_shape(s.probs.shape()))
        .unwrap_or_default();
    let labels = space.row_labels();
    let (names, colors) = (space.op_names(), space.op_colors());
    let darts = space == SpaceKind::Darts;
    let (w, row_h, left, gap, font) = if darts {
        (560.0, 14.0, 104.0, 3.0, 10)
    } else {
        (560.0, 34.0, 56.0, 6.0, 12)
    };
    // DARTS: a gap of two rows between the normal and the reduction cell.
    let row_y = |e: usize| {
        let group = if darts && e >= labels.len() / 2 {
            2.0
        } else {
            0.0
        };
        (e as f64 + group) * (row_h + gap) + 4.0
    };
    let h = row_y(labels.len()) + 20.0;
    let n = steps.len().max(1) as f64;
    let cw = (w - left - 4.0) / n;
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="chart" role="img" aria-label="op probabilities softmax(α*) per edge over steps"><title>softmax(α*) per edge over steps</title>"##
    );
    for (e, label) in labels.iter().enumerate() {
        let y0 = row_y(e);
        let hl = hover_edge == Some(e);
        let _ = write!(
            s,
            r##"<g class="alpha-row{}" data-edge="{e}"><rect x="0" y="{y}" width="{w}" height="{rh}" fill="{bg}"/><text x="4" y="{ty}" font-size="{font}" font-family="sans-serif">{label}</text>"##,
            if hl { " hover" } else { "" },
            y = y0 - 2.0,
            rh = row_h + 4.0,
            bg = if hl { "#fff3c4" } else { "none" },
            ty = y0 + row_h / 2.0 + 4.0,
        );
        for (t, st) in steps.iter().enumerate() {
            let mut y = y0;
            let x = left + t as f64 * cw;
            for (k, op) in names.iter().enumerate() {
                let p = st.probs[e][k] as f64;
                let hh = p * row_h;
                if hh > 0.05 {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.2}" y="{y:.2}" width="{cw2:.2}" height="{hh:.2}" fill="{c}"><title>step {step}, edge {label}: {op} p = {p:.4}</title></rect>"#,
                        cw2 = cw.max(0.5),
                        c = colors[k],
                        step = st.step,
                    );
                }
                y += hh;
            }
        }
        s.push_str("</g>");
    }
    if let Some(sel) = selected.filter(|&t| t < steps.len()) {
        let _ = write!(
            s,
            r##"<rect class="cursor" x="{x:.2}" y="0" width="{cw:.2}" height="{hh}" fill="none" stroke="#000" stroke-width="1.5"/>"##,
            x = left + sel as f64 * cw,
            hh = h - 18.0,
        );
    }
    let _ = write!(
        s,
        r#"<text x="{left}" y="{y}" font-size="11" font-family="sans-serif">step 1</text><text x="{r}" y="{y}" font-size="11" font-family="sans-serif" text-anchor="end">step {n}</text></svg>"#,
        y = h - 4.0,
        r = w - 4.0,
        n = steps.len()
    );
    s
}

/// T̃ and R against the step, with ν as a dashed line where it applies; every point carries a
/// `<title>` with its exact values.
pub fn trace_chart(steps: &[StepRecord], selected: Option<usize>) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 220.0, 56.0, 10.0, 10.0, 28.0);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="chart" role="img" aria-label="NTK trace estimate and reward per step"><title>T̃ (NTK trace estimate), R (reward) and ν per step</title>"##
    );
    let vals: Vec<f64> = steps
        .iter()
        .flat_map(|s| [Some(s.trace), Some(s.reward), s.nu])
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        s.push_str(r#"<text x="20" y="40" font-family="sans-serif">no steps yet</text></svg>"#);
        return s;
    }
    let (mut lo, mut hi) = vals
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if hi - lo < 1e-9 {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let n = steps.len();
    let x = |t: usize| {
        left + (w - left - right)
            * if n > 1 {
                t as f64 / (n - 1) as f64
            } else {
                0.5
            }
    };
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    for i in 0..=4 {
        let v = lo + (hi - lo) * i as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="10" font-family="sans-serif" text-anchor="end">{v:.3}</text>"##,
            x2 = w - right,
            yy = y(v),
            tx = left - 4.0,
            ty = y(v) + 3.0
        );
    }
    let line = |f: &dyn Fn(&StepRecord) -> Option<f64>| -> String {
        let mut d = String::new();
        let mut pen_up = true;
        for (t, st) in steps.iter().enumerate() {
            match f(st).filter(|v| v.is_finite()) {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_up { "M" } else { "L" },
                        x(t),
                        y(v)
                    );
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        d
    };
    let _ = write!(
        s,
        r##"<path class="nu" d="{}" fill="none" stroke="#777" stroke-dasharray="5 4"/><path class="reward" d="{}" fill="none" stroke="#cc79a7" stroke-width="1.5"/><path class="trace" d="{}" fill="none" stroke="#0072b2" stroke-width="2"/>"##,
        line(&|s| s.nu),
        line(&|s| Some(s.reward)),
        line(&|s| Some(s.trace)),
    );
    for (t, st) in steps.iter().enumerate() {
        let _ = write!(
            s,
            r##"<circle class="point" data-step="{t}" cx="{cx:.1}" cy="{cy:.1}" r="{r}" fill="#0072b2"><title>step {step}: T̃ = {tr:.6}, R = {rw:.6}{nu}</title></circle>"##,
            cx = x(t),
            cy = y(st.trace),
            r = if selected == Some(t) { 5.0 } else { 2.5 },
            step = st.step,
            tr = st.trace,
            rw = st.reward,
            nu = st.nu.map_or(String::new(), |v| format!(", ν = {v:.6}")),
        );
    }
    let _ = write!(
        s,
        r##"<g font-size="11" font-family="sans-serif"><line x1="{l}" x2="{l2}" y1="{ly}" y2="{ly}" stroke="#0072b2" stroke-width="2"/><text x="{t1}" y="{ty}">T̃</text><line x1="{l3}" x2="{l4}" y1="{ly}" y2="{ly}" stroke="#cc79a7" stroke-width="1.5"/><text x="{t2}" y="{ty}">R</text><line x1="{l5}" x2="{l6}" y1="{ly}" y2="{ly}" stroke="#777" stroke-dasharray="5 4"/><text x="{t3}" y="{ty}">ν</text><text x="{w2}" y="{ty}" text-anchor="end">step 1 … {n}</text></g></svg>"##,
        l = left,
        l2 = left + 20.0,
        t1 = left + 24.0,
        l3 = left + 50.0,
        l4 = left + 70.0,
        t2 = left + 74.0,
        l5 = left + 100.0,
        l6 = left + 120.0,
        t3 = left + 124.0,
        ly = h - 10.0,
        ty = h - 6.0,
        w2 = w - right,
    );
    s
}

/// The `[b, b]` NTK as a heatmap (row-major values), colour on a log scale of |Θᵢⱼ|.
pub fn ntk_heatmap(values: &[f64], b: usize) -> String {
    let size = 240.0;
    let c = size / b.max(1) as f64;
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" class="ntk" role="img" aria-label="NTK matrix heatmap"><title>Θ, the {b}×{b} NTK</title>"##
    );
    let max = values
        .iter()
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for i in 0..b {
        for j in 0..b {
            let v = values[i * b + j];
            let t = (1.0 + 9.0 * v.abs() / max).log10(); // 0..1
            let shade = (255.0 * (1.0 - t)) as u8;
            let _ = write!(
                s,
                r#"<rect x="{x:.2}" y="{y:.2}" width="{c:.2}" height="{c:.2}" fill="rgb({shade},{g},255)"><title>Θ[{i},{j}] = {v:.4e}</title></rect>"#,
                x = j as f64 * c,
                y = i as f64 * c,
                g = shade / 2 + 64,
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Genotype;

    fn step(t: usize, trace: f64) -> StepRecord {
        let mut probs = crate::space::ArchTable::from_fn(6, 5, |_, _| 0.2);
        probs[0].copy_from_slice(&[0.0, 0.1, 0.2, 0.6, 0.1]);
        StepRecord {
            step: t + 1,
            trace,
            loss: 2.3,
            reward: trace,
            nu: (t > 0).then_some(1.0),
            penalty_active: false,
            grad_norm: 1.0,
            running_max: 1.0,
            weights: probs.clone(),
            alpha: crate::space::ArchTable::zeros(6, 5),
            genotype: Genotype::argmax(&probs).into(),
            probs,
            elapsed_ms: 0.0,
        }
    }

    #[test]
    fn charts_have_one_point_per_step() {
        let steps: Vec<_> = (0..7).map(|t| step(t, 1.0 + t as f64)).collect();
        let svg = trace_chart(&steps, Some(2));
        assert_eq!(svg.matches(r#"class="point""#).count(), 7);
        assert!(svg.contains("step 3: T̃ = 3.000000"));
        let a = alpha_chart(&steps, Some(2), Some(1));
        assert_eq!(a.matches(r#"class="alpha-row"#).count(), 6);
        assert!(a.contains(r#"class="alpha-row hover" data-edge="1""#));
        assert!(a.contains("nor_conv_3x3 p = 0.6000"));
        assert!(trace_chart(&[], None).contains("no steps yet"));
        let h = ntk_heatmap(&[2.0, 1.0, 1.0, 3.0], 2);
        assert_eq!(h.matches("<rect").count(), 4);
    }

    #[test]
    fn the_darts_chart_has_both_cells_rows_with_darts_ops() {
        let g: crate::space::darts::Genotype = crate::space::darts::DARTS_V2.parse().unwrap();
        let mut probs = crate::space::ArchTable::from_fn(28, 8, |_, _| 0.125);
        probs[14].copy_from_slice(&[0.0, 0.65, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1]);
        let st = StepRecord {
            weights: probs.clone(),
            alpha: crate::space::ArchTable::zeros(28, 8),
            genotype: g.into(),
            probs,
            ..step(0, 1.0)
        };
        let a = alpha_chart(&[st], None, None);
        assert_eq!(a.matches(r#"class="alpha-row"#).count(), 28);
        assert!(a.contains("edge reduce 0←c_{k-2}: max_pool_3x3 p = 0.6500"));
    }
}
