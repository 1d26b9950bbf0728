//! The web playground's entry point (built for wasm32 by trunk; see `index.html`).

#[cfg(target_family = "wasm")]
fn main() {
    nasi::web::start();
}

#[cfg(not(target_family = "wasm"))]
fn main() {
    eprintln!("nasi-web is the browser playground: build and serve it with scripts/serve.sh");
    std::process::exit(2);
}
