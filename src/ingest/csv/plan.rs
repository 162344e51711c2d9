//! Where in a CSV row each mapped value is: header positions resolved once, before any row.

use super::FileError;
use crate::ingest::mapping::{Columns, CoordinateSource, Mapping};

/// Field of a report a mapped column fills; the order of [`Plan::fields`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    ExternalId,
    Category,
    Description,
    CreatedAt,
    ResolvedAt,
    DueAt,
    Status,
    Agency,
    Address,
    Channel,
    Ward,
}

pub(super) const FIELDS: [Field; 11] = [
    Field::ExternalId,
    Field::Category,
    Field::Description,
    Field::CreatedAt,
    Field::ResolvedAt,
    Field::DueAt,
    Field::Status,
    Field::Agency,
    Field::Address,
    Field::Channel,
    Field::Ward,
];

pub(super) fn column_of(columns: &Columns, field: Field) -> Option<&str> {
    let name = match field {
        Field::Category => return Some(&columns.category),
        Field::CreatedAt => return Some(&columns.created_at),
        Field::ExternalId => &columns.external_id,
        Field::Description => &columns.description,
        Field::ResolvedAt => &columns.resolved_at,
        Field::DueAt => &columns.due_at,
        Field::Status => &columns.status,
        Field::Agency => &columns.agency,
        Field::Address => &columns.address,
        Field::Channel => &columns.channel,
        Field::Ward => &columns.ward,
    };
    name.as_deref()
}

/// Header positions of everything the mapping reads; the other columns become attributes.
pub(super) struct Plan {
    pub(super) headers: Vec<String>,
    pub(super) fields: [Option<usize>; FIELDS.len()],
    pub(super) coordinates: Vec<(CoordinateSource, Vec<usize>)>,
    pub(super) attributes: Vec<usize>,
}

impl Plan {
    pub(super) fn new(headers: &[String], mapping: &Mapping) -> Result<Self, FileError> {
        let mut missing = Vec::new();
        let mut find = |name: &str| {
            let found = headers
                .iter()
                .position(|h| h == name)
                .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(name)));
            if found.is_none() {
                missing.push(name.to_string());
            }
            found
        };
        let fields = FIELDS.map(|f| column_of(&mapping.columns, f).and_then(&mut find));
        let coordinates: Vec<(CoordinateSource, Vec<usize>)> = mapping
            .coordinates
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    c.columns().into_iter().filter_map(&mut find).collect(),
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumns {
                missing,
                found: headers.join(", "),
            });
        }
        let used: Vec<usize> = fields
            .iter()
            .flatten()
            .chain(coordinates.iter().flat_map(|(_, ix)| ix))
            .copied()
            .collect();
        let attributes = (0..headers.len()).filter(|i| !used.contains(i)).collect();
        Ok(Self {
            headers: headers.to_vec(),
            fields,
            coordinates,
            attributes,
        })
    }
}
