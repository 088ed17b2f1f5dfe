"""Apicurio's own serdes: the schema id in record headers, the payload bare.

What Apicurio's Java serdes (`io.apicurio.registry.serde`) write, read in the source of
github.com/Apicurio/apicurio-registry: main at b40e017 (August 2026; the framing and header code
is the same in tags v3.1.7 and v3.3.1, the snapshot has no v3.3.3 tag) and tag 2.6.13.Final.
Checked by running Apicurio's own serializers (`apicurio-registry-avro-serde-kafka` and
`-protobuf-serde-kafka` 3.1.7, the newest serde release Maven Central lists) with
`apicurio.registry.headers.enabled=true` against Apicurio Registry 3.3.3: the headers, the
payloads and the Ref are as below, and edamon decodes them (value and key).

- With headers enabled (`apicurio.registry.headers.enabled`; default **true** in 2.x
  `SerdeConfig.ENABLE_HEADERS_DEFAULT`, **false** in 3.x `KafkaSerdeConfig`), the value (or
  key) is the bare payload and `DefaultHeadersHandler.writeHeaders` adds ONE id header: with
  `apicurio.registry.use-id=globalId` (the 2.x default) `apicurio.value.globalId`, else
  `apicurio.value.contentId` (the 3.x default is contentId); keys use `apicurio.key.globalId` /
  `apicurio.key.contentId`. Both hold an **8-byte big-endian long**
  (`ByteBuffer.allocate(8).putLong(id)`, read back with `ByteBuffer.wrap(value).getLong()`),
  in 2.x and 3.x alike. (With neither id, 3.x writes `apicurio.value.groupId`/`artifactId`/
  `version` text headers instead: not read here.) The header names can be overridden
  (`apicurio.registry.headers.value.globalId.name`...): only the default names are read here.
- `DefaultHeadersHandler.readHeaders` takes the last header of each name, and the resolver
  (`DefaultSchemaResolver`) uses the globalId when there is one, else the contentId: so does
  `header_id`.
- Avro adds `apicurio.value.encoding` (`AvroKafkaSerializer`, `AvroSerdeHeaders`): `BINARY`
  (the default) or `JSON` (Avro's JSON encoding, not read here: a precise reason instead).
- Protobuf with headers writes, before the message, a length-delimited `Ref { string name = 1; }`
  holding the message's simple name (`ProtobufSerializer.writeRef`, `sendTypeRef` default true),
  plus headers `apicurio.value.msgType` (the Java class) and `apicurio.protobuf.type`; the
  deserializer looks the Ref's name up among the file's top-level messages and falls back to
  the first message when no Ref parses (`ProtobufDeserializer.internalReadData`).
- JSON Schema: the payload is the JSON document.
- Without headers the framing is a zero byte and the id: 2.x `DefaultIdHandler` writes an
  8-byte globalId (`Legacy4ByteIdHandler`, or `apicurio.registry.as-confluent`, 4 bytes);
  3.x `Default4ByteIdHandler` writes a 4-byte contentId (`Legacy8ByteIdHandler` 8 bytes). The
  3.x default is the Confluent wire format with a contentId, which is what Apicurio's ccompat
  API calls a schema id: edamon's Confluent path reads it (edamon.decode.wire) for Avro and
  JSON Schema. The 8-byte framing is not read. Nor is 3.x Protobuf without headers: the
  serializer (3.1.7, run) writes the Ref there too and no Confluent message indexes
  (`apicurio.registry.serde.send-indexes` is off by default), which the Confluent path reads
  as corrupt message indexes.

The schema behind a globalId or contentId comes from Apicurio's core API (`/ids/globalIds/{id}`,
`/ids/contentIds/{id}`, checked against Apicurio Registry 3.3.3; see
edamon.decode.registry.HttpSchemaRegistry).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Literal

__all__ = [
    "ENCODING",
    "ID_HEADERS",
    "avro_encoding",
    "core_api_url",
    "has_id_header",
    "header_id",
]

GLOBAL_ID = "globalId"
CONTENT_ID = "contentId"
ID_HEADERS = frozenset(
    f"apicurio.{part}.{kind}" for part in ("value", "key") for kind in (GLOBAL_ID, CONTENT_ID)
)
"""The four id headers (default names)."""
ENCODING = {"value": "apicurio.value.encoding", "key": "apicurio.key.encoding"}
"""Avro's encoding header: `BINARY` or `JSON`."""
_LONG = struct.Struct(">q")


def has_id_header(headers: Mapping[str, bytes | None]) -> bool:
    """Whether a record carries any of Apicurio's id headers (value or key)."""
    return bool(headers) and not ID_HEADERS.isdisjoint(headers)


def header_id(
    headers: Mapping[str, bytes | None], part: Literal["value", "key"]
) -> tuple[str, int] | str | None:
    """The id Apicurio's headers give the value's (or key's) schema: ("globalId", 42) or
    ("contentId", 7), the globalId first as Apicurio's resolver does; the reason when that
    header is malformed (not 8 bytes, not a positive id); None when there is no id header.
    `headers` maps a name to its last value (as `Headers.lastHeader` reads)."""
    for kind in (GLOBAL_ID, CONTENT_ID):
        name = f"apicurio.{part}.{kind}"
        if name not in headers:
            continue
        raw = headers[name]
        if raw is None:
            return f"header {name}: null, not an 8-byte id"
        if len(raw) != 8:
            return f"header {name}: {len(raw)} bytes, not an 8-byte big-endian id"
        number = int(_LONG.unpack(raw)[0])
        if number <= 0:
            return f"header {name}: {number} is not a valid id"
        return kind, number
    return None


def avro_encoding(headers: Mapping[str, bytes | None], part: Literal["value", "key"]) -> str | None:
    """The reason an Avro payload can't be read because of its encoding header (`JSON`, or
    anything but `BINARY`); None when it is binary (or says nothing)."""
    raw = headers.get(ENCODING[part])
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace").strip()
    if text.upper() == "BINARY":
        return None
    shown = text[:20].encode("ascii", "backslashreplace").decode("ascii")
    return f"header {ENCODING[part]}: Avro {shown!r} encoding is not read (only BINARY)"


def core_api_url(ccompat_url: str) -> str | None:
    """Apicurio's core API beside its Confluent-compatible one: `.../apis/ccompat/v7` ->
    `.../apis/registry/v3`; None for a URL that is not Apicurio's ccompat API."""
    head, sep, tail = ccompat_url.rstrip("/").rpartition("/apis/ccompat/")
    if not sep or "/" in tail or not tail.startswith("v"):
        return None
    return f"{head}/apis/registry/v3"
