//! The search spaces as plain data: their ops, cell topology, genotype text, derivation rule and
//! sampling. No tensors: everything above (networks, estimators, the search) builds on these.
//!
//! * [`arch`]: the `[rows, ops]` tables (α, G_t, Gumbel noise, weights) shaped by a space.
//! * [`nb201`]: NAS-Bench-201 (5 ops on the 6 edges of a 4-node cell), with its accuracy table
//!   ([`nb201::table`], for reporting only) and its cell drawing ([`nb201::draw`]).
//! * [`darts`]: the DARTS space (8 ops on the 14 edges of a cell, normal and reduction cells),
//!   its `Genotype(...)` text and its derivation rule. The search does not use it yet.
//!
//! NB201's items are re-exported here: it is the space the rest of the crate is written for until
//! α and its companions are shaped tables of the space (the layout issue's next step, which the
//! DARTS space needs).

pub mod arch;
pub mod darts;
pub mod nb201;

pub use arch::ArchTable;

/// Which search space a run searched: named in trajectories and results (format version 2), so a
/// reader knows how to read their tables and genotypes. A version-1 file has no such field and
/// is NB201's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceKind {
    /// NAS-Bench-201 (`[6, 5]` tables, `|op~i|+…` genotypes).
    #[default]
    Nb201,
    /// DARTS (`[28, 8]` tables, `Genotype(...)` genotypes).
    Darts,
}
pub use nb201::{EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op, SpaceError};
