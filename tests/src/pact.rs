//! Pact files: where the committed contracts live, and the drift check that keeps
//! them in step with the consumer tests that generate them.

use std::path::{Path, PathBuf};

/// The folder of the committed pact files: `pacts/` at the workspace root.
pub fn pacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pacts")
}

/// The committed pact file `name` (e.g. `addsvc-stringsvc.json`).
pub fn committed(name: &str) -> PathBuf {
    pacts_dir().join(name)
}

/// A fresh, empty folder for a consumer test to write its pact into, so that
/// pact_consumer never merges with an older file: the output is exactly what
/// this run's interactions say.
pub fn fresh_output_dir(test: &str) -> PathBuf {
    crate::fresh_dir(&format!("pacts-{test}"))
}

/// Compares the freshly generated pact `generated_dir/name` with the committed
/// one. With `KIT_UPDATE_PACTS=1` it writes the new file to `pacts/` instead.
///
/// Panics, saying what to do, if they differ: the contract changed without the
/// committed file being updated.
pub fn check_drift(generated_dir: &Path, name: &str) {
    let generated = generated_dir.join(name);
    let text = std::fs::read_to_string(&generated)
        .unwrap_or_else(|e| panic!("no pact was written to {}: {e}", generated.display()));
    let new: serde_json::Value = serde_json::from_str(&text).expect("the pact is JSON");
    let target = committed(name);
    if std::env::var("KIT_UPDATE_PACTS").is_ok_and(|v| v == "1") {
        let pretty = serde_json::to_string_pretty(&new).expect("JSON serializes") + "\n";
        std::fs::write(&target, pretty).expect("pacts/ is writable");
        return;
    }
    let old: Option<serde_json::Value> = std::fs::read_to_string(&target)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if old.as_ref() != Some(&new) {
        panic!(
            "the contract in {} no longer matches what the consumer test generates.\n\
             If the change is intended, regenerate and commit it:\n\
             \n    KIT_UPDATE_PACTS=1 cargo test -p addsvc --test pact_consumer\n\
             \nthen run the provider verifications (cargo test --workspace) and commit pacts/.\n\
             Generated file: {}",
            target.display(),
            generated.display()
        );
    }
}

/// Verifies the committed pact `name` against the provider `provider` listening on
/// `127.0.0.1:port`, with provider states set by POSTing to `state_change_url`
/// (JSON body `{"state", "params", "action"}`), if given.
#[cfg(feature = "pact")]
pub async fn verify(
    provider: &str,
    port: u16,
    name: &str,
    state_change_url: Option<String>,
) -> pact_verifier::verification_result::VerificationExecutionResult {
    verify_file(provider, port, &committed(name), state_change_url).await
}

/// Like [`verify`], for the pact file at `path` (one a test just wrote, say).
#[cfg(feature = "pact")]
pub async fn verify_file(
    provider: &str,
    port: u16,
    path: &Path,
    state_change_url: Option<String>,
) -> pact_verifier::verification_result::VerificationExecutionResult {
    use pact_verifier::callback_executors::{
        HttpRequestProviderStateExecutor, NullRequestFilterExecutor,
    };
    use pact_verifier::{FilterInfo, PactSource, ProviderInfo, ProviderTransport};

    let info = ProviderInfo {
        name: provider.into(),
        host: "127.0.0.1".into(),
        transports: vec![ProviderTransport {
            transport: "http".into(),
            port: Some(port),
            path: None,
            scheme: Some("http".into()),
        }],
        ..ProviderInfo::default()
    };
    let states = std::sync::Arc::new(HttpRequestProviderStateExecutor {
        state_change_url,
        state_change_teardown: true,
        state_change_body: true,
        retries: 0,
    });
    pact_verifier::verify_provider_async(
        info,
        vec![PactSource::File(path.display().to_string())],
        FilterInfo::None,
        vec![],
        &pact_verifier::VerificationOptions::<NullRequestFilterExecutor> {
            coloured_output: false,
            ..pact_verifier::VerificationOptions::default()
        },
        None,
        &states,
        None,
    )
    .await
    .expect("the verification runs")
}
