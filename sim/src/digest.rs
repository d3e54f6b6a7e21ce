//! The trace digest: a pinned, compact encoding of the typed events, hashed as it is
//! made, with no JSON text and no field names.
//!
//! A run's digest proves that two runs (two machines, two `--jobs`) took the same
//! events. It used to be the hash of each event as the JSON line it would become, and
//! hashing every field's name on every event was most of what a hashed sweep paid
//! over an unhashed one. Now [`Digest`] is a serde serializer that feeds each value
//! of an event to one running hash as a few 64-bit words (a *token* each):
//!
//! - an integer of any width is its value as a `u64` (a negative one in two's
//!   complement), a 128-bit one its low word then its high word; a float is its
//!   `f64` bits; a bool, `()`, `None` and `Some` are each a fixed word;
//! - a string (and a char, and bytes) is a word for its kind and length, then its
//!   bytes eight at a time, little-endian, and a last word for the 1 to 7 bytes
//!   left, if any (see `short`);
//! - a node or a client is its number ([`serde::Serializer::is_human_readable`] is
//!   false here; the trace file names them `n1`, `c1`);
//! - an enum variant is its *name*, as a string (so reordering an enum's variants
//!   does not change a digest), then its data;
//! - a struct is a start word, its fields' values in order, and an end word; a
//!   field left out (`skip_serializing_if`) is a word of its own. Field *names* are
//!   not hashed: they are fixed by the type, and the variant names around them say
//!   which type it is;
//! - a sequence, a tuple and a map are a start word, their items (a map's keys and
//!   values alternating) and an end word.
//!
//! The running hash takes a token `v` as `h = (rotl(h, 23) ^ v) * K`: for a given
//! `h` that is one-to-one in `v`, and for a given `v` one-to-one in `h`, so two
//! streams of tokens that differ in one token always give different digests.
//! Nothing here depends on the platform or the Rust release: the same events give
//! the same digest on any machine. The JSON lines of a trace file are written from
//! the same typed events ([`crate::trace::Trace`]) but are not what is hashed.

use serde::Serialize;
use serde::ser;

/// The multiplier: MurmurHash64A's.
const K: u64 = crate::trace::MURMUR_M;
/// Fixed words for the values that carry no number (random 64-bit constants, so
/// that a number standing where one of them stands in another run is not mistaken
/// for it).
const FALSE: u64 = 0x3c6e_f372_fe94_f82b;
const TRUE: u64 = 0xa54f_f53a_5f1d_36f1;
const UNIT: u64 = 0x510e_527f_ade6_82d1;
const NONE: u64 = 0x9b05_688c_2b3e_6c1f;
const SOME: u64 = 0x1f83_d9ab_fb41_bd6b;
const STR: u64 = 0x5be0_cd19_137e_2179;
const BYTES: u64 = 0xcbbb_9d5d_c105_9ed8;
const SEQ: u64 = 0x629a_292a_367c_d507;
const MAP: u64 = 0x9159_015a_3070_dd17;
const STRUCT: u64 = 0x152f_ecd8_f70e_5939;
const SKIPPED: u64 = 0x6733_2667_ffc0_0b31;
const END: u64 = 0x8eb4_4a87_6858_1511;
/// A trace line's first word, before its time.
const LINE: u64 = 0xdb0c_2e0d_64f9_8fa7;
/// The hash before any token: "faultlin".
const SEED: u64 = 0x6661_756c_746c_696e;

/// The word for 1 to 7 bytes (the length is hashed before them): with four bytes or
/// more, the first four and the last four (they overlap); with fewer, the first, the
/// middle and the last. Either way every byte is in the word, so for a given length
/// different bytes give different words; and there is no loop over the bytes.
#[inline(always)]
fn short(b: &[u8]) -> u64 {
    let n = b.len();
    let u32_at = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes")));
    if n >= 4 {
        u32_at(0) | u32_at(n - 4) << 32
    } else {
        u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
    }
}

/// The running digest of a stream of values. Feed it with [`Digest::line`] or
/// [`Digest::value`]; read it with [`Digest::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Digest {
    hash: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest { hash: SEED }
    }
}

impl Digest {
    #[inline(always)]
    fn put(&mut self, token: u64) {
        self.hash = (self.hash.rotate_left(23) ^ token).wrapping_mul(K);
    }

    /// An enum variant's name, before its data.
    #[inline]
    fn variant(&mut self, name: &str) {
        self.text(STR, name.as_bytes());
    }

    #[inline]
    fn text(&mut self, kind: u64, bytes: &[u8]) {
        let len = bytes.len();
        self.put(kind ^ len as u64);
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.put(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            self.put(short(tail));
        }
    }

    /// Takes one trace line: its time, then the event.
    #[inline]
    pub fn line<T: Serialize + ?Sized>(&mut self, t: u64, event: &T) -> Result<(), Unhashable> {
        self.put(LINE);
        self.put(t);
        self.value(event)
    }

    /// Takes one value.
    #[inline]
    pub fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
        value.serialize(self)
    }

    /// The digest of everything taken so far.
    pub fn finish(&self) -> u64 {
        crate::trace::murmur_finish(self.hash)
    }
}

/// What a value's `Serialize` impl may refuse with (its own custom error).
#[derive(Debug)]
pub struct Unhashable(String);

impl std::fmt::Display for Unhashable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a value refused to serialise: {}", self.0)
    }
}

impl std::error::Error for Unhashable {}

impl ser::Error for Unhashable {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Unhashable(message.to_string())
    }
}

/// Integers of every width: their value as a `u64`.
macro_rules! integers {
    ($($name:ident($arg:ty)),*) => {
        $(#[inline] fn $name(self, v: $arg) -> Result<(), Unhashable> {
            self.put(v as u64);
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for &'a mut Digest {
    type Ok = ();
    type Error = Unhashable;
    type SerializeSeq = &'a mut Digest;
    type SerializeTuple = &'a mut Digest;
    type SerializeTupleStruct = &'a mut Digest;
    type SerializeTupleVariant = &'a mut Digest;
    type SerializeMap = &'a mut Digest;
    type SerializeStruct = &'a mut Digest;
    type SerializeStructVariant = &'a mut Digest;

    fn is_human_readable(&self) -> bool {
        false
    }

    integers!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64)
    );
    fn serialize_i128(self, v: i128) -> Result<(), Unhashable> {
        self.serialize_u128(v as u128)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Unhashable> {
        self.put(v as u64);
        self.put((v >> 64) as u64);
        Ok(())
    }
    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), Unhashable> {
        self.put(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Unhashable> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unhashable> {
        self.put(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Unhashable> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), Unhashable> {
        self.text(STR, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unhashable> {
        self.text(BYTES, v);
        Ok(())
    }
    #[inline]
    fn serialize_none(self) -> Result<(), Unhashable> {
        self.put(NONE);
        Ok(())
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unhashable> {
        self.put(SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unhashable> {
        self.put(UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unhashable> {
        self.serialize_unit()
    }
    #[inline]
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Unhashable> {
        self.variant(variant);
        Ok(())
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Unhashable> {
        value.serialize(self)
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unhashable> {
        self.variant(variant);
        value.serialize(self)
    }
    #[inline]
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Unhashable> {
        self.put(SEQ);
        Ok(self)
    }
    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self, Unhashable> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Unhashable> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Unhashable> {
        self.variant(variant);
        self.serialize_seq(None)
    }
    #[inline]
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Unhashable> {
        self.put(MAP);
        Ok(self)
    }
    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Unhashable> {
        self.put(STRUCT);
        Ok(self)
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Unhashable> {
        self.variant(variant);
        self.serialize_struct("", 0)
    }
}

/// Items of a sequence, a tuple or a tuple variant: each in order, then the end.
macro_rules! items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Digest {
            type Ok = ();
            type Error = Unhashable;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
                value.serialize(&mut **self)
            }
            #[inline]
            fn end(self) -> Result<(), Unhashable> {
                self.put(END);
                Ok(())
            }
        }
    )*};
}

items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Digest {
    type Ok = ();
    type Error = Unhashable;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unhashable> {
        key.serialize(&mut **self)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
        value.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Unhashable> {
        self.put(END);
        Ok(())
    }
}

/// A struct's fields: each value in order (not its name), a word for each one left
/// out, then the end.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Digest {
            type Ok = ();
            type Error = Unhashable;
            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Unhashable> {
                value.serialize(&mut **self)
            }
            #[inline]
            fn skip_field(&mut self, _: &'static str) -> Result<(), Unhashable> {
                self.put(SKIPPED);
                Ok(())
            }
            #[inline]
            fn end(self) -> Result<(), Unhashable> {
                self.put(END);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        Both { b: i64, a: Option<String> },
        Other { b: i64, a: Option<String> },
    }

    #[derive(Serialize)]
    enum Outer {
        Unit,
        New(u8),
        Tuple(u16, i32),
        Fields { x: f64, y: Vec<bool> },
    }

    #[derive(Serialize)]
    struct Skips {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<u64>,
    }

    fn of<T: Serialize + ?Sized>(v: &T) -> u64 {
        let mut d = Digest::default();
        d.value(v).expect("hashes");
        d.finish()
    }

    #[test]
    fn what_differs_hashes_apart() {
        let all = [
            of(&()),
            of(&false),
            of(&true),
            of(&0u8),
            of(&1u64),
            of(&-1i32),
            of(&1.0f64),
            of(&"1"),
            of(&""),
            of(&"12345678"),
            of(&"123456789"),
            of(&"ab\0"),
            of(&"ab"),
            of(&Vec::<u8>::new()),
            of(&vec![1u8, 2]),
            of(&vec![2u8, 1]),
            of(&(vec![1u8], 2u8)),
            of(&(1u8, vec![2u8])),
            of(&None::<u8>),
            of(&Some(0u8)),
            of(&Some(None::<u8>)),
            of(&Tagged::Both { b: 1, a: None }),
            of(&Tagged::Other { b: 1, a: None }),
            of(&Tagged::Both { b: 1, a: Some(String::new()) }),
            of(&Outer::Unit),
            of(&Outer::New(3)),
            of(&Outer::Tuple(1, -2)),
            of(&Outer::Fields { x: 0.1, y: vec![true] }),
            of(&Skips { a: Some(1), b: None }),
            of(&Skips { a: None, b: Some(1) }),
            of(&[(1u64, 'a')].into_iter().collect::<BTreeMap<_, _>>()),
            of(&[(1u64, 'b')].into_iter().collect::<BTreeMap<_, _>>()),
            of(&[(2u64, 'a')].into_iter().collect::<BTreeMap<_, _>>()),
            of(&u128::MAX),
        ];
        let distinct: std::collections::BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(of(&1u8), of(&1u64), "an integer is its value, whatever its width");
        assert_eq!(of(&'x'), of(&"x"));
    }

    #[test]
    fn every_byte_of_a_string_counts() {
        let base = "abcdefghijklmnopq";
        for len in 0..=base.len() {
            let s = &base[..len];
            for i in 0..len {
                let mut other = s.as_bytes().to_vec();
                other[i] = b'Z';
                assert_ne!(of(s), of(std::str::from_utf8(&other).unwrap()), "{s:?}, byte {i}");
            }
            if len < base.len() {
                assert_ne!(of(s), of(&base[..len + 1]), "{s:?} and one byte more");
            }
        }
    }

    #[test]
    fn a_line_is_its_time_and_its_event() {
        let line = |t, ev: &Outer| {
            let mut d = Digest::default();
            d.line(t, ev).expect("hashes");
            d.finish()
        };
        assert_ne!(line(1, &Outer::Unit), line(2, &Outer::Unit));
        assert_ne!(line(1, &Outer::Unit), of(&Outer::Unit));
        let mut two = Digest::default();
        two.line(1, &Outer::Unit).unwrap();
        two.line(2, &Outer::New(1)).unwrap();
        let mut swapped = Digest::default();
        swapped.line(2, &Outer::New(1)).unwrap();
        swapped.line(1, &Outer::Unit).unwrap();
        assert_ne!(two.finish(), swapped.finish(), "order matters");
    }

    #[test]
    fn the_encoding_is_pinned() {
        // A change here changes every trace digest: say so in BENCHMARKS.md and the notes.
        // The value was also computed by a separate implementation (Python) of the
        // tokens this module's documentation lists: LINE 5 STRUCT "both" -7 SOME
        // "pinned, on any machine" END, LINE 9 "Fields" STRUCT 0.25 SEQ TRUE FALSE END END.
        let mut d = Digest::default();
        d.line(5, &Tagged::Both { b: -7, a: Some("pinned, on any machine".into()) }).unwrap();
        d.line(9, &Outer::Fields { x: 0.25, y: vec![true, false] }).unwrap();
        assert_eq!(d.finish(), PINNED, "{:#x}", d.finish());
    }

    const PINNED: u64 = 0x6e3e_8f95_b8b5_1c58;
}
