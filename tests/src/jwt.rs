//! Keys and tokens minted by an implementation nobody at kit wrote (PyJWT with
//! cryptography's keys, `tests/mint_tokens.py`, in the tools venv of `bash
//! .ci/run`), for the authentication tests.
//!
//! ```no_run
//! let Some(minted) = kit_tests::jwt::Minted::new("https://issuer", "addsvc") else { return };
//! let jwks = minted.jwks(); // an RSA key (RS256) and an EC P-256 key (ES256)
//! let token = minted.token("good_rs256"); // subject alice, scopes "sum concat"
//! # let _ = (jwks, token);
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A JWKS file and tokens by name (see `tests/mint_tokens.py` for the names:
/// `good_rs256`, `good_es256`, `concat_only`, and one of each way a token must
/// be refused), in a temporary folder removed when dropped.
#[derive(Debug)]
pub struct Minted {
    dir: PathBuf,
    tokens: HashMap<String, String>,
}

impl Minted {
    /// Keys and tokens for `issuer` and `audience`; `None` if the tools'
    /// Python is missing (a failure in CI: see [`crate::external`]).
    pub fn new(issuer: &str, audience: &str) -> Option<Minted> {
        let python = crate::external::venv_tool("python")?;
        let dir = crate::fresh_dir("jwt");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("mint_tokens.py");
        let out = std::process::Command::new(python)
            .arg(script)
            .arg(&dir)
            .args([issuer, audience])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tokens = std::fs::read(dir.join("tokens.json")).expect("tokens.json");
        let tokens = serde_json::from_slice(&tokens).expect("a name -> token map");
        Some(Minted { dir, tokens })
    }

    /// The JWKS file (public keys).
    pub fn jwks(&self) -> PathBuf {
        self.dir.join("jwks.json")
    }

    /// The folder (to write more files beside the keys).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token named `name`.
    pub fn token(&self, name: &str) -> &str {
        self.tokens
            .get(name)
            .unwrap_or_else(|| panic!("no token {name:?}"))
    }
}

impl Drop for Minted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
