//! Parquet files of the columnar shape: typed columns (text as UTF-8 strings, numbers as
//! INT64, dates as DATE, times as TIMESTAMP in microseconds without a zone, booleans),
//! Snappy-compressed, one row group per `ROW_GROUP_ROWS` rows, so readers (DuckDB, pyarrow,
//! Athena, Snowflake) load them without a schema of their own. [`ParquetWriter`] streams a
//! file: memory is one row group of cells at a time, and each finished group's bytes go to
//! the caller.

use std::sync::Arc;

use parquet::basic::{
    Compression, LogicalType, Repetition, TimeUnit, TimestampType, Type as Physical,
};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use relay_core::shapes::columnar::{Cell, Column, ColumnKind};

/// Rows per row group: large enough for readers to scan efficiently, small enough that one
/// group of cells stays a few MiB.
pub const ROW_GROUP_ROWS: usize = 10_000;

/// Why a file could not be encoded (a bug, not bad data: every cell fits its column).
#[derive(Debug, thiserror::Error)]
#[error("parquet: {0}")]
pub struct ParquetError(String);

fn err(e: impl std::fmt::Display) -> ParquetError {
    ParquetError(e.to_string())
}

/// The file schema of `columns`: every column optional (a null is a missing value).
fn schema(columns: &[Column]) -> Result<Arc<Type>, ParquetError> {
    let fields = columns
        .iter()
        .map(|c| {
            let (physical, logical) = match c.kind {
                ColumnKind::Text | ColumnKind::Json => {
                    (Physical::BYTE_ARRAY, Some(LogicalType::String))
                }
                ColumnKind::Number => (Physical::INT64, None),
                ColumnKind::Date => (Physical::INT32, Some(LogicalType::Date)),
                ColumnKind::TimestampNtz => (
                    Physical::INT64,
                    Some(LogicalType::Timestamp(TimestampType {
                        is_adjusted_to_u_t_c: false,
                        unit: TimeUnit::MICROS,
                    })),
                ),
                ColumnKind::Boolean => (Physical::BOOLEAN, None),
            };
            Type::primitive_type_builder(c.name, physical)
                .with_logical_type(logical)
                .with_repetition(Repetition::OPTIONAL)
                .build()
                .map(Arc::new)
                .map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder("event")
        .with_fields(fields)
        .build()
        .map(Arc::new)
        .map_err(err)
}

/// A Parquet file written row group by row group: rows are collected until a group is full,
/// then the group is encoded and its bytes become available to [`ParquetWriter::take`], so
/// memory is one group of cells plus its encoded bytes, whatever the file's size.
pub struct ParquetWriter {
    columns: &'static [Column],
    // Writes into a Vec the caller empties: the writer's offsets are its own byte count, not
    // the Vec's length, so taking the written bytes out leaves the file consistent.
    writer: SerializedFileWriter<Vec<u8>>,
    group: Vec<Vec<Cell>>,
}

impl std::fmt::Debug for ParquetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ParquetWriter({} rows pending, {} row groups written)",
            self.group.len(),
            self.writer.flushed_row_groups().len()
        )
    }
}

impl ParquetWriter {
    /// A file of `columns`, with row groups of [`ROW_GROUP_ROWS`] rows.
    pub fn new(columns: &'static [Column]) -> Result<Self, ParquetError> {
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(concat!("AuditRelay ", env!("CARGO_PKG_VERSION")).to_string())
                .build(),
        );
        let writer = SerializedFileWriter::new(Vec::new(), schema(columns)?, props).map_err(err)?;
        Ok(ParquetWriter {
            columns,
            writer,
            group: Vec::with_capacity(ROW_GROUP_ROWS),
        })
    }

    /// Adds a row (cells in the columns' order); writes the row group when it is full.
    pub fn push(&mut self, row: Vec<Cell>) -> Result<(), ParquetError> {
        self.group.push(row);
        if self.group.len() >= ROW_GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    /// Moves the bytes written so far (whole row groups, and the footer once finished) to
    /// the end of `out`.
    pub fn take(&mut self, out: &mut Vec<u8>) {
        out.append(self.writer.inner_mut());
    }

    /// Writes the last row group and the footer; returns the bytes not yet taken.
    pub fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        if !self.group.is_empty() {
            self.write_group()?;
        }
        self.writer.into_inner().map_err(err)
    }

    fn write_group(&mut self) -> Result<(), ParquetError> {
        write_group(&mut self.writer, self.columns, &self.group)?;
        self.group.clear();
        // The file writer buffers; the group's bytes belong in the Vec now.
        self.writer.flush().map_err(err)
    }
}

/// Encodes `rows` (cells in `columns` order) as one Parquet file.
pub fn encode(
    columns: &'static [Column],
    rows: impl IntoIterator<Item = Vec<Cell>>,
) -> Result<Vec<u8>, ParquetError> {
    let mut w = ParquetWriter::new(columns)?;
    let mut out = Vec::new();
    for row in rows {
        w.push(row)?;
        w.take(&mut out);
    }
    out.extend(w.finish()?);
    Ok(out)
}

/// Writes `group` as one row group.
fn write_group(
    writer: &mut SerializedFileWriter<Vec<u8>>,
    columns: &[Column],
    group: &[Vec<Cell>],
) -> Result<(), ParquetError> {
    let mut rg = writer.next_row_group().map_err(err)?;
    let mut index = 0;
    while let Some(mut col) = rg.next_column().map_err(err)? {
        let kind = columns
            .get(index)
            .map(|c| c.kind)
            .ok_or_else(|| err("more columns than the schema"))?;
        let levels: Vec<i16> = group
            .iter()
            .map(|r| i16::from(!matches!(r.get(index), None | Some(Cell::Null))))
            .collect();
        let cells = group
            .iter()
            .filter_map(|r| r.get(index))
            .filter(|c| !matches!(c, Cell::Null));
        let bad = || {
            err(format!(
                "a cell of column {} does not fit its type",
                columns[index].name
            ))
        };
        match kind {
            ColumnKind::Text | ColumnKind::Json => {
                let values = cells
                    .map(|c| match c {
                        Cell::Text(s) => Ok(ByteArray::from(s.as_str())),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                col.typed::<ByteArrayType>()
                    .write_batch(&values, Some(&levels), None)
                    .map_err(err)?;
            }
            ColumnKind::Number | ColumnKind::TimestampNtz => {
                let values = cells
                    .map(|c| match c {
                        Cell::Int(n) | Cell::TimestampMicros(n) => Ok(*n),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                col.typed::<Int64Type>()
                    .write_batch(&values, Some(&levels), None)
                    .map_err(err)?;
            }
            ColumnKind::Date => {
                let values = cells
                    .map(|c| match c {
                        Cell::Date { days_since_epoch } => Ok(*days_since_epoch),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                col.typed::<Int32Type>()
                    .write_batch(&values, Some(&levels), None)
                    .map_err(err)?;
            }
            ColumnKind::Boolean => {
                let values = cells
                    .map(|c| match c {
                        Cell::Bool(b) => Ok(*b),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                col.typed::<BoolType>()
                    .write_batch(&values, Some(&levels), None)
                    .map_err(err)?;
            }
        }
        col.close().map_err(err)?;
        index += 1;
    }
    rg.close().map_err(err)?;
    Ok(())
}
