//! Types of Hive partition columns (`key=value/` directories), as Spark infers them: a column
//! whose every value is a canonical integer (`7`, `-3`; not `07`) is an `Int64`, any other stays
//! text (DataFusion's dictionary-encoded string).
//!
//! Why: DataFusion types every partition column as text, so `WHERE day = 7` compares
//! `CAST(day AS Int64)` with 7 and cannot turn into a listing prefix; a query then lists every
//! file of the table. With `day` an integer, the same filter makes DataFusion list only
//! `day=7/`. Only canonical integers qualify, so that the prefix built from the literal always
//! names the directory (`day=07/` would be missed by a prefix `day=7/`).

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;

/// `columns` with the type each has in `relative_paths` (paths below the table root, e.g.
/// `day=7/region=3/part-0.parquet`): `Int64` where every value of the column is a canonical
/// integer, its given type otherwise.
pub fn typed_partition_columns<'a>(
    columns: &[(String, DataType)],
    relative_paths: impl Iterator<Item = &'a str>,
) -> Vec<(String, DataType)> {
    let mut integral: HashMap<&str, bool> =
        columns.iter().map(|(c, _)| (c.as_str(), true)).collect();
    let mut seen_any = false;
    for path in relative_paths {
        seen_any = true;
        for segment in path.split('/') {
            if let Some((key, value)) = segment.split_once('=') {
                if let Some(all_integers) = integral.get_mut(key) {
                    *all_integers &= is_canonical_integer(value);
                }
            }
        }
    }
    columns
        .iter()
        .map(|(name, given)| match integral.get(name.as_str()) {
            Some(true) if seen_any => (name.clone(), DataType::Int64),
            _ => (name.clone(), given.clone()),
        })
        .collect()
}

/// `7`, `0`, `-3`, but not `07`, `+7`, `-0`, `7.0` or a value beyond `i64`.
fn is_canonical_integer(value: &str) -> bool {
    value.parse::<i64>().is_ok_and(|n| n.to_string() == value) && value != "-0"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> DataType {
        DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
    }

    #[test]
    fn integer_directories_make_integer_columns() {
        let columns = vec![("day".to_string(), text()), ("city".to_string(), text())];
        let paths = ["day=7/city=Oslo/a.parquet", "day=-3/city=10/b.parquet"];
        let typed = typed_partition_columns(&columns, paths.into_iter());
        assert_eq!(typed[0], ("day".to_string(), DataType::Int64));
        assert_eq!(typed[1], ("city".to_string(), text()));
    }

    #[test]
    fn non_canonical_or_null_values_keep_text() {
        let columns = vec![("day".to_string(), text())];
        for odd in [
            "07",
            "+7",
            "7.0",
            "__HIVE_DEFAULT_PARTITION__",
            "99999999999999999999",
        ] {
            let path = format!("day={odd}/a.parquet");
            let paths = ["day=1/a.parquet", path.as_str()];
            let typed = typed_partition_columns(&columns, paths.into_iter());
            assert_eq!(typed[0].1, text(), "{odd}");
        }
        assert_eq!(
            typed_partition_columns(&columns, std::iter::empty())[0].1,
            text()
        );
    }
}
