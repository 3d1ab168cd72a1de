//! `ember gen tpch`: TPC-H data from the `tpchgen` generators, written as Parquet or CSV.

use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use ember::datafusion::arrow::array::RecordBatchReader;
use ember::datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use ember::datafusion::parquet::arrow::ArrowWriter;
use ember::datafusion::parquet::basic::Compression;
use ember::datafusion::parquet::file::properties::WriterProperties;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

use crate::exit::Failure;

/// Datasets `ember gen` can generate.
#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// The eight TPC-H tables at a scale factor (SF 1 is about 1 GB of CSV).
    Tpch(TpchArgs),
}

/// Arguments of `ember gen tpch`.
#[derive(Debug, Args)]
pub struct TpchArgs {
    /// Scale factor, e.g. 0.01, 0.1, 1, 10.
    #[arg(long)]
    scale: f64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Files per table, 1 to 10000; above 1 each table becomes a directory of part files.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    parts: u32,
    /// File format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: DataFormat,
}

/// Formats `ember gen` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    /// Parquet, Snappy-compressed, with page statistics.
    Parquet,
    /// CSV with a header row.
    Csv,
}

impl DataFormat {
    fn extension(self) -> &'static str {
        match self {
            DataFormat::Parquet => "parquet",
            DataFormat::Csv => "csv",
        }
    }
}

/// The TPC-H tables, in generation order (largest first so long jobs start early).
const TABLES: [&str; 8] = [
    "lineitem", "orders", "partsupp", "part", "customer", "supplier", "nation", "region",
];

/// Runs `ember gen`.
pub fn run(command: GenCommand) -> Result<(), Failure> {
    match command {
        GenCommand::Tpch(args) => generate_tpch(&args),
    }
}

fn generate_tpch(args: &TpchArgs) -> Result<(), Failure> {
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        return Err(Failure::Usage(format!(
            "--scale {} must be a positive number",
            args.scale
        )));
    }
    fs::create_dir_all(&args.out)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", args.out.display())))?;
    let jobs: Vec<FileJob> = TABLES
        .iter()
        .flat_map(|&table| {
            // nation and region are fixed-size: their generators ignore the part number.
            let parts = if matches!(table, "nation" | "region") {
                1
            } else {
                args.parts
            };
            let split = args.parts > 1;
            (1..=parts).map(move |part| FileJob {
                table,
                part,
                parts,
                split,
            })
        })
        .collect();
    let progress = progress_bar(jobs.len());
    // One file per task on rayon's pool; the first failure stops the rest.
    let written = jobs.par_iter().try_for_each(|job| {
        let path = job.path(&args.out, args.format);
        job.write(args.scale, args.format, &path)
            .map_err(|message| format!("{}: {message}", path.display()))?;
        progress.inc(1);
        Ok::<(), String>(())
    });
    progress.finish_and_clear();
    match written {
        Err(message) => Err(Failure::Job(format!("cannot write {message}"))),
        Ok(()) => {
            eprintln!(
                "generated TPC-H SF {} ({} files) in {}",
                args.scale,
                jobs.len(),
                args.out.display()
            );
            Ok(())
        }
    }
}

fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} files")
    {
        bar.set_style(style);
    }
    bar
}

/// One output file: part `part` of `parts` of a table.
struct FileJob {
    table: &'static str,
    part: u32,
    parts: u32,
    /// Whether tables are directories of part files (`--parts` > 1), nation and region included
    /// so that every table is laid out alike.
    split: bool,
}

impl FileJob {
    /// `OUT/table.ext` for single-part tables, `OUT/table/part-N.ext` otherwise.
    fn path(&self, out: &Path, format: DataFormat) -> PathBuf {
        let extension = format.extension();
        if self.split {
            out.join(self.table)
                .join(format!("part-{}.{extension}", self.part))
        } else {
            out.join(format!("{}.{extension}", self.table))
        }
    }

    fn batches(&self, scale: f64) -> Box<dyn RecordBatchReader + Send> {
        let (sf, part, parts) = (scale, self.part as i32, self.parts as i32);
        match self.table {
            "lineitem" => Box::new(LineItemArrow::new(LineItemGenerator::new(sf, part, parts))),
            "orders" => Box::new(OrderArrow::new(OrderGenerator::new(sf, part, parts))),
            "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, part, parts))),
            "part" => Box::new(PartArrow::new(PartGenerator::new(sf, part, parts))),
            "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(sf, part, parts))),
            "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(sf, part, parts))),
            "nation" => Box::new(NationArrow::new(NationGenerator::new(sf, part, parts))),
            "region" => Box::new(RegionArrow::new(RegionGenerator::new(sf, part, parts))),
            other => unreachable!("{other} is not in TABLES"),
        }
    }

    /// Writes the file at a temporary name and renames it into place, so an interrupted run
    /// never leaves a truncated file under the final name.
    fn write(&self, scale: f64, format: DataFormat, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let temporary = path.with_extension("inprogress");
        let file = BufWriter::new(File::create(&temporary).map_err(|e| e.to_string())?);
        let reader = self.batches(scale);
        match format {
            DataFormat::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let mut writer = ArrowWriter::try_new(file, reader.schema(), Some(properties))
                    .map_err(|e| e.to_string())?;
                for batch in reader {
                    writer
                        .write(&batch.map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                }
                let file = writer.into_inner().map_err(|e| e.to_string())?;
                file.into_inner().map_err(|e| e.error().to_string())?;
            }
            DataFormat::Csv => {
                let mut writer = CsvWriterBuilder::new().with_header(true).build(file);
                for batch in reader {
                    writer
                        .write(&batch.map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                }
                writer.into_inner().flush().map_err(|e| e.to_string())?;
            }
        }
        fs::rename(&temporary, path).map_err(|e| e.to_string())
    }
}
