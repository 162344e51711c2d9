//! Writes tests/fixtures/hotspots-v0.gpkg with the store as it was before schema versions
//! (lower-case types, no R*Tree triggers, contacts inside the file). Run once, at that commit:
//! `cargo run --example make_old_gpkg_fixture -- tests/fixtures/hotspots-v0.gpkg`.

use hotspots::config::CityProfile;
use hotspots::store::{GeoPackageStore, Store};
use hotspots::wards::WardSet;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).expect("an output path");
    let _ = std::fs::remove_file(&path);
    let profile = CityProfile::hue();
    let city = hotspots::demo::generate(&profile);
    let store = GeoPackageStore::open(std::path::Path::new(&path)).await?;
    store.save_setting("profile", &profile.to_toml()).await?;
    store.replace_wards(&WardSet::new(city.wards)?).await?;
    let mut reports: Vec<_> = city.reports.into_iter().take(12).collect();
    for (i, r) in reports.iter_mut().enumerate() {
        r.reporter_contact = (i % 3 == 0).then(|| format!("+84 OLD-CONTACT-{i:02}"));
    }
    store.insert_reports(&reports).await?;
    store.close().await;
    Ok(())
}
