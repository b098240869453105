//! Step 13's checkpoint: the deployment files say only what the binaries
//! understand. Every flag in the manifests is one the binary accepts (its
//! `--help` lists it), every probe points at the debug listener the flags
//! configure, and the image has both binaries. And the challenge: a manifest
//! without etcd, whose `--stringsvc` names a Service it defines.

use std::path::PathBuf;

use kit_tests::process::workspace_binary;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One container of a manifest: its binary, its args, its probes' ports.
#[derive(Debug, Default)]
struct Container {
    binary: String,
    args: Vec<String>,
    probe_ports: Vec<u16>,
}

impl Container {
    /// The value following `flag` in the args.
    fn arg(&self, flag: &str) -> Option<&str> {
        let i = self.args.iter().position(|a| a == flag)?;
        self.args.get(i + 1).map(String::as_str)
    }
}

/// The containers of a manifest, read line by line (the files are written in
/// this one style: `command: ["bin"]`, then `args:` with one item per line).
fn containers(manifest: &str) -> Vec<Container> {
    let mut out: Vec<Container> = Vec::new();
    let mut in_args = false;
    for line in manifest.lines() {
        let t = line.trim();
        if let Some(cmd) = t.strip_prefix("command: [\"") {
            out.push(Container {
                binary: cmd.trim_end_matches("\"]").to_owned(),
                ..Container::default()
            });
            continue;
        }
        let Some(c) = out.last_mut() else { continue };
        if t == "args:" {
            in_args = true;
            continue;
        }
        match t.strip_prefix("- ") {
            Some(item) if in_args => c.args.push(item.trim_matches('"').to_owned()),
            _ => in_args = false,
        }
        if let Some(rest) = t.split("httpGet: {").nth(1) {
            let port = rest.split("port: ").nth(1).expect("a probe port");
            c.probe_ports
                .push(port.trim_end_matches(" }").parse().expect("a numeric port"));
        }
    }
    out
}

fn help(binary: &str) -> String {
    let out = std::process::Command::new(workspace_binary(binary))
        .arg("--help")
        .output()
        .expect("the binary runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks every container of `manifest`; returns them.
fn check(manifest: &str) -> Vec<Container> {
    let found = containers(&read(manifest));
    for c in found
        .iter()
        .filter(|c| ["addsvc", "stringsvc", "addtally"].contains(&c.binary.as_str()))
    {
        let help = help(&c.binary);
        for flag in c.args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")),
                "{manifest}: {} has no {flag}",
                c.binary
            );
        }
        let debug = c.arg("--debug-addr").expect("a debug listener");
        let port: u16 = debug.rsplit(':').next().unwrap().parse().unwrap();
        assert!(
            !c.probe_ports.is_empty(),
            "{manifest}: {} has probes",
            c.binary
        );
        assert!(
            c.probe_ports.iter().all(|p| *p == port),
            "{manifest}: probes {:?} on the debug port {port}",
            c.probe_ports
        );
        if c.binary != "addtally" {
            assert!(
                c.arg("--http-addr")
                    .is_some_and(|a| a.starts_with("0.0.0.0:"))
            );
        }
    }
    found
}

#[test]
fn the_manifests_and_the_image_match_the_binaries() {
    let mut binaries = Vec::new();
    for manifest in [
        "deploy/k8s/etcd.yaml",
        "deploy/k8s/stringsvc.yaml",
        "deploy/k8s/addsvc.yaml",
        "deploy/k8s/nats.yaml",
        "deploy/k8s/addtally.yaml",
    ] {
        binaries.extend(check(manifest).into_iter().map(|c| c.binary));
    }
    assert_eq!(
        binaries,
        ["etcd", "stringsvc", "addsvc", "nats-server", "addtally"]
    );
    let addsvc = &containers(&read("deploy/k8s/addsvc.yaml"))[0];
    // Every member of the clusters, by the names their StatefulSets give them.
    let (etcd, nats) = (
        "etcd://etcd-0.etcd:2379,etcd-1.etcd:2379,etcd-2.etcd:2379",
        "nats://nats-0.nats:4222,nats-1.nats:4222,nats-2.nats:4222",
    );
    assert_eq!(
        addsvc.arg("--events"),
        Some(nats),
        "the NATS cluster's nodes"
    );
    assert_eq!(addsvc.arg("--events-replicas"), Some("3"));
    assert_eq!(addsvc.arg("--stringsvc"), Some(etcd));
    let addtally = &containers(&read("deploy/k8s/addtally.yaml"))[0];
    assert_eq!(addtally.arg("--events"), Some(nats));
    let stringsvc = &containers(&read("deploy/k8s/stringsvc.yaml"))[0];
    assert_eq!(
        stringsvc.arg("--sd"),
        Some(etcd),
        "the etcd cluster's members"
    );
    assert_eq!(
        stringsvc.arg("--advertise"),
        Some("https://$(POD_NAME).stringsvc.default.svc.cluster.local:8082"),
        "a name the headless Service gives the StatefulSet's pods"
    );
    let manifest = read("deploy/k8s/stringsvc.yaml");
    assert!(manifest.contains("- name: POD_NAME"));
    assert!(manifest.contains("kind: StatefulSet") && manifest.contains("serviceName: stringsvc"));
    assert!(manifest.contains("clusterIP: None"), "the headless Service");
    // TLS from the Secrets, mounted as directories (a subPath is never updated).
    assert_eq!(
        stringsvc.arg("--tls-client-ca"),
        Some("/etc/kit/tls/ca.crt")
    );
    assert_eq!(addsvc.arg("--client-cert"), Some("/etc/kit/tls/tls.crt"));
    for (file, secret) in [("stringsvc", "stringsvc-tls"), ("addsvc", "addsvc-tls")] {
        let text = read(&format!("deploy/k8s/{file}.yaml"));
        assert!(text.contains(&format!("secretName: {secret}")), "{file}");
        assert!(!text.contains("subPath:"), "{file}");
    }

    let docker = read("deploy/Dockerfile");
    assert!(docker.contains(
        "cargo build --release --locked -p addsvc -p stringsvc --features addsvc/etcd,stringsvc/etcd"
    ));
    assert!(
        docker.contains("target/release/addtally /out/"),
        "the image has addtally"
    );
    assert!(
        docker.contains("protobuf-compiler"),
        "etcd-client needs protoc"
    );
    assert!(docker.contains("USER 65534"), "not root");
}

#[test]
fn challenge_without_etcd_addsvc_calls_the_stringsvc_service() {
    let manifest = "workshop/solutions/s13-static.yaml";
    let found = check(manifest);
    let addsvc = found.iter().find(|c| c.binary == "addsvc").expect("addsvc");
    assert_eq!(addsvc.arg("--stringsvc"), Some("http://stringsvc:8082"));
    let stringsvc = found
        .iter()
        .find(|c| c.binary == "stringsvc")
        .expect("stringsvc");
    assert_eq!(stringsvc.arg("--sd"), None, "no registration");
    let text = read(manifest);
    assert!(text.contains("kind: Service\nmetadata:\n  name: stringsvc\n"));
    assert!(text.contains("    - port: 8082\n"));
}
