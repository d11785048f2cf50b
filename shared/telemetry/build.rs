//! Records the git commit being built as the code version error reports carry.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ROLLBAR_CODE_VERSION");
    let from_env = std::env::var("ROLLBAR_CODE_VERSION")
        .ok()
        .filter(|v| !v.is_empty());
    let from_git = || {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if let Some(version) = from_env.or_else(from_git).filter(|v| !v.is_empty()) {
        println!("cargo:rustc-env=ROLLBAR_CODE_VERSION={version}");
    }
    // Rebuild when the checked-out commit changes.
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
