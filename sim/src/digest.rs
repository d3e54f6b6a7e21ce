//! The trace digest without the JSON text: a value's hash over the JSON data model,
//! computed straight from its `Serialize` impl.
//!
//! A trace line is a JSON object, and the run's digest folds the lines' hashes in
//! order ([`crate::trace::TraceHasher`]). Formatting every event as JSON only to
//! hash it was most of a hashed sweep's cost, so a line is hashed from the typed
//! event instead, as the JSON it would become: [`of`] walks a value the way
//! serde_json would write it (a struct is an object of its fields, a unit variant a
//! string, `None` null, a map's number keys strings, ...), and [`of_json`] walks a
//! line read back from a file. Both give the same hash for the same JSON, so a
//! trace file can still be checked against the digest its run printed.
//!
//! The hash is pinned (it uses nothing of the platform or the Rust release):
//! - a string is [`murmur64a`] of its UTF-8 bytes; numbers, booleans and null mix
//!   a tag with their value; an integer is the same whether it was written as signed
//!   or unsigned;
//! - an array folds its items in order;
//! - an object adds up its entries' hashes (each key's hash mixed with its
//!   value's), so the order of its keys does not matter: a struct's field order and
//!   a parsed object's sorted keys agree.

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::trace::murmur64a;

const M: u64 = 0xc6a4_a793_5bd1_e995;
const NULL: u64 = 0x6e75_6c6c; // "null"
const FALSE: u64 = 0x0066_616c_7365; // "false"
const TRUE: u64 = 0x7472_7565; // "true"
const UINT: u64 = 0x7569_6e74; // "uint"
const NEG: u64 = 0x006e_6567; // "neg"
const FLOAT: u64 = 0x0066_6c6f_6174; // "float"
const STR: u64 = 0x0073_7472; // "str"
const ARRAY: u64 = 0x0061_7272_6179; // "array"
const OBJECT: u64 = 0x6f62_6a65_6374; // "object"

#[inline]
fn mix(tag: u64, v: u64) -> u64 {
    let mut h = (tag ^ v.wrapping_mul(M)).wrapping_mul(M);
    h ^= h >> 47;
    h.wrapping_mul(M)
}

/// A string's hash.
#[inline]
pub fn string(s: &str) -> u64 {
    murmur64a(s.as_bytes(), STR)
}

/// A non-negative integer's hash.
#[inline]
pub fn uint(n: u64) -> u64 {
    mix(UINT, n)
}

fn int(n: i64) -> u64 {
    if n >= 0 { uint(n as u64) } else { mix(NEG, n as u64) }
}

fn float(x: f64) -> u64 {
    // serde_json writes a NaN or an infinity as null.
    if x.is_finite() { mix(FLOAT, x.to_bits()) } else { mix(NULL, 0) }
}

/// An array's hash, its items folded in order.
#[derive(Clone, Copy)]
struct Array(u64, u64);

impl Array {
    fn new() -> Array {
        Array(ARRAY, 0)
    }
    #[inline]
    fn push(&mut self, item: u64) {
        self.0 = (self.0 ^ item).wrapping_mul(M).rotate_left(31);
        self.1 += 1;
    }
    fn finish(self) -> u64 {
        mix(self.0, self.1)
    }
}

/// An object's hash: the sum of its entries', whatever their order.
#[derive(Clone, Copy, Default)]
pub struct Object(u64, u64);

impl Object {
    /// Adds the entry `key: value` (the value's hash).
    #[inline]
    pub fn entry(&mut self, key: &str, value: u64) {
        self.0 = self.0.wrapping_add(mix(string(key), value));
        self.1 += 1;
    }
    /// The object's hash.
    pub fn finish(self) -> u64 {
        mix(OBJECT ^ self.1, self.0)
    }
}

/// The hash of `value` as serde_json would write it; `None` for what serde_json
/// cannot write either (a map whose keys are not strings or numbers).
pub fn of<T: Serialize + ?Sized>(value: &T) -> Option<u64> {
    value.serialize(Hasher).ok()
}

/// The fields of `value`, which serialises as an object, added to `object`; false
/// if it is not an object.
pub fn fields_into<T: Serialize + ?Sized>(value: &T, object: &mut Object) -> bool {
    value.serialize(Fields(object)).is_ok()
}

/// The hash of a parsed JSON value: [`of`] gives the same for the value it came from.
pub fn of_json(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match value {
        Value::Null => mix(NULL, 0),
        Value::Bool(b) => mix(if *b { TRUE } else { FALSE }, 0),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => uint(u),
            (None, Some(i)) => int(i),
            _ => float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => string(s),
        Value::Array(items) => {
            let mut a = Array::new();
            for item in items {
                a.push(of_json(item));
            }
            a.finish()
        }
        Value::Object(map) => {
            let mut o = Object::default();
            for (k, v) in map {
                o.entry(k, of_json(v));
            }
            o.finish()
        }
    }
}

/// What the hasher cannot take.
#[derive(Debug)]
pub struct Unhashable;

impl std::fmt::Display for Unhashable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not representable as JSON")
    }
}

impl std::error::Error for Unhashable {}

impl ser::Error for Unhashable {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Unhashable
    }
}

/// Hashes one value.
struct Hasher;

/// Collects an array's items.
struct Items(Array);

/// Collects an object's entries (a struct's fields, a map's entries).
struct Entries {
    object: Object,
    key: Option<String>,
    /// For a variant with data: the variant's name, the object around it.
    variant: Option<&'static str>,
}

/// A `{"variant": [items]}`.
struct VariantItems(Items, &'static str);

impl Entries {
    fn new(variant: Option<&'static str>) -> Entries {
        Entries { object: Object::default(), key: None, variant }
    }
    fn finish(self) -> u64 {
        let inner = self.object.finish();
        match self.variant {
            Some(name) => wrap(name, inner),
            None => inner,
        }
    }
}

/// `{"name": inner}`.
fn wrap(name: &str, inner: u64) -> u64 {
    let mut o = Object::default();
    o.entry(name, inner);
    o.finish()
}

/// Integers, hashed alike whatever their width.
macro_rules! numbers {
    ($hash:ident: $($name:ident($arg:ty)),*) => {
        $(fn $name(self, v: $arg) -> Result<u64, Unhashable> { Ok($hash(v.into())) })*
    };
}

impl ser::Serializer for Hasher {
    type Ok = u64;
    type Error = Unhashable;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = VariantItems;
    type SerializeMap = Entries;
    type SerializeStruct = Entries;
    type SerializeStructVariant = Entries;

    fn serialize_bool(self, v: bool) -> Result<u64, Unhashable> {
        Ok(mix(if v { TRUE } else { FALSE }, 0))
    }
    numbers!(int: serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64));
    fn serialize_i128(self, v: i128) -> Result<u64, Unhashable> {
        // Past 64 bits serde_json writes digits that read back as a float.
        Ok(match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => uint(u),
            (_, Ok(i)) => int(i),
            _ => float(v as f64),
        })
    }
    numbers!(uint: serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64));
    fn serialize_u128(self, v: u128) -> Result<u64, Unhashable> {
        Ok(u64::try_from(v).map_or_else(|_| float(v as f64), uint))
    }
    fn serialize_f32(self, v: f32) -> Result<u64, Unhashable> {
        // Written in f32's shortest form, which reads back as this f64.
        Ok(if v.is_finite() { float(v.to_string().parse().unwrap_or(f64::from(v))) } else { float(f64::NAN) })
    }
    fn serialize_f64(self, v: f64) -> Result<u64, Unhashable> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<u64, Unhashable> {
        Ok(string(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<u64, Unhashable> {
        Ok(string(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<u64, Unhashable> {
        let mut a = Array::new();
        for b in v {
            a.push(uint((*b).into()));
        }
        Ok(a.finish())
    }
    fn serialize_none(self) -> Result<u64, Unhashable> {
        Ok(mix(NULL, 0))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<u64, Unhashable> {
        value.serialize(Hasher)
    }
    fn serialize_unit(self) -> Result<u64, Unhashable> {
        Ok(mix(NULL, 0))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<u64, Unhashable> {
        Ok(mix(NULL, 0))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<u64, Unhashable> {
        Ok(string(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<u64, Unhashable> {
        value.serialize(Hasher)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<u64, Unhashable> {
        Ok(wrap(variant, value.serialize(Hasher)?))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items, Unhashable> {
        Ok(Items(Array::new()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Items, Unhashable> {
        Ok(Items(Array::new()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items, Unhashable> {
        Ok(Items(Array::new()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<VariantItems, Unhashable> {
        Ok(VariantItems(Items(Array::new()), variant))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Entries, Unhashable> {
        Ok(Entries::new(None))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Entries, Unhashable> {
        Ok(Entries::new(None))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Entries, Unhashable> {
        Ok(Entries::new(Some(variant)))
    }
}

/// An array's items, for each serde trait that writes one.
macro_rules! items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Items {
            type Ok = u64;
            type Error = Unhashable;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
                self.0.push(value.serialize(Hasher)?);
                Ok(())
            }
            fn end(self) -> Result<u64, Unhashable> {
                Ok(self.0.finish())
            }
        }
    )*};
}

items!(SerializeSeq::serialize_element, SerializeTuple::serialize_element, SerializeTupleStruct::serialize_field);

impl ser::SerializeTupleVariant for VariantItems {
    type Ok = u64;
    type Error = Unhashable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
        self.0.0.push(value.serialize(Hasher)?);
        Ok(())
    }
    fn end(self) -> Result<u64, Unhashable> {
        Ok(wrap(self.1, self.0.0.finish()))
    }
}

impl ser::SerializeMap for Entries {
    type Ok = u64;
    type Error = Unhashable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unhashable> {
        self.key = Some(key.serialize(KeyText)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unhashable> {
        let key = self.key.take().ok_or(Unhashable)?;
        self.object.entry(&key, value.serialize(Hasher)?);
        Ok(())
    }
    fn end(self) -> Result<u64, Unhashable> {
        Ok(self.finish())
    }
}

/// A struct's fields, for each serde trait that writes one.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Entries {
            type Ok = u64;
            type Error = Unhashable;
            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unhashable> {
                self.object.entry(key, value.serialize(Hasher)?);
                Ok(())
            }
            fn end(self) -> Result<u64, Unhashable> {
                Ok(self.finish())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// Adds an object's fields to an [`Object`] that the caller finishes (a trace
/// line's `t` goes in beside the event's own fields).
struct Fields<'a>(&'a mut Object);

/// Adds one struct's fields to the caller's object.
struct FieldsOf<'a>(&'a mut Object);

impl ser::SerializeStruct for FieldsOf<'_> {
    type Ok = ();
    type Error = Unhashable;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unhashable> {
        self.0.entry(key, value.serialize(Hasher)?);
        Ok(())
    }
    fn end(self) -> Result<(), Unhashable> {
        Ok(())
    }
}

impl ser::SerializeMap for FieldsOf<'_> {
    type Ok = ();
    type Error = Unhashable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Unhashable> {
        Err(Unhashable)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Unhashable> {
        Err(Unhashable)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Unhashable> {
        let key = key.serialize(KeyText)?;
        self.0.entry(&key, value.serialize(Hasher)?);
        Ok(())
    }
    fn end(self) -> Result<(), Unhashable> {
        Ok(())
    }
}

macro_rules! refuse {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<Self::Ok, Unhashable> { Err(Unhashable) })*
    };
}

/// Refuses what serde_json writes as an array (or a variant around a value).
macro_rules! refuse_arrays {
    () => {
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, Unhashable> {
            Err(Unhashable)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unhashable> {
            Err(Unhashable)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unhashable> {
            Err(Unhashable)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Unhashable> {
            Err(Unhashable)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Unhashable> {
            Err(Unhashable)
        }
    };
}

impl<'a> ser::Serializer for Fields<'a> {
    type Ok = ();
    type Error = Unhashable;
    type SerializeSeq = Impossible<(), Unhashable>;
    type SerializeTuple = Impossible<(), Unhashable>;
    type SerializeTupleStruct = Impossible<(), Unhashable>;
    type SerializeTupleVariant = Impossible<(), Unhashable>;
    type SerializeMap = FieldsOf<'a>;
    type SerializeStruct = FieldsOf<'a>;
    type SerializeStructVariant = Impossible<(), Unhashable>;

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Unhashable> {
        Err(Unhashable)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Unhashable> {
        value.serialize(self)
    }
    refuse_arrays!();
    fn serialize_map(self, _: Option<usize>) -> Result<FieldsOf<'a>, Unhashable> {
        Ok(FieldsOf(self.0))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<FieldsOf<'a>, Unhashable> {
        Ok(FieldsOf(self.0))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unhashable> {
        Err(Unhashable)
    }
}

/// Keys that serde_json writes as their text.
macro_rules! text {
    ($($name:ident($arg:ty)),* $(,)?) => {
        $(fn $name(self, v: $arg) -> Result<String, Unhashable> { Ok(v.to_string()) })*
    };
}

/// A map key as serde_json writes it: a string, or a number or bool as its text.
struct KeyText;

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Unhashable;
    type SerializeSeq = Impossible<String, Unhashable>;
    type SerializeTuple = Impossible<String, Unhashable>;
    type SerializeTupleStruct = Impossible<String, Unhashable>;
    type SerializeTupleVariant = Impossible<String, Unhashable>;
    type SerializeMap = Impossible<String, Unhashable>;
    type SerializeStruct = Impossible<String, Unhashable>;
    type SerializeStructVariant = Impossible<String, Unhashable>;

    text!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
    );
    refuse!(serialize_f32(f32), serialize_f64(f64));
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_none(self) -> Result<String, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_unit(self) -> Result<String, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Unhashable> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Unhashable> {
        value.serialize(self)
    }
    refuse_arrays!();
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Unhashable> {
        Err(Unhashable)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unhashable> {
        Err(Unhashable)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        Both { b: i64, a: Option<String> },
    }

    #[derive(Serialize)]
    enum Outer {
        Unit,
        New(u8),
        Tuple(u16, i32),
        Fields { x: f64, y: Vec<bool> },
    }

    #[derive(Serialize)]
    struct Everything {
        tagged: Tagged,
        outers: Vec<Outer>,
        by_number: BTreeMap<u64, char>,
        tuple: (u32, &'static str, ()),
        none: Option<u8>,
        negative: i32,
        big: u128,
        huge: u128,
        float32: f32,
        nan: f64,
        bytes: &'static [u8],
    }

    fn sample() -> Everything {
        Everything {
            tagged: Tagged::Both { b: 7, a: Some("x\"y\n\u{e9}".into()) },
            outers: vec![
                Outer::Unit,
                Outer::New(3),
                Outer::Tuple(1, -2),
                Outer::Fields { x: 0.1, y: vec![true, false] },
            ],
            by_number: [(3, 'a'), (10, 'b')].into_iter().collect(),
            tuple: (1, "two", ()),
            none: None,
            negative: -5,
            big: 1 << 40,
            huge: u128::MAX,
            float32: 0.1,
            nan: f64::NAN,
            bytes: b"ab",
        }
    }

    #[test]
    fn a_value_and_its_json_read_back_hash_alike() {
        let v = sample();
        let text = serde_json::to_string(&v).unwrap();
        let read: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(of(&v), Some(of_json(&read)), "{text}");
    }

    #[test]
    fn fields_go_into_an_object_beside_others() {
        let v = sample();
        let mut o = Object::default();
        assert!(fields_into(&v, &mut o));
        o.entry("t", uint(12));
        let mut text: serde_json::Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        text.as_object_mut().unwrap().insert("t".into(), 12.into());
        assert_eq!(o.finish(), of_json(&text));
        assert!(!fields_into(&5u8, &mut Object::default()), "a number has no fields");
    }

    #[test]
    fn what_differs_hashes_apart() {
        let j = |s: &str| of_json(&serde_json::from_str(s).unwrap());
        let all = [
            j("null"),
            j("false"),
            j("true"),
            j("0"),
            j("1"),
            j("-1"),
            j("1.0"),
            j("\"1\""),
            j("\"\""),
            j("[]"),
            j("{}"),
            j("[1,2]"),
            j("[2,1]"),
            j("[[1],2]"),
            j("[1,[2]]"),
            j("{\"a\":1,\"b\":2}"),
            j("{\"a\":2,\"b\":1}"),
            j("{\"a\":{\"b\":1}}"),
            j("{\"b\":{\"a\":1}}"),
        ];
        let distinct: std::collections::BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(j("{\"a\":1,\"b\":2}"), j("{\"b\":2,\"a\":1}"), "key order does not matter");
    }

    #[test]
    fn the_hash_is_pinned() {
        // A change here changes every trace digest: say so in BENCHMARKS.md and the notes.
        let j = |s: &str| of_json(&serde_json::from_str(s).unwrap());
        assert_eq!(j("{\"t\":5,\"ev\":\"end\",\"events\":9}"), 0xda28_90d6_44e7_9f63);
    }
}
