//! The services' committed protobuf message code is what their `.proto` files
//! generate: prost-build on protox (a protobuf compiler written in Rust, so no
//! `protoc`), compared byte for byte. After changing a `.proto`, regenerate
//! with `KIT_REGENERATE=1 cargo test -p kit-tests --test proto`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What `proto` (under `dir/proto`) generates.
fn generate(dir: &str, proto: &str) -> String {
    let include = root().join(dir).join("proto");
    let fds = protox::compile([include.join(proto)], [&include]).expect("the .proto compiles");
    let out = kit_tests::fresh_dir(&format!("proto-{dir}"));
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(fds)
        .expect("prost-build generates");
    let package = proto.trim_end_matches(".proto");
    let code = std::fs::read_to_string(out.join(format!("{package}.rs"))).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    code
}

/// What `proto` (under `dir/proto`) generates with tonic's service stubs
/// (server and client) beside the messages, as a plain tonic service has them.
fn generate_tonic(dir: &str, proto: &str) -> String {
    let include = root().join(dir).join("proto");
    let fds = protox::compile([include.join(proto)], [&include]).expect("the .proto compiles");
    let out = kit_tests::fresh_dir(&format!("tonic-{dir}"));
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        .out_dir(&out)
        .compile_fds(fds)
        .expect("tonic-prost-build generates");
    let package = proto.trim_end_matches(".proto");
    let code = std::fs::read_to_string(out.join(format!("{package}.rs"))).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    code
}

fn check(dir: &str, proto: &str, committed: &str) {
    compare(generate(dir, proto), dir, proto, committed);
}

fn compare(generated: String, dir: &str, proto: &str, committed: &str) {
    let path: &Path = &root().join(committed);
    if std::env::var("KIT_REGENERATE").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{committed} is not what {dir}/proto/{proto} generates: run \
         `KIT_REGENERATE=1 cargo test -p kit-tests --test proto`"
    );
}

#[test]
fn stringsvc_messages_are_up_to_date() {
    check(
        "stringsvc",
        "stringsvc.proto",
        "stringsvc/src/transport/grpc/pb.rs",
    );
}

#[test]
fn addsvc_messages_are_up_to_date() {
    check("addsvc", "addsvc.proto", "addsvc/src/transport/grpc/pb.rs");
}

#[test]
fn the_tonic_examples_stubs_are_up_to_date() {
    let generated = generate_tonic("stringsvc", "stringsvc.proto");
    compare(
        generated,
        "stringsvc",
        "stringsvc.proto",
        "examples/tonic-alacarte/src/pb.rs",
    );
}
