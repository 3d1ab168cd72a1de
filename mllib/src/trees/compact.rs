//! A lossless byte encoding of `f64` values that are mostly small integers: what a tree fit's
//! histograms hold. Their counts are whole numbers, and so are a random forest's gradients and
//! hessians when rows are unweighted (sums of bootstrap counts, of class indicators); bins that
//! no row of a node falls in are zeros. Eight bytes per value would send such a histogram at
//! four to eight times its information, and a deep forest's per-node histograms are the bulk of
//! what a cluster fit moves (about 36 MB per tree and worker at depth 10, 28 features).
//!
//! Each value is one LEB128 varint `u`:
//! - a whole number `i` with `|i| < 2^53` (exact as an `f64`), other than `-0.0`, is
//!   `u = zigzag(i) << 1`: one byte for `-31..=31`, two up to `±4095`;
//! - anything else is `u = 1` (the byte `0x01`) followed by the value's 8 bytes, little-endian;
//! - in a histogram ([`encode_histogram`]), a run of `r >= 2` zeros is `u = (r - 1) << 1 | 1`:
//!   a deep node's histogram is mostly empty bins, which then cost a byte or two per run
//!   instead of one each (a forest's replies are about 30% smaller).
//!
//! Decoding gives back every value bit for bit (NaN payloads and `-0.0` included).

use std::io;

/// Integers below this magnitude are exact in an `f64` and encoded as integers.
const EXACT_INTEGERS: u64 = 1 << 53;

/// Values encoded per step of [`encode`], into a buffer grown by their most bytes.
const ENCODE_STEP: usize = 1024;

/// Appends `values` to `bytes`, each on its own.
pub(crate) fn encode(values: &[f64], bytes: &mut Vec<u8>) {
    encode_values(values, false, bytes);
}

/// Appends `values` to `bytes`, runs of zeros as runs ([`Reader::values`] reads them back).
pub(crate) fn encode_histogram(values: &[f64], bytes: &mut Vec<u8>) {
    encode_values(values, true, bytes);
}

/// Appends `values` to `bytes`, runs of two zeros or more as runs when `zero_runs`.
fn encode_values(values: &[f64], zero_runs: bool, bytes: &mut Vec<u8>) {
    for step in values.chunks(ENCODE_STEP) {
        let start = bytes.len();
        // A run of two values or more takes at most 2 bytes (it is at most ENCODE_STEP long).
        bytes.resize(start + step.len() * 9, 0);
        let out = &mut bytes[start..];
        let mut at = 0;
        let mut index = 0;
        while index < step.len() {
            let value = step[index];
            index += 1;
            if zero_runs && value.to_bits() == 0 {
                let more = (step[index..].iter())
                    .take_while(|value| value.to_bits() == 0)
                    .count();
                if more > 0 {
                    at += put_varint(((more as u64) << 1) | 1, &mut out[at..]);
                    index += more;
                    continue;
                }
            }
            match whole(value) {
                Some(integer) => {
                    let tagged = (((integer << 1) ^ (integer >> 63)) as u64) << 1;
                    if tagged < 1 << 14 {
                        // One or two bytes, written without a branch on which: histogram
                        // values straddle the two, and a mispredicted branch costs more than
                        // the write.
                        let more = u8::from(tagged >= 0x80);
                        out[at] = (tagged as u8 & 0x7f) | (more << 7);
                        out[at + 1] = (tagged >> 7) as u8;
                        at += 1 + usize::from(more);
                    } else {
                        at += put_varint(tagged, &mut out[at..]);
                    }
                }
                None => {
                    out[at] = 1;
                    out[at + 1..at + 9].copy_from_slice(&value.to_le_bytes());
                    at += 9;
                }
            }
        }
        bytes.truncate(start + at);
    }
}

/// `value` as an integer when it is a whole number of magnitude below 2^53, other than `-0.0`.
/// (A cast and a comparison: `f64::trunc` is a library call on baseline x86-64.)
fn whole(value: f64) -> Option<i64> {
    let integer = value as i64;
    let exact = integer as f64 == value && integer.unsigned_abs() < EXACT_INTEGERS;
    (exact && (integer != 0 || value.to_bits() == 0)).then_some(integer)
}

/// Writes `value` as an unsigned LEB128 varint at the start of `out` (which has room for
/// 10 bytes); returns the bytes written.
fn put_varint(mut value: u64, out: &mut [u8]) -> usize {
    let mut at = 0;
    while value >= 0x80 {
        out[at] = (value as u8) | 0x80;
        value >>= 7;
        at += 1;
    }
    out[at] = value as u8;
    at + 1
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn push_varint(value: u64, bytes: &mut Vec<u8>) {
    let mut out = [0; 10];
    let written = put_varint(value, &mut out);
    bytes.extend_from_slice(&out[..written]);
}

/// Reads encoded values from the front of a byte slice, checking every length against what is
/// left.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next unsigned varint.
    pub fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for (index, &byte) in self.bytes.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if index == 9 && bits > 1 {
                break;
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        Err(corrupt("a varint that is cut short or longer than 64 bits"))
    }

    /// The next `count` values of a histogram ([`encode_histogram`]), appended to `values`;
    /// fails when the bytes hold fewer or a run of zeros goes past `count`. A run is at most
    /// [`ENCODE_STEP`] zeros in two bytes (no encoder writes longer), so memory grows at most
    /// `ENCODE_STEP / 2` times the bytes read; `count` should still be one the caller trusts
    /// (as many as it asked for).
    pub fn values(&mut self, count: usize, values: &mut Vec<f64>) -> io::Result<()> {
        let end = values.len().saturating_add(count);
        values.reserve(count.min(self.bytes.len().saturating_mul(ENCODE_STEP / 2)));
        while values.len() < end {
            if let Some(value) = self.short_integer() {
                values.push(value);
                continue;
            }
            match self.varint()? {
                tagged if tagged & 1 == 1 && tagged > 1 => {
                    let zeros = usize::try_from(tagged >> 1).unwrap_or(usize::MAX);
                    if zeros >= ENCODE_STEP {
                        return Err(corrupt("a run of zeros longer than any encoder writes"));
                    }
                    if zeros >= end - values.len() {
                        return Err(corrupt("a run of zeros past the values asked for"));
                    }
                    values.resize(values.len() + zeros + 1, 0.0);
                }
                tagged => values.push(self.value_of(tagged)?),
            }
        }
        Ok(())
    }

    /// The next value if it is an integer of one or two bytes (the common case), read without
    /// a branch on which.
    fn short_integer(&mut self) -> Option<f64> {
        let [first, second, ..] = *self.bytes else {
            return None;
        };
        let more = first >> 7;
        if first & 1 != 0 || (more == 1 && second & 0x80 != 0) {
            return None;
        }
        let tagged = u64::from(first & 0x7f) | ((u64::from(second) << 7) * u64::from(more));
        self.bytes = &self.bytes[1 + usize::from(more)..];
        Some(unzigzag(tagged >> 1) as f64)
    }

    /// Every value left.
    pub fn rest(&mut self) -> io::Result<Vec<f64>> {
        let mut values = Vec::new();
        while !self.is_empty() {
            values.push(self.value()?);
        }
        Ok(values)
    }

    /// The next value.
    fn value(&mut self) -> io::Result<f64> {
        let tagged = self.varint()?;
        self.value_of(tagged)
    }

    /// The value whose varint was `tagged` (its 8 bytes follow when `tagged` is 1).
    fn value_of(&mut self, tagged: u64) -> io::Result<f64> {
        match tagged {
            1 => {
                let Some((raw, rest)) = self.bytes.split_first_chunk::<8>() else {
                    return Err(corrupt("a value cut short"));
                };
                self.bytes = rest;
                Ok(f64::from_le_bytes(*raw))
            }
            tagged if tagged & 1 == 0 && tagged >> 1 < 1 << 54 => Ok(unzigzag(tagged >> 1) as f64),
            _ => Err(corrupt("a value of an unknown kind")),
        }
    }
}

/// The integer whose zigzag form is `zigzag`.
fn unzigzag(zigzag: u64) -> i64 {
    ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt training message: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(values, &mut bytes);
        check_decodes(&bytes, values);
        let mut histogram = Vec::new();
        encode_histogram(values, &mut histogram);
        check_decodes(&histogram, values);
        bytes
    }

    /// `encode_histogram`'s bytes of `values`, checked to decode to them.
    fn histogram_round_trip(values: &[f64]) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode_histogram(values, &mut bytes);
        check_decodes(&bytes, values);
        bytes
    }

    fn check_decodes(bytes: &[u8], values: &[f64]) {
        let mut reader = Reader::new(bytes);
        let mut decoded = Vec::new();
        reader.values(values.len(), &mut decoded).unwrap();
        assert!(reader.is_empty());
        assert_eq!(
            decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{values:?}"
        );
    }

    #[test]
    fn every_value_comes_back_bit_for_bit() {
        let limit = EXACT_INTEGERS as f64;
        round_trip(&[
            0.0,
            -0.0,
            1.0,
            -1.0,
            31.0,
            -31.0,
            32.0,
            4095.0,
            -4096.0,
            1e15,
            limit - 1.0,
            -(limit - 1.0),
            limit,
            -limit,
            1e300,
            0.5,
            -2.75,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::MAX,
        ]);
    }

    #[test]
    fn small_integers_take_a_byte_or_two_and_the_rest_nine() {
        assert_eq!(round_trip(&[0.0, 7.0, -31.0, 31.0]).len(), 4);
        assert_eq!(round_trip(&[32.0, -4095.0]).len(), 4);
        assert_eq!(round_trip(&[0.1]).len(), 9);
        assert_eq!(round_trip(&[-0.0]).len(), 9);
    }

    #[test]
    fn histograms_write_runs_of_zeros_as_runs() {
        assert_eq!(histogram_round_trip(&[0.0; 2]), [3]);
        assert_eq!(histogram_round_trip(&[0.0, 1.0, 0.0]), [0, 4, 0]);
        let mut sparse = vec![0.0; 5000];
        sparse[7] = 2.0;
        sparse[4999] = -0.0;
        // Runs end at every step of the encoder: 7 zeros, the 2, then 1016 + 1024 x 3 + 903.
        assert_eq!(histogram_round_trip(&sparse).len(), 1 + 1 + 2 * 5 + 9);
        let mut plain = Vec::new();
        encode(&[0.0; 2], &mut plain);
        assert_eq!(plain, [0, 0], "only histograms have runs");
        assert!(
            Reader::new(&[3]).rest().is_err(),
            "nor are runs read elsewhere"
        );
    }

    #[test]
    fn bad_bytes_are_errors_not_panics_or_huge_allocations() {
        let mut values = Vec::new();
        assert!(Reader::new(&[0, 2]).values(3, &mut values).is_err());
        assert!(Reader::new(&[0, 2])
            .values(usize::MAX, &mut values)
            .is_err());
        assert!(
            values.capacity() < 4 * ENCODE_STEP,
            "room for what the bytes can hold"
        );
        // A run past the values asked for, and one longer than an encoder writes.
        assert!(Reader::new(&[5]).values(2, &mut values).is_err());
        let mut long_run = Vec::new();
        push_varint(((ENCODE_STEP as u64) << 1) | 1, &mut long_run);
        assert!(Reader::new(&long_run)
            .values(usize::MAX, &mut values)
            .is_err());
        assert!(
            values.capacity() < 4 * ENCODE_STEP,
            "room for what the bytes can hold"
        );
        for bytes in [&[1, 0, 0][..], &[0x80][..], &[3][..], &[0xff; 11][..]] {
            assert!(
                Reader::new(bytes).values(1, &mut values).is_err(),
                "{bytes:?}"
            );
        }
        let mut too_large = Vec::new();
        push_varint(1 << 56, &mut too_large);
        assert!(Reader::new(&too_large).values(1, &mut values).is_err());
        let mut largest = Vec::new();
        push_varint(u64::MAX, &mut largest);
        assert_eq!(Reader::new(&largest).varint().unwrap(), u64::MAX);
    }
}
