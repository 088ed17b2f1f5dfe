//! edamon's optional accelerator: the envelope decoder's batch path in Rust.
//!
//! `BatchDecoder.decode(records, ids, keys, header_memo, share_header)` does what
//! `EnvelopeDecoder.decode_many`'s Python batch path does for the usual record (a plain JSON
//! object as the value, no CloudEvents headers): it reads only the configured fields of the
//! value (scan.rs, the payload checked and skipped without building anything), shares ids,
//! keys and headers through the decoder's own memo dicts, and builds the Envelope and its
//! RawRecord through their slots. Per record it returns the Envelope, a `str` (the reason a
//! required field is missing: the caller makes the Undecodable), or None: "not read here", for
//! any record this path might not read exactly as `decode` would (a value not ASCII or not an
//! object, a float or a boolean where a field is read, an integer of hundreds of digits,
//! headers that are not a tuple of (str, bytes or None) pairs...). The caller sends those
//! through the exact path, so the two paths cannot disagree on a result, only on speed.

use std::borrow::Cow;

mod scan;

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use scan::{read_roots, Root, RootSpec, Val};

#[derive(Clone, Copy, PartialEq)]
enum Usual {
    Text,
    Name,
    Time,
    Int,
}

enum Loc {
    /// (root index, subkey index within that root)
    Json(usize, Option<usize>),
    Header(String),
    Key,
}

struct Field {
    locations: Vec<Loc>,
    usual: Usual,
    convert: PyObject,
    missing: Option<Py<PyString>>,
}

// -- the decoder -----------------------------------------------------------------------------

/// The result of reading one field: its value, or "not read here".
enum Read {
    Value(Option<PyObject>),
    NotHere,
}

const BIG: i64 = 9_200_000_000_000_000_000;
/// Values longer than this with many brackets go the exact way (the Python path's guard).
const FAST_SIZE: usize = 1600;

#[pyclass(module = "edamon_native", frozen)]
struct BatchDecoder {
    roots: Vec<RootSpec>,
    fields: Vec<Field>,
    record_slots: Slots,
    envelope_slots: Slots,
    parse_traceparent: PyObject,
    seed: PyObject,
    max_bytes: usize,
    keep_bytes: usize,
    wire_keys: bool,
    memo_limit: usize,
    shared_max: usize,
    ms_threshold: f64,
}

fn usual_of(name: &str) -> PyResult<Usual> {
    Ok(match name {
        "text" => Usual::Text,
        "name" => Usual::Name,
        "time" => Usual::Time,
        "int" => Usual::Int,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown usual value: {name}"
            )))
        }
    })
}

/// A field as Python gives it: (locations, usual, converter, missing reason or None).
type FieldArgs<'py> = (
    Vec<Bound<'py, PyTuple>>,
    String,
    PyObject,
    Option<Py<PyString>>,
);

#[pymethods]
impl BatchDecoder {
    /// `fields`: per field, (locations, usual, converter, missing reason or None); a location
    /// is ("json", root, subkey or None), ("header", name) or ("key",). `builders`:
    /// (RawRecord, its 7 slot descriptors, Envelope, its 14 slot descriptors,
    /// parse_traceparent, seed), the descriptors in the order of their fields.
    /// `limits`: (max_bytes, keep_bytes, wire_keys, memo_limit, shared_max, ms_threshold).
    /// Raises ValueError for a location it does not read (a path of three keys or more).
    #[new]
    fn new(
        fields: Vec<FieldArgs<'_>>,
        builders: (
            Py<PyType>,
            Vec<PyObject>,
            Py<PyType>,
            Vec<PyObject>,
            PyObject,
            PyObject,
        ),
        limits: (usize, usize, bool, usize, usize, f64),
    ) -> PyResult<Self> {
        let mut roots: Vec<RootSpec> = Vec::new();
        let mut out_fields = Vec::new();
        for (locations, usual, convert, missing) in fields {
            let mut locs = Vec::new();
            for loc in locations {
                let kind: String = loc.get_item(0)?.extract()?;
                match kind.as_str() {
                    "json" => {
                        let root: String = loc.get_item(1)?.extract()?;
                        let sub: Option<String> = loc.get_item(2)?.extract()?;
                        let r = match roots.iter().position(|s| s.name == root) {
                            Some(r) => r,
                            None => {
                                roots.push(RootSpec {
                                    name: root,
                                    subs: Vec::new(),
                                });
                                roots.len() - 1
                            }
                        };
                        let s = sub.map(|sub| {
                            let subs = &mut roots[r].subs;
                            match subs.iter().position(|s| *s == sub) {
                                Some(s) => s,
                                None => {
                                    subs.push(sub);
                                    subs.len() - 1
                                }
                            }
                        });
                        locs.push(Loc::Json(r, s));
                    }
                    "header" => locs.push(Loc::Header(loc.get_item(1)?.extract()?)),
                    "key" => locs.push(Loc::Key),
                    _ => return Err(PyValueError::new_err(format!("not read here: {kind}"))),
                }
            }
            out_fields.push(Field {
                locations: locs,
                usual: usual_of(&usual)?,
                convert,
                missing,
            });
        }
        if out_fields.len() != 8 {
            return Err(PyValueError::new_err("eight fields expected"));
        }
        let (raw_record, record_descrs, envelope, envelope_descrs, parse_traceparent, seed) =
            builders;
        let record_slots = Slots::new(raw_record, record_descrs, 7)?;
        let envelope_slots = Slots::new(envelope, envelope_descrs, 14)?;
        let (max_bytes, keep_bytes, wire_keys, memo_limit, shared_max, ms_threshold) = limits;
        Ok(BatchDecoder {
            roots,
            fields: out_fields,
            record_slots,
            envelope_slots,
            parse_traceparent,
            seed,
            max_bytes,
            keep_bytes,
            wire_keys,
            memo_limit,
            shared_max,
            ms_threshold,
        })
    }

    /// (results, pending): per record, the Envelope, the reason a required field is missing,
    /// or None (not read here: the caller decodes that record the exact way); `pending` lists
    /// the indexes of the results that are not Envelopes. `ids`, `keys` and `header_memo` are
    /// the decoder's sharing memos, `share_header` what it calls for a header not in its memo.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyList>,
        ids: &Bound<'py, PyDict>,
        keys: &Bound<'py, PyDict>,
        header_memo: &Bound<'py, PyDict>,
        share_header: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<usize>)> {
        let out = PyList::empty(py);
        let mut pending = Vec::new();
        let mut topics = (None, None);
        let memos = Memos {
            ids,
            keys,
            header_memo,
            share_header,
        };
        for (index, record) in records.iter().enumerate() {
            match self.one(py, &record, &memos, &mut topics)? {
                Some(result) => {
                    if result.bind(py).is_instance_of::<PyString>() {
                        pending.push(index); // a missing reason
                    }
                    out.append(result)?;
                }
                None => {
                    pending.push(index);
                    out.append(py.None())?;
                }
            }
        }
        Ok((out, pending))
    }
}

extern "C" {
    // public C API (Include/dictobject.h) that pyo3's ffi does not declare
    fn PyDict_SetDefault(
        d: *mut ffi::PyObject,
        key: *mut ffi::PyObject,
        default: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

fn set_default<'py>(d: &Bound<'py, PyDict>, k: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // PyDict_SetDefault: public C API, returns a borrowed reference
    unsafe {
        let r = PyDict_SetDefault(d.as_ptr(), k.as_ptr(), k.as_ptr());
        if r.is_null() {
            Err(PyErr::fetch(d.py()))
        } else {
            Ok(Bound::from_borrowed_ptr(d.py(), r))
        }
    }
}

/// `_text`: a header value or key as UTF-8 text; None when absent, empty or not UTF-8.
fn text_of(raw: Option<&[u8]>) -> Option<&str> {
    match raw {
        Some(b) if !b.is_empty() => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// One of Apicurio's four schema-id headers (`apicurio.{value,key}.{globalId,contentId}`).
fn is_registry_id_header(name: &Bound<'_, PyAny>) -> bool {
    name.downcast::<PyString>()
        .ok()
        .and_then(|s| {
            s.to_str().ok().map(|s| {
                matches!(
                    s,
                    "apicurio.value.globalId"
                        | "apicurio.value.contentId"
                        | "apicurio.key.globalId"
                        | "apicurio.key.contentId"
                )
            })
        })
        .unwrap_or(false)
}

struct Headers<'py> {
    /// (the header, its name, its value), in the record's order
    items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)>,
}

impl<'py> Headers<'py> {
    /// The last header of that name (as `dict(headers)` keeps it), its value's bytes.
    fn get(&self, name: &str) -> Option<Option<&[u8]>> {
        for (_, k, v) in self.items.iter().rev() {
            if let Ok(k) = k.downcast::<PyString>() {
                if k.to_str().map(|k| k == name).unwrap_or(false) {
                    return Some(v.downcast::<PyBytes>().ok().map(|b| b.as_bytes()));
                }
            }
        }
        None
    }
    fn value_object(&self, name: &str) -> Option<&Bound<'py, PyAny>> {
        for (_, k, v) in self.items.iter().rev() {
            if let Ok(k) = k.downcast::<PyString>() {
                if k.to_str().map(|k| k == name).unwrap_or(false) {
                    return Some(v);
                }
            }
        }
        None
    }
}

/// A frozen slots dataclass read and built through its slot descriptors, as
/// `records.slot_setters` does in Python: `object.__new__(cls)`, then each slot set.
struct Slots {
    cls: Py<PyType>,
    descrs: Vec<PyObject>,
}

impl Slots {
    fn new(cls: Py<PyType>, descrs: Vec<PyObject>, count: usize) -> PyResult<Self> {
        if descrs.len() != count {
            return Err(PyValueError::new_err("slot descriptors changed"));
        }
        for d in &descrs {
            // SAFETY: a type's descriptor slots are read through its public type object
            let ok = unsafe {
                let tp = ffi::Py_TYPE(d.as_ptr());
                (*tp).tp_descr_get.is_some() && (*tp).tp_descr_set.is_some()
            };
            if !ok {
                return Err(PyValueError::new_err("not a slot descriptor"));
            }
        }
        Ok(Slots { cls, descrs })
    }

    /// The value of slot `i` of `obj` (an instance of `cls`, checked by the caller).
    #[inline]
    fn get<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyAny>,
        i: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = self.descrs[i].as_ptr();
        // SAFETY: `d` is a data descriptor (checked in `new`); tp_descr_get returns a new
        // reference or NULL with an exception set.
        unsafe {
            let get = (*ffi::Py_TYPE(d)).tp_descr_get.expect("checked");
            let r = get(d, obj.as_ptr(), self.cls.as_ptr().cast());
            Bound::from_owned_ptr_or_err(py, r)
        }
    }

    /// A new instance with every slot set, in order.
    fn build<'py, const N: usize>(
        &self,
        py: Python<'py>,
        values: [PyObject; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        debug_assert_eq!(N, self.descrs.len());
        // SAFETY: tp_alloc of a heap type (what object.__new__ calls) returns a new reference
        // or NULL; each descriptor is a data descriptor of that type (checked in `new`), and
        // tp_descr_set takes its own reference to the value.
        unsafe {
            let tp: *mut ffi::PyTypeObject = self.cls.as_ptr().cast();
            let alloc = (*tp).tp_alloc.expect("every type has tp_alloc");
            let obj = Bound::from_owned_ptr_or_err(py, alloc(tp, 0))?;
            for (d, v) in self.descrs.iter().zip(values.iter()) {
                let d = d.as_ptr();
                let set = (*ffi::Py_TYPE(d)).tp_descr_set.expect("checked");
                if set(d, obj.as_ptr(), v.as_ptr()) < 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            Ok(obj)
        }
    }
}

struct Memos<'a, 'py> {
    ids: &'a Bound<'py, PyDict>,
    keys: &'a Bound<'py, PyDict>,
    header_memo: &'a Bound<'py, PyDict>,
    share_header: &'a Bound<'py, PyAny>,
}

type Topics<'py> = (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>);

impl BatchDecoder {
    /// One record: Some(Envelope or missing reason), or None (not read here).
    fn one<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        memos: &Memos<'_, 'py>,
        topics: &mut Topics<'py>,
    ) -> PyResult<Option<PyObject>> {
        let Memos {
            ids,
            keys,
            header_memo,
            share_header,
        } = *memos;
        let (last_topic, kept_topic) = topics;
        let slots = &self.record_slots;
        if !record.get_type().is(slots.cls.bind(py)) {
            return Ok(None);
        }
        let value_obj = slots.get(py, record, 5)?;
        let Ok(value_bytes) = value_obj.downcast_exact::<PyBytes>() else {
            return Ok(None);
        };
        let value = value_bytes.as_bytes();
        if value.is_empty() || value[0] == 0 || value.len() > self.max_bytes || !value.is_ascii() {
            return Ok(None);
        }
        if value.len() > FAST_SIZE {
            let brackets = value.iter().filter(|&&b| b == b'{' || b == b'[').count();
            if brackets > FAST_SIZE / 2 {
                return Ok(None);
            }
        }
        let key_obj = slots.get(py, record, 4)?;
        let key: Option<&[u8]> = if key_obj.is_none() {
            None
        } else {
            match key_obj.downcast_exact::<PyBytes>() {
                Ok(b) => Some(b.as_bytes()),
                Err(_) => return Ok(None),
            }
        };
        if self.wire_keys {
            if let Some(k) = key {
                if k.len() > 4 && k[0] == 0 {
                    return Ok(None);
                }
            }
        }
        let raw_headers = slots.get(py, record, 6)?;
        let headers_truthy = raw_headers.is_truthy()?;
        let mut headers = Headers { items: Vec::new() };
        if headers_truthy {
            // a tuple of (str, bytes or None) pairs: what `decode` keeps (and reads) as it is
            let Ok(pairs) = raw_headers.downcast_exact::<PyTuple>() else {
                return Ok(None);
            };
            for header in pairs.iter() {
                let Ok(pair) = header.downcast::<PyTuple>() else {
                    return Ok(None);
                };
                if pair.len() != 2 {
                    return Ok(None);
                }
                let (name, value) = (pair.get_item(0)?, pair.get_item(1)?);
                if !name.is_exact_instance_of::<PyString>()
                    || !(value.is_none() || value.is_exact_instance_of::<PyBytes>())
                {
                    return Ok(None);
                }
                headers.items.push((header, name, value));
            }
            if headers.get("ce_specversion").is_some() {
                return Ok(None);
            }
            // a schema id in Apicurio's headers (edamon.decode.apicurio.ID_HEADERS): the
            // value or key is read through the registry, by the exact path
            if headers
                .items
                .iter()
                .any(|(_, k, _)| is_registry_id_header(k))
            {
                return Ok(None);
            }
            let ct = match headers.get("content-type") {
                Some(Some(v)) if !v.is_empty() => Some(v),
                _ => match headers.get("Content-Type") {
                    Some(Some(v)) if !v.is_empty() => Some(v),
                    _ => None,
                },
            };
            if let Some(ct) = ct {
                let start = ct
                    .iter()
                    .position(|b| !b" \t\n\r\x0b\x0c".contains(b))
                    .unwrap_or(ct.len());
                let rest = &ct[start..];
                let head = &rest[..rest.len().min(23)];
                if head.eq_ignore_ascii_case(b"application/cloudevents") {
                    return Ok(None);
                }
            }
        }
        let Some(roots) = read_roots(value, &self.roots) else {
            return Ok(None);
        };
        // the topic interned once per run of records of one topic (checked before a memo is
        // touched: a record left to the exact path leaves no trace here)
        let topic = slots.get(py, record, 0)?;
        let same = matches!(last_topic, Some(t) if t.is(&topic));
        if !same {
            let kept = match topic.downcast::<PyString>() {
                Ok(s) => {
                    let s = s.clone();
                    let mut ptr = s.into_ptr();
                    unsafe {
                        ffi::PyUnicode_InternInPlace(&mut ptr);
                        Bound::from_owned_ptr(py, ptr)
                    }
                }
                Err(_) => return Ok(None),
            };
            *last_topic = Some(topic);
            *kept_topic = Some(kept);
        }
        let kept_topic = kept_topic.as_ref().expect("set above").clone();
        let mut values: Vec<Option<PyObject>> = Vec::with_capacity(8);
        for field in &self.fields {
            match self.read_field(py, field, &roots, &headers, key)? {
                Read::NotHere => return Ok(None),
                Read::Value(None) => {
                    if let Some(missing) = &field.missing {
                        return Ok(Some(missing.clone_ref(py).into_any()));
                    }
                    values.push(None);
                }
                Read::Value(v) => values.push(v),
            }
        }
        // the envelope, as the Python batch path builds it
        let none = py.None();
        let mut trace_id: PyObject = none.clone_ref(py);
        if let Some(tp) = headers.value_object("traceparent") {
            trace_id = self.parse_traceparent.call1(py, (tp,))?;
        }
        let mut it = values.into_iter();
        let event_id = it.next().flatten().expect("required");
        let event_type = it.next().flatten().expect("required");
        let mut correlation = it.next().flatten();
        let mut causation = it.next().flatten();
        let mut aggregate = it.next().flatten();
        let occurred = it.next().flatten();
        let version = it.next().flatten();
        let source = it.next().flatten();
        if correlation.is_none() && !trace_id.is_none(py) {
            correlation = Some(trace_id.clone_ref(py));
        }
        if ids.len() >= self.memo_limit {
            ids.clear();
        }
        let event_id = set_default(ids, event_id.bind(py))?;
        if let Some(c) = causation.take() {
            let c = c.into_bound(py);
            causation = if c.eq(&event_id)? {
                None
            } else {
                Some(set_default(ids, &c)?.unbind())
            };
        }
        if let Some(c) = correlation.take() {
            correlation = Some(set_default(ids, c.bind(py))?.unbind());
        }
        if let Some(a) = aggregate.take() {
            aggregate = Some(set_default(ids, a.bind(py))?.unbind());
        }
        let truncated = value.len() > self.keep_bytes;
        let kept_value: Bound<'py, PyAny> = if truncated {
            PyBytes::new(py, &value[..self.keep_bytes]).into_any()
        } else {
            value_obj.clone()
        };
        let kept_headers: Bound<'py, PyAny> = if headers_truthy {
            let mut shared: Vec<Bound<'py, PyAny>> = Vec::with_capacity(headers.items.len());
            for (header, _, _) in &headers.items {
                match header_memo.get_item(header)? {
                    Some(s) => shared.push(s),
                    None => shared.push(share_header.call1((header,))?),
                }
            }
            PyTuple::new(py, shared)?.into_any()
        } else {
            raw_headers
        };
        let kept_key: Bound<'py, PyAny> = match key {
            Some(k) if k.len() <= self.shared_max => {
                if keys.len() >= self.memo_limit {
                    keys.clear();
                }
                set_default(keys, &key_obj)?
            }
            _ => key_obj,
        };
        let rec = slots.build(
            py,
            [
                kept_topic.unbind(),
                slots.get(py, record, 1)?.unbind(),
                slots.get(py, record, 2)?.unbind(),
                slots.get(py, record, 3)?.unbind(),
                kept_key.unbind(),
                kept_value.unbind(),
                kept_headers.unbind(),
            ],
        )?;
        let opt = |v: Option<PyObject>| v.unwrap_or_else(|| py.None());
        let args: [PyObject; 14] = [
            event_id.unbind(),
            event_type,
            opt(correlation),
            opt(causation),
            opt(aggregate),
            opt(occurred),
            opt(version),
            opt(source),
            trace_id,
            self.seed.clone_ref(py),
            rec.unbind(),
            PyBool::new(py, truncated).to_owned().into_any().unbind(),
            PyBool::new(py, false).to_owned().into_any().unbind(),
            none,
        ];
        let env = self.envelope_slots.build(py, args)?;
        Ok(Some(env.unbind()))
    }

    /// `locations._first` for one field, restricted to what is read here: the first location
    /// whose value converts wins; a value this path does not convert exactly means NotHere.
    fn read_field(
        &self,
        py: Python<'_>,
        field: &Field,
        roots: &[Root<'_>],
        headers: &Headers<'_>,
        key: Option<&[u8]>,
    ) -> PyResult<Read> {
        for loc in &field.locations {
            let found: Option<Val<'_>> = match loc {
                Loc::Json(r, None) => match &roots[*r].whole {
                    None => None,
                    Some(Val::Str(s)) => Some(Val::Str(Cow::Borrowed(s.as_ref()))),
                    Some(Val::Int(i)) => Some(Val::Int(*i)),
                    Some(Val::Other) => return Ok(Read::NotHere),
                },
                Loc::Json(r, Some(s)) => match &roots[*r].subs[*s] {
                    None => None,
                    Some(Val::Str(v)) => Some(Val::Str(Cow::Borrowed(v.as_ref()))),
                    Some(Val::Int(i)) => Some(Val::Int(*i)),
                    Some(Val::Other) => return Ok(Read::NotHere),
                },
                Loc::Header(name) => match headers.get(name) {
                    Some(raw) => text_of(raw).map(|t| Val::Str(Cow::Borrowed(t))),
                    None => None,
                },
                Loc::Key => text_of(key).map(|t| Val::Str(Cow::Borrowed(t))),
            };
            let converted: Option<PyObject> = match found {
                None => continue,
                Some(Val::Str(s)) => match field.usual {
                    Usual::Text => {
                        if s.is_empty() {
                            None
                        } else {
                            Some(PyString::new(py, &s).into_any().unbind())
                        }
                    }
                    Usual::Name => {
                        if s.is_empty() {
                            None
                        } else {
                            Some(PyString::intern(py, &s).into_any().unbind())
                        }
                    }
                    Usual::Time | Usual::Int => {
                        let r = field.convert.call1(py, (PyString::new(py, &s),))?;
                        if r.is_none(py) {
                            None
                        } else {
                            Some(r)
                        }
                    }
                },
                Some(Val::Int(i)) => {
                    match field.usual {
                        Usual::Int => Some(i.into_pyobject(py)?.into_any().unbind()),
                        Usual::Time if !(-BIG < i && i < BIG) => return Ok(Read::NotHere),
                        Usual::Time => {
                            let mut t = i as f64;
                            if t > self.ms_threshold {
                                t /= 1000.0;
                            }
                            Some(t.into_pyobject(py)?.into_any().unbind())
                        }
                        Usual::Text => Some(PyString::new(py, &i.to_string()).into_any().unbind()),
                        Usual::Name => None, // _as_name reads only strings
                    }
                }
                Some(Val::Other) => return Ok(Read::NotHere),
            };
            if converted.is_some() {
                return Ok(Read::Value(converted));
            }
        }
        Ok(Read::Value(None))
    }
}

#[pymodule]
fn edamon_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchDecoder>()?;
    Ok(())
}
