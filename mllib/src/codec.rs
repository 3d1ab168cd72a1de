//! `f64` vectors as bytes (little endian), the form model state takes inside plans.

use datafusion::common::exec_err;
use datafusion::error::Result;

/// `value` read as a count that can be at most `at_most`: `None` unless it is a whole number in
/// `0..=at_most`. Decoders bound every count they read by what is left to read (each item takes
/// at least one value) before they allocate for it, so no bytes can make them allocate more than
/// the bytes themselves would hold.
pub fn count_within(value: f64, at_most: usize) -> Option<usize> {
    (value >= 0.0 && value.fract() == 0.0 && value <= at_most as f64).then_some(value as usize)
}

/// `values` as little-endian bytes.
pub fn encode_f64s(values: &[f64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// The values [`encode_f64s`] wrote; fails when the length is not a multiple of 8.
pub fn decode_f64s(bytes: &[u8]) -> Result<Vec<f64>> {
    if !bytes.len().is_multiple_of(8) {
        return exec_err!(
            "corrupt ML parameters: {} bytes is not a whole number of f64 values",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| f64::from_le_bytes(chunk.try_into().expect("chunks of 8")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bit_for_bit() {
        let values = [1.5, -0.0, f64::MAX, f64::MIN_POSITIVE, 1e-300];
        let decoded = decode_f64s(&encode_f64s(&values)).unwrap();
        assert_eq!(
            decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(decode_f64s(&[0; 7]).is_err());
    }

    #[test]
    fn counts_are_whole_and_within_their_bound() {
        assert_eq!(count_within(3.0, 3), Some(3));
        assert_eq!(count_within(0.0, 0), Some(0));
        for bad in [4.0, -1.0, 2.5, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(count_within(bad, 3), None, "{bad}");
        }
    }
}
