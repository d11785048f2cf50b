//! Rebuilds this crate, and so relinks every function, when the release link's script changes:
//! the functions link with `-T shared/link/hot-code.ld` (Cargo.toml's build settings), and cargo
//! tracks source files, not the files a link argument names.

fn main() {
    println!("cargo:rerun-if-changed=../link/hot-code.ld");
}
