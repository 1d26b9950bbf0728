//! The search spaces as plain data: their ops, cell topology, genotype text, derivation rule and
//! sampling. No tensors: everything above (networks, estimators, the search) builds on these.
//!
//! * [`nb201`]: NAS-Bench-201 (5 ops on the 6 edges of a 4-node cell), with its accuracy table
//!   ([`nb201::table`], for reporting only) and its cell drawing ([`nb201::draw`]).
//! * [`darts`]: the DARTS space (8 ops on the 14 edges of a cell, normal and reduction cells),
//!   its `Genotype(...)` text and its derivation rule. The search does not use it yet.
//!
//! NB201's items are re-exported here: it is the space the rest of the crate is written for until
//! α and its companions are shaped tables of the space (the layout issue's next step, which the
//! DARTS space needs).

pub mod darts;
pub mod nb201;

pub use nb201::{ArchTable, EDGES, Genotype, NUM_EDGES, NUM_NODES, NUM_OPS, Op, SpaceError};
