use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use hostnet::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        // Completions and the man page come straight from the clap definition.
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "hostnet",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        _ => hostnet::commands::run(&cli),
    };
    result.unwrap_or_else(|err| {
        eprintln!("hostnet: error: {err}");
        ExitCode::from(1)
    })
}
