//! Writing query results: the `--format` choices, streamed batch by batch where the format allows.

use std::io::{self, Write};

use clap::ValueEnum;
use ember::datafusion::arrow::array::RecordBatch;
use ember::datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use ember::datafusion::arrow::error::ArrowError;
use ember::datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use ember::datafusion::arrow::util::pretty::pretty_format_batches;
use ember::datafusion::error::DataFusionError;
use ember::datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

/// How result rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table (collects the result before printing).
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// A failure while producing or writing rows.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The query failed while running.
    #[error("{}", .0.message())]
    Query(#[from] DataFusionError),
    /// Rows could not be encoded or written.
    #[error(transparent)]
    Write(#[from] ArrowError),
    /// The destination could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl OutputError {
    /// Whether the reader of stdout went away (e.g. `| head`): a normal end, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let io_error = match self {
            OutputError::Io(e) => Some(e),
            OutputError::Write(ArrowError::IoError(_, e)) => Some(e),
            _ => None,
        };
        io_error.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Writes the rows of `stream` to `out` in `format`. Returns the number of rows. A result with
/// no columns (DDL, `SET`) prints nothing.
pub async fn write_result(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<usize, OutputError> {
    let schema = stream.schema();
    if schema.fields().is_empty() {
        while let Some(batch) = stream.next().await {
            batch?;
        }
        return Ok(0);
    }
    let mut sink = BatchSink::new(format, out);
    let mut rows = 0;
    let mut wrote_any = false;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        wrote_any = true;
        sink.write(&batch)?;
    }
    if !wrote_any {
        // Still print the header (or `[]`) for an empty result.
        sink.write(&RecordBatch::new_empty(schema))?;
    }
    sink.finish()?;
    Ok(rows)
}

/// One writer per format, fed batch by batch.
enum BatchSink<'a> {
    Table {
        batches: Vec<RecordBatch>,
        out: &'a mut dyn Write,
    },
    Delimited(Box<ember::datafusion::arrow::csv::Writer<&'a mut dyn Write>>),
    Json(ArrayWriter<&'a mut dyn Write>),
    Ndjson(LineDelimitedWriter<&'a mut dyn Write>),
}

impl<'a> BatchSink<'a> {
    fn new(format: OutputFormat, out: &'a mut dyn Write) -> Self {
        let delimited = |delimiter: u8, out| {
            BatchSink::Delimited(Box::new(
                CsvWriterBuilder::new()
                    .with_header(true)
                    .with_delimiter(delimiter)
                    .build(out),
            ))
        };
        match format {
            OutputFormat::Table => BatchSink::Table {
                batches: Vec::new(),
                out,
            },
            OutputFormat::Csv => delimited(b',', out),
            OutputFormat::Tsv => delimited(b'\t', out),
            OutputFormat::Json => BatchSink::Json(ArrayWriter::new(out)),
            OutputFormat::Ndjson => BatchSink::Ndjson(LineDelimitedWriter::new(out)),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        match self {
            BatchSink::Table { batches, .. } => batches.push(batch.clone()),
            BatchSink::Delimited(writer) => writer.write(batch)?,
            BatchSink::Json(writer) => writer.write(batch)?,
            BatchSink::Ndjson(writer) => writer.write(batch)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), OutputError> {
        match self {
            BatchSink::Table { batches, out } => {
                writeln!(out, "{}", pretty_format_batches(&batches)?)?;
                out.flush()?;
            }
            BatchSink::Delimited(writer) => writer.into_inner().flush()?,
            BatchSink::Json(mut writer) => {
                writer.finish()?;
                let out = writer.into_inner();
                writeln!(out)?;
                out.flush()?;
            }
            BatchSink::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner().flush()?;
            }
        }
        Ok(())
    }
}
