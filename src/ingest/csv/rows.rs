//! What reading a file gives, row by row: accepted rows with their flags, and rejections with a
//! stable reason code. GeoJSON imports use the same types.

use crate::model::NewReport;

/// Why a row was refused. [`RejectReason::code`] is stable: reports and API bodies use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The row has more or fewer fields than the header.
    WrongColumnCount,
    /// The file could not be read from here on (I/O or decompression error).
    Unreadable,
    BadDate,
    /// Closed or due before created, by more than the tolerated clock skew.
    DatesOutOfOrder,
    /// Coordinates present but unreadable or out of range.
    BadCoordinates,
    /// No coordinates at all (or the (0, 0) placeholder).
    NoCoordinates,
    MissingCategory,
    /// The category is neither mapped nor known to the city profile.
    UnknownCategory,
    BadStatus,
    /// Any other value a model constructor refused.
    BadValue,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongColumnCount => "wrong_column_count",
            Self::Unreadable => "unreadable",
            Self::BadDate => "bad_date",
            Self::DatesOutOfOrder => "dates_out_of_order",
            Self::BadCoordinates => "bad_coordinates",
            Self::NoCoordinates => "no_coordinates",
            Self::MissingCategory => "missing_category",
            Self::UnknownCategory => "unknown_category",
            Self::BadStatus => "bad_status",
            Self::BadValue => "bad_value",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One refused row. For GeoJSON input `line` is the feature's index in `features`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}: {message}")]
pub struct RowError {
    pub line: u64,
    pub reason: RejectReason,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            line,
            reason,
            message: message.into(),
        }
    }
}

/// What was accepted but deserves a look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowFlags {
    /// The point lies outside the city profile's bounds (kept, not rejected).
    pub outside_bounds: bool,
    /// A closed or due time a few minutes before the created time was moved up to it (Boston has
    /// cases closed seconds before they were opened).
    pub times_clamped: bool,
    /// Some bytes were not UTF-8 and were replaced with U+FFFD.
    pub lossy_text: bool,
}

/// A row accepted into a [`NewReport`], with its ward as the source gave it (normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    pub line: u64,
    pub report: NewReport,
    pub source_ward: Option<String>,
    pub flags: RowFlags,
}

/// A row read with the mapping alone: `report.due_at` and `report.agency` may still be empty,
/// and the category is not yet checked against a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub line: u64,
    pub report: NewReport,
    /// The category value as the source wrote it.
    pub source_category: String,
    /// The agency value as the source wrote it (`report.agency` holds its code).
    pub source_agency: Option<String>,
    pub source_ward: Option<String>,
    pub flags: RowFlags,
}

/// A problem with the file as a whole: nothing was read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading the header: {0}")]
    Header(#[from] ::csv::Error),
    #[error("the file has no column {missing:?} named in the mapping; its columns are: {found}")]
    MissingColumns { missing: Vec<String>, found: String },
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),
}
