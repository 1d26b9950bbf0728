//! `nasi`: the thin native binary; everything lives in the library.

fn main() {
    std::process::exit(nasi::cli::main());
}
