//! The command line: help for every subcommand, and the man page and completions generated from the
//! same definition.

mod common;

use common::{hostnet, repo_root, stdout};

#[test]
fn every_subcommand_has_help() {
    let root = repo_root();
    let top = stdout(&hostnet(&root, &["--help"]));
    for subcommand in [
        "check",
        "show",
        "render",
        "build",
        "keygen",
        "completions",
        "man",
    ] {
        assert!(
            top.contains(&format!("  {subcommand}")),
            "{subcommand} missing from --help:\n{top}"
        );
        let help = hostnet(&root, &[subcommand, "--help"]);
        assert!(help.status.success());
        assert!(stdout(&help).contains("Usage: hostnet"), "{subcommand}");
    }
    assert!(top.contains("Exit status: 0 on success, 1 when the definitions are invalid"));
}

#[test]
fn man_page_and_completions_come_from_the_cli_definition() {
    let root = repo_root();
    let man = stdout(&hostnet(&root, &["man"]));
    assert!(
        man.starts_with(".ie") || man.contains(".TH hostnet"),
        "{}",
        &man[..man.len().min(200)]
    );
    for subcommand in ["check", "render", "build", "keygen"] {
        assert!(
            man.contains(subcommand),
            "{subcommand} missing from the man page"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let completion = hostnet(&root, &["completions", shell]);
        assert!(completion.status.success());
        let text = stdout(&completion);
        assert!(
            text.contains("keygen") && text.contains("passphrase-file"),
            "{shell}"
        );
    }
    let bash = stdout(&hostnet(&root, &["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostnet.bash");
    std::fs::write(&file, bash).unwrap();
    assert!(
        std::process::Command::new("bash")
            .arg("-n")
            .arg(&file)
            .status()
            .unwrap()
            .success()
    );
}
