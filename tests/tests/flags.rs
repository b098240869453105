//! The services read every flag from its environment variable too
//! (`service_stack::parse_flags`): the shared ones and each service's own,
//! checked as strictly as on the command line, which wins over them.

use kit_tests::process::workspace_binary;

/// What `binary` said when started with `env` and `args`; it must not start.
fn refused_with_env(binary: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = std::process::Command::new(workspace_binary(binary))
        .args(["--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{binary} {env:?} started");
    // clap's refusals on stderr, the service's own in its log on stdout.
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    )
}

#[test]
fn the_variables_are_read_and_checked_as_the_flags_are() {
    let said = refused_with_env(
        "stringsvc",
        &[("STRINGSVC_CONCURRENCY_LIMIT", "fixed:0")],
        &[],
    );
    assert!(said.contains("at least 1"), "{said}");
    let said = refused_with_env("addsvc", &[("ADDSVC_TRACE_SAMPLE_RATIO", "2")], &[]);
    assert!(said.contains("from 0 to 1"), "{said}");
    // A flag of the service's own.
    let said = refused_with_env("stringsvc", &[("STRINGSVC_INJECT_CPU", "100%:5s")], &[]);
    assert!(said.contains("CPU work is at most 1s a call"), "{said}");
    // The rules between flags hold for variables too.
    let said = refused_with_env(
        "stringsvc",
        &[("STRINGSVC_TLS_CERT", "/nonexistent.pem")],
        &[],
    );
    assert!(said.contains("--tls-key"), "{said}");
}

#[test]
fn the_command_line_wins_over_a_variable() {
    // The variable alone would be refused; the flag given replaces it.
    let said = refused_with_env(
        "stringsvc",
        &[("STRINGSVC_CONCURRENCY_LIMIT", "fixed:0")],
        &["--concurrency-limit", "off", "--trace-sample-ratio", "2"],
    );
    assert!(!said.contains("at least 1"), "{said}");
    assert!(said.contains("from 0 to 1"), "{said}");
}

#[test]
fn help_names_each_flags_variable() {
    let api = [
        "HTTP_ADDR",
        "TLS_CERT",
        "JWT_KEYS",
        "LOG_LEVEL",
        "CONCURRENCY_LIMIT",
    ];
    for (binary, prefix, flags) in [
        ("stringsvc", "STRINGSVC", &api[..]),
        ("addsvc", "ADDSVC", &api[..]),
        (
            "addtally",
            "ADDTALLY",
            &["DEBUG_ADDR", "EVENTS", "LOG_LEVEL"][..],
        ),
    ] {
        let out = std::process::Command::new(workspace_binary(binary))
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in flags {
            let env = format!("[env: {prefix}_{flag}");
            assert!(help.contains(&env), "{binary}: {flag}");
        }
    }
}
