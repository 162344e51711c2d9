//! The second stage of reading a CSV: each row the mapping read, checked against the city profile
//! (its category resolved by code or name, deadline and agency filled in, points outside the
//! bounds flagged), and categories the profile lacks added to it when the import allows.

use super::{
    FileError, ParsedRow, RejectReason, RowError, SourceRow, SourceRows, read_source_rows,
};
use crate::config::CityProfile;
use crate::ingest::apply_category;
use crate::ingest::mapping::Mapping;
use crate::model::Category;
use std::collections::HashMap;
use std::io::Read;
use unicode_normalization::UnicodeNormalization;

/// Reads reports from CSV and checks each against `profile`. Naive times are in the mapping's
/// `file_time_zone`, or the profile's (the city's) zone when the mapping names none. A category
/// the profile does not know is rejected, unless [`CsvReports::adding_new_categories`].
pub fn read_reports<'a, R: Read>(
    input: R,
    mapping: &'a Mapping,
    profile: &CityProfile,
) -> Result<CsvReports<'a, R>, FileError> {
    Ok(CsvReports {
        rows: read_source_rows(input, mapping, profile.time_zone)?,
        profile: profile.clone(),
        add_new: false,
        added: Vec::new(),
        codes: HashMap::new(),
        known: profile.categories.len(),
    })
}

/// A category the file used that the profile did not know, added to the reader's profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddedCategory {
    pub code: String,
    /// The file's own word for it, in the mapping's `language`.
    pub name: String,
    pub language: String,
    /// The first line that used it, and how many rows did.
    pub first_line: u64,
    pub rows: u64,
}

/// The iterator of [`read_reports`].
pub struct CsvReports<'a, R: Read> {
    rows: SourceRows<'a, R>,
    profile: CityProfile,
    add_new: bool,
    added: Vec<AddedCategory>,
    /// The file's category word → its index in the profile (see [`Self::category_of`]).
    codes: HashMap<String, Option<usize>>,
    /// Categories the profile had before reading; those at or past this index were added.
    known: usize,
}

impl<R: Read> CsvReports<'_, R> {
    /// Adds a category the profile lacks to the reader's profile (default deadline, agency
    /// `unassigned`), instead of rejecting its rows. See [`Self::finish`].
    pub fn adding_new_categories(mut self) -> Self {
        self.add_new = true;
        self
    }

    /// The profile with the categories added while reading, and those categories.
    pub fn finish(self) -> (CityProfile, Vec<AddedCategory>) {
        (self.profile, self.added)
    }

    /// The index in the profile of a row's category: the mapped code if the profile has it, else
    /// the category the file's word names (code or any name), else a new one when adding.
    /// Remembered per word, so each distinct word is resolved once.
    fn category_of(&mut self, row: &SourceRow) -> Result<usize, RowError> {
        let found = match self.codes.get(&row.source_category) {
            Some(&known) => known,
            None => {
                let found = self.find_or_add(row);
                self.codes.insert(row.source_category.clone(), found);
                found
            }
        };
        let Some(ix) = found else {
            return Err(RowError::new(
                row.line,
                RejectReason::UnknownCategory,
                self.profile.unknown_category(&row.source_category).message,
            ));
        };
        if let Some(added) = ix
            .checked_sub(self.known)
            .and_then(|k| self.added.get_mut(k))
            && added.first_line != row.line
        {
            added.rows += 1;
        }
        Ok(ix)
    }

    fn find_or_add(&mut self, row: &SourceRow) -> Option<usize> {
        let categories = &self.profile.categories;
        let key = &row.report.category;
        let found = categories
            .iter()
            .position(|c| c.code == *key)
            .or_else(|| {
                categories
                    .iter()
                    .position(|c| c.code == row.source_category)
            })
            .or_else(|| {
                let by_name = |text: &str| categories.iter().position(|c| c.answers_to(text));
                by_name(&row.source_category).or_else(|| by_name(key))
            });
        if found.is_some() || !self.add_new {
            return found;
        }
        let language = self.rows.mapping.language.clone();
        let name: String = row.source_category.nfc().collect();
        let code = self.profile.add_category(key, &language, &name)?;
        self.added.push(AddedCategory {
            code,
            name,
            language,
            first_line: row.line,
            rows: 1,
        });
        Some(self.profile.categories.len() - 1)
    }
}

impl<R: Read> Iterator for CsvReports<'_, R> {
    type Item = Result<ParsedRow, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        Some(row.and_then(|mut row| {
            let ix = self.category_of(&row)?;
            let category = &self.profile.categories[ix];
            if row.report.category != category.code {
                row.report.category.clone_from(&category.code);
            }
            check_against_profile(row, category, &self.profile)
        }))
    }
}

/// Fills deadline and agency from the row's category and flags points outside the bounds.
fn check_against_profile(
    row: SourceRow,
    category: &Category,
    profile: &CityProfile,
) -> Result<ParsedRow, RowError> {
    let SourceRow {
        line,
        mut report,
        source_ward,
        mut flags,
        ..
    } = row;
    apply_category(&mut report, category).map_err(|e| {
        let reason = match e.field {
            "category" => RejectReason::UnknownCategory,
            "attributes" => RejectReason::BadValue,
            _ if e.message.contains("before created_at") => RejectReason::DatesOutOfOrder,
            _ => RejectReason::BadDate,
        };
        RowError::new(line, reason, e.message)
    })?;
    flags.outside_bounds = !profile.bounds.contains(report.lon.get(), report.lat.get());
    report.outside_bounds = flags.outside_bounds;
    Ok(ParsedRow {
        line,
        report,
        source_ward,
        flags,
    })
}
