//! What happened to the rows of one imported file, for the terminal (`to_text`) and as JSON.

use super::LISTED_REJECTIONS;
use crate::config::CityProfile;
use crate::ingest::csv::{AddedCategory, RowError};
use serde::Serialize;
use std::collections::BTreeMap;

/// One refused row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    pub line: u64,
    pub reason: &'static str,
    pub message: String,
}

/// How the source's own ward column compares with the ward Hotspots assigned.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct WardAgreement {
    /// Rows compared: every stored row when the source has a ward column (its "no ward" must
    /// then match a point outside every ward), else rows with a source ward.
    pub compared: u64,
    pub agreed: u64,
    pub share: f64,
}

/// Everything that happened to the rows of one file.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ImportSummary {
    pub read: u64,
    pub stored: u64,
    /// Already stored before (same source and external id); not stored again.
    pub duplicates: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// The first rejected rows, with line numbers and reasons.
    pub rejections: Vec<Rejection>,
    /// Stored, but outside the city profile's bounds (flagged on the report, not refused).
    pub outside_bounds: u64,
    /// The first of those rows' line numbers.
    pub outside_bounds_lines: Vec<u64>,
    /// The zone the file's timestamps without an offset were read in, and whether the mapping
    /// named it (`file_time_zone`) or it is the city's zone.
    pub file_time_zone: String,
    pub file_time_zone_from_mapping: bool,
    /// The mapping names no id column: each report's key was made from its content.
    pub content_keys: bool,
    /// Categories the file used that the profile lacked, added to it (not with `strict`).
    pub new_categories: Vec<AddedCategory>,
    /// Stored, but inside no ward.
    pub outside_wards: u64,
    /// Wards the reports were assigned against (0: no wards loaded yet).
    pub wards: u64,
    pub ward_agreement: Option<WardAgreement>,
    /// True when `strict` refused the whole file because a row was rejected.
    pub nothing_stored_because_strict: bool,
    pub seconds: f64,
}

impl ImportSummary {
    pub(crate) fn reject(&mut self, e: &RowError) {
        self.rejected += 1;
        *self.rejected_by_reason.entry(e.reason.code()).or_default() += 1;
        if self.rejections.len() < LISTED_REJECTIONS {
            self.rejections.push(Rejection {
                line: e.line,
                reason: e.reason.code(),
                message: e.message.clone(),
            });
        }
    }

    /// The summary as a planner reads it in a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "read {} rows: stored {}, already stored {}, rejected {} ({:.1} s)\n",
            self.read, self.stored, self.duplicates, self.rejected, self.seconds
        );
        if self.nothing_stored_because_strict {
            out.push_str("nothing was stored: --strict refuses a file with any rejected row\n");
        }
        for (reason, n) in &self.rejected_by_reason {
            out.push_str(&format!("  rejected, {reason}: {n}\n"));
        }
        for r in self.rejections.iter().take(20) {
            out.push_str(&format!(
                "    line {}: {} ({})\n",
                r.line, r.message, r.reason
            ));
        }
        if self.rejections.len() > 20 {
            out.push_str(&format!(
                "    … {} more listed with --json\n",
                self.rejections.len() - 20
            ));
        }
        if !self.file_time_zone.is_empty() {
            let why = if self.file_time_zone_from_mapping {
                "the mapping's file_time_zone"
            } else {
                "the city's zone; set file_time_zone in the mapping if the file is written in another, e.g. UTC"
            };
            out.push_str(&format!(
                "times without an offset were read in {} ({why})\n",
                self.file_time_zone
            ));
        }
        if self.content_keys {
            out.push_str(
                "no id column is mapped: each report's key is made from its content (category, created time, \
                 point, address), so importing the file again stores nothing twice; rows alike in all four are \
                 one report (counted as already stored)\n",
            );
        }
        if !self.new_categories.is_empty() {
            out.push_str(&format!(
                "warning: {} new categories joined the city profile saved with the data (deadline {} h, agency {}); \
                 review them with `hotspots profile export FILE`, edit, then `hotspots profile import FILE`:\n",
                self.new_categories.len(),
                crate::config::DEFAULT_DEADLINE_HOURS,
                crate::config::UNASSIGNED_AGENCY
            ));
            for c in &self.new_categories {
                out.push_str(&format!(
                    "    {} = {:?} ({}), first on line {}, {} rows\n",
                    c.code, c.name, c.language, c.first_line, c.rows
                ));
            }
        }
        out.push_str(&format!(
            "outside the city's bounds (stored, flagged): {}\n",
            self.outside_bounds
        ));
        if !self.outside_bounds_lines.is_empty() {
            let lines: Vec<String> = self
                .outside_bounds_lines
                .iter()
                .take(20)
                .map(u64::to_string)
                .collect();
            let more = if self.outside_bounds_lines.len() > 20 {
                ", … (all with --json, or ?outside_bounds=true in the API)"
            } else {
                ""
            };
            out.push_str(&format!("    lines {}{more}\n", lines.join(", ")));
        }
        if self.wards == 0 {
            out.push_str("no wards are loaded, so no report has a ward: run `hotspots import wards` (reports are re-assigned)\n");
        } else {
            out.push_str(&format!(
                "outside every ward (stored without a ward): {}\n",
                self.outside_wards
            ));
        }
        if let Some(a) = self.ward_agreement {
            out.push_str(&format!(
                "ward agreement with the source's own ward column: {} of {} = {:.2} %\n",
                a.agreed,
                a.compared,
                a.share * 100.0
            ));
        }
        out
    }
}

impl ImportSummary {
    /// Adds the categories this import found to `profile`, as the reader did.
    pub fn extend_profile(&self, profile: &mut CityProfile) {
        for c in &self.new_categories {
            profile.add_category(&c.code, &c.language, &c.name);
        }
    }
}
