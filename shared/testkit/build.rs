//! Nothing to build: the build-dependencies are feature pins (Cargo.toml says why), which Cargo
//! only resolves for a crate with a build script.

fn main() {}
