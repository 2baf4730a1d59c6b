//! Writes the generated Kubernetes manifests (the PrometheusRule and the dashboards'
//! ConfigMap) into deploy/kubernetes/base/generated/ from the files they are made of.

use tickwatch_tests::{generated_manifests, repo_root};

fn main() -> std::process::ExitCode {
    let root = repo_root();
    let written = generated_manifests(&root).and_then(|files| {
        for (path, text) in &files {
            std::fs::write(root.join(path), text)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    });
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwatch-manifests: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
