//! The `hotspots` command: run the demo city, serve a store, import wards and reports.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use hotspots::config::CityProfile;
use hotspots::service::Hotspots;
use hotspots::store::{GeoPackageStore, Store};
use hotspots::wards::{WardFields, load_geojson, wards_to_geojson};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// GeoPackage file used when no database URL is given.
    #[arg(
        long,
        global = true,
        env = "HOTSPOTS_DB",
        default_value = "data/hotspots.gpkg"
    )]
    db: PathBuf,
    /// City profile (TOML). Default: Huế, embedded in the binary.
    #[arg(long, global = true, env = "HOTSPOTS_PROFILE")]
    profile: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Build the seeded demo city of Huế in the GeoPackage (if it is empty), then serve it.
    Demo {
        #[arg(long, env = "HOTSPOTS_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Only write the generated wards as GeoJSON into this folder, then exit.
        #[arg(long)]
        write_data: Option<PathBuf>,
    },
    /// Serve the store's wards and reports over HTTP.
    Serve {
        #[arg(long, env = "HOTSPOTS_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
    },
    /// Load data into the store.
    #[command(subcommand)]
    Import(Import),
}

#[derive(Subcommand)]
enum Import {
    /// Replace the wards with a GeoJSON FeatureCollection of (Multi)Polygons, and re-assign reports.
    Wards {
        file: PathBuf,
        /// Property holding the ward's code (default: "id"; "-" uses the feature's own id).
        #[arg(long, default_value = "id")]
        id_field: String,
        /// Property holding the ward's name (default: "name"; falls back to the code).
        #[arg(long, default_value = "name")]
        name_field: String,
        #[arg(long, default_value = "population")]
        population_field: String,
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
    let profile = match &cli.store.profile {
        Some(path) => CityProfile::load(path)?,
        None => CityProfile::hue(),
    };
    match cli.command {
        Command::Demo {
            bind,
            write_data: Some(dir),
        } => {
            let _ = bind;
            write_demo_data(&profile, &dir)
        }
        Command::Demo {
            bind,
            write_data: None,
        } => {
            let store = open_geopackage(&cli.store.db).await?;
            seed_demo(&store, &profile).await?;
            serve(Arc::new(store), profile, &bind).await
        }
        Command::Serve { bind } => {
            let store = open_geopackage(&cli.store.db).await?;
            serve(Arc::new(store), profile, &bind).await
        }
        Command::Import(Import::Wards {
            file,
            id_field,
            name_field,
            population_field,
        }) => {
            let store = open_geopackage(&cli.store.db).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let fields = WardFields {
                id: (id_field != "-").then_some(id_field),
                name: Some(name_field),
                population: Some(population_field),
            };
            let wards = load_geojson(&text, &fields)?;
            let count = wards.len();
            let app = Hotspots::open(Arc::new(store.clone()), profile).await?;
            let changed = app.replace_wards(wards).await?;
            store.close().await;
            println!("stored {count} wards; {changed} reports changed ward");
            Ok(())
        }
    }
}

async fn open_geopackage(path: &Path) -> Result<GeoPackageStore> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    GeoPackageStore::open(path)
        .await
        .with_context(|| format!("opening GeoPackage {}", path.display()))
}

/// Generates and stores the demo city unless the store already holds data.
async fn seed_demo(store: &GeoPackageStore, profile: &CityProfile) -> Result<()> {
    if store.count_reports().await? > 0 || !store.wards().await?.is_empty() {
        eprintln!("using the existing demo data in the store");
        return Ok(());
    }
    let started = Instant::now();
    eprintln!("building the demo city of {} …", profile.name);
    let city = hotspots::demo::generate(profile);
    let app = Hotspots::open(Arc::new(store.clone()), profile.clone()).await?;
    app.replace_wards(city.wards).await?;
    let total = city.reports.len();
    for chunk in city.reports.chunks(10_000) {
        app.submit_batch(chunk.to_vec()).await?;
    }
    store.checkpoint().await?;
    eprintln!(
        "stored {} wards and {total} reports in {:.1} s",
        app.snapshot().wards.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn serve(store: Arc<dyn Store>, profile: CityProfile, bind: &str) -> Result<()> {
    let started = Instant::now();
    let app = Arc::new(Hotspots::open(store, profile).await?);
    let snapshot = app.snapshot();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
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
    hotspots::api::serve(app, listener).await?;
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
