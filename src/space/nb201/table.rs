//! NAS-Bench-201 accuracy tables, for *reporting* a searched cell's benchmark accuracy.
//!
//! The search never reads a table; the CLI and the page load one from a path the user gives,
//! in the format `arch,cifar10_test,cifar100_test,imagenet16_test` (one row per cell).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Genotype;

/// Test accuracies (percent) of one cell after NB201's 200-epoch training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracies {
    /// CIFAR-10 test accuracy.
    pub cifar10: f64,
    /// CIFAR-100 test accuracy.
    pub cifar100: f64,
    /// ImageNet16-120 test accuracy.
    pub imagenet16: f64,
}

/// Why a table was rejected.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file cannot be read.
    #[error("cannot read NB201 table {path}: {error}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The text is not a table of the expected format.
    #[error("malformed NB201 table {path}, line {line}: {why}")]
    Format {
        /// The path (or `<text>`).
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Header of the accuracy table format.
pub const HEADER: &str = "arch,cifar10_test,cifar100_test,imagenet16_test";

/// A loaded accuracy table: its rows in file order (NB201's index order for the benchmark's own
/// files) and an index by cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    rows: Vec<(Genotype, Accuracies)>,
    index: HashMap<Genotype, usize>,
}

/// First bytes of the bundled table ([`Table::to_bundle`]), with its format version.
pub const BUNDLE_MAGIC: &[u8; 4] = b"NB2\x01";

impl Table {
    /// Loads a table from a CSV file.
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let text = std::fs::read_to_string(path).map_err(|error| TableError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses CSV text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TableError> {
        let bad = |line: usize, why: String| TableError::Format {
            path: origin.to_string(),
            line,
            why,
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim() == HEADER => {}
            Some((_, h)) => return Err(bad(1, format!("header is `{h}`, expected `{HEADER}`"))),
            None => return Err(bad(1, "the file is empty".into())),
        }
        let mut rows = Vec::new();
        let mut index = HashMap::new();
        for (i, line) in lines {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.trim().split(',').collect();
            if f.len() != 4 {
                return Err(bad(n, format!("expected 4 fields, found {}", f.len())));
            }
            let g: Genotype = f[0].parse().map_err(|e| bad(n, format!("{e}")))?;
            let num = |j: usize| -> Result<f64, TableError> {
                match f[j].parse::<f64>() {
                    Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
                    _ => Err(bad(n, format!("`{}` is not an accuracy in 0..=100", f[j]))),
                }
            };
            let acc = Accuracies {
                cifar10: num(1)?,
                cifar100: num(2)?,
                imagenet16: num(3)?,
            };
            if index.insert(g, rows.len()).is_some() {
                return Err(bad(n, format!("cell {g} appears twice")));
            }
            rows.push((g, acc));
        }
        if rows.is_empty() {
            return Err(bad(2, "the table has no rows".into()));
        }
        Ok(Table { rows, index })
    }

    /// The table as the page bundles it (`www/nb201.bin`, made by `nasi pack-nb201`), for a
    /// complete table (all 15,625 cells): the magic [`BUNDLE_MAGIC`], the cell count (u32,
    /// little-endian), then four columns in our ordinal order of the cells
    /// ([`Genotype::from_ordinal`], so no genotype is stored): CIFAR-10, CIFAR-100 and
    /// ImageNet16-120 accuracies as u16 hundredths of a percent (the CSV's figures rounded to
    /// 0.01), and the cell's row in the table (NB201's own index for the benchmark's files). Each
    /// u16 column is written as its low bytes then its high bytes: neighbours in ordinal order
    /// differ in one edge and have similar accuracies, which gzip then finds (125,008 bytes,
    /// about 93 KB gzipped). `None` for an incomplete table.
    pub fn to_bundle(&self) -> Option<Vec<u8>> {
        let n = Genotype::SPACE_SIZE;
        if self.rows.len() != n {
            return None;
        }
        let by_ordinal: Vec<(usize, Accuracies)> = (0..n)
            .map(|o| {
                let g = Genotype::from_ordinal(o);
                let i = self.index[&g];
                (i, self.rows[i].1)
            })
            .collect();
        let hundredths = |v: f64| (v * 100.0).round() as u16;
        let columns: [Vec<u16>; 4] = [
            by_ordinal
                .iter()
                .map(|(_, a)| hundredths(a.cifar10))
                .collect(),
            by_ordinal
                .iter()
                .map(|(_, a)| hundredths(a.cifar100))
                .collect(),
            by_ordinal
                .iter()
                .map(|(_, a)| hundredths(a.imagenet16))
                .collect(),
            by_ordinal.iter().map(|&(i, _)| i as u16).collect(),
        ];
        let mut out = Vec::with_capacity(8 + 8 * n);
        out.extend_from_slice(BUNDLE_MAGIC);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for c in &columns {
            out.extend(c.iter().map(|v| v.to_le_bytes()[0]));
            out.extend(c.iter().map(|v| v.to_le_bytes()[1]));
        }
        Some(out)
    }

    /// Reads [`Table::to_bundle`]'s bytes, rows in the table's order again; a truncated or
    /// foreign file is one line naming it.
    pub fn from_bundle(bytes: &[u8]) -> Result<Self, TableError> {
        let bad = |why: String| TableError::Format {
            path: "the bundled NB201 table".into(),
            line: 0,
            why,
        };
        let n = Genotype::SPACE_SIZE;
        if bytes.len() < 8 || &bytes[..4] != BUNDLE_MAGIC {
            return Err(bad("not a bundled table (wrong magic)".into()));
        }
        let count = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
        if count != n || bytes.len() != 8 + 8 * n {
            return Err(bad(format!(
                "{} bytes for {count} cells (expected {} for {n})",
                bytes.len(),
                8 + 8 * n
            )));
        }
        let column = |c: usize| {
            let at = 8 + 2 * n * c;
            let (lo, hi) = (&bytes[at..at + n], &bytes[at + n..at + 2 * n]);
            move |o: usize| u16::from_le_bytes([lo[o], hi[o]])
        };
        let (c10, c100, in16, row) = (column(0), column(1), column(2), column(3));
        let mut slots: Vec<Option<(Genotype, Accuracies)>> = vec![None; n];
        for o in 0..n {
            let i = row(o) as usize;
            let slot = slots
                .get_mut(i)
                .ok_or_else(|| bad(format!("row {i} is outside the table")))?;
            if slot.is_some() {
                return Err(bad(format!("row {i} appears twice")));
            }
            let pct = |v: u16| v as f64 / 100.0;
            *slot = Some((
                Genotype::from_ordinal(o),
                Accuracies {
                    cifar10: pct(c10(o)),
                    cifar100: pct(c100(o)),
                    imagenet16: pct(in16(o)),
                },
            ));
        }
        let rows: Vec<(Genotype, Accuracies)> = slots.into_iter().flatten().collect();
        let index = rows.iter().enumerate().map(|(i, (g, _))| (*g, i)).collect();
        Ok(Table { rows, index })
    }

    /// Accuracies of a cell, if the table has it.
    pub fn get(&self, g: &Genotype) -> Option<Accuracies> {
        self.index.get(g).map(|&i| self.rows[i].1)
    }

    /// The cell's row number in the table (NB201's own index for the benchmark's files).
    pub fn position(&self, g: &Genotype) -> Option<usize> {
        self.index.get(g).copied()
    }

    /// The cell's CIFAR-10 rank among the table's cells (1 = best; ties share the better rank),
    /// if the table has it.
    pub fn cifar10_rank(&self, g: &Genotype) -> Option<usize> {
        let a = self.get(g)?.cifar10;
        Some(1 + self.rows.iter().filter(|(_, b)| b.cifar10 > a).count())
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every cell and its accuracies, in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&Genotype, &Accuracies)> {
        self.rows.iter().map(|(g, a)| (g, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let t = Table::parse(
            &format!("{HEADER}\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10.0,1.0,0.8\n"),
            "t",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        for (text, needle) in [
            ("", "empty"),
            ("a,b\n", "header"),
            (&format!("{HEADER}\n"), "no rows"),
            (&format!("{HEADER}\n|x~0|,1,2,3\n"), "line 2"),
            (
                &format!("{HEADER}\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,2\n"),
                "4 fields",
            ),
            (
                &format!("{HEADER}\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,NaN,3\n"),
                "not an accuracy",
            ),
        ] {
            let e = Table::parse(text, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
