-- The data version (Store::data_version): a number that rises with every committed write to
-- reports or wards and never repeats, across restarts and across instances sharing this database.
-- Snapshots of the in-memory index, caches and HTTP ETags key on it.
--
-- Statement-level triggers draw the next value, so every write counts whoever makes it (Hotspots,
-- or QGIS editing the layer), in the writing transaction, at one nextval per statement rather than
-- per row (a COPY of a million reports draws once). A value drawn by a transaction that rolls back
-- is simply skipped: the version is unique and rising, not dense.
create sequence hotspots_data_version;

-- The sequence is named through the schema of the table that fired the trigger, not the writer's
-- search_path, which need not include Hotspots' schema.
create function hotspots_bump_data_version() returns trigger
language plpgsql as $$
begin
  perform nextval(format('%I.hotspots_data_version', tg_table_schema)::regclass);
  return null;
end
$$;

create trigger report_data_version
  after insert or update or delete or truncate on report
  for each statement execute function hotspots_bump_data_version();

create trigger ward_data_version
  after insert or update or delete or truncate on ward
  for each statement execute function hotspots_bump_data_version();
