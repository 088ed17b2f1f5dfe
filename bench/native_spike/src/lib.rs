//! Measurement spike, not part of edamon: the least a native (Rust) per-record ingest path costs
//! when it sits on aiokafka, as edamon's collector does.
//!
//! `Floor.ingest(records, now, stage)` takes the `ConsumerRecord`s of one `getmany()` partition
//! and does the minimum any collector must do per record:
//!
//! - stage 1: read the record's attributes (topic, partition, offset, timestamp, value, headers);
//! - stage 2: also parse the seed envelope's fields from the JSON value (serde_json, borrowed);
//! - stage 0 (all): also intern the ids, drop duplicate event ids, index the flow (correlation
//!   id -> events) and the causation children, count throughput per (topic, type) in 1-second
//!   buckets, and retain the event with its value and headers (references to the Python bytes,
//!   no copy).
//!
//! It leaves out what edamon's collector also does per record (configurable field locations,
//! CloudEvents, traceparent, sagas, dead letters, undecodable reasons, the record memory budget,
//! eviction), so its rate is an upper bound for a native core on aiokafka.

use ahash::AHashMap;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(rename = "correlationId", borrow, default)]
    correlation_id: Option<&'a str>,
    #[serde(rename = "causationId", borrow, default)]
    causation_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct Seed<'a> {
    #[serde(rename = "eventId", borrow)]
    event_id: &'a str,
    #[serde(rename = "eventType", borrow)]
    event_type: &'a str,
    #[serde(rename = "aggregateId", borrow, default)]
    aggregate_id: Option<&'a str>,
    #[serde(rename = "occurredAt", default)]
    occurred_at: Option<f64>,
    #[serde(default)]
    version: Option<i64>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

/// One retained event: ids as interned numbers, the record's bytes as Python references.
#[allow(dead_code)] // kept, as a collector keeps them; this spike never reads them back
struct Event {
    event_type: u32,
    aggregate: Option<u32>,
    time: f64,
    version: Option<i64>,
    topic: u32,
    partition: i32,
    offset: i64,
    value: Py<PyAny>,
    headers: Py<PyAny>,
}

#[derive(Default)]
struct Interner {
    index: AHashMap<String, u32>,
}

impl Interner {
    fn get(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.index.get(text) {
            return id;
        }
        let id = self.index.len() as u32;
        self.index.insert(text.to_owned(), id);
        id
    }
}

const WINDOW_S: usize = 300;

#[pyclass]
#[derive(Default)]
struct Floor {
    strings: Interner,
    events: Vec<Event>,
    by_id: AHashMap<u32, u32>,
    flows: AHashMap<u32, Vec<u32>>,
    children: AHashMap<u32, Vec<u32>>,
    buckets: AHashMap<(u32, u32), Vec<u32>>,
    duplicates: u64,
    undecodable: u64,
}

#[pymethods]
impl Floor {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Ingest `records` up to `stage` (see the module doc); returns how many were taken.
    #[pyo3(signature = (records, now, stage=0))]
    fn ingest(&mut self, records: &Bound<'_, PyList>, now: f64, stage: u8) -> PyResult<usize> {
        let py = records.py();
        let second = now as usize % WINDOW_S;
        let mut taken = 0;
        for record in records.iter() {
            let topic = record.getattr(pyo3::intern!(py, "topic"))?;
            let partition: i32 = record.getattr(pyo3::intern!(py, "partition"))?.extract()?;
            let offset: i64 = record.getattr(pyo3::intern!(py, "offset"))?.extract()?;
            let timestamp: i64 = record.getattr(pyo3::intern!(py, "timestamp"))?.extract()?;
            let value = record.getattr(pyo3::intern!(py, "value"))?;
            let headers = record.getattr(pyo3::intern!(py, "headers"))?;
            let Ok(bytes) = value.cast::<PyBytes>() else {
                self.undecodable += 1;
                continue;
            };
            if stage == 1 {
                taken += 1;
                continue;
            }
            let Ok(seed) = serde_json::from_slice::<Seed>(bytes.as_bytes()) else {
                self.undecodable += 1;
                continue;
            };
            if stage == 2 {
                taken += 1;
                continue;
            }
            let event_id = self.strings.get(seed.event_id);
            if self.by_id.contains_key(&event_id) {
                self.duplicates += 1;
                continue;
            }
            let topic = self.strings.get(topic.extract::<&str>()?);
            let event_type = self.strings.get(seed.event_type);
            let metadata = seed.metadata.as_ref();
            let flow = match metadata.and_then(|m| m.correlation_id) {
                Some(cid) => self.strings.get(cid),
                None => event_id,
            };
            let index = self.events.len() as u32;
            self.by_id.insert(event_id, index);
            self.flows.entry(flow).or_default().push(index);
            if let Some(parent) = metadata.and_then(|m| m.causation_id) {
                let parent = self.strings.get(parent);
                self.children.entry(parent).or_default().push(index);
            }
            let counts = self.buckets.entry((topic, event_type)).or_insert_with(|| vec![0; WINDOW_S]);
            counts[second] += 1;
            let time = match seed.occurred_at {
                Some(at) if at > 1e11 => at / 1000.0,
                Some(at) => at,
                None => timestamp as f64 / 1000.0,
            };
            let aggregate = seed.aggregate_id.map(|a| self.strings.get(a));
            self.events.push(Event {
                event_type,
                aggregate,
                time,
                version: seed.version,
                topic,
                partition,
                offset,
                value: value.clone().unbind(),
                headers: headers.unbind(),
            });
            taken += 1;
        }
        Ok(taken)
    }

    /// (events retained, flows, duplicates, undecodable)
    fn counts(&self) -> (usize, usize, u64, u64) {
        (self.events.len(), self.flows.len(), self.duplicates, self.undecodable)
    }
}

#[pymodule]
fn edamon_native_spike(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Floor>()
}
