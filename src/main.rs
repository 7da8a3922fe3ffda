use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use hostnet::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        // Completions and the man page come straight from the clap definition.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "hostnet", &mut script);
            to_stdout(&script)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(Into::into)
                .and_then(|()| to_stdout(&page))
        }
        _ => hostnet::commands::run(&cli),
    };
    result.unwrap_or_else(|err| {
        let message = err.to_string();
        if is_located(&message) {
            eprintln!("{message}");
        } else {
            eprintln!("hostnet: error: {message}");
        }
        ExitCode::from(1)
    })
}

/// Writes `bytes` to stdout; a reader that stops early (`hostnet man | head`) is not an error.
fn to_stdout(bytes: &[u8]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Whether a message already starts the way compilers report (`path:line:col: error: `), so that
/// editors and CI annotations pick it up as it is.
fn is_located(message: &str) -> bool {
    let Some((position, _)) = message.split_once(": error: ") else {
        return false;
    };
    let mut parts = position.rsplitn(3, ':');
    let column = parts.next().unwrap_or("");
    let line = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    !path.is_empty() && number(line) && number(column)
}
