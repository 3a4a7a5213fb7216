//! Golden scenarios: every `golden/NAME.toml` is run and its transcript compared with
//! `golden/NAME.out`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p palisade golden`
//! and review the diff: the transcripts are the scheduler's specification.

use std::path::{Path, PathBuf};

use super::scenario::run;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/placement/golden")
}

#[test]
fn golden_scenarios() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 10, "scenarios missing: {scenarios:?}");
    let mut failures = Vec::new();
    for path in scenarios {
        let text = std::fs::read_to_string(&path).expect("read scenario");
        let transcript = match run(&text) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let out = path.with_extension("out");
        if update {
            std::fs::write(&out, &transcript).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&out).unwrap_or_default();
        if transcript != expected {
            failures.push(format!(
                "{} differs from {} (UPDATE_GOLDEN=1 to regenerate):\n{transcript}",
                path.display(),
                out.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A scenario with errors is refused with a message naming the step.
#[test]
fn scenario_errors_are_clear() {
    let text = r#"
title = "bad"
[config]
primitive = [{ name = "a", agent = "ocf:heartbeat:Dummy" }]
[state]
nodes = { n1 = "online" }
[[step]]
title = "ban on a missing resource"
add = { location = [{ id = "x", resource = "nope", node = "n1", score = 1 }] }
"#;
    let err = run(text).unwrap_err().to_string();
    assert!(err.contains("[[step]] 1") && err.contains("nope"), "{err}");
    let text = "title = \"t\"\n[state]\nnodes = { n1 = \"sleeping\" }\n";
    let err = run(text).unwrap_err().to_string();
    assert!(err.contains("sleeping"), "{err}");
}
