//! Rebuilds this crate, and so relinks every function, when the gathered-code link's script
//! changes: the opt-in build links with `-T shared/link/hot-code.ld` (docs/local-tools.md), and
//! cargo tracks source files, not the files a link argument names.

fn main() {
    println!("cargo:rerun-if-changed=../link/hot-code.ld");
}
