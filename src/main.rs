//! The `hotline` binary: parses the command line, loads configuration, hands over.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hotline::config::Settings;
use hotline::startup::{Application, open_database};
use hotline::{commands, openapi, telemetry};

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
    /// Manage administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load a demo organisation (departments, categories, one user per role) and demo cases in every
    /// stage of the lifecycle, to try the API.
    Demo,
    /// Generate realistic cases in bulk (for trying the API and for benchmarks); loads the demo
    /// organisation first when it is missing. Meant for empty or test databases.
    Seed {
        /// How many cases to generate.
        #[arg(long, default_value_t = 0)]
        cases: u64,
        /// How many knowledge-base articles to add (approved variations of the demo articles).
        #[arg(long, default_value_t = 0)]
        articles: u64,
        /// Seed of the random generator (the same seed gives the same cases on an empty database).
        #[arg(long, default_value_t = 12345)]
        seed: u64,
    },
    /// Run the deadline sweep once (for cron; the server runs it by itself as well): mark clocks
    /// due soon and missed, urge the departments of missed ones. Prints what it did as JSON.
    Sweep,
    /// The statistics' per-day figures (kept up to date by every change of a case).
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Remove stored files no attachment points to and uploads never given a case, older than
    /// `HOTLINE_ORPHAN_FILE_AGE_SECS` (the server does it hourly as well). Prints what it did as
    /// JSON.
    SweepFiles,
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Recompute every figure from the raw records (after an import, a repair, or a change of the
    /// calendar that should apply to the past). Prints what it did as JSON.
    Rebuild,
    /// Recompute every figure and compare it with the stored ones; exits non-zero on any
    /// difference. Prints what it found as JSON (case ids and days, never a case's content).
    Check,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator. The password comes from HOTLINE_ADMIN_PASSWORD or a prompt,
    /// never from the command line (which other users of the machine can read).
    Create {
        #[arg(long)]
        username: String,
    },
}

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
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
            Command::Admin {
                command: AdminCommand::Create { username },
            } => {
                let password = admin_password()?;
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let message =
                    blocking(move || commands::create_admin(&db, &username, &password)).await?;
                println!("{message}");
                Ok(())
            }
            Command::Seed {
                cases,
                articles,
                seed,
            } => {
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let tz = settings.timezone;
                let survey_validity_days = settings.survey_validity_days;
                let report = blocking(move || {
                    hotline::seed::seed(
                        db,
                        tz,
                        &hotline::seed::SeedOptions {
                            cases,
                            articles,
                            seed,
                            progress: true,
                            survey_validity_days,
                        },
                    )
                })
                .await?;
                println!(
                    "seeded {} cases and {} articles in {:.1} s ({:.0} cases/s){}",
                    report.cases,
                    report.articles,
                    report.elapsed.as_secs_f64(),
                    report.rate(),
                    if report.demo_loaded {
                        "; the demo organisation was loaded first"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            Command::Sweep => {
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let tz = settings.timezone;
                let report = blocking(move || commands::sweep(&db, tz)).await?;
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(|e| e.to_string())?
                );
                Ok(())
            }
            Command::SweepFiles => {
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let storage = hotline::storage::Storage::open(&settings.storage_url)?;
                let swept = hotline::service::attachments::sweep_files(
                    &db,
                    &storage,
                    settings.orphan_file_age,
                )
                .await
                .map_err(|e| e.to_string())?;
                println!(
                    "{}",
                    serde_json::to_string(&swept).map_err(|e| e.to_string())?
                );
                Ok(())
            }
            Command::Stats { command } => {
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let tz = settings.timezone;
                match command {
                    StatsCommand::Rebuild => {
                        let report = blocking(move || commands::stats_rebuild(&db, tz)).await?;
                        println!(
                            "{}",
                            serde_json::to_string(&report).map_err(|e| e.to_string())?
                        );
                        Ok(())
                    }
                    StatsCommand::Check => {
                        let report = blocking(move || commands::stats_check(&db, tz)).await?;
                        println!(
                            "{}",
                            serde_json::to_string(&report).map_err(|e| e.to_string())?
                        );
                        if report.consistent {
                            Ok(())
                        } else {
                            Err("the stored statistics differ from the raw records".into())
                        }
                    }
                }
            }
            Command::Demo => {
                let db = open_database(&settings).await.map_err(|e| e.to_string())?;
                let tz = settings.timezone;
                let message = blocking(move || {
                    let organisation = commands::load_demo(&db)?;
                    let cases = commands::load_demo_cases(&db, tz)?;
                    Ok(format!("{organisation}\n{cases}"))
                })
                .await?;
                println!("{message}");
                Ok(())
            }
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

fn admin_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("HOTLINE_ADMIN_PASSWORD") {
        return Ok(password);
    }
    let first =
        rpassword::prompt_password("password for the new administrator: ").map_err(|e| {
            format!("cannot read a password ({e}); set HOTLINE_ADMIN_PASSWORD for scripted use")
        })?;
    let second =
        rpassword::prompt_password("the same password again: ").map_err(|e| e.to_string())?;
    if first != second {
        return Err("the passwords differ".into());
    }
    Ok(first)
}

async fn serve(settings: Settings) -> Result<(), String> {
    let backend = settings.database_url.backend_name();
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    log::info!("hotline listening on port {} ({backend})", app.port());
    if let Some(port) = app.metrics_port() {
        log::info!("metrics on port {port} at /metrics");
    }
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

/// glibc serves large blocks from per-thread arenas once it has freed one (its mmap threshold
/// adapts upwards), and keeps them: the 19 MiB of every Argon2 hash would stay resident on every
/// thread that ever hashed. A fixed threshold makes such blocks go back to the system when freed.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
