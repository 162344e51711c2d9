//! The rules of an operator's change to a report (`PATCH`): the legal status moves and what each
//! move does to `resolved_at` and `satisfaction`. Both stores apply a change through
//! [`Report::apply_change`] inside their transaction, so the rules live here once.
//!
//! - `status` moves only as [`Status::can_become`] allows; leaving it out changes only the other
//!   fields (a move to the status the report already has is not a move, and is refused).
//! - Moving to `resolved` sets `resolved_at` to the time of the change.
//! - Moving to an open status (received, assigned, in_progress; from `resolved` that is
//!   *reopening*) clears `resolved_at` and `satisfaction`: the rating judged a resolution that did
//!   not hold, and the next resolution is rated afresh.
//! - Moving to `rejected` keeps `resolved_at` as it was (rejected reports are not resolved) and is
//!   final.
//! - `agency` may change with or without a status move, in any status.
//! - `satisfaction` is the citizen's rating of a resolution, so it is accepted only when the
//!   report is `resolved` once the change is applied (already resolved, or resolved by the same
//!   change); on any other report the change is refused as a conflict with its state.

use super::{Report, ReportId, Status, StatusChange};

/// Why a change conflicts with the report's state (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedChange {
    #[error("report {id} is {from}; it cannot become {to}")]
    IllegalMove {
        id: ReportId,
        from: Status,
        to: Status,
    },
    #[error(
        "satisfaction: report {id} would be {status}; a satisfaction is given only to a resolved report"
    )]
    NotResolved { id: ReportId, status: Status },
}

impl Report {
    /// Applies `change` by the rules of the module documentation, or says why it may not; on
    /// refusal the report is unchanged.
    pub fn apply_change(&mut self, change: &StatusChange) -> Result<(), RefusedChange> {
        let next = change.status.unwrap_or(self.status);
        if change.status.is_some() && !self.status.can_become(next) {
            return Err(RefusedChange::IllegalMove {
                id: self.id,
                from: self.status,
                to: next,
            });
        }
        if change.satisfaction.is_some() && next != Status::Resolved {
            return Err(RefusedChange::NotResolved {
                id: self.id,
                status: next,
            });
        }
        if change.status.is_some() {
            match next {
                Status::Resolved => self.resolved_at = Some(change.at),
                Status::Rejected => {}
                Status::Received | Status::Assigned | Status::InProgress => {
                    self.resolved_at = None;
                    self.satisfaction = None;
                }
            }
            self.status = next;
        }
        if let Some(agency) = &change.agency {
            self.agency = Some(agency.clone());
        }
        if let Some(s) = change.satisfaction {
            self.satisfaction = Some(s.get());
        }
        self.updated_at = change.at;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Satisfaction;
    use chrono::{DateTime, Duration, Utc};

    fn report(status: Status) -> Report {
        let t0 = DateTime::UNIX_EPOCH;
        Report {
            id: 7,
            source: "api".into(),
            external_id: None,
            category: "garbage".into(),
            description: None,
            lon: 107.6,
            lat: 16.46,
            address: None,
            ward: None,
            agency: None,
            status,
            created_at: t0,
            updated_at: t0,
            due_at: None,
            resolved_at: (status == Status::Resolved).then_some(t0),
            satisfaction: (status == Status::Resolved).then_some(2),
            channel: None,
            attributes: serde_json::json!({}),
            outside_bounds: false,
        }
    }

    fn change(status: Option<Status>, satisfaction: Option<i64>) -> StatusChange {
        StatusChange {
            status,
            at: DateTime::<Utc>::UNIX_EPOCH + Duration::hours(5),
            agency: None,
            satisfaction: satisfaction.map(|s| Satisfaction::new(s).expect("1..5")),
        }
    }

    #[test]
    fn reopening_clears_resolution_and_rating() {
        let mut r = report(Status::Resolved);
        r.apply_change(&change(Some(Status::InProgress), None))
            .expect("reopening is legal");
        assert_eq!((r.resolved_at, r.satisfaction), (None, None));
        r.apply_change(&change(Some(Status::Resolved), Some(5)))
            .expect("resolving with a rating");
        assert_eq!(r.resolved_at, Some(change(None, None).at));
        assert_eq!(r.satisfaction, Some(5));
    }

    #[test]
    fn satisfaction_needs_a_resolved_report() {
        let mut r = report(Status::Assigned);
        let before = r.clone();
        assert_eq!(
            r.apply_change(&change(None, Some(4))),
            Err(RefusedChange::NotResolved {
                id: 7,
                status: Status::Assigned
            })
        );
        assert_eq!(r, before, "a refused change leaves the report as it was");
        let mut done = report(Status::Resolved);
        done.apply_change(&change(None, Some(4)))
            .expect("rating a resolved report");
        assert_eq!(
            (done.status, done.satisfaction),
            (Status::Resolved, Some(4))
        );
        let mut reopened = report(Status::Resolved);
        assert!(
            reopened
                .apply_change(&change(Some(Status::InProgress), Some(4)))
                .is_err()
        );
    }

    #[test]
    fn agency_changes_without_a_move_and_a_same_status_move_is_refused() {
        let mut r = report(Status::Rejected);
        let mut c = change(None, None);
        c.agency = Some("hepco".into());
        r.apply_change(&c).expect("agency alone");
        assert_eq!(
            (r.status, r.agency.as_deref()),
            (Status::Rejected, Some("hepco"))
        );
        let mut a = report(Status::Assigned);
        assert!(matches!(
            a.apply_change(&change(Some(Status::Assigned), None)),
            Err(RefusedChange::IllegalMove { .. })
        ));
    }
}
