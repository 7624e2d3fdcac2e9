//! The formats of the files the service writes (the continuous export's batches and export
//! jobs' files), and which event shapes each can carry: the one table of allowed
//! combinations.
//!
//! | schema \ format | jsonl, jsonl.gz | csv, csv.gz | parquet |
//! |---|---|---|---|
//! | `canonical` | yes (default) | no: nested fields have no columns | no: nested fields have no columns |
//! | `columnar` | yes (one object of the columns per line) | yes (default for csv) | yes (default for parquet) |
//! | `ocsf` | yes | no: OCSF records are nested | only in the `security_lake` layout (nested Parquet, one OCSF class per file) |
//! | `entry` | no: an API answer, not a file shape | no | no |
//!
//! The table is for the `standard` layout (and export jobs, which have no other). The
//! continuous export's `security_lake` layout ([`FileLayout::SecurityLake`]) writes what
//! Amazon Security Lake reads and nothing else: `ocsf` in `parquet`, which are also its
//! defaults.

use serde::Serialize;

use crate::error::Error;
use crate::shapes::Schema;

/// A file format.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileFormat {
    /// One JSON document per line.
    #[serde(rename = "jsonl")]
    Jsonl,
    /// The same, gzip-compressed.
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
    /// RFC 4180 CSV with a header row.
    #[serde(rename = "csv")]
    Csv,
    /// The same, gzip-compressed.
    #[serde(rename = "csv.gz")]
    CsvGz,
    /// Apache Parquet, typed columns, Snappy-compressed.
    #[serde(rename = "parquet")]
    Parquet,
}

impl FileFormat {
    /// The wire name, also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Jsonl => "jsonl",
            FileFormat::JsonlGz => "jsonl.gz",
            FileFormat::Csv => "csv",
            FileFormat::CsvGz => "csv.gz",
            FileFormat::Parquet => "parquet",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(FileFormat::Jsonl),
            "jsonl.gz" => Some(FileFormat::JsonlGz),
            "csv" => Some(FileFormat::Csv),
            "csv.gz" => Some(FileFormat::CsvGz),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }

    /// The `Content-Type` of a file.
    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Jsonl => "application/x-ndjson",
            FileFormat::Csv => "text/csv; charset=utf-8; header=present",
            FileFormat::JsonlGz | FileFormat::CsvGz => "application/gzip",
            FileFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// Whether the bytes are gzip-compressed.
    pub fn gzipped(self) -> bool {
        matches!(self, FileFormat::JsonlGz | FileFormat::CsvGz)
    }

    /// The schema a file of this format has when none is given.
    pub fn default_schema(self) -> Schema {
        match self {
            FileFormat::Jsonl | FileFormat::JsonlGz => Schema::Canonical,
            FileFormat::Csv | FileFormat::CsvGz | FileFormat::Parquet => Schema::Columnar,
        }
    }
}

/// How the files of an output are laid out in the bucket, which decides the shapes they may
/// carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileLayout {
    /// `{prefix}/{tenant_id}/{YYYY-MM-DD}/{batch_id}.{ext}`, any pair of the table.
    #[default]
    Standard,
    /// An Amazon Security Lake custom source per OCSF class: `ocsf` in `parquet` only.
    SecurityLake,
}

impl FileLayout {
    /// The wire name: `standard` or `security_lake`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileLayout::Standard => "standard",
            FileLayout::SecurityLake => "security_lake",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(FileLayout::Standard),
            "security_lake" => Some(FileLayout::SecurityLake),
            _ => None,
        }
    }
}

/// Validates `schema` and `format` as given (either may be absent) for a file output in the
/// standard layout; errors name `schema_field` or `format_field`. Returns the pair to use.
pub fn file_shape(
    schema: Option<&str>,
    format: Option<&str>,
    schema_field: &str,
    format_field: &str,
) -> Result<(Schema, FileFormat), Error> {
    file_shape_in(
        FileLayout::Standard,
        schema,
        format,
        schema_field,
        format_field,
    )
}

/// [`file_shape`] for an output in `layout`: the Security Lake layout takes `ocsf` in
/// `parquet` only, and defaults to them.
pub fn file_shape_in(
    layout: FileLayout,
    schema: Option<&str>,
    format: Option<&str>,
    schema_field: &str,
    format_field: &str,
) -> Result<(Schema, FileFormat), Error> {
    if layout == FileLayout::SecurityLake {
        let schema =
            match schema {
                None | Some("ocsf") => Schema::Ocsf,
                Some(_) => return Err(Error::invalid(
                    schema_field,
                    "must be ocsf with layout security_lake (Security Lake stores OCSF records)",
                )),
            };
        let format = match format {
            None | Some("parquet") => FileFormat::Parquet,
            Some(_) => return Err(Error::invalid(
                format_field,
                "must be parquet with layout security_lake (Security Lake reads Parquet objects)",
            )),
        };
        return Ok((schema, format));
    }
    let format = match format {
        None => FileFormat::Jsonl,
        Some(f) => FileFormat::parse(f).ok_or_else(|| {
            Error::invalid(
                format_field,
                "must be jsonl, jsonl.gz, csv, csv.gz or parquet",
            )
        })?,
    };
    let schema = match schema {
        None => format.default_schema(),
        Some(s) => Schema::parse(s)
            .ok_or_else(|| Error::invalid(schema_field, "must be canonical, columnar or ocsf"))?,
    };
    match (schema, format) {
        (Schema::Entry, _) => Err(Error::invalid(
            schema_field,
            "entry is the shape of API answers, not of files: use canonical, columnar or ocsf",
        )),
        (Schema::Ocsf, FileFormat::Parquet) => Err(Error::invalid(
            format_field,
            "parquet takes ocsf records only in the security_lake layout (one OCSF class per file); use jsonl or jsonl.gz, or layout security_lake",
        )),
        (
            Schema::Canonical | Schema::Ocsf,
            FileFormat::Csv | FileFormat::CsvGz | FileFormat::Parquet,
        ) => Err(Error::invalid(
            format_field,
            format!(
                "{} needs the columnar schema: {} events are nested, so use jsonl or jsonl.gz",
                format.as_str(),
                schema.as_str()
            ),
        )),
        ok => Ok(ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<(Schema, FileFormat), Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn the_combination_table() {
        let ok = |s: Option<&str>, f: Option<&str>| file_shape(s, f, "schema", "format").unwrap();
        assert_eq!(ok(None, None), (Schema::Canonical, FileFormat::Jsonl));
        assert_eq!(
            ok(None, Some("parquet")),
            (Schema::Columnar, FileFormat::Parquet)
        );
        assert_eq!(
            ok(None, Some("csv.gz")),
            (Schema::Columnar, FileFormat::CsvGz)
        );
        assert_eq!(
            ok(Some("ocsf"), Some("jsonl.gz")),
            (Schema::Ocsf, FileFormat::JsonlGz)
        );
        assert_eq!(
            ok(Some("columnar"), Some("jsonl")),
            (Schema::Columnar, FileFormat::Jsonl)
        );
        let bad = |s: Option<&str>, f: Option<&str>| field(file_shape(s, f, "schema", "format"));
        assert_eq!(bad(Some("entry"), None), "schema");
        assert_eq!(bad(Some("canonical"), Some("csv")), "format");
        assert_eq!(bad(Some("ocsf"), Some("parquet")), "format");
        assert_eq!(bad(Some("xml"), None), "schema");
        assert_eq!(bad(None, Some("avro")), "format");
    }

    #[test]
    fn the_security_lake_layout_takes_ocsf_parquet_only() {
        let sl = |s: Option<&str>, f: Option<&str>| {
            file_shape_in(FileLayout::SecurityLake, s, f, "schema", "format")
        };
        assert_eq!(sl(None, None).unwrap(), (Schema::Ocsf, FileFormat::Parquet));
        assert_eq!(
            sl(Some("ocsf"), Some("parquet")).unwrap(),
            (Schema::Ocsf, FileFormat::Parquet)
        );
        assert_eq!(field(sl(Some("columnar"), None)), "schema");
        assert_eq!(field(sl(None, Some("jsonl"))), "format");
        assert_eq!(field(sl(Some("ocsf"), Some("csv"))), "format");
        // The standard layout (and export jobs) still refuse the pair, naming format.
        assert_eq!(
            field(file_shape_in(
                FileLayout::Standard,
                Some("ocsf"),
                Some("parquet"),
                "schema",
                "format"
            )),
            "format"
        );
        assert_eq!(
            FileLayout::parse("security_lake"),
            Some(FileLayout::SecurityLake)
        );
        assert_eq!(FileLayout::default().as_str(), "standard");
        assert_eq!(FileLayout::parse("lake"), None);
    }
}
