//! Files of events in any shape and format: what the continuous export's batches (and, in
//! time, export jobs' files) are made of. The shapes themselves are defined once in
//! `relay_core::shapes`; this module only lays them out as bytes: JSONL (one record per
//! line), CSV (the columnar shape's header and rows, RFC 4180, text cells that a spreadsheet
//! would run as a formula prefixed with `'`), Parquet ([`parquet`]), each
//! optionally gzip-compressed. Which shape goes with which format is
//! `relay_core::model::file_format`'s one table.

pub mod ocsf_parquet;
pub mod parquet;

use std::borrow::Cow;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{Map, Value};

use relay_core::model::event::AuditEvent;
use relay_core::model::file_format::FileFormat;
use relay_core::shapes::columnar::{self, Cell, COLUMNS};
use relay_core::shapes::{ocsf, Schema, ShapeContext};

/// One stored event: its canonical JSON and when it was accepted.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    /// Canonical JSON, as stored.
    pub doc: &'a str,
    /// Acceptance time (RFC 3339).
    pub received_at: &'a str,
}

/// A batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A stored event is not an event (corrupt data).
    #[error("a stored event cannot be read: {0}")]
    Event(String),
    /// The shape does not go into the format (validation lets no such pair through).
    #[error("{schema} events cannot be written as {format}")]
    Combination {
        /// The shape.
        schema: &'static str,
        /// The format.
        format: &'static str,
    },
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encode(String),
}

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The spreadsheet-safe form of a text cell: a leading apostrophe when it starts like a
/// formula.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The original value of a cell [`neutralize`] changed.
pub fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

fn parse(e: &StoredEvent<'_>) -> Result<AuditEvent, FileError> {
    serde_json::from_str(e.doc).map_err(|err| FileError::Event(err.to_string()))
}

/// The columnar row as a JSON object (JSONL of the columnar shape): dates and times as
/// text, numbers and booleans as themselves, `METADATA` as its JSON text.
fn row_object(cells: &[Cell]) -> Value {
    let mut m = Map::new();
    for (col, cell) in COLUMNS.iter().zip(cells) {
        let v = match cell {
            Cell::Null => Value::Null,
            Cell::Int(n) => Value::from(*n),
            Cell::Bool(b) => Value::Bool(*b),
            other => Value::String(columnar::cell_text(other)),
        };
        m.insert(col.name.to_string(), v);
    }
    Value::Object(m)
}

/// Writes `events` as one file of `schema` in `format`.
pub fn encode(
    events: &[StoredEvent<'_>],
    schema: Schema,
    format: FileFormat,
    ctx: &ShapeContext,
) -> Result<Vec<u8>, FileError> {
    let combination = || FileError::Combination {
        schema: schema.as_str(),
        format: format.as_str(),
    };
    let plain = match (schema, format) {
        (Schema::Canonical, FileFormat::Jsonl | FileFormat::JsonlGz) => {
            let mut out = Vec::with_capacity(events.iter().map(|e| e.doc.len() + 1).sum());
            for e in events {
                out.extend_from_slice(e.doc.as_bytes());
                out.push(b'\n');
            }
            out
        }
        (Schema::Ocsf, FileFormat::Jsonl | FileFormat::JsonlGz) => {
            let mut out = Vec::new();
            for e in events {
                let record = ocsf::record(&parse(e)?, Some(e.received_at), ctx);
                serde_json::to_writer(&mut out, &record)
                    .map_err(|err| FileError::Encode(err.to_string()))?;
                out.push(b'\n');
            }
            out
        }
        (Schema::Columnar, FileFormat::Jsonl | FileFormat::JsonlGz) => {
            let mut out = Vec::new();
            for e in events {
                let cells = columnar::row(&parse(e)?, Some(e.received_at), ctx);
                serde_json::to_writer(&mut out, &row_object(&cells))
                    .map_err(|err| FileError::Encode(err.to_string()))?;
                out.push(b'\n');
            }
            out
        }
        (Schema::Columnar, FileFormat::Csv | FileFormat::CsvGz) => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            let encode_err = |err: csv::Error| FileError::Encode(err.to_string());
            w.write_record(columnar::csv_header()).map_err(encode_err)?;
            for e in events {
                let cells = columnar::row(&parse(e)?, Some(e.received_at), ctx);
                // Audit data is attacker-controlled and CSV files end up in spreadsheets.
                w.write_record(cells.iter().map(|c| match c {
                    Cell::Text(t) => neutralize(t).into_owned(),
                    other => columnar::cell_text(other),
                }))
                .map_err(encode_err)?;
            }
            w.into_inner()
                .map_err(|err| FileError::Encode(err.to_string()))?
        }
        (Schema::Columnar, FileFormat::Parquet) => {
            let rows = events
                .iter()
                .map(|e| Ok(columnar::row(&parse(e)?, Some(e.received_at), ctx)))
                .collect::<Result<Vec<_>, FileError>>()?;
            return parquet::encode(COLUMNS, rows)
                .map_err(|err| FileError::Encode(err.to_string()));
        }
        _ => return Err(combination()),
    };
    if !format.gzipped() {
        return Ok(plain);
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::new(6));
    gz.write_all(&plain)
        .and_then(|()| gz.finish())
        .map_err(|err| FileError::Encode(err.to_string()))
}
