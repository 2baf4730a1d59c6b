//! The container and Kubernetes files, tested as far as this machine can (no container
//! engine or cluster runs here): the kustomize bases render with `kubectl kustomize` and
//! validate against Kubernetes' schemas (kubernetes-validate); every flag the Dockerfile
//! and the manifests pass to a program is in that program's `--help`; the config and the
//! scenario they mount pass `--check-config` and `check` with the Secret's variables; the
//! generated PrometheusRule and dashboards ConfigMap equal what they are made from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tickwatch_tests::{binary, generated_manifests, repo_root, venv_binary};
use yaml_serde::Value;

/// A program of the workspace, built beside this test (`cargo test --workspace` builds
/// them all).
fn program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace` first", path.display());
    path
}

fn help(program_name: &str, args: &[&str]) -> String {
    let out = Command::new(program(program_name)).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{program_name} {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `kubectl kustomize DIR`, as YAML documents.
fn render(dir: &str) -> (String, Vec<Value>) {
    let out =
        Command::new(binary("kubectl").unwrap()).args(["kustomize", dir]).current_dir(repo_root()).output().unwrap();
    assert!(out.status.success(), "kubectl kustomize {dir}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = text
        .split("\n---\n")
        .map(|d| yaml_serde::from_str::<Value>(d).unwrap_or_else(|e| panic!("{dir}: rendered YAML: {e}")))
        .collect();
    (text, docs)
}

fn kind<'a>(docs: &'a [Value], kind: &str, name_prefix: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"].as_str().is_some_and(|n| n.starts_with(name_prefix)))
        .unwrap_or_else(|| panic!("no {kind} {name_prefix}*"))
}

/// Every container of the rendered workloads: (image, args).
fn containers(docs: &[Value]) -> Vec<(String, Vec<String>)> {
    docs.iter()
        .filter_map(|d| d["spec"]["template"]["spec"]["containers"].as_sequence())
        .flatten()
        .map(|c| {
            let args = c["args"].as_sequence().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned));
            (c["image"].as_str().unwrap_or_default().to_owned(), args.collect())
        })
        .collect()
}

/// The `--flags` of `args` (without `=value`) missing from `help`.
fn unknown_flags<'a>(args: &'a [String], help: &str) -> Vec<&'a str> {
    args.iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap_or(a))
        .filter(|flag| !help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=').any(|w| w == *flag))
        .collect()
}

/// The Secret's variables, for the config files that reference them.
fn secret_env(docs: &[Value]) -> BTreeMap<String, String> {
    use base64::Engine;
    let secret = kind(docs, "Secret", "tickwatch-targets");
    let data = secret["data"].as_mapping().expect("the Secret has data");
    data.iter()
        .map(|(k, v)| {
            let encoded: String = v.as_str().unwrap().split_whitespace().collect();
            let value = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
            (k.as_str().unwrap().to_owned(), String::from_utf8(value).unwrap())
        })
        .collect()
}

#[test]
fn manifests_render_validate_and_pass_only_known_flags_and_valid_configs() {
    let (base_text, base) = render("deploy/kubernetes");
    let (merge_text, merge) = render("deploy/kubernetes/merge");
    for (dir, text) in [("base", &base_text), ("merge", &merge_text)] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let validate =
            Command::new(venv_binary("kubernetes-validate").unwrap()).arg("--strict").arg(file.path()).output();
        let out = validate.unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubernetes-validate ({dir}):\n{report}");
    }

    // The shards' Job and the merge Job: Indexed, one start for all, the verdict from the merge.
    let job = kind(&base, "Job", "tickwatch-loadgen");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], job["spec"]["parallelism"]);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let deployment = kind(&base, "Deployment", "tickwatch-exporter");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/-/ready");
    let dashboards = kind(&base, "ConfigMap", "tickwatch-dashboards");
    assert_eq!(dashboards["metadata"]["labels"]["grafana_dashboard"], "1");

    let exporter_help = help("tickwatch-exporter", &[]);
    let (run_help, merge_help) = (help("tickwatch-loadgen", &["run"]), help("tickwatch-loadgen", &["merge"]));
    for (image, args) in containers(&base).into_iter().chain(containers(&merge)) {
        let help = match (image.split(':').next().unwrap_or_default(), args.first().map(String::as_str)) {
            ("tickwatch-exporter", _) => &exporter_help,
            ("tickwatch-loadgen", Some("run")) => &run_help,
            ("tickwatch-loadgen", Some("merge")) => &merge_help,
            other => panic!("a container of an unknown program: {other:?}"),
        };
        assert_eq!(unknown_flags(&args, help), Vec::<&str>::new(), "{image} {args:?}");
    }

    // The config and the scenario they mount, with the Secret's variables.
    let env = secret_env(&base);
    let root = repo_root();
    let check = Command::new(program("tickwatch-exporter"))
        .args(["--check-config", "--config"])
        .arg(root.join("deploy/kubernetes/base/exporter.toml"))
        .envs(&env)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let scenario = Command::new(program("tickwatch-loadgen"))
        .arg("check")
        .arg(root.join("deploy/kubernetes/base/scenario.toml"))
        .envs(&env)
        .output()
        .unwrap();
    assert!(scenario.status.success(), "{}", String::from_utf8_lossy(&scenario.stderr));
}

#[test]
fn generated_manifests_are_up_to_date_and_the_rule_equals_alerts_yml() {
    let root = repo_root();
    for (path, text) in generated_manifests(&root).unwrap() {
        let on_disk = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is out of date: run `cargo run -p tickwatch-tests --bin tickwatch-manifests`",
            path.display()
        );
    }
    let rule: Value = yaml_serde::from_str(
        &std::fs::read_to_string(root.join("deploy/kubernetes/base/generated/prometheusrule.yaml")).unwrap(),
    )
    .unwrap();
    let alerts: Value =
        yaml_serde::from_str(&std::fs::read_to_string(root.join("dashboards/prometheus/alerts.yml")).unwrap()).unwrap();
    assert_eq!(rule["spec"], alerts, "the PrometheusRule's spec is alerts.yml");
}

#[test]
fn the_dockerfile_builds_both_programs_into_minimal_non_root_images() {
    let root = repo_root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 3, "a build stage and one runtime stage per program: {stages:?}");
    for target in ["exporter", "loadgen"] {
        let stage = dockerfile.split("\nFROM ").find(|s| s.contains(&format!(" AS {target}\n"))).unwrap();
        assert!(stage.contains("USER 65532:65532"), "{target} runs as non-root");
        assert!(stage.contains("EXPOSE 10089"), "{target} exposes 10089");
        assert!(stage.contains("org.opencontainers.image.title"), "{target} has OCI labels");
        let entrypoint = stage.lines().find(|l| l.starts_with("ENTRYPOINT")).unwrap();
        assert!(entrypoint.contains(&format!("tickwatch-{target}")), "{entrypoint}");
        let cmd: Vec<String> = stage
            .lines()
            .find(|l| l.starts_with("CMD"))
            .map(|l| yaml_serde::from_str::<Vec<String>>(l.trim_start_matches("CMD").trim()).unwrap())
            .unwrap();
        let help = match target {
            "exporter" => help("tickwatch-exporter", &[]),
            _ => help("tickwatch-loadgen", &[cmd[0].as_str()]),
        };
        assert_eq!(unknown_flags(&cmd, &help), Vec::<&str>::new(), "{target}: {cmd:?}");
        // What the stage copies from the repository is there.
        for line in stage.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
            let source = line.split_whitespace().nth(1).unwrap();
            assert!(root.join(source).exists(), "{target}: COPY {source}: not in the repository");
        }
    }
    let exporter_stage = dockerfile.split("\nFROM ").find(|s| s.contains(" AS exporter\n")).unwrap();
    let config = exporter_stage.lines().find(|l| l.contains("exporter.toml /etc/")).unwrap();
    let (_, base) = render("deploy/kubernetes");
    let check = Command::new(program("tickwatch-exporter"))
        .args(["--check-config", "--config"])
        .arg(root.join(config.split_whitespace().nth(1).unwrap()))
        .envs(secret_env(&base))
        .output()
        .unwrap();
    assert!(check.status.success(), "the default config: {}", String::from_utf8_lossy(&check.stderr));
}
