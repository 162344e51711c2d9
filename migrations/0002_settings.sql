-- Settings that travel with the data, such as the city profile (TOML) the reports were
-- validated against, so that `hotspots serve` on this database needs no extra files.
create table hotspots_setting (
  key text primary key,
  value text not null
);
