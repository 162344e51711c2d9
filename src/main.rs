//! The `hotspots` command: run the demo city, serve a store, import wards and reports.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use hotspots::config::CityProfile;
use hotspots::import::{ReportsRequest, import_reports, load_mapping, saved};
use hotspots::ingest::csv::open_input;
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, PostgisStore, Store};
use hotspots::wards::{WardFields, load_geojson, wards_to_geojson};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "hotspots",
    version,
    about = "Citizen reports → wards, hotspots and deadlines, served as GeoJSON"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where and how `serve` and `demo` listen; given before or after the subcommand.
#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on (HOST:PORT).
    #[arg(
        long,
        global = true,
        env = "HOTSPOTS_BIND",
        default_value = "127.0.0.1:8080"
    )]
    bind: String,
    /// Connections served at once; more clients wait until one closes.
    #[arg(
        long,
        global = true,
        env = "HOTSPOTS_MAX_CONNECTIONS",
        default_value_t = 512
    )]
    max_connections: usize,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// GeoPackage file, used when no database URL is given.
    #[arg(
        long,
        global = true,
        env = "HOTSPOTS_DB",
        default_value = "data/hotspots.gpkg"
    )]
    db: PathBuf,
    /// PostgreSQL + PostGIS database (postgres://user@host/db); selects the PostGIS store.
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// City profile (TOML). Default: the one saved with the data, else Huế's (built in).
    #[arg(long, global = true, env = "HOTSPOTS_PROFILE")]
    profile: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Build the seeded demo city of Huế in the store (if it is empty), then serve it.
    Demo {
        /// Only write the generated wards as GeoJSON into this folder, then exit.
        #[arg(long)]
        write_data: Option<PathBuf>,
    },
    /// Serve the store's wards and reports over HTTP.
    Serve,
    /// Load data into the store.
    #[command(subcommand)]
    Import(Import),
    /// Copy the GeoPackage consistently while it may be in use, with its private contacts file
    /// beside the copy (plain `cp` of a file in WAL mode misses recent writes).
    Backup {
        /// The new GeoPackage (must not exist); contacts go to OUT.private.sqlite.
        out: PathBuf,
    },
    /// Read or replace the city profile saved with the data.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Print the saved profile (TOML).
    Show,
    /// Write the saved profile to FILE (TOML), to edit deadlines, names or agencies.
    Export { file: PathBuf },
    /// Check FILE (TOML) and save it in place of the saved profile.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum Import {
    /// Replace the wards with a GeoJSON FeatureCollection of (Multi)Polygons, and re-assign reports.
    Wards {
        file: PathBuf,
        /// Property holding the ward's code ("-" uses the feature's own id).
        #[arg(long, default_value = "id")]
        id_field: String,
        /// Property holding the ward's name (falls back to the code).
        #[arg(long, default_value = "name")]
        name_field: String,
        #[arg(long, default_value = "population")]
        population_field: String,
    },
    /// Import reports from a CSV (gzip is read directly) or a GeoJSON FeatureCollection.
    Reports {
        file: PathBuf,
        /// A preset (chicago, boston, nyc) or a mapping file (TOML; see data/mappings/example.toml).
        /// Required for CSV.
        #[arg(long)]
        mapping: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Store nothing if any row is rejected.
        #[arg(long)]
        strict: bool,
        /// City name for a profile made from the data (when the store has none yet).
        #[arg(long)]
        city: Option<String>,
        /// The city's time zone (IANA, e.g. Europe/Berlin) for a profile made from the data; how
        /// the file's own times are read is the mapping's file_time_zone.
        #[arg(long)]
        time_zone: Option<chrono_tz::Tz>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hotspots=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            write_data: Some(dir),
            ..
        } => write_demo_data(&load_profile(&cli.store, None).await?, &dir),
        Command::Demo { write_data: None } => {
            // Bound first: a taken address fails at once, not after seeding and the scan.
            let listener = bind(&cli.serve.bind).await?;
            let store = open_store(&cli.store).await?;
            let profile = load_profile(&cli.store, Some(store.as_ref())).await?;
            seed_demo(store.clone(), &profile).await?;
            serve(store, profile, listener, &cli.serve).await
        }
        Command::Serve => {
            let listener = bind(&cli.serve.bind).await?;
            let store = open_store(&cli.store).await?;
            let profile = load_profile(&cli.store, Some(store.as_ref())).await?;
            serve(store, profile, listener, &cli.serve).await
        }
        Command::Import(Import::Wards {
            file,
            id_field,
            name_field,
            population_field,
        }) => {
            let store = open_store(&cli.store).await?;
            let profile = load_profile(&cli.store, Some(store.as_ref())).await?;
            let fields = WardFields {
                id: (id_field != "-").then_some(id_field),
                name: Some(name_field),
                population: Some(population_field),
            };
            let mut text = String::new();
            open_input(&file)
                .and_then(|mut r| r.read_to_string(&mut text))
                .with_context(|| format!("reading {}", file.display()))?;
            let wards = load_geojson(&text, &fields)?;
            let count = wards.len();
            let app = Hotspots::open(store, profile).await?;
            let changed = app.replace_wards(wards).await?;
            println!("stored {count} wards; {changed} reports changed ward");
            Ok(())
        }
        Command::Import(Import::Reports {
            file,
            mapping,
            json,
            strict,
            city,
            time_zone,
        }) => {
            let mapping = mapping.as_deref().map(load_mapping).transpose()?;
            let request = ReportsRequest {
                mapping: mapping.as_ref(),
                profile_file: cli.store.profile.as_deref(),
                city,
                time_zone,
                strict,
                progress: true,
                ..ReportsRequest::new(&file)
            };
            request.check()?;
            let store = open_store(&cli.store).await?;
            let outcome = import_reports(store.clone(), &request).await;
            store.close().await;
            let outcome = outcome?;
            for note in &outcome.notes {
                eprintln!("{note}");
            }
            let summary = outcome.summary;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", summary.to_text());
            }
            Ok(())
        }
        Command::Backup { out } => {
            if cli.store.database_url.is_some() {
                bail!("backup copies a GeoPackage; for PostGIS use pg_dump");
            }
            let store = GeoPackageStore::open(&cli.store.db).await?;
            store.backup(&out).await?;
            store.close().await;
            let private = hotspots::store::private_path(&out);
            println!("copied to {} and {}", out.display(), private.display());
            Ok(())
        }
        Command::Profile(command) => {
            let store = open_store(&cli.store).await?;
            let done = profile_command(store.as_ref(), command).await;
            store.close().await;
            done
        }
    }
}

async fn profile_command(store: &dyn Store, command: ProfileCommand) -> Result<()> {
    match command {
        ProfileCommand::Show => print!("{}", saved::export(store).await?),
        ProfileCommand::Export { file } => {
            std::fs::write(&file, saved::export(store).await?)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("wrote the saved profile to {}", file.display());
        }
        ProfileCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let profile = saved::import(store, &text)
                .await
                .with_context(|| format!("{} is not a valid city profile", file.display()))?;
            eprintln!(
                "saved the profile of {} ({} categories) with the data",
                profile.name,
                profile.categories.len()
            );
        }
    }
    Ok(())
}

async fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>> {
    if let Some(url) = &args.database_url {
        let store = PostgisStore::connect(url)
            .await
            .context("connecting to PostGIS")?;
        return Ok(Arc::new(store));
    }
    let path = &args.db;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = GeoPackageStore::open(path)
        .await
        .with_context(|| format!("opening GeoPackage {}", path.display()))?;
    Ok(Arc::new(store))
}

/// `--profile` if given, else the profile saved with the data, else Huế's.
async fn load_profile(args: &StoreArgs, store: Option<&dyn Store>) -> Result<CityProfile> {
    Ok(saved::choose(store, args.profile.as_deref()).await?)
}

/// Generates and stores the demo city unless the store already holds data.
async fn seed_demo(store: Arc<dyn Store>, profile: &CityProfile) -> Result<()> {
    if store.count_reports().await? > 0 || !store.wards().await?.is_empty() {
        eprintln!("using the data already in the store");
        return Ok(());
    }
    let started = Instant::now();
    eprintln!("building the demo city of {} …", profile.name);
    let city = hotspots::demo::generate(profile);
    saved::save(store.as_ref(), profile).await?;
    let app = Hotspots::open(store, profile.clone()).await?;
    app.replace_wards(city.wards).await?;
    let total = city.reports.len();
    let mut writer = app.bulk_writer();
    for chunk in city.reports.chunks(10_000) {
        writer.submit(chunk.to_vec()).await?;
    }
    writer.finish().await?;
    eprintln!(
        "stored {} wards and {total} reports in {:.1} s",
        app.snapshot().wards.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bind(address: &str) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "address {address} is in use (another hotspots?); pick another with --bind HOST:PORT \
             or the HOTSPOTS_BIND environment variable"
        ),
        Err(e) => Err(e).with_context(|| format!("binding {address}")),
    }
}

async fn serve(
    store: Arc<dyn Store>,
    profile: CityProfile,
    listener: tokio::net::TcpListener,
    args: &ServeArgs,
) -> Result<()> {
    let started = Instant::now();
    let app = Arc::new(Hotspots::open(store, profile).await?);
    let snapshot = app.snapshot();
    eprintln!(
        "serving {} reports in {} wards of {} ({} store, index ready in {:.2} s) on http://{}/api/v1/wards",
        snapshot.len(),
        snapshot.wards.len(),
        app.profile().name,
        app.store().kind(),
        started.elapsed().as_secs_f64(),
        listener.local_addr()?
    );
    drop(snapshot);
    let limits = hotspots::api::ServerLimits {
        max_connections: args.max_connections,
        ..Default::default()
    };
    hotspots::api::serve_with(
        app.clone(),
        listener,
        limits,
        hotspots::api::shutdown_signal(),
    )
    .await?;
    app.store().close().await;
    Ok(())
}

fn write_demo_data(profile: &CityProfile, dir: &Path) -> Result<()> {
    if profile.demo.is_none() {
        bail!("the profile has no [demo] section");
    }
    std::fs::create_dir_all(dir)?;
    let city = hotspots::demo::generate(profile);
    let text = serde_json::to_string(&wards_to_geojson(&city.wards))?;
    let path = dir.join("wards.geojson");
    std::fs::write(&path, text + "\n")?;
    println!("wrote {} wards to {}", city.wards.len(), path.display());
    Ok(())
}
