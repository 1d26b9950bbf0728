//! The web playground: a yew single-page app that replays recorded NASI runs at once and runs
//! live searches on the visitor's GPU (WebGPU) or, without one, on the CPU.
//!
//! It consumes the same [`SearchEvent`](crate::search::SearchEvent) stream as the CLI and draws
//! with the crate's shared [`svg`](crate::space::nb201::draw) and [`plot`](crate::plot) functions. State lives
//! in one pure reducer ([`state::Playground::apply`]), which is compiled and tested natively; the
//! app, the runner and the components are wasm only.

pub mod state;

#[cfg(target_family = "wasm")]
mod app;
#[cfg(target_family = "wasm")]
mod commands;
#[cfg(target_family = "wasm")]
mod components;
#[cfg(target_family = "wasm")]
mod runner;

#[cfg(target_family = "wasm")]
pub use app::start;
