//! Runs the real tickwatch-loadgen binary on a scenario written for the test.
#![allow(dead_code)] // each test file uses its own share of these helpers

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// A finished `run`: its exit code, its stderr and the test's folder (the report is in
/// `report/`).
pub struct Finished {
    pub code: i32,
    pub stderr: String,
    pub dir: tempfile::TempDir,
}

impl Finished {
    /// A file in the test's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn report(&self) -> PathBuf {
        self.path("report")
    }

    /// The report's summary.json.
    pub fn summary(&self) -> Value {
        let text = std::fs::read_to_string(self.report().join("summary.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// Writes `scenario` and runs `tickwatch-loadgen run SCENARIO --report-dir DIR/report ARGS`;
/// `DIR` in the scenario and in `args` stands for the test's folder.
pub fn run_scenario(scenario: &str, args: &[&str]) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().display().to_string();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario.replace("DIR", &folder)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwatch-loadgen"))
        .arg("run")
        .arg(&file)
        .arg("--report-dir")
        .arg(dir.path().join("report"))
        .args(args.iter().map(|a| a.replace("DIR", &folder)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Finished { code: out.status.code().unwrap_or(-1), stderr, dir }
}
