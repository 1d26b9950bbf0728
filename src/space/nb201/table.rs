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

/// A loaded accuracy table, keyed by cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    rows: HashMap<Genotype, Accuracies>,
}

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
        let mut rows = HashMap::new();
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
            if rows.insert(g, acc).is_some() {
                return Err(bad(n, format!("cell {g} appears twice")));
            }
        }
        if rows.is_empty() {
            return Err(bad(2, "the table has no rows".into()));
        }
        Ok(Table { rows })
    }

    /// Accuracies of a cell, if the table has it.
    pub fn get(&self, g: &Genotype) -> Option<Accuracies> {
        self.rows.get(g).copied()
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every cell and its accuracies (arbitrary order).
    pub fn iter(&self) -> impl Iterator<Item = (&Genotype, &Accuracies)> {
        self.rows.iter()
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
