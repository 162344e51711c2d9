//! Two years of synthetic field reports with the patterns the analytics should find.
//!
//! - About 60 % come from *hotspots*: fixed places where one kind of problem keeps recurring.
//!   Some are steady, some *emerging* (they start part-way and grow), some *fading* (they stop).
//! - Flooding (and fallen trees) follow the rainy season, September to December.
//! - Agencies differ in how often they miss deadlines; late work gets worse satisfaction.
//! - Reports near the end of the period are still open, as in a live system.

use crate::config::{CityProfile, DemoSettings};
use crate::model::{Lat, Lon, NewReport, Satisfaction, Status};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// Share of each category in background reports: (code, weight).
const CATEGORY_WEIGHTS: [(&str, f64); 7] = [
    ("garbage", 30.0),
    ("pothole", 15.0),
    ("flooding", 6.0),
    ("streetlight", 15.0),
    ("encroachment", 17.0),
    ("tree", 8.0),
    ("water_supply", 9.0),
];

/// How often each agency finishes late.
fn late_share(agency: &str) -> f64 {
    match agency {
        "roads" => 0.38,
        "ward_ppc" => 0.42,
        "drainage" => 0.25,
        "lighting" => 0.15,
        "water" => 0.10,
        _ => 0.08,
    }
}

const STREETS: [&str; 20] = [
    "Lê Lợi",
    "Hùng Vương",
    "Trần Hưng Đạo",
    "Nguyễn Huệ",
    "Bà Triệu",
    "Điện Biên Phủ",
    "Lý Thường Kiệt",
    "Phan Đình Phùng",
    "Nguyễn Trãi",
    "Đinh Tiên Hoàng",
    "Chi Lăng",
    "Kim Long",
    "Bùi Thị Xuân",
    "Nguyễn Sinh Cung",
    "Tố Hữu",
    "Võ Văn Kiệt",
    "Đặng Thái Thân",
    "Mai Thúc Loan",
    "Nguyễn Chí Thanh",
    "Hàn Mặc Tử",
];

#[derive(Debug, Clone, Copy)]
enum Trend {
    Steady,
    /// Starts on this share of the period and grows.
    Emerging(f64),
    /// Stops on this share of the period.
    Fading(f64),
}

struct Hotspot {
    category: &'static str,
    lon: f64,
    lat: f64,
    spread_m: f64,
    weight: f64,
    trend: Trend,
}

impl Hotspot {
    fn weight_at(&self, t: f64, month: u32) -> f64 {
        let seasonal = if matches!(self.category, "flooding" | "tree") {
            if (9..=12).contains(&month) { 4.0 } else { 0.15 }
        } else {
            1.0
        };
        let trend = match self.trend {
            Trend::Steady => 1.0,
            Trend::Emerging(start) if t < start => 0.0,
            Trend::Emerging(start) => 0.3 + 2.5 * (t - start) / (1.0 - start),
            Trend::Fading(end) if t > end => 0.0,
            Trend::Fading(end) => 1.5 * (1.0 - t / end) + 0.2,
        };
        self.weight * seasonal * trend
    }
}

fn hotspots(profile: &CityProfile, rng: &mut ChaCha8Rng) -> Vec<Hotspot> {
    let b = &profile.bounds;
    let mut out = Vec::new();
    for i in 0..28 {
        let category = CATEGORY_WEIGHTS[i % CATEGORY_WEIGHTS.len()].0;
        let trend = match i % 4 {
            0 => Trend::Emerging(rng.random_range(0.35..0.7)),
            1 => Trend::Fading(rng.random_range(0.3..0.6)),
            _ => Trend::Steady,
        };
        out.push(Hotspot {
            category,
            lon: rng.random_range(b.min_lon + 0.01..b.max_lon - 0.01),
            lat: rng.random_range(b.min_lat + 0.01..b.max_lat - 0.01),
            spread_m: rng.random_range(15.0..45.0),
            weight: rng.random_range(0.5..2.0),
            trend,
        });
    }
    out
}

/// Generates the demo's reports, oldest first. Same profile and settings → same reports.
pub fn generate(
    profile: &CityProfile,
    settings: &DemoSettings,
    rng: &mut ChaCha8Rng,
) -> Vec<NewReport> {
    let spots = hotspots(profile, rng);
    let zone = profile.time_zone;
    let end_day = settings.start + Duration::days(i64::from(settings.days));
    let end = zone
        .from_local_datetime(&end_day.and_time(NaiveTime::MIN))
        .single()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let mut out = Vec::new();
    for day in 0..settings.days {
        let date = settings.start + Duration::days(i64::from(day));
        let t = f64::from(day) / f64::from(settings.days);
        let weights: Vec<f64> = spots.iter().map(|s| s.weight_at(t, date.month())).collect();
        let total: f64 = weights.iter().sum();
        let n = poisson(settings.reports_per_day, rng);
        for k in 0..n {
            let local = date.and_time(NaiveTime::MIN)
                + Duration::seconds(rng.random_range(6 * 3600..22 * 3600));
            let Some(created) = zone.from_local_datetime(&local).single() else {
                continue;
            };
            let created = created.with_timezone(&Utc);
            let (category, lon, lat) = if rng.random_bool(0.6) && total > 0.0 {
                let s = &spots[pick(&weights, total, rng)];
                let (dx, dy) = (gauss(rng) * s.spread_m, gauss(rng) * s.spread_m);
                let p = crate::projection::LocalProjection::new(s.lon, s.lat);
                let (lon, lat) = p.to_degrees(dx, dy);
                (s.category, lon, lat)
            } else {
                background(profile, date.month(), rng)
            };
            let b = &profile.bounds;
            // Kept just inside the city's outline, so every report has a ward.
            let inset = 1e-5;
            let lon = lon.clamp(b.min_lon + inset, b.max_lon - inset);
            let lat = lat.clamp(b.min_lat + inset, b.max_lat - inset);
            let (Ok(lon), Ok(lat)) = (Lon::new(round7(lon)), Lat::new(round7(lat))) else {
                continue;
            };
            let Some(cat) = profile.category(category) else {
                continue;
            };
            let due = created + Duration::hours(i64::from(cat.deadline_hours));
            let mut report = NewReport {
                source: "hue-s".into(),
                external_id: Some(format!("HUES-{}-{:03}", date.format("%Y%m%d"), k)),
                category: category.to_string(),
                description: Some(describe(category, rng)),
                lon,
                lat,
                address: Some(format!(
                    "{} {}",
                    rng.random_range(1..300),
                    STREETS[rng.random_range(0..STREETS.len())]
                )),
                ward: None,
                agency: Some(cat.agency.clone()),
                status: Status::Received,
                created_at: created,
                due_at: Some(due),
                resolved_at: None,
                satisfaction: None,
                channel: Some(channel(rng).into()),
                reporter_contact: Some(format!("09{:08}", rng.random_range(0..100_000_000u32))),
                attributes: json!({}),
                outside_bounds: false,
            };
            settle(&mut report, cat.deadline_hours, end, rng);
            out.push(report);
        }
    }
    out
}

/// Decides how the report went by the end of the period.
fn settle(r: &mut NewReport, deadline_hours: u32, end: DateTime<Utc>, rng: &mut ChaCha8Rng) {
    if rng.random_bool(0.03) {
        r.status = Status::Rejected;
        return;
    }
    let agency = r.agency.as_deref().unwrap_or_default();
    let late = rng.random_bool(late_share(agency));
    let share = if late {
        rng.random_range(1.05..3.5)
    } else {
        rng.random_range(0.1..0.98)
    };
    let took = Duration::seconds((f64::from(deadline_hours) * 3600.0 * share) as i64);
    let resolved = r.created_at + took;
    if resolved <= end {
        r.status = Status::Resolved;
        r.resolved_at = Some(resolved);
        if rng.random_bool(0.6) {
            let score = if late {
                rng.random_range(1..=3)
            } else {
                rng.random_range(3..=5)
            };
            r.satisfaction = Satisfaction::new(score).ok();
        }
    } else {
        r.status = if rng.random_bool(0.5) {
            Status::Assigned
        } else {
            Status::InProgress
        };
    }
}

fn background(profile: &CityProfile, month: u32, rng: &mut ChaCha8Rng) -> (&'static str, f64, f64) {
    let weights: Vec<f64> = CATEGORY_WEIGHTS
        .iter()
        .map(|(c, w)| {
            if matches!(*c, "flooding" | "tree") && (9..=12).contains(&month) {
                w * 4.0
            } else {
                *w
            }
        })
        .collect();
    let total = weights.iter().sum();
    let category = CATEGORY_WEIGHTS[pick(&weights, total, rng)].0;
    let b = &profile.bounds;
    // Most people live around the Citadel and the south bank; the rest is spread evenly.
    let (lon, lat) = if rng.random_bool(0.7) {
        let p = crate::projection::LocalProjection::new(107.585, 16.465);
        p.to_degrees(gauss(rng) * 2200.0, gauss(rng) * 1800.0)
    } else {
        (
            rng.random_range(b.min_lon..b.max_lon),
            rng.random_range(b.min_lat..b.max_lat),
        )
    };
    (category, lon, lat)
}

fn describe(category: &str, rng: &mut ChaCha8Rng) -> String {
    let options: &[&str] = match category {
        "garbage" => &[
            "Rác thải tồn đọng nhiều ngày",
            "Điểm tập kết rác tự phát",
            "Thùng rác đầy, bốc mùi",
        ],
        "pothole" => &[
            "Ổ gà lớn giữa đường",
            "Mặt đường sụt lún",
            "Nắp hố ga bị vỡ",
        ],
        "flooding" => &[
            "Ngập sâu sau mưa lớn",
            "Cống thoát nước bị tắc",
            "Nước ngập vào nhà dân",
        ],
        "streetlight" => &[
            "Đèn đường không sáng",
            "Cột đèn nghiêng nguy hiểm",
            "Đèn chiếu sáng chập chờn",
        ],
        "encroachment" => &[
            "Lấn chiếm vỉa hè buôn bán",
            "Đậu xe chiếm lòng đường",
            "Vật liệu xây dựng trên vỉa hè",
        ],
        "tree" => &[
            "Cây xanh gãy đổ",
            "Cành cây có nguy cơ gãy",
            "Cây nghiêng sát đường dây điện",
        ],
        _ => &[
            "Mất nước sinh hoạt",
            "Vỡ đường ống cấp nước",
            "Nước sinh hoạt đục",
        ],
    };
    options[rng.random_range(0..options.len())].to_string()
}

fn channel(rng: &mut ChaCha8Rng) -> &'static str {
    match rng.random_range(0..100) {
        0..80 => "hue-s",
        80..95 => "hotline-1022",
        _ => "zalo",
    }
}

fn pick(weights: &[f64], total: f64, rng: &mut ChaCha8Rng) -> usize {
    let mut x = rng.random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Standard normal by Box–Muller (kept here so the output does not depend on another crate).
fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Knuth's method for the demo's small means; a normal approximation for the large means of
/// benchmark cities (Knuth's product underflows past a mean of about 700).
fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> u32 {
    if mean > 500.0 {
        return (mean + mean.sqrt() * gauss(rng)).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.random_range(0.0..1.0);
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}
