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
        builder: Box<csv::WriterBuilder>,
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
                    builder: Box::new(builder),
                }
            }
            (Schema::Columnar, FileFormat::Parquet) => {
                Body::Parquet(Box::new(ParquetWriter::new(COLUMNS).map_err(encode_err)?))
            }
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
        match &mut self.body {
            // Appending keeps each buffer's own allocation where it is (swapping would hand
            // the upload's large empty buffer to the writer).
            Body::Lines(sink) | Body::Csv { sink, .. } => out.append(sink.output()),
            Body::Parquet(p) => p.take(out),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{encode, unneutralize};
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    use std::io::Read;

    const FORMULA: &str = "=HYPERLINK(\"http://x\")";

    fn docs(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                serde_json::json!({
                    "event_id": format!("evt_{i:08}"),
                    "timestamp": "2026-05-22T10:30:00Z",
                    "action": "document.opened",
                    "actor": {"user_id": format!("usr_{}", i % 7), "email": "jane@example.com",
                        "ip_address": "203.0.113.42", "user_agent": "Mozilla/5.0 (X11, \"q\")\nnext"},
                    "resource": {"type": "document", "id": format!("doc_{i}"),
                        "name": if i % 3 == 0 { FORMULA } else { "Contract_v2.docx" }},
                    "tenant_id": "ten_01ABCDEFG",
                    "success": i % 2 == 0,
                    "duration_ms": i,
                    "metadata": {"app_id": format!("app_{i}"), "note": "a,b"},
                    "received_at": "2026-05-22T10:30:01.250Z"
                })
                .to_string()
            })
            .collect()
    }

    fn stored(docs: &[String]) -> Vec<StoredEvent<'_>> {
        docs.iter()
            .map(|d| StoredEvent {
                doc: d,
                received_at: "",
            })
            .collect()
    }

    fn ctx() -> ShapeContext {
        ShapeContext::new("ten_01ABCDEFG")
    }

    const ALLOWED: [(Schema, FileFormat); 9] = [
        (Schema::Canonical, FileFormat::Jsonl),
        (Schema::Canonical, FileFormat::JsonlGz),
        (Schema::Columnar, FileFormat::Jsonl),
        (Schema::Columnar, FileFormat::JsonlGz),
        (Schema::Columnar, FileFormat::Csv),
        (Schema::Columnar, FileFormat::CsvGz),
        (Schema::Columnar, FileFormat::Parquet),
        (Schema::Ocsf, FileFormat::Jsonl),
        (Schema::Ocsf, FileFormat::JsonlGz),
    ];

    /// Writes the events as a caller streaming into an upload buffer would: taking the ready
    /// bytes after every event.
    fn streamed(events: &[StoredEvent<'_>], schema: Schema, format: FileFormat) -> Vec<u8> {
        let mut w = FileWriter::new(schema, format, ctx()).unwrap();
        let mut out = Vec::new();
        for e in events {
            w.push(e).unwrap();
            w.take(&mut out);
        }
        out.extend(w.finish().unwrap());
        out
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut plain)
            .unwrap();
        plain
    }

    /// The event ids a file holds, read back with its format's reader.
    fn ids_of(bytes: &[u8], schema: Schema, format: FileFormat) -> Vec<String> {
        let plain = if format.gzipped() {
            gunzip(bytes)
        } else {
            bytes.to_vec()
        };
        match format {
            FileFormat::Jsonl | FileFormat::JsonlGz => String::from_utf8(plain)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    let id = match schema {
                        Schema::Canonical => &v["event_id"],
                        Schema::Columnar => &v["EVENT_ID"],
                        _ => &v["metadata"]["uid"],
                    };
                    id.as_str().unwrap().to_string()
                })
                .collect(),
            FileFormat::Csv | FileFormat::CsvGz => {
                let mut r = csv::Reader::from_reader(&plain[..]);
                assert_eq!(r.headers().unwrap(), columnar::csv_header());
                r.records().map(|rec| rec.unwrap()[1].to_string()).collect()
            }
            FileFormat::Parquet => {
                let reader = SerializedFileReader::new(Bytes::from(plain)).unwrap();
                reader
                    .get_row_iter(None)
                    .unwrap()
                    .map(|row| row.unwrap().get_string(1).unwrap().clone())
                    .collect()
            }
        }
    }

    #[test]
    fn every_allowed_pair_round_trips_and_streams_the_same_bytes_as_encode() {
        let docs = docs(50);
        let events = stored(&docs);
        let want: Vec<String> = (0..50).map(|i| format!("evt_{i:08}")).collect();
        for (schema, format) in ALLOWED {
            let bytes = streamed(&events, schema, format);
            assert_eq!(
                bytes,
                encode(&events, schema, format, &ctx()).unwrap(),
                "{schema:?}/{format:?}"
            );
            assert_eq!(
                ids_of(&bytes, schema, format),
                want,
                "{schema:?}/{format:?}"
            );
            if format.gzipped() {
                assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
            }
        }
    }

    #[test]
    fn canonical_jsonl_is_the_stored_json_verbatim() {
        let docs = docs(3);
        let bytes = streamed(&stored(&docs), Schema::Canonical, FileFormat::Jsonl);
        assert_eq!(bytes, format!("{}\n", docs.join("\n")).into_bytes());
        let gz = streamed(&stored(&docs), Schema::Canonical, FileFormat::JsonlGz);
        assert_eq!(gunzip(&gz), bytes);
    }

    #[test]
    fn csv_is_the_columnar_shape_with_formulas_neutralised() {
        let docs = docs(4);
        let bytes = streamed(&stored(&docs), Schema::Columnar, FileFormat::Csv);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(&format!("{}\r\n", columnar::csv_header().join(","))));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(&rows[0][col("RESOURCE_NAME")], format!("'{FORMULA}"));
        assert_eq!(unneutralize(&rows[0][col("RESOURCE_NAME")]), FORMULA);
        assert_eq!(&rows[1][col("RESOURCE_NAME")], "Contract_v2.docx");
        assert_eq!(
            &rows[0][col("USER_AGENT")],
            "Mozilla/5.0 (X11, \"q\")\nnext"
        );
        assert_eq!(&rows[0][col("EVENT_TIME")], "2026-05-22 10:30:00.000000");
        assert_eq!(&rows[0][col("RECEIVED_AT")], "2026-05-22 10:30:01.250000");
        assert_eq!(&rows[0][col("SUCCESS")], "true");
        assert_eq!(&rows[1][col("DURATION_MS")], "1");
        assert_eq!(&rows[2][col("APP_ID")], "app_2");
        let meta: Value = serde_json::from_str(&rows[0][col("METADATA")]).unwrap();
        assert_eq!(meta["note"], "a,b");
    }

    #[test]
    fn parquet_is_written_a_row_group_at_a_time() {
        let docs = docs(25_000);
        let events = stored(&docs);
        let mut w = FileWriter::new(Schema::Columnar, FileFormat::Parquet, ctx()).unwrap();
        let mut out = Vec::new();
        let mut takes = Vec::new();
        for (i, e) in events.iter().enumerate() {
            w.push(e).unwrap();
            let before = out.len();
            w.take(&mut out);
            if out.len() > before {
                takes.push(i + 1);
            }
        }
        // Bytes leave the writer when a group of 10,000 is full, and only then.
        assert_eq!(takes, vec![10_000, 20_000]);
        out.extend(w.finish().unwrap());
        assert_eq!(
            out,
            encode(&events, Schema::Columnar, FileFormat::Parquet, &ctx()).unwrap()
        );
        let reader = SerializedFileReader::new(Bytes::from(out)).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 25_000);
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, vec![10_000, 10_000, 5_000]);
        let names: Vec<&str> = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(names, columnar::csv_header());
        let row = reader
            .get_row_iter(None)
            .unwrap()
            .nth(24_999)
            .unwrap()
            .unwrap();
        assert_eq!(row.get_string(1).unwrap(), "evt_00024999");
        assert_eq!(row.get_long(2).unwrap(), 2026);
    }

    #[test]
    fn gzip_bytes_leave_the_writer_before_the_file_ends() {
        let docs = docs(5_000);
        let events = stored(&docs);
        for (schema, format) in [
            (Schema::Canonical, FileFormat::JsonlGz),
            (Schema::Columnar, FileFormat::CsvGz),
        ] {
            let mut w = FileWriter::new(schema, format, ctx()).unwrap();
            let mut early = Vec::new();
            for e in &events {
                w.push(e).unwrap();
                w.take(&mut early);
            }
            assert!(!early.is_empty(), "{format:?}: nothing was streamed");
            let mut all = early.clone();
            all.extend(w.finish().unwrap());
            assert_eq!(all, encode(&events, schema, format, &ctx()).unwrap());
            assert_eq!(ids_of(&all, schema, format).len(), 5_000);
        }
    }

    #[test]
    fn pairs_outside_the_table_and_bad_events_are_errors() {
        for (schema, format) in [
            (Schema::Canonical, FileFormat::Csv),
            (Schema::Canonical, FileFormat::Parquet),
            (Schema::Ocsf, FileFormat::CsvGz),
            (Schema::Entry, FileFormat::Jsonl),
        ] {
            assert!(matches!(
                FileWriter::new(schema, format, ctx()),
                Err(FileError::Combination { .. })
            ));
        }
        let mut w = FileWriter::new(Schema::Columnar, FileFormat::Csv, ctx()).unwrap();
        let bad = StoredEvent {
            doc: "{}",
            received_at: "",
        };
        assert!(matches!(w.push(&bad), Err(FileError::Event(_))));
    }
}
