//! The shaped host tables of a search: α, its gradient G_t, Gumbel noise, op weights and
//! probabilities. A table has one row per relaxed edge of the space and one column per op
//! (NB201: `[6, 5]`; DARTS: `[28, 8]`, the normal cell's 14 edges then the reduction cell's), so
//! everything that only needs the shape (the relaxation, eq. 18's accumulator, the charts) serves
//! every space.

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

/// A `[rows, ops]` table of f32, row-major. Indexing by a row gives that row's slice, so
/// `t[e][k]` is edge `e`, op `k`. Serialised as nested arrays (`[[…], …]`), the form trajectories
/// have always had.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchTable {
    ops: usize,
    values: Vec<f32>,
}

impl ArchTable {
    /// A table of zeros.
    pub fn zeros(rows: usize, ops: usize) -> Self {
        Self::from_fn(rows, ops, |_, _| 0.0)
    }

    /// The table with `f(row, op)` at each place, filled row by row.
    pub fn from_fn(rows: usize, ops: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        assert!(rows > 0 && ops > 0, "an arch table has rows and ops");
        let mut values = Vec::with_capacity(rows * ops);
        for r in 0..rows {
            for k in 0..ops {
                values.push(f(r, k));
            }
        }
        ArchTable { ops, values }
    }

    /// The table of row-major `values` with `ops` columns.
    pub fn from_values(ops: usize, values: Vec<f32>) -> Self {
        assert!(
            ops > 0 && !values.is_empty() && values.len().is_multiple_of(ops),
            "{} values do not fill rows of {ops}",
            values.len()
        );
        ArchTable { ops, values }
    }

    /// Rows (relaxed edges).
    pub fn rows(&self) -> usize {
        self.values.len() / self.ops
    }

    /// Columns (ops).
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// `[rows, ops]`, for a tensor of the same shape.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows(), self.ops]
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The rows in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.ops)
    }

    /// The same shape with `f` applied to every value.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        ArchTable {
            ops: self.ops,
            values: self.values.iter().map(|&v| f(v)).collect(),
        }
    }

    /// The same shape with each row replaced by `f(row)` (which must keep its length).
    pub fn map_rows(&self, f: impl Fn(&[f32]) -> Vec<f32>) -> Self {
        let values: Vec<f32> = self.iter().flat_map(f).collect();
        assert_eq!(values.len(), self.values.len(), "rows keep their length");
        ArchTable {
            ops: self.ops,
            values,
        }
    }

    /// Row-wise softmax (op probabilities per edge), computed in f64: NB201's relaxed cell and
    /// probabilities, and the weights DARTS's derivation ranks.
    pub fn softmax_rows(&self) -> ArchTable {
        self.map_rows(|row| {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&v| ((v - m) as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|&v| (v / s) as f32).collect()
        })
    }

    /// The column of each row's largest value: the straight-through hard sample (argmax of
    /// α + g per edge), and NB201's derivation. Ties go to the lowest column; NaN never wins.
    pub fn row_argmax(&self) -> Vec<usize> {
        self.iter()
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                        best = i;
                    }
                }
                best
            })
            .collect()
    }
}

impl Index<usize> for ArchTable {
    type Output = [f32];
    fn index(&self, row: usize) -> &[f32] {
        &self.values[row * self.ops..(row + 1) * self.ops]
    }
}

impl IndexMut<usize> for ArchTable {
    fn index_mut(&mut self, row: usize) -> &mut [f32] {
        &mut self.values[row * self.ops..(row + 1) * self.ops]
    }
}

impl<'a> IntoIterator for &'a ArchTable {
    type Item = &'a [f32];
    type IntoIter = std::slice::ChunksExact<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Serialize for ArchTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ArchTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rows = Vec::<Vec<f32>>::deserialize(d)?;
        let ops = rows.first().map_or(0, Vec::len);
        if ops == 0 || rows.iter().any(|r| r.len() != ops) {
            return Err(serde::de::Error::custom(
                "an arch table is a non-empty list of equally long, non-empty rows",
            ));
        }
        Ok(ArchTable {
            ops,
            values: rows.concat(),
        })
    }
}

/// Serde for a table field of results and trajectories, split by cell where the space has two:
/// a DARTS table `[28, 8]` is written `{"normal": 14×8, "reduce": 14×8}` (the rows of each
/// cell type under its name, as users read them), any other table as nested arrays. The two
/// spaces' shapes differ (`[6, 5]` and `[28, 8]`), so the shape decides. Reading takes either
/// form.
pub mod by_cell {
    use super::ArchTable;
    use crate::space::darts::{NUM_EDGES, NUM_OPS, ROWS};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Form {
        Cells {
            normal: ArchTable,
            reduce: ArchTable,
        },
        One(ArchTable),
    }

    /// Writes `t` (see the module).
    pub fn serialize<S: Serializer>(t: &ArchTable, s: S) -> Result<S::Ok, S::Error> {
        if t.shape() == [ROWS, NUM_OPS] {
            let half = |from: usize| {
                ArchTable::from_values(
                    NUM_OPS,
                    t.values()[from * NUM_OPS..(from + NUM_EDGES) * NUM_OPS].to_vec(),
                )
            };
            Form::Cells {
                normal: half(0),
                reduce: half(NUM_EDGES),
            }
            .serialize(s)
        } else {
            t.serialize(s)
        }
    }

    /// Reads either form; the two cells' tables must have the same width.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ArchTable, D::Error> {
        match Form::deserialize(d)? {
            Form::One(t) => Ok(t),
            Form::Cells { normal, reduce } if normal.ops() == reduce.ops() => Ok(
                ArchTable::from_values(normal.ops(), [normal.values(), reduce.values()].concat()),
            ),
            Form::Cells { .. } => Err(serde::de::Error::custom(
                "the normal and reduce tables must have as many ops",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn darts_tables_are_written_by_cell_and_others_as_they_are() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct W(#[serde(with = "by_cell")] ArchTable);
        let d = W(ArchTable::from_fn(28, 8, |r, k| (8 * r + k) as f32));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["normal"].as_array().unwrap().len(), 14);
        assert_eq!(v["reduce"][0][1], 113.0);
        assert_eq!(serde_json::from_value::<W>(v).unwrap(), d);
        let nb = W(ArchTable::from_fn(6, 5, |r, k| (r + k) as f32));
        let v = serde_json::to_value(&nb).unwrap();
        assert!(v.is_array());
        assert_eq!(serde_json::from_value::<W>(v).unwrap(), nb);
    }

    #[test]
    fn rows_index_and_serialise_as_nested_arrays() {
        let t = ArchTable::from_fn(3, 2, |r, k| (10 * r + k) as f32);
        assert_eq!((t.rows(), t.ops(), t.shape()), (3, 2, [3, 2]));
        assert_eq!(t[2], [20.0, 21.0]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "[[0.0,1.0],[10.0,11.0],[20.0,21.0]]");
        assert_eq!(serde_json::from_str::<ArchTable>(&json).unwrap(), t);
        for bad in ["[]", "[[]]", "[[1.0],[1.0,2.0]]", "[1.0]"] {
            assert!(serde_json::from_str::<ArchTable>(bad).is_err(), "{bad}");
        }
        assert_eq!(t.map(|v| -v)[1], [-10.0, -11.0]);
        assert_eq!(
            t.map_rows(|r| r.iter().rev().copied().collect())[0],
            [1.0, 0.0]
        );
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        let t = ArchTable::from_values(3, vec![1.0, 3.0, 3.0, f32::NAN, 0.0, -1.0, 2.0, 2.0, 2.0]);
        assert_eq!(t.row_argmax(), [1, 1, 0]);
    }
}
