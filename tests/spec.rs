//! The rpmbuild path: `hostnet spec` writes a spec and a source tarball per package; Debian's
//! rpmbuild builds them, and the package must match `hostnet build`'s own in files, modes, owners,
//! config flags, digests, dependencies and scriptlets. The source RPM must rebuild to the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fleet, require_tool, run_ok, stderr, stdout};

const EPOCH: &str = "1700000000";

fn hostnet_spec(fleet: &Fleet, out: &Path, extra: &[&str]) {
    let mut args = vec!["spec", "--out", out.to_str().unwrap()];
    args.extend(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(&args)
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `rpmbuild` with a private top directory; returns the binary package and the source package.
fn rpmbuild(top: &Path, sources: &Path, spec: &Path) -> (PathBuf, PathBuf) {
    let output = Command::new("rpmbuild")
        .arg("-ba")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_sourcedir {}", sources.display()))
        .arg(spec)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let name = spec.file_stem().unwrap().to_str().unwrap();
    (
        top.join(format!("RPMS/noarch/{name}-1-1.noarch.rpm")),
        top.join(format!("SRPMS/{name}-1-1.src.rpm")),
    )
}

/// Everything the two packages must agree on, as rpm reports it.
fn described(package: &Path) -> String {
    let path = package.to_str().unwrap();
    let mut text = String::new();
    for query in [
        "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILEDIGESTS} %{FILENAMES}\n]",
        "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE} %{URL} %{VENDOR} %{PACKAGER}\n%{SUMMARY}\n%{DESCRIPTION}\n",
        "%{PREINPROG} %{POSTINPROG} %{POSTUNPROG}\n",
    ] {
        text.push_str(&stdout(&run_ok("rpm", &["-qp", "--qf", query, path])));
    }
    for option in ["--requires", "--provides", "--conflicts", "--scripts"] {
        text.push_str(&format!("{option}:\n"));
        text.push_str(&stdout(&run_ok("rpm", &["-qp", option, path])));
    }
    text
}

#[test]
fn rpmbuild_makes_from_the_spec_the_package_hostnet_builds() {
    require_tool("rpmbuild");
    let fleet = Fleet::example();
    let sources = fleet.dir.path().join("specs");
    hostnet_spec(&fleet, &sources, &["--all"]);

    // Reproducible: the same inputs write the same bytes.
    let again = fleet.dir.path().join("specs-again");
    hostnet_spec(&fleet, &again, &["--all"]);
    let mut names: Vec<String> = std::fs::read_dir(&sources)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert!(
        names.contains(&"hostnet-tools.spec".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"hostnet-dockerhost-01-1.tar.gz".to_string()));
    for name in &names {
        assert_eq!(
            std::fs::read(sources.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap(),
            "{name} differs between two runs"
        );
    }

    let dist = fleet.dir.path().join("dist");
    let output = common::build(&fleet, None, &dist, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let top = fleet.dir.path().join("rpmbuild");
    for package in [
        "hostnet-dockerhost-01",
        "hostnet-dockerhost-02",
        "hostnet-tools",
    ] {
        let (built, source) = rpmbuild(&top, &sources, &sources.join(format!("{package}.spec")));
        let ours = common::package_path(&dist, package.trim_start_matches("hostnet-"), 1);
        let expected = described(&ours);
        assert_eq!(described(&built), expected, "{package}: rpmbuild -ba");

        // The source package rebuilds to the same.
        let rebuilt_top = fleet.dir.path().join(format!("rebuild-{package}"));
        let output = Command::new("rpmbuild")
            .arg("--rebuild")
            .arg("--define")
            .arg(format!("_topdir {}", rebuilt_top.display()))
            .arg(&source)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let rebuilt = rebuilt_top.join(format!("RPMS/noarch/{package}-1-1.noarch.rpm"));
        assert_eq!(
            described(&rebuilt),
            expected,
            "{package}: rpmbuild --rebuild"
        );
    }
}

#[test]
fn the_spec_template_is_overridable_and_versions_follow_the_published_repository() {
    let fleet = Fleet::example();
    // Version N+1 for a changed host, as build numbers it, against a published repository.
    let dist = fleet.dir.path().join("dist");
    assert!(common::build(&fleet, None, &dist, EPOCH).status.success());
    fleet.append(
        "dockerhost-01.toml",
        "\n[sysctl]\n\"net.core.somaxconn\" = 4096\n",
    );
    let out = fleet.dir.path().join("specs");
    let repo = dist.join("repo");
    hostnet_spec(
        &fleet,
        &out,
        &[
            "dockerhost-01",
            "dockerhost-02",
            "--previous",
            repo.to_str().unwrap(),
        ],
    );
    assert!(out.join("hostnet-dockerhost-01-2.tar.gz").is_file());
    assert!(out.join("hostnet-dockerhost-02-1.tar.gz").is_file());
    let spec = std::fs::read_to_string(out.join("hostnet-dockerhost-01.spec")).unwrap();
    assert!(spec.contains("\nVersion:        2\n"), "{spec}");

    let templates = fleet.dir.path().join("overrides/specs");
    std::fs::create_dir_all(&templates).unwrap();
    let builtin =
        std::fs::read_to_string(common::repo_root().join("specs/package.spec.j2")).unwrap();
    std::fs::write(
        templates.join("package.spec.j2"),
        builtin.replace(
            "Group:          System Environment/Base",
            "Group:          Site/Network",
        ),
    )
    .unwrap();
    let out = fleet.dir.path().join("specs-site");
    hostnet_spec(
        &fleet,
        &out,
        &[
            "dockerhost-01",
            "--version",
            "7",
            "--templates",
            templates.parent().unwrap().to_str().unwrap(),
        ],
    );
    let spec = std::fs::read_to_string(out.join("hostnet-dockerhost-01.spec")).unwrap();
    assert!(spec.contains("Group:          Site/Network"), "{spec}");
    assert!(out.join("hostnet-dockerhost-01-7.tar.gz").is_file());
}
