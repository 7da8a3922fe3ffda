//! The minijinja templates hostnet renders (package scriptlets in `specs/`, kickstart files in
//! `kickstart/`), compiled into the binary and overridable file by file from a directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

/// Built-in templates: (name, text). Names are paths relative to the repository root.
const BUILTIN: &[(&str, &str)] = &[
    ("specs/pre.sh.j2", include_str!("../specs/pre.sh.j2")),
    ("specs/post.sh.j2", include_str!("../specs/post.sh.j2")),
    ("specs/postun.sh.j2", include_str!("../specs/postun.sh.j2")),
    (
        "specs/post-apply-now.sh.j2",
        include_str!("../specs/post-apply-now.sh.j2"),
    ),
    (
        "specs/post-networkmanager.sh.j2",
        include_str!("../specs/post-networkmanager.sh.j2"),
    ),
    (
        "specs/postun-networkmanager.sh.j2",
        include_str!("../specs/postun-networkmanager.sh.j2"),
    ),
    (
        "specs/package.spec.j2",
        include_str!("../specs/package.spec.j2"),
    ),
    (
        "kickstart/main.ks.j2",
        include_str!("../kickstart/main.ks.j2"),
    ),
    (
        "kickstart/network.ks.j2",
        include_str!("../kickstart/network.ks.j2"),
    ),
    (
        "kickstart/partitioning.ks.j2",
        include_str!("../kickstart/partitioning.ks.j2"),
    ),
    (
        "kickstart/packages.ks.j2",
        include_str!("../kickstart/packages.ks.j2"),
    ),
    (
        "kickstart/post.ks.j2",
        include_str!("../kickstart/post.ks.j2"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{path}: cannot read template override: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `path:line:col: error: what`, with the innermost template's position.
    #[error("{0}")]
    Render(String),
}

/// `file:line:col: error: message` for a template error, the form editors and CI annotations read.
/// An error inside an included snippet is reported where it is, not at the `include`.
fn describe(error: &minijinja::Error, sources: &HashMap<String, String>) -> TemplateError {
    let mut innermost = error;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(inner) = cause.downcast_ref::<minijinja::Error>() {
            innermost = inner;
        }
        source = cause.source();
    }
    let error = innermost;
    let column = match (error.name().and_then(|n| sources.get(n)), error.range()) {
        (Some(text), Some(range)) => {
            let start = range.start.min(text.len());
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            text[line_start..start].chars().count() + 1
        }
        _ => 1,
    };
    let mut what = error.kind().to_string();
    if let Some(detail) = error.detail() {
        what.push_str(": ");
        what.push_str(detail);
    }
    TemplateError::Render(match (error.name(), error.line()) {
        (Some(name), Some(line)) => format!("{name}:{line}:{column}: error: {what}"),
        (Some(name), None) => format!("{name}: error: {what}"),
        _ => format!("templates: error: {what}"),
    })
}

fn refuse_control_characters(text: &str) -> Result<(), minijinja::Error> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!(
                "refusing to write {text:?}: it contains {}, which would break the line-based file",
                crate::terminal::describe_char(c)
            ),
        )),
        None => Ok(()),
    }
}

pub struct Templates {
    env: Environment<'static>,
    /// Every template's text by name, to turn an error's byte offset into a column.
    sources: HashMap<String, String>,
}

impl Templates {
    /// The built-in templates, each replaced by `<dir>/<name>` where that file exists
    /// (e.g. `overrides/kickstart/network.ks.j2`).
    pub fn new(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .trim_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.add_filter("sh", |value: String| {
            refuse_control_characters(&value)?;
            Ok::<_, minijinja::Error>(crate::shell::sh_word(&value))
        });
        // The second wall behind validation: every output format hostnet templates is line-based
        // (a newline would end a `%post` command, a kickstart line or a heredoc), so no
        // interpolated value may carry a control character, whatever template prints it.
        env.set_formatter(|out, state, value| {
            if let Some(text) = value.as_str() {
                refuse_control_characters(text)?;
            }
            minijinja::escape_formatter(out, state, value)
        });
        let mut sources = HashMap::new();
        for (name, text) in BUILTIN {
            let (name, text) = match override_dir
                .map(|dir| dir.join(name))
                .filter(|p| p.is_file())
            {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    let override_name = path.display().to_string();
                    // Callers look templates up by their built-in name.
                    env.add_template_owned(
                        name.to_string(),
                        format!("{{% include {override_name:?} %}}"),
                    )
                    .map_err(|e| describe(&e, &sources))?;
                    (override_name, text)
                }
                None => (name.to_string(), text.to_string()),
            };
            sources.insert(name.clone(), text.clone());
            env.add_template_owned(name, text)
                .map_err(|e| describe(&e, &sources))?;
        }
        Ok(Templates { env, sources })
    }

    /// A digest of every template's text, built-in or overridden: what rendering reads from them.
    pub fn digest(&self) -> crate::digest::Sha256 {
        let mut names: Vec<&String> = self.sources.keys().collect();
        names.sort();
        crate::digest::Sha256::of_parts(
            names
                .into_iter()
                .flat_map(|name| [name.as_str(), self.sources[name].as_str()]),
        )
    }

    pub fn render(&self, name: &str, context: minijinja::Value) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|e| describe(&e, &self.sources))
    }
}
