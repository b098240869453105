//! Certificates for TLS tests, made by the `openssl` command-line tool in a
//! temporary directory: two CAs, server and client certificates (ECDSA P-256,
//! PEM, keys in PKCS#8).
//!
//! ```no_run
//! let pki = kit_tests::pki::Pki::new();
//! let (cert, key) = pki.server("localhost");
//! let (client, client_key) = pki.client("spiffe://kit.test/addsvc");
//! # let _ = (cert, key, client, client_key, pki.ca());
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory of test certificates, removed when dropped.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
    made: AtomicUsize,
}

/// Runs `openssl` with `args` in `dir`, panicking with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl could not run ({e}); `bash .ci/run` installs it"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new directory with two CAs: `ca.pem` (the one the tests trust) and
    /// `other-ca.pem` (one nobody trusts).
    pub fn new() -> Pki {
        let dir = crate::fresh_dir("pki");
        for ca in ["ca", "other-ca"] {
            key(&dir, &format!("{ca}.key"));
            openssl(
                &dir,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    &format!("{ca}.key"),
                    "-subj",
                    &format!("/CN=kit test {ca}"),
                    "-days",
                    "2",
                    "-out",
                    &format!("{ca}.pem"),
                ],
            );
        }
        Pki {
            dir,
            made: AtomicUsize::new(0),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The trusted CA's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The untrusted CA's certificate.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// A server certificate for `DNS:host` and `IP:127.0.0.1` from the trusted
    /// CA, valid two days: (certificate, key).
    pub fn server(&self, host: &str) -> (PathBuf, PathBuf) {
        self.issue("ca", &format!("DNS:{host},IP:127.0.0.1"), "2")
    }

    /// A server certificate for `DNS:host` and `IP:127.0.0.1` from the
    /// untrusted CA (what a server rotates to when its CA changes).
    pub fn server_of_other_ca(&self, host: &str) -> (PathBuf, PathBuf) {
        self.issue("other-ca", &format!("DNS:{host},IP:127.0.0.1"), "2")
    }

    /// A client certificate whose subject alternative name is `name` (a URI
    /// such as `spiffe://kit.test/addsvc`, or a DNS name) from the trusted CA.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue("ca", &san(name), "2")
    }

    /// A client certificate for `name` from the untrusted CA.
    pub fn client_of_other_ca(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue("other-ca", &san(name), "2")
    }

    /// A client certificate for `name` from the trusted CA that has expired
    /// (its validity ends before it starts).
    pub fn expired_client(&self, name: &str) -> (PathBuf, PathBuf) {
        self.issue("ca", &san(name), "-1")
    }

    /// A certificate from `ca` with the subject alternative names `sans`, valid
    /// `days` days, in files of its own: (certificate, key).
    fn issue(&self, ca: &str, sans: &str, days: &str) -> (PathBuf, PathBuf) {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let (cert, key_file, csr, ext) = (
            format!("leaf{n}.pem"),
            format!("leaf{n}.key"),
            format!("leaf{n}.csr"),
            format!("leaf{n}.ext"),
        );
        key(&self.dir, &key_file);
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &key_file,
                "-subj",
                &format!("/CN=leaf{n}"),
                "-out",
                &csr,
            ],
        );
        std::fs::write(
            self.dir.join(&ext),
            format!(
                "subjectAltName={sans}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
            ),
        )
        .expect("an extensions file");
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                days,
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
        );
        (self.dir.join(cert), self.dir.join(key_file))
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A subject alternative name: a URI if `name` has a scheme, else a DNS name.
fn san(name: &str) -> String {
    if name.contains("://") {
        format!("URI:{name}")
    } else {
        format!("DNS:{name}")
    }
}

/// A new ECDSA P-256 private key (PKCS#8 PEM) in `dir/file`.
fn key(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            file,
        ],
    );
}
