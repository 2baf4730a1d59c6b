use crate::{KitError, Result};
use std::path::{Path, PathBuf};

/// Where Debian puts server binaries that are not always on a user's PATH.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/lib/rabbitmq/bin", "/usr/bin"];

/// The repository root (the kit lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// The Python virtual environment `scripts/setup.sh` creates (`TICKWATCH_VENV` overrides).
fn venv_dir() -> PathBuf {
    std::env::var_os("TICKWATCH_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"))
}

fn not_installed(name: &str, place: &str) -> KitError {
    KitError(format!(
        "`{name}` is not installed ({place}): run `scripts/setup.sh` from the repository root; \
         it installs the servers the tests use (redis-server, rabbitmq-server, prometheus, \
         prometheus-alertmanager, and secantusdb and celery in .venv)"
    ))
}

/// Finds a system server binary on PATH or in Debian's sbin and library directories.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| not_installed(name, "looked on PATH and in /usr/sbin, /usr/lib/rabbitmq/bin"))
}

/// Finds a binary of the project's Python virtual environment.
pub fn venv_binary(name: &str) -> Result<PathBuf> {
    let candidate = venv_dir().join("bin").join(name);
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(not_installed(name, &format!("looked for {}", candidate.display())))
    }
}

/// Finds `name` in one given directory.
pub(crate) fn binary_in(dir: &str, name: &str) -> Result<PathBuf> {
    let candidate = Path::new(dir).join(name);
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(not_installed(name, &format!("looked for {}", candidate.display())))
    }
}
