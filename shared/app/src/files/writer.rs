//! The one file writer: events in, the file's bytes out as they are ready, for every pair of
//! `relay_core::model::file_format`'s table. JSONL and CSV bytes are ready after each event
//! (through gzip when the format says so, whose encoder keeps only its window); Parquet bytes
//! a row group at a time. The caller takes them with [`FileWriter::take`] whenever it likes,
//! so a file of any size is written with bounded memory.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{Map, Value};

use relay_core::model::event::AuditEvent;
use relay_core::model::file_format::FileFormat;
use relay_core::shapes::columnar::{self, Cell, COLUMNS};
use relay_core::shapes::{ocsf, Schema, ShapeContext};

use super::parquet::ParquetWriter;
use super::{neutralize, FileError, StoredEvent};

/// Where the bytes of a text format go: as they are, or through gzip.
enum Sink {
    Plain(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
}

impl Sink {
    fn new(gzipped: bool) -> Self {
        if gzipped {
            Sink::Gzip(GzEncoder::new(Vec::new(), Compression::new(6)))
        } else {
            Sink::Plain(Vec::new())
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        match self {
            Sink::Plain(v) => {
                v.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Gzip(gz) => gz.write_all(bytes).map_err(encode_err),
        }
    }

    /// The output written so far (for gzip: what the encoder has emitted).
    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Sink::Plain(v) => v,
            // Only emitted bytes are removed, never written: the encoder just appends more.
            Sink::Gzip(gz) => gz.get_mut(),
        }
    }

    fn finish(self) -> Result<Vec<u8>, FileError> {
        match self {
            Sink::Plain(v) => Ok(v),
            Sink::Gzip(gz) => gz.finish().map_err(encode_err),
        }
    }
}

/// How the events are laid out.
enum Body {
    /// One JSON record per line.
    Lines(Sink),
    /// The columnar shape as CSV: a header row, then one row per event.
    Csv {
        sink: Sink,
        builder: csv::WriterBuilder,
    },
    /// The columnar shape as Parquet.
    Parquet(Box<ParquetWriter>),
}

fn encode_err(e: impl std::fmt::Display) -> FileError {
    FileError::Encode(e.to_string())
}

/// Writes one file of events in a shape and format, streaming: see the module's doc.
pub struct FileWriter {
    schema: Schema,
    format: FileFormat,
    ctx: ShapeContext,
    body: Body,
    // One event's encoded record, reused from event to event.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileWriter({} as {})",
            self.schema.as_str(),
            self.format.as_str()
        )
    }
}

impl FileWriter {
    /// A file of `schema` events in `format` (a pair the table allows), shaped with `ctx`.
    /// A CSV file's header row is written at once.
    pub fn new(schema: Schema, format: FileFormat, ctx: ShapeContext) -> Result<Self, FileError> {
        let body = match (schema, format) {
            (
                Schema::Canonical | Schema::Columnar | Schema::Ocsf,
                FileFormat::Jsonl | FileFormat::JsonlGz,
            ) => Body::Lines(Sink::new(format.gzipped())),
            (Schema::Columnar, FileFormat::Csv | FileFormat::CsvGz) => {
                let mut builder = csv::WriterBuilder::new();
                builder
                    .terminator(csv::Terminator::CRLF)
                    .quote_style(csv::QuoteStyle::Necessary)
                    .has_headers(false)
                    .buffer_capacity(4096);
                Body::Csv {
                    sink: Sink::new(format.gzipped()),
                    builder,
                }
            }
            (Schema::Columnar, FileFormat::Parquet) => Body::Parquet(Box::new(
                ParquetWriter::new(COLUMNS).map_err(encode_err)?,
            )),
            _ => {
                return Err(FileError::Combination {
                    schema: schema.as_str(),
                    format: format.as_str(),
                })
            }
        };
        let mut w = FileWriter {
            schema,
            format,
            ctx,
            body,
            scratch: Vec::with_capacity(4096),
        };
        if let Body::Csv { sink, builder } = &mut w.body {
            csv_record(builder, &mut w.scratch, columnar::csv_header())?;
            sink.write(&w.scratch)?;
        }
        Ok(w)
    }

    /// The shape.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Appends one event.
    pub fn push(&mut self, event: &StoredEvent<'_>) -> Result<(), FileError> {
        let received_at = Some(event.received_at).filter(|r| !r.is_empty());
        match &mut self.body {
            Body::Lines(sink) => {
                if self.schema == Schema::Canonical {
                    // The stored JSON is the canonical shape: written as it is.
                    sink.write(event.doc.as_bytes())?;
                    return sink.write(b"\n");
                }
                let ev = parse(event)?;
                let record = match self.schema {
                    Schema::Ocsf => ocsf::record(&ev, received_at, &self.ctx),
                    _ => row_object(&columnar::row(&ev, received_at, &self.ctx)),
                };
                self.scratch.clear();
                serde_json::to_writer(&mut self.scratch, &record).map_err(encode_err)?;
                self.scratch.push(b'\n');
                sink.write(&self.scratch)
            }
            Body::Csv { sink, builder } => {
                let cells = columnar::row(&parse(event)?, received_at, &self.ctx);
                // Audit data is attacker-controlled and CSV files end up in spreadsheets.
                let record = cells.iter().map(|c| match c {
                    Cell::Text(t) => neutralize(t).into_owned(),
                    other => columnar::cell_text(other),
                });
                csv_record(builder, &mut self.scratch, record)?;
                sink.write(&self.scratch)
            }
            Body::Parquet(p) => p
                .push(columnar::row(&parse(event)?, received_at, &self.ctx))
                .map_err(encode_err),
        }
    }

    /// Moves the file's bytes that are ready to the end of `out` (an upload buffer).
    pub fn take(&mut self, out: &mut Vec<u8>) {
        let ready = match &mut self.body {
            Body::Lines(sink) | Body::Csv { sink, .. } => sink.output(),
            Body::Parquet(p) => return p.take(out),
        };
        if out.is_empty() {
            std::mem::swap(out, ready);
        } else {
            out.append(ready);
        }
    }

    /// Ends the file (gzip trailer, Parquet's last row group and footer); returns the bytes
    /// not taken yet.
    pub fn finish(self) -> Result<Vec<u8>, FileError> {
        match self.body {
            Body::Lines(sink) | Body::Csv { sink, .. } => sink.finish(),
            Body::Parquet(p) => p.finish().map_err(encode_err),
        }
    }
}

/// Writes one CSV record into `scratch` (cleared first).
fn csv_record<I, T>(
    builder: &csv::WriterBuilder,
    scratch: &mut Vec<u8>,
    record: I,
) -> Result<(), FileError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    scratch.clear();
    let mut w = builder.from_writer(scratch);
    w.write_record(record).map_err(encode_err)?;
    w.flush().map_err(encode_err)
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
