//! The Kubernetes manifests of `deploy/k8s/`: valid against the Kubernetes schemas (`kubernetes-validate`, which
//! `.ci/run` installs), and the ConfigMap's scenario a valid scenario.

use crate::util::{external_tool, loadgen, root, write};

fn manifests() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("deploy/k8s"))
        .expect("deploy/k8s is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let Some(tool) = external_tool(
        "kubernetes-validate",
        &[&["kubernetes-validate", "--version"]],
    ) else {
        return;
    };
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let out = std::process::Command::new(&tool[0])
            .arg("--strict")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} is not valid:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_configmap_scenario_checks_as_four_segments() {
    let text = std::fs::read_to_string(root().join("deploy/k8s/configmap.yaml")).unwrap();
    let (_, body) = text.split_once("scenario.toml: |\n").unwrap();
    let scenario: String = body
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "scenario.toml", &scenario);
    loadgen(["check", &file.to_string_lossy(), "--segment", "3/4"])
        .expect_code(0)
        .stdout_has("segment    3/4");
}
