//! `facerunner schema`: the JSON Schema of facerunner.yaml.

use std::process::ExitCode;

use crate::config::SCHEMA;

/// The schema as checked in at `schema/facerunner.schema.json`.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&*SCHEMA).expect("the schema always serializes");
    s.push('\n');
    s
}

/// Print it.
pub fn run() -> miette::Result<ExitCode> {
    print!("{}", schema_text());
    Ok(ExitCode::SUCCESS)
}
