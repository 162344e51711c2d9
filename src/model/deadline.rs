//! The one definition of *overdue*. Every count and every property that says "overdue" calls
//! [`overdue_at`]; nothing else re-derives it.
//!
//! - A report is **overdue** when it is open (received, assigned or in progress) past its due
//!   time, or when it was resolved after its due time.
//! - It is **open overdue** when it is overdue and still open: the work that is late right now.
//! - A **rejected** report is neither resolved nor open: it was declined, not served, so it owes
//!   no work and is never overdue, whenever it was rejected.
//! - A report without a due time, and a resolved report whose resolution time is unknown, is
//!   never overdue.
//!
//! Times are compared as whole Unix seconds (UTC), the resolution the index keeps, so a report's
//! own `overdue` property and the counts over the index cannot disagree.

use super::{Report, Status};
use chrono::{DateTime, Utc};

/// Whether a report with this status, due time and resolution time is overdue at `now_s`
/// (all Unix seconds, UTC). See the module documentation for the definition.
pub fn overdue_at(status: Status, due_s: Option<i64>, resolved_s: Option<i64>, now_s: i64) -> bool {
    let Some(due_s) = due_s else {
        return false;
    };
    match status {
        Status::Received | Status::Assigned | Status::InProgress => due_s < now_s,
        Status::Resolved => resolved_s.is_some_and(|done| done > due_s),
        Status::Rejected => false,
    }
}

/// Overdue and still open at `now_s`: the subset of [`overdue_at`] that is late work today.
pub fn open_overdue_at(status: Status, due_s: Option<i64>, now_s: i64) -> bool {
    status.is_open() && overdue_at(status, due_s, None, now_s)
}

impl Report {
    /// Whether this report is overdue at `now` ([`overdue_at`]).
    pub fn is_overdue_at(&self, now: DateTime<Utc>) -> bool {
        overdue_at(
            self.status,
            self.due_at.map(|t| t.timestamp()),
            self.resolved_at.map(|t| t.timestamp()),
            now.timestamp(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    const DUE: Option<i64> = Some(1_000);

    #[test]
    fn open_reports_are_overdue_only_past_due() {
        for s in [Received, Assigned, InProgress] {
            assert!(!overdue_at(s, DUE, None, 1_000), "{s} at its due second");
            assert!(overdue_at(s, DUE, None, 1_001), "{s} a second late");
            assert!(open_overdue_at(s, DUE, 1_001));
            assert!(
                !overdue_at(s, None, None, i64::MAX),
                "{s} without a due time"
            );
        }
    }

    #[test]
    fn resolved_reports_are_overdue_when_resolved_late_and_never_open_overdue() {
        assert!(overdue_at(Resolved, DUE, Some(1_001), 0));
        assert!(!overdue_at(Resolved, DUE, Some(1_000), 5_000));
        assert!(!overdue_at(Resolved, DUE, None, 5_000));
        assert!(!open_overdue_at(Resolved, DUE, 5_000));
    }

    #[test]
    fn rejected_reports_are_never_overdue() {
        assert!(!overdue_at(Rejected, DUE, Some(9_000), 9_000));
        assert!(!overdue_at(Rejected, DUE, None, 9_000));
        assert!(!open_overdue_at(Rejected, DUE, 9_000));
    }
}
