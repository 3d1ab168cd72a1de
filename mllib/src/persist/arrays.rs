//! `data.arrow`: a saved model's named arrays as an Arrow IPC file with one row per array,
//! columns `name` (Utf8) and `values` (List<Float64>).
//!
//! Reading trusts nothing in the file. Every block's place is checked against the file's size
//! before it is sliced. A compressed batch is refused (Ember never writes one): arrow-ipc sizes
//! its decompression buffer from the length the batch states, before anything checks it, so a
//! patched length would abort the process. And a panic of the decoder on bytes it did not
//! expect is caught and reported as a corrupt file, since one bad file must not take down a
//! session or an executor.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, ListBuilder, RecordBatch, StringArray};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::convert::fb_to_schema;
use datafusion::arrow::ipc::reader::{read_footer_length, FileDecoder};
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::ipc::{root_as_footer, root_as_message, Block};
use datafusion::common::cast::{as_float64_array, as_list_array, as_string_array};

/// The schema of `data.arrow`.
fn arrays_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new(
            "values",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, false))),
            false,
        ),
    ]))
}

/// `arrays` as one record batch of [`arrays_schema`].
fn arrays_batch(arrays: &[(&str, Vec<f64>)]) -> datafusion::error::Result<RecordBatch> {
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(arrays.iter().map(|a| a.0)));
    let mut values = ListBuilder::new(Float64Builder::new())
        .with_field(Arc::new(Field::new_list_field(DataType::Float64, false)));
    for (_, array) in arrays {
        values.values().append_slice(array);
        values.append(true);
    }
    Ok(RecordBatch::try_new(
        arrays_schema(),
        vec![names, Arc::new(values.finish())],
    )?)
}

/// `arrays` as the bytes of `data.arrow`.
pub(crate) fn encode(arrays: &[(&str, Vec<f64>)]) -> datafusion::error::Result<Vec<u8>> {
    let batch = arrays_batch(arrays)?;
    let mut bytes = Vec::new();
    let mut writer = FileWriter::try_new(&mut bytes, &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// The arrays in the bytes of a `data.arrow`, or what is wrong with them.
pub(crate) fn decode(bytes: Vec<u8>) -> Result<BTreeMap<String, Vec<f64>>, String> {
    catch_unwind(AssertUnwindSafe(|| decode_checked(Buffer::from_vec(bytes))))
        .unwrap_or_else(|_| Err("the Arrow IPC decoder failed on it".to_string()))
}

fn decode_checked(file: Buffer) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let short = || "it is too short for an Arrow IPC file".to_string();
    let trailer_start = file.len().checked_sub(10).ok_or_else(short)?;
    let trailer: [u8; 10] = file[trailer_start..].try_into().map_err(|_| short())?;
    let footer_len = read_footer_length(trailer).map_err(|e| error(&e))?;
    let footer_start = trailer_start.checked_sub(footer_len).ok_or_else(short)?;
    let footer = root_as_footer(&file[footer_start..trailer_start]).map_err(|e| error(&e))?;
    if footer
        .dictionaries()
        .is_some_and(|blocks| !blocks.is_empty())
    {
        return Err("it holds dictionaries, which a model's arrays never use".to_string());
    }
    let schema = arrays_schema();
    let file_schema = footer
        .schema()
        .ok_or_else(|| "it has no schema".to_string())?;
    if fb_to_schema(file_schema) != *schema {
        return Err("its columns are not a model's named arrays".to_string());
    }
    let decoder = FileDecoder::new(schema, footer.version());
    let mut arrays = BTreeMap::new();
    for block in footer.recordBatches().iter().flatten() {
        let data = block_data(&file, block)?;
        check_uncompressed(&data[..block.metaDataLength() as usize])?;
        let batch = decoder
            .read_record_batch(block, &data)
            .map_err(|e| error(&e))?
            .ok_or_else(|| "a block holds no record batch".to_string())?;
        let names = as_string_array(batch.column(0)).map_err(|e| error(&e))?;
        let lists = as_list_array(batch.column(1)).map_err(|e| error(&e))?;
        for row in 0..batch.num_rows() {
            let values = lists.value(row);
            let values = as_float64_array(&values).map_err(|e| error(&e))?;
            arrays.insert(names.value(row).to_string(), values.values().to_vec());
        }
    }
    Ok(arrays)
}

/// The bytes of `block` (its message, then its body), once its place is checked to lie within
/// `file`.
fn block_data(file: &Buffer, block: &Block) -> Result<Buffer, String> {
    let place = usize::try_from(block.offset()).ok().and_then(|offset| {
        let metadata = usize::try_from(block.metaDataLength()).ok()?;
        let length = metadata.checked_add(usize::try_from(block.bodyLength()).ok()?)?;
        (offset.checked_add(length)? <= file.len()).then_some((offset, length))
    });
    let (offset, length) = place.ok_or_else(|| "a block lies outside the file".to_string())?;
    Ok(file.slice_with_length(offset, length))
}

/// Fails unless `message` (an encapsulated IPC message: an optional continuation marker, its
/// length, then the message) is an uncompressed record batch.
fn check_uncompressed(message: &[u8]) -> Result<(), String> {
    let corrupt = || "a block's message is corrupt".to_string();
    let message = message.strip_prefix(&[0xFF; 4]).unwrap_or(message);
    let (length, rest) = message.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let length = usize::try_from(i32::from_le_bytes(*length)).map_err(|_| corrupt())?;
    let flatbuffer = rest.get(..length).ok_or_else(corrupt)?;
    let message = root_as_message(flatbuffer).map_err(|e| e.to_string())?;
    match message.header_as_record_batch() {
        Some(batch) if batch.compression().is_none() => Ok(()),
        Some(_) => Err("a record batch is compressed, which Ember never writes".to_string()),
        None => Err("a block holds no record batch".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::Mutator;
    use datafusion::arrow::ipc::writer::IpcWriteOptions;
    use datafusion::arrow::ipc::CompressionType;

    fn sample() -> Vec<(&'static str, Vec<f64>)> {
        vec![
            ("a", vec![0.1, -0.0, f64::MIN_POSITIVE]),
            ("empty", vec![]),
            ("b", (0..100).map(f64::from).collect()),
        ]
    }

    #[test]
    fn arrays_round_trip_bit_for_bit() {
        let arrays = sample();
        let back = decode(encode(&arrays).unwrap()).unwrap();
        assert_eq!(back.len(), 3);
        for (name, values) in &arrays {
            assert_eq!(
                back[*name].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_compressed_file_is_refused_before_it_is_decompressed() {
        let batch = arrays_batch(&sample()).unwrap();
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .unwrap();
        let mut bytes = Vec::new();
        let mut writer =
            FileWriter::try_new_with_options(&mut bytes, &batch.schema(), options).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        assert_eq!(
            decode(bytes).unwrap_err(),
            "a record batch is compressed, which Ember never writes"
        );
    }

    /// 2000 files with one to three bytes flipped, zeroed, cut or inserted: each decodes to
    /// arrays or to an error (a decoder panic among them, caught), never an abort or an
    /// allocation from a patched length.
    #[test]
    fn mutated_files_decode_or_fail_cleanly() {
        let file = encode(&sample()).unwrap();
        let mut mutator = Mutator::new(11);
        let failed = (0..2000)
            .filter(|_| decode(mutator.bytes(&file)).is_err())
            .count();
        assert!(failed > 100, "only {failed} of 2000 mutated files failed");
    }
}
