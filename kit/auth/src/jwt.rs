//! Verifying JWT bearer tokens: keys from a JWKS file or a shared secret, each
//! pinned to its algorithm.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kit_endpoint::Claims;

use crate::error::{AuthError, ConfigError};

/// The longest token verified: 8 KiB. A longer one is refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The clock skew allowed on `exp` and `nbf` by default: 30 s.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The most keys a key set may hold (a token without `kid` is tried against
/// each key of its algorithm, so this bounds the work per token).
pub const MAX_KEYS: usize = 32;

/// The largest JWKS file read: 1 MiB.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// The most verified tokens remembered (see [`Verifier::verify`]): 1,024.
pub const CACHED_TOKENS: usize = 1024;

/// The longest token remembered once verified: 2 KiB (longer ones are
/// verified every time), so the memory is bounded by 2 MiB.
const CACHED_TOKEN_BYTES: usize = 2 * 1024;

/// Verified tokens by their text (foldhash, randomly seeded: only verified
/// tokens are ever inserted, so a caller cannot steer the table).
type Remembered = HashMap<Box<str>, (Claims, u64), foldhash::fast::RandomState>;

/// How often [`Verifier::watch`] looks at the JWKS file.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// One verification key, pinned to one algorithm, with the checks made once.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// What a token must say besides its signature.
#[derive(Clone)]
struct Expect {
    issuer: String,
    audience: String,
    leeway: Duration,
}

impl Expect {
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // Only this key's algorithm: no algorithm confusion.
        v.algorithms = vec![alg];
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = self.leeway.as_secs();
        v
    }
}

/// The algorithm a JWK is pinned to: its `alg`, which must fit its key type,
/// or, where it has none, the one its key type implies (RSA: RS256, EC P-256:
/// ES256, EC P-384: ES384, Ed25519: EdDSA). A symmetric key must say its
/// algorithm.
fn pinned(jwk: &jsonwebtoken::jwk::Jwk) -> Result<Algorithm, String> {
    use Algorithm as A;
    let stated = jwk.common.key_algorithm.map(|a| match a {
        KeyAlgorithm::HS256 => Ok(A::HS256),
        KeyAlgorithm::HS384 => Ok(A::HS384),
        KeyAlgorithm::HS512 => Ok(A::HS512),
        KeyAlgorithm::ES256 => Ok(A::ES256),
        KeyAlgorithm::ES384 => Ok(A::ES384),
        KeyAlgorithm::RS256 => Ok(A::RS256),
        KeyAlgorithm::RS384 => Ok(A::RS384),
        KeyAlgorithm::RS512 => Ok(A::RS512),
        KeyAlgorithm::PS256 => Ok(A::PS256),
        KeyAlgorithm::PS384 => Ok(A::PS384),
        KeyAlgorithm::PS512 => Ok(A::PS512),
        KeyAlgorithm::EdDSA => Ok(A::EdDSA),
        other => Err(format!("algorithm {other:?} is not for signatures")),
    });
    let stated = stated.transpose()?;
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            if let Some(a) = stated {
                let rsa = [A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512];
                return rsa
                    .contains(&a)
                    .then_some(a)
                    .ok_or(format!("{a:?} with an RSA key"));
            }
            A::RS256
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => A::ES256,
            EllipticCurve::P384 => A::ES384,
            ref other => return Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => A::EdDSA,
            ref other => return Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKey(_) => {
            return match stated {
                Some(a @ (A::HS256 | A::HS384 | A::HS512)) => Ok(a),
                Some(a) => Err(format!("{a:?} with a symmetric key")),
                None => Err("a symmetric key must state its algorithm (alg)".into()),
            };
        }
    };
    match stated {
        Some(a) if a != implied => Err(format!("{a:?} does not fit the key ({implied:?})")),
        _ => Ok(implied),
    }
}

/// The keys of a JWKS document, each checked and pinned.
fn keys_of(jwks: &[u8], expect: &Expect) -> Result<Vec<Key>, String> {
    let set: JwkSet =
        serde_json::from_slice(jwks).map_err(|e| format!("not a JWKS document: {e}"))?;
    if set.keys.is_empty() {
        return Err("no keys".into());
    }
    if set.keys.len() > MAX_KEYS {
        return Err(format!("{} keys: at most {MAX_KEYS}", set.keys.len()));
    }
    let mut keys = Vec::with_capacity(set.keys.len());
    for (i, jwk) in set.keys.iter().enumerate() {
        let name = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(format!("key {name} is not for signatures (use)"));
        }
        let alg = pinned(jwk).map_err(|e| format!("key {name}: {e}"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {name}: {e}"))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
            validation: expect.validation(alg),
        });
    }
    Ok(keys)
}

/// The claims kit reads from a verified token (`iss`, `aud`, `exp`, `nbf` are
/// checked by the validation).
#[derive(serde::Deserialize)]
struct Raw {
    sub: String,
    /// When it expires (required and checked by the validation): how long a
    /// cached verification holds.
    exp: u64,
    /// OAuth 2's space-separated scopes.
    #[serde(default)]
    scope: Option<String>,
    /// The same as an array (Azure AD, Okta...).
    #[serde(default)]
    scp: Option<Vec<String>>,
}

/// Verifies bearer tokens: their signature by a key of the set (each key
/// pinned to its algorithm: a token must use exactly its key's, and `alg:
/// none` is never accepted), their issuer and audience, `exp` (required) and
/// `nbf` with a small leeway, and a `sub`; then gives their [`Claims`].
/// Clones share the keys, which [`reload`](Verifier::reload) replaces.
///
/// ```
/// use kit_auth::Verifier;
///
/// let verifier = Verifier::from_secret(b"0123456789abcdef0123456789abcdef", "https://issuer", "addsvc")
///     .unwrap();
/// assert!(verifier.verify("not.a.token").is_err());
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<RwLock<Arc<Vec<Key>>>>,
    expect: Expect,
    file: Option<Arc<PathBuf>>,
    /// Tokens verified lately, by their whole text, with their claims and
    /// expiry: a caller that sends the same token again is not verified
    /// again until it expires (an RSA signature costs ~20 us).
    verified: Arc<Mutex<Remembered>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.expect.issuer)
            .field("audience", &self.expect.audience)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Verifies with the keys of the JWKS file `path` (RSA, EC P-256/P-384,
    /// Ed25519; at most [`MAX_KEYS`]), tokens issued by `issuer` for
    /// `audience`. Fails, saying which key and why, on a file that cannot be
    /// read, is not a JWKS, or holds a key that is not for signatures or whose
    /// `alg` does not fit it.
    pub fn from_jwks_file(
        path: impl AsRef<Path>,
        issuer: &str,
        audience: &str,
    ) -> Result<Verifier, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let expect = Expect {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: DEFAULT_LEEWAY,
        };
        let keys = read_keys(&path, &expect)?;
        Ok(Verifier {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            expect,
            file: Some(Arc::new(path)),
            verified: Arc::default(),
        })
    }

    /// Verifies HS256 tokens signed with `secret` (at least 32 bytes), issued
    /// by `issuer` for `audience`.
    pub fn from_secret(
        secret: &[u8],
        issuer: &str,
        audience: &str,
    ) -> Result<Verifier, ConfigError> {
        if secret.len() < 32 {
            return Err(ConfigError::new("an HS256 secret needs at least 32 bytes"));
        }
        let expect = Expect {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: DEFAULT_LEEWAY,
        };
        let key = Key {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
            validation: expect.validation(Algorithm::HS256),
        };
        Ok(Verifier {
            keys: Arc::new(RwLock::new(Arc::new(vec![key]))),
            expect,
            file: None,
            verified: Arc::default(),
        })
    }

    /// The clock skew allowed on `exp` and `nbf` (default [`DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.expect.leeway = leeway;
        let keys = self.current();
        let rebuilt: Vec<Key> = keys
            .iter()
            .map(|k| Key {
                kid: k.kid.clone(),
                alg: k.alg,
                key: k.key.clone(),
                validation: self.expect.validation(k.alg),
            })
            .collect();
        self.keys = Arc::new(RwLock::new(Arc::new(rebuilt)));
        self.verified = Arc::default();
        self
    }

    fn current(&self) -> Arc<Vec<Key>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The claims of `token` if it verifies; why not, in general terms only,
    /// if it does not (never which check failed: that would help forge one).
    ///
    /// A token that verified is remembered, by its whole text, until it
    /// expires ([`CACHED_TOKENS`] at most; the keys' reload forgets them all):
    /// the same token again costs a lookup, not a signature check. Only the
    /// very same text matches, and only verified tokens are remembered.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.expect.leeway.as_secs();
        if let Some((claims, exp)) = self.lock_verified().get(token)
            && now <= exp.saturating_add(leeway)
        {
            return Ok(claims.clone());
        }
        let (claims, exp) = self.verify_signed(token)?;
        if token.len() <= CACHED_TOKEN_BYTES {
            let mut verified = self.lock_verified();
            if verified.len() >= CACHED_TOKENS {
                // Bounded: start over (only tokens that verified get here).
                verified.clear();
            }
            verified.insert(token.into(), (claims.clone(), exp));
        }
        Ok(claims)
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `token`'s signature and claims: its claims and expiry.
    fn verify_signed(&self, token: &str) -> Result<(Claims, u64), AuthError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        if let [key] = &keys[..] {
            // One key: its validation checks the token's algorithm (it allows
            // only the key's): no need to read the header first.
            return claims_of(token, key);
        }
        // `alg: none` and unknown algorithms do not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        let candidates = keys.iter().filter(|k| {
            k.alg == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    (Some(_), None) => false,
                    (None, _) => true,
                }
        });
        for key in candidates {
            if let Ok(claims) = claims_of(token, key) {
                return Ok(claims);
            }
        }
        Err(AuthError::InvalidToken)
    }

    /// Reads the JWKS file again (a verifier from a secret has none): tokens
    /// from now on are checked against the new keys. A file that cannot be
    /// used is refused with the reason, and the keys in use kept.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let keys = read_keys(file, &self.expect)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        // A key taken out must stop vouching for the tokens it signed.
        self.lock_verified().clear();
        Ok(())
    }

    /// Reloads the keys whenever the JWKS file changes (looked at every
    /// [`RELOAD_CHECK`]), telling `on_reload` each outcome. Runs until
    /// dropped: spawn it.
    pub fn watch(
        self,
        on_reload: impl Fn(Result<(), ConfigError>),
    ) -> impl std::future::Future<Output = ()> {
        let files = self.file.iter().map(|f| (**f).clone()).collect();
        // No file (a secret): nothing ever changes.
        kit_endpoint::watch_files(files, RELOAD_CHECK, move || on_reload(self.reload()))
    }
}

/// The claims of `token` and its expiry, if `key` verifies it.
fn claims_of(token: &str, key: &Key) -> Result<(Claims, u64), AuthError> {
    let data = jsonwebtoken::decode::<Raw>(token, &key.key, &key.validation)
        .map_err(|_| AuthError::InvalidToken)?;
    let Raw {
        sub,
        exp,
        scope,
        scp,
    } = data.claims;
    let claims = match (scope, scp) {
        (Some(scope), None) => Claims::with_scope_list(sub, &scope),
        (scope, scp) => Claims::new(sub, scp.into_iter().flatten().chain(scope)),
    };
    Ok((claims, exp))
}

fn read_keys(path: &Path, expect: &Expect) -> Result<Vec<Key>, ConfigError> {
    let fail =
        |e: &dyn std::fmt::Display| ConfigError::new(format!("JWKS file {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if meta.len() > MAX_JWKS_BYTES {
        return Err(fail(&format_args!("larger than {MAX_JWKS_BYTES} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(&e))?;
    keys_of(&bytes, expect).map_err(|e| fail(&e))
}
