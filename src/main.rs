//! The `hotline` binary: parses the command line, loads configuration, hands over.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hotline::config::Settings;
use hotline::startup::{Application, open_database};
use hotline::{openapi, telemetry};

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "Back end of a public-service hotline (12345 centre)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("hotline: cannot read .env: {error}");
        return ExitCode::FAILURE;
    }
    if let Some(Command::Openapi) = cli.command {
        print!("{}", openapi::document_json());
        return ExitCode::SUCCESS;
    }
    telemetry::init_logging();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("hotline: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => open_database(&settings)
                .await
                .map(|db| {
                    log::info!("database is up to date ({})", db.backend());
                })
                .map_err(|e| e.to_string()),
            Command::Openapi => unreachable!("handled before configuration is read"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hotline: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let backend = settings.database_url.backend_name();
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    log::info!("hotline listening on port {} ({backend})", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        wait_for_shutdown_signal().await;
        log::info!("shutdown requested: finishing in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    log::info!("hotline stopped");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot listen for shutdown signals");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
