//! Helpers shared by integration tests. Each test binary compiles its own copy and may use only
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod harness;
pub mod oracle;
pub mod postgis;
