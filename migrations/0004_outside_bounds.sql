-- Reports imported with a point outside the city profile's bounds are kept and flagged, so a
-- planner can find them (`?outside_bounds=true`) rather than only read a count in the summary.
alter table report add column outside_bounds boolean not null default false;
