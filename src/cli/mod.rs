//! The native command line (`nasi`): argument parsing, run folders, progress and printing.
//! All computing is done by the library; this module only wires it to the terminal and disk.
//!
//! One file per subcommand (`search`, `score` with `lookup`, `bench`, `reproduce`,
//! `correlate`, `neighbours`, `darts`, `pack-nb201` in `score`), the grammar in `args`, what they share in `run`; exit codes are chosen here.

mod args;
mod bench;
mod correlate;
mod darts;
mod neighbours;
mod reproduce;
mod run;
mod score;
mod search;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command, SearchCmd};
pub(crate) use run::FORCE;
pub use run::{keep_freed_memory, select_device};

/// Exit status of a successful command.
pub const EXIT_OK: i32 = 0;
/// Exit status of a search stopped by the algorithm itself (a non-finite trace: the message names
/// the step, and the run folder keeps the steps so far).
pub const EXIT_STOPPED: i32 = 1;
/// Exit status of bad input: a flag out of range, a malformed genotype, table, config or CIFAR
/// file, a config too big for the memory (one line on stderr names the problem). clap's own
/// usage errors exit with 2 as well.
pub const EXIT_BAD_INPUT: i32 = 2;

/// A closed pipe (`nasi … | head`) ends the process quietly, as it does other command-line tools,
/// instead of a panic in `println!`: SIGPIPE gets its default action back (Rust ignores it).
fn quiet_broken_pipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: setting a signal's disposition to its default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The one place where an error becomes an exit status (ripgrep's rule).
fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<crate::search::SearchError>() {
        Some(crate::search::SearchError::NonFinite { .. }) => EXIT_STOPPED,
        _ => EXIT_BAD_INPUT,
    }
}

/// A flag clap refuses (an unknown flag, a value outside an enum, a missing value): one line
/// on stderr, clap's message with its hints folded in and its usage and "For more information"
/// lines dropped, and exit 2 like any bad input. `--help` and `--version` print as clap prints them.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect();
    eprintln!("{}", line.join(" "));
    EXIT_BAD_INPUT
}

/// Runs the CLI on the process arguments and returns the exit status ([`EXIT_OK`],
/// [`EXIT_STOPPED`], [`EXIT_BAD_INPUT`]).
pub fn main() -> i32 {
    keep_freed_memory();
    quiet_broken_pipe();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    FORCE.store(cli.force, std::sync::atomic::Ordering::Relaxed);
    let _ = run::DEVICE.set(cli.device);
    let result = match cli.command {
        None => search::search(SearchCmd::default(), None),
        Some(Command::Search(c)) => search::search(c, sub.as_ref()),
        Some(Command::Score(c)) => score::score(c, sub.as_ref()),
        Some(Command::Lookup(c)) => score::lookup(c),
        Some(Command::Bench(c)) => bench::bench(c, sub.as_ref()),
        Some(Command::Reproduce(c)) => reproduce::reproduce(c, sub.as_ref()),
        Some(Command::Correlate(c)) => correlate::correlate(c),
        Some(Command::Darts(c)) => darts::darts(c),
        Some(Command::Neighbours(c)) => neighbours::neighbours(c),
        Some(Command::PackNb201(c)) => score::pack(c),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}
