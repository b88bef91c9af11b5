//! The same program as `nanobragg`, as a binary of its own that exists only in builds with the
//! `mpi` feature: `cargo build --release --features mpi --bin nanobragg-mpi` makes it without
//! replacing the plain `nanobragg` of the same target folder (the test suite does this).

#[path = "../main.rs"]
mod program;

fn main() {
    program::main()
}
