//! The runner of the test binaries whose tests need something from outside the repository
//! (PostGIS, GDAL's `ogrinfo`, the real exports in `../shared/data`). They are `harness = false`
//! targets on `libtest-mimic`, so that a test that cannot run shows as *ignored* in `cargo test`'s
//! summary, with one line before the run saying why ("PostGIS not reachable at …: 11 tests
//! ignored"), instead of passing green while doing nothing. Under `CI=true` such a test fails.
//!
//! A binary lists its tests once, in a `tests!` list (or store_contract.rs's `contract!`); each
//! test is an `async fn name()` run on a tokio runtime of its own. A `#[test]` or
//! `#[tokio::test]` left in such a file would never run (without libtest it compiles to nothing),
//! so the runner refuses one with a failing check named `every_test_is_registered`.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// GDAL's GeoPackage validator, as Debian's python3-gdal installs it.
pub const GPKG_VALIDATOR: &str =
    "/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py";

/// Something a test needs that the repository cannot provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// The PostGIS test database (see `common/postgis.rs`).
    Postgis,
    /// GDAL's `ogrinfo` on the PATH.
    Ogrinfo,
    /// GDAL's GeoPackage validator ([`GPKG_VALIDATOR`], Debian's python3-gdal).
    GpkgValidator,
    /// A file under `../shared/data` (path relative to it).
    Data(&'static str),
}

impl Need {
    /// What each ignored test says; the line before the run says the rest.
    fn short(self) -> String {
        match self {
            Need::Postgis => "PostGIS not reachable".into(),
            Need::Ogrinfo => "ogrinfo not found".into(),
            Need::GpkgValidator => "validate_gpkg.py not found".into(),
            Need::Data(relative) => format!("{relative} missing"),
        }
    }

    /// `Ok` when the need is met, or why not.
    fn check(self) -> Result<(), String> {
        match self {
            Need::Postgis => {
                let url = super::postgis::database_url();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no tokio runtime to probe PostGIS: {e}"))?;
                runtime
                    .block_on(super::postgis::probe(&url))
                    .map(drop)
                    .map_err(|problem| {
                        format!(
                            "PostGIS not reachable at {url} ({problem}; set HOTSPOTS_TEST_DATABASE_URL)"
                        )
                    })
            }
            Need::Ogrinfo => match std::process::Command::new("ogrinfo")
                .arg("--version")
                .output()
            {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!("`ogrinfo --version` failed: {}", out.status)),
                Err(e) => Err(format!(
                    "GDAL's ogrinfo not found ({e}; apt-get install gdal-bin)"
                )),
            },
            Need::GpkgValidator => {
                if std::path::Path::new(GPKG_VALIDATOR).exists() {
                    Ok(())
                } else {
                    Err(format!(
                        "GDAL's {GPKG_VALIDATOR} not found (apt-get install python3-gdal)"
                    ))
                }
            }
            Need::Data(relative) => {
                let path = shared_data(relative);
                if path.exists() {
                    Ok(())
                } else {
                    Err(format!("real data missing: {}", path.display()))
                }
            }
        }
    }
}

/// Where the real exports live: `../shared/data` beside the repository, or the folder named by
/// `HOTSPOTS_TEST_DATA_DIR`.
pub fn shared_data(relative: &str) -> PathBuf {
    std::env::var_os("HOTSPOTS_TEST_DATA_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
            PathBuf::from,
        )
        .join(relative)
}

type Body = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// One test: a name, what it needs, and its body.
pub struct Case {
    name: String,
    needs: Vec<Need>,
    ignored: Option<&'static str>,
    body: Body,
}

impl Case {
    pub fn new<F, Fut>(name: impl Into<String>, needs: Vec<Need>, body: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Self {
            name: name.into(),
            needs,
            ignored: None,
            body: Box::new(move || Box::pin(body())),
        }
    }

    /// Ignored unless asked for (`--ignored`, `--include-ignored`), like `#[ignore = "why"]`.
    pub fn ignored(mut self, why: &'static str) -> Self {
        self.ignored = Some(why);
        self
    }
}

/// Lists a binary's tests and runs them: `tests! { plain_case, case_with_needs: [Need::Postgis] }`
/// defines `main`. Each name is an `async fn name()` of the binary's root module.
#[allow(unused_macros)]
macro_rules! tests {
    ($($list:tt)*) => {
        fn main() {
            crate::common::harness::run(
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", file!())),
                crate::common::harness::cases![$($list)*],
            );
        }
    };
}
#[allow(unused_imports)]
pub(crate) use tests;

/// The cases of a list like `tests!`'s, as a `Vec<Case>`, for a `main` that adds more.
#[allow(unused_macros)]
macro_rules! cases {
    ($( $name:ident $(: [$($need:expr),* $(,)?])? ),* $(,)?) => {{
        #[allow(unused_imports)]
        use crate::common::harness::Need;
        let cases: Vec<crate::common::harness::Case> = vec![$(
            crate::common::harness::Case::new(
                stringify!($name),
                vec![$($($need),*)?],
                $name,
            )
        ),*];
        cases
    }};
}
#[allow(unused_imports)]
pub(crate) use cases;

/// Runs `cases` with the command line's arguments (filters, `--ignored`, `--list`, …) and exits.
/// `source` is the binary's source text, checked for tests that were never registered.
pub fn run(source: &str, cases: Vec<Case>) -> ! {
    let args = Arguments::from_args();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let mut trials = vec![Trial::test("every_test_is_registered", {
        let stray = unregistered(source);
        move || stray.map_or(Ok(()), |line| Err(Failed::from(line)))
    })];
    // Every need of a test that will run is checked once, before the run.
    let mut checked: BTreeMap<Need, Result<(), String>> = BTreeMap::new();
    let mut unmet: BTreeMap<Need, usize> = BTreeMap::new();
    for case in cases {
        let probe =
            Trial::test(case.name.clone(), || Ok(())).with_ignored_flag(case.ignored.is_some());
        let runs = !args.list && !args.is_filtered_out(&probe) && !args.is_ignored(&probe);
        let missing = if runs {
            case.needs.iter().copied().find(|need| {
                checked
                    .entry(*need)
                    .or_insert_with(|| need.check())
                    .is_err()
            })
        } else {
            None
        };
        let why = missing.map(|need| {
            *unmet.entry(need).or_default() += 1;
            if in_ci {
                checked[&need].clone().err().unwrap_or_default()
            } else {
                need.short()
            }
        });
        trials.push(trial(case, why, in_ci));
    }
    for (need, count) in &unmet {
        let why = checked[need].as_ref().err().map_or("", String::as_str);
        let tests = if *count == 1 { "test" } else { "tests" };
        if in_ci {
            eprintln!("{why}: {count} {tests} will fail (CI=true)");
        } else {
            eprintln!("{why}: {count} {tests} ignored (under CI=true they fail)");
        }
    }
    libtest_mimic::run(&args, trials).exit()
}

fn trial(case: Case, missing: Option<String>, in_ci: bool) -> Trial {
    let Case {
        name,
        ignored,
        body,
        ..
    } = case;
    Trial::ignorable_test(name, move || {
        match missing {
            Some(why) if in_ci => return Err(format!("{why} (CI=true)").into()),
            Some(why) => return Ok(Completion::ignored_with(why)),
            None => {}
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(format!("building a tokio runtime: {e}")))?;
        runtime.block_on(body());
        Ok(Completion::Completed)
    })
    .with_ignored_flag(ignored.is_some())
}

/// The first line that declares a libtest test, which this runner would never run.
fn unregistered(source: &str) -> Option<String> {
    source.lines().enumerate().find_map(|(i, line)| {
        let line = line.trim_start();
        (line.starts_with("#[test]") || line.starts_with("#[tokio::test")).then(|| {
            format!(
                "line {}: `{line}` — this binary runs on libtest-mimic: drop the attribute and \
                 list the test in its `tests!` (or `contract!`) list",
                i + 1
            )
        })
    })
}
