"""The Confluent wire format: a zero byte, a 4-byte big-endian schema id, the payload.

Protobuf adds, after the id, the message indexes (zigzag varints: a count, then the indexes;
a count of 0 means the first top-level message). Payloads decode here against a compiled
schema (`compile_schema`, once per id): Avro with fastavro, Protobuf through a descriptor pool
built at run time (from the registry's base64 FileDescriptorProto, or from `.proto` text
compiled with grpcio-tools' protoc; no generated classes), JSON Schema as plain JSON.

A record written by Apicurio's serdes with the schema id in its headers (edamon.decode.apicurio)
has a bare payload: its schema, keyed ("globalId", id) or ("contentId", id), compiles to the
same classes reading from byte 0 (Protobuf: after Apicurio's length-delimited `Ref` naming the
message, instead of the message indexes).

A decoded payload is a dict the envelope's locations read like a JSON object; `SchemaRef.read`
turns a whole record value into JSON-able data for display (times as ISO text, decimals as
exact text, bytes as base64). `WireError` carries a short, stable reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import io
import json
import struct
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from orjson import JSONDecodeError
from orjson import loads as json_loads

from edamon.decode.registry import RegisteredSchema
from edamon.model.envelope import SchemaKey, SchemaRef, WireFormat, schema_key_text

__all__ = [
    "AvroSchema",
    "CompiledSchema",
    "JsonSchema",
    "ProtobufSchema",
    "WireError",
    "compile_schema",
    "jsonable",
    "schema_id_of",
]

MAGIC = 0
HEADER = 5
_ID = struct.Struct(">I")
_MAX_INDEXES = 64
_AVRO_ERRORS = (
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    UnicodeDecodeError,
    struct.error,
    decimal.InvalidOperation,
)


class WireError(Exception):
    """A payload that does not decode, or a schema that does not compile; str() is the reason."""


def _split(key: SchemaKey) -> tuple[int, str | None, int]:
    """(the id, its Apicurio kind or None, where the payload starts in a value)."""
    if isinstance(key, tuple):
        return key[1], key[0], 0
    return key, None, HEADER


def schema_id_of(data: bytes | None) -> int | None:
    """The schema id of a value or key in the wire format, or None when it is not one."""
    if data is None or len(data) < HEADER or data[0] != MAGIC:
        return None
    return int(_ID.unpack_from(data, 1)[0])


def jsonable(value: object) -> object:
    """A decoded payload as JSON-able data: times as ISO text, decimals and UUIDs as text,
    bytes as base64."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


_RAW_READS_SAME = frozenset(
    {"timestamp-millis", "local-timestamp-millis", "uuid", "decimal", "date", "time-millis"}
)
"""Avro logical types whose underlying value the envelope reads as well (epoch milliseconds,
UUID text) or never reads (decimals, dates, times of day): left raw for envelope reads."""


def _raw_logical(schema: Any) -> tuple[Any, bool]:
    """`schema` without the logical types of _RAW_READS_SAME, and whether none is left (a
    value read with it holds only JSON types: str, int, float, bool, None, bytes, dict, list)."""
    if isinstance(schema, list):
        parts = [_raw_logical(item) for item in schema]
        return [p[0] for p in parts], all(p[1] for p in parts)
    if not isinstance(schema, dict):
        return schema, True
    plain = True
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "logicalType":
            if value in _RAW_READS_SAME:
                continue
            plain = False
        if key in ("type", "fields", "items", "values"):
            value, inner = _raw_logical(value)
            plain = plain and inner
        out[key] = value
    return out, plain


class AvroSchema:
    """An Avro writer schema, parsed once for display (logical types as such: times, decimals)
    and once for envelope reads (the logical types the envelope reads as well left raw)."""

    format = WireFormat.AVRO

    def __init__(
        self,
        schema_id: SchemaKey,
        parsed: Any,
        subject: str | None,
        version: int | None,
        raw: Any = None,
        plain: bool = False,
    ):
        self._parsed = parsed
        self._raw = parsed if raw is None else raw
        self.plain = plain
        """Envelope reads give only JSON types (the decoder's fast path applies)."""
        number, kind, self._start = _split(schema_id)
        self.ref = SchemaRef(
            WireFormat.AVRO, number, subject, version, None, self.display, id_kind=kind
        )

    def decode(self, value: bytes, keys: frozenset[str] | None = None) -> tuple[Any, SchemaRef]:
        """The payload of a wire-format `value` (header included; bare for an id from
        Apicurio's headers) and its schema. `keys` (an envelope read: the top-level fields it
        reads) leaves the logical types of _RAW_READS_SAME raw."""
        stream = io.BytesIO(value)
        stream.seek(self._start)
        try:
            obj = schemaless_reader(stream, self._parsed if keys is None else self._raw, None)
        except _AVRO_ERRORS:
            raise WireError("corrupt Avro payload") from None
        if stream.tell() != len(value):
            raise WireError(f"corrupt Avro payload ({len(value) - stream.tell()} bytes left over)")
        return obj, self.ref

    def display(self, value: bytes) -> object:
        try:
            return jsonable(self.decode(value)[0])
        except WireError as exc:
            raise ValueError(str(exc)) from None


class JsonSchema:
    """A JSON Schema value: plain JSON behind the header (the schema itself is not needed)."""

    format = WireFormat.JSON_SCHEMA
    plain = True

    def __init__(
        self, schema_id: SchemaKey, subject: str | None = None, version: int | None = None
    ):
        number, kind, self._start = _split(schema_id)
        self.ref = SchemaRef(
            WireFormat.JSON_SCHEMA, number, subject, version, None, self.display, id_kind=kind
        )

    def decode(self, value: bytes, keys: frozenset[str] | None = None) -> tuple[Any, SchemaRef]:
        try:
            obj = json_loads(memoryview(value)[self._start :])
        except JSONDecodeError:
            raise WireError("corrupt JSON Schema payload (not JSON)") from None
        if type(obj) is not dict:
            raise WireError("corrupt JSON Schema payload (not a JSON object)")
        return obj, self.ref

    def display(self, value: bytes) -> object:
        try:
            return self.decode(value)[0]
        except WireError as exc:
            raise ValueError(str(exc)) from None


def _zigzag(data: bytes, pos: int) -> tuple[int, int]:
    """A zigzag-encoded varint (Confluent's message indexes) at `pos`, and the position after."""
    result, pos = _varint(data, pos, "corrupt Protobuf message indexes")
    return (result >> 1) ^ -(result & 1), pos


def message_indexes(data: bytes) -> tuple[tuple[int, ...], int]:
    """The message indexes after the header and where the payload starts."""
    count, pos = _zigzag(data, HEADER)
    if count == 0:
        return (0,), pos
    if not 0 < count <= _MAX_INDEXES:
        raise WireError("corrupt Protobuf message indexes")
    indexes = []
    for _ in range(count):
        index, pos = _zigzag(data, pos)
        if index < 0:
            raise WireError("corrupt Protobuf message indexes")
        indexes.append(index)
    return tuple(indexes), pos


_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
_SCALAR, _MESSAGE, _ENUM, _BYTES = 0, 1, 2, 3
_Plan = tuple[str, int, bool, bool, Any]
"""How to show one field: (JSON name, kind, repeated, map, the map's value field or enum)."""
_plans: dict[FieldDescriptor, _Plan] = {}


def _plan(field: FieldDescriptor) -> _Plan:
    """The field's plan, worked out once (descriptor lookups cost more than the parse)."""
    plan = _plans.get(field)
    if plan is not None:
        return plan
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        plan = (field.json_name, _MESSAGE, False, True, _plan(entry.fields_by_name["value"]))
    else:
        kind = _SCALAR
        extra: Any = None
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            kind = _MESSAGE
        elif field.type == FieldDescriptor.TYPE_ENUM:
            kind, extra = _ENUM, field.enum_type
        elif field.type == FieldDescriptor.TYPE_BYTES:
            kind = _BYTES
        plan = (field.json_name, kind, field.is_repeated, False, extra)
    if len(_plans) < 100_000:
        _plans[field] = plan
    return plan


def _proto_value(kind: int, extra: Any, value: Any) -> object:
    if kind == _SCALAR:
        return value
    if kind == _MESSAGE:
        return proto_dict(value)
    if kind == _ENUM:
        named = extra.values_by_number.get(value)
        return named.name if named is not None else value
    return base64.b64encode(value).decode("ascii")


def proto_dict(message: Message) -> object:
    """A message as JSON-like data keyed by JSON names (`event_id` -> `eventId`), only set
    fields; well-known Timestamp/Duration as their JSON text, wrappers as their value."""
    name = message.DESCRIPTOR.full_name
    if name in _SPECIAL:
        if name in _WRAPPERS:
            field = message.DESCRIPTOR.fields_by_name["value"]
            _, kind, _, _, extra = _plan(field)
            return _proto_value(kind, extra, message.value)
        return message.ToJsonString()
    out: dict[str, object] = {}
    for field, value in message.ListFields():
        json_name, kind, repeated, is_map, extra = _plans.get(field) or _plan(field)
        if kind == _SCALAR and not repeated:
            out[json_name] = value
        elif is_map:
            _, value_kind, _, _, value_extra = extra
            out[json_name] = {
                str(k): _proto_value(value_kind, value_extra, v) for k, v in value.items()
            }
        elif repeated:
            out[json_name] = [_proto_value(kind, extra, v) for v in value]
        else:
            out[json_name] = _proto_value(kind, extra, value)
    return out


_SPECIAL = frozenset({_TIMESTAMP, _DURATION, *_WRAPPERS})
_FIRST: tuple[int, ...] = (0,)
_Pick = tuple[str, bool, _Plan]
"""(field name, has presence, plan) of a top-level field to convert."""


def _picks(descriptor: Descriptor, keys: frozenset[str]) -> list[_Pick]:
    return [
        (field.name, bool(field.has_presence), _plan(field))
        for field in descriptor.fields
        if field.json_name in keys or field.name in keys
    ]


def _picked(message: Message, picks: list[_Pick]) -> dict[str, object]:
    """`proto_dict` of the picked top-level fields only (the set ones, as ListFields gives)."""
    if message.DESCRIPTOR.full_name in _SPECIAL:
        return {}
    out: dict[str, object] = {}
    for name, presence, (json_name, kind, repeated, is_map, extra) in picks:
        if presence and not message.HasField(name):
            continue
        value = getattr(message, name)
        if not presence and not value:  # implicit presence: the default is "not set"
            continue
        if kind == _SCALAR and not repeated:
            out[json_name] = value
        elif is_map:
            _, value_kind, _, _, value_extra = extra
            out[json_name] = {
                str(k): _proto_value(value_kind, value_extra, v) for k, v in value.items()
            }
        elif repeated:
            out[json_name] = [_proto_value(kind, extra, v) for v in value]
        else:
            out[json_name] = _proto_value(kind, extra, value)
    return out


class ProtobufSchema:
    """A Protobuf schema: a file (and its imports) in a descriptor pool of its own (two
    versions of one .proto file may be in flight together); message classes made once."""

    format = WireFormat.PROTOBUF
    plain = True
    """Envelope reads give JSON types (times as RFC 3339 text, enums as names)."""

    def __init__(
        self,
        schema_id: SchemaKey,
        pool: descriptor_pool.DescriptorPool,
        file: descriptor_pb2.FileDescriptorProto,
        subject: str | None,
        version: int | None,
    ) -> None:
        self._id, self._kind, _ = _split(schema_id)
        self._name = schema_key_text(schema_id)
        self._pool = pool
        self._file = file
        self._subject = subject
        self._version = version
        self._types: dict[tuple[int, ...], tuple[Callable[[bytes], Message], SchemaRef]] = {}
        self._classes: dict[tuple[int, ...], type[Message]] = {}
        self._picks: dict[tuple[tuple[int, ...], frozenset[str]], list[_Pick]] = {}

    def _type(self, indexes: tuple[int, ...]) -> tuple[Callable[[bytes], Message], SchemaRef]:
        known = self._types.get(indexes)
        if known is not None:
            return known
        names: list[str] = [self._file.package] if self._file.package else []
        level: Sequence[descriptor_pb2.DescriptorProto] = self._file.message_type
        for index in indexes:
            if index >= len(level):
                raise WireError(f"{self._name} has no message at index {list(indexes)}")
            names.append(level[index].name)
            level = level[index].nested_type
        descriptor: Descriptor = self._pool.FindMessageTypeByName(".".join(names))
        cls = message_factory.GetMessageClass(descriptor)
        self._classes[indexes] = cls
        ref = SchemaRef(
            WireFormat.PROTOBUF,
            self._id,
            self._subject,
            self._version,
            descriptor.full_name,
            self.display,
            id_kind=self._kind,
        )
        self._types[indexes] = known = (cls.FromString, ref)
        return known

    @property
    def ref(self) -> SchemaRef:
        return self._type((0,))[1]

    def message_class(self, indexes: tuple[int, ...] = (0,)) -> type[Message]:
        """The class of the message at `indexes` (a producer writes with it: the demo)."""
        self._type(indexes)
        return self._classes[indexes]

    def decode(self, value: bytes, keys: frozenset[str] | None = None) -> tuple[Any, SchemaRef]:
        """With `keys`, only those top-level fields (by JSON or proto name) are converted:
        building the whole dict costs more than the parse."""
        if self._kind is not None:
            indexes, start = self._apicurio_ref(value)
        elif value[HEADER : HEADER + 1] == b"\x00":
            indexes, start = _FIRST, HEADER + 1
        else:
            indexes, start = message_indexes(value)
        parse, ref = self._type(indexes)
        try:
            message = parse(value[start:])
        except DecodeError:
            raise WireError("corrupt Protobuf payload") from None
        if keys is None:
            return proto_dict(message), ref
        picks = self._picks.get((indexes, keys))
        if picks is None:
            picks = self._picks[indexes, keys] = _picks(message.DESCRIPTOR, keys)
        return _picked(message, picks), ref

    def _apicurio_ref(self, value: bytes) -> tuple[tuple[int, ...], int]:
        """Apicurio's type reference before a bare message (a length-delimited
        `Ref { string name = 1; }`): the top-level message it names and where the message
        starts."""
        size, pos = _varint(value, 0)
        end = pos + size
        if end > len(value):
            raise WireError("corrupt Protobuf type reference (Apicurio Ref)")
        name = b""
        if size:
            if value[pos] != 0x0A:
                raise WireError("corrupt Protobuf type reference (Apicurio Ref)")
            length, at = _varint(value, pos + 1)
            if at + length != end:
                raise WireError("corrupt Protobuf type reference (Apicurio Ref)")
            name = value[at:end]
        text = name.decode("utf-8", "replace")
        for index, message in enumerate(self._file.message_type):
            if message.name == text:
                return (index,), end
        shown = text[:60].encode("ascii", "backslashreplace").decode("ascii")
        raise WireError(f"no top-level message {shown!r} in the schema")

    def display(self, value: bytes) -> object:
        try:
            return self.decode(value)[0]
        except WireError as exc:
            raise ValueError(str(exc)) from None


def _varint(
    data: bytes, pos: int, corrupt: str = "corrupt Protobuf type reference (Apicurio Ref)"
) -> tuple[int, int]:
    """An unsigned varint at `pos` and the position after it; WireError(`corrupt`) when
    the bytes end first or it runs past 64 bits."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError(corrupt)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


CompiledSchema = AvroSchema | ProtobufSchema | JsonSchema


def compile_schema(
    schema_id: SchemaKey,
    main: RegisteredSchema,
    references: Mapping[str, RegisteredSchema],
    subject: str | None = None,
    version: int | None = None,
) -> CompiledSchema:
    """Compile a registered schema; `references` by the name the schemas import them by, in
    dependency order (imports first). Raises WireError."""
    kind = main.schema_type.upper()
    if kind == "AVRO":
        return _avro(schema_id, main, references, subject, version)
    if kind == "PROTOBUF":
        return _protobuf(schema_id, main, references, subject, version)
    if kind == "JSON":
        return JsonSchema(schema_id, subject, version)
    raise WireError(f"{schema_key_text(schema_id)}: unsupported schema type {main.schema_type!r}")


def _avro(
    schema_id: SchemaKey,
    main: RegisteredSchema,
    references: Mapping[str, RegisteredSchema],
    subject: str | None,
    version: int | None,
) -> AvroSchema:
    named: dict[str, Any] = {}
    raw_named: dict[str, Any] = {}
    plain = True
    try:
        for ref in references.values():
            imported = json.loads(ref.schema)
            parse_schema(imported, named_schemas=named)
            raw_import, raw_plain = _raw_logical(imported)
            parse_schema(raw_import, named_schemas=raw_named)
            plain = plain and raw_plain
        text = json.loads(main.schema)
        parsed = parse_schema(text, named_schemas=named)
        raw_text, raw_plain = _raw_logical(text)
        raw = parse_schema(raw_text, named_schemas=raw_named)
    except (ValueError, TypeError, KeyError) as exc:
        name = schema_key_text(schema_id)
        raise WireError(f"{name}: not a valid Avro schema ({exc})") from None
    return AvroSchema(schema_id, parsed, subject, version, raw, plain and raw_plain)


def _descriptor(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A base64 FileDescriptorProto (what Confluent's serializer registers), or None."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        parsed = descriptor_pb2.FileDescriptorProto.FromString(raw)
    except DecodeError:
        return None
    return parsed if parsed.name or parsed.message_type else None


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A google/protobuf/*.proto import nobody registered, from protobuf's own modules."""
    if not name.startswith("google/protobuf/"):
        return None
    from google.protobuf import (  # noqa: F401  (registers them in the default pool)
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )

    try:
        found = descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(proto)
    return proto


def _protoc(
    schema_id: SchemaKey,
    main: str,
    texts: Mapping[str, str],
    given: Sequence[descriptor_pb2.FileDescriptorProto] = (),
) -> list[descriptor_pb2.FileDescriptorProto]:
    """.proto text (and imported texts by import path; imports registered as descriptors in
    `given`) compiled with grpcio-tools' protoc. The well-known google/protobuf imports come
    with protoc."""
    from importlib import resources

    from grpc_tools import protoc

    main_name = f"edamon_{schema_key_text(schema_id).replace(' ', '_')}.proto"
    with tempfile.TemporaryDirectory(prefix="edamon-proto-") as tmp:
        root = Path(tmp)
        for name, text in {**texts, main_name: main}.items():
            path = (root / name).resolve()
            if root.resolve() not in path.parents:
                raise WireError(f"{schema_key_text(schema_id)}: bad import path {name!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        out = root / "out.pb"
        with resources.as_file(resources.files("grpc_tools") / "_proto") as include:
            args = [
                "protoc",
                f"-I{root}",
                f"-I{include}",
                f"--descriptor_set_out={out}",
                "--include_imports",
                main_name,
            ]
            given = [f for f in given if not f.name.startswith("google/protobuf/")]
            if given:
                descriptors = root / "given.pb"
                descriptors.write_bytes(
                    descriptor_pb2.FileDescriptorSet(file=given).SerializeToString()
                )
                args.insert(1, f"--descriptor_set_in={descriptors}")
            code = protoc.main(args)
        if code != 0 or not out.is_file():
            raise WireError(f"{schema_key_text(schema_id)}: .proto text does not compile")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return list(files)


def _protobuf(
    schema_id: SchemaKey,
    main: RegisteredSchema,
    references: Mapping[str, RegisteredSchema],
    subject: str | None,
    version: int | None,
) -> ProtobufSchema:
    parsed = {name: _descriptor(ref.schema) for name, ref in references.items()}
    main_file = _descriptor(main.schema)
    files: list[descriptor_pb2.FileDescriptorProto]
    if main_file is not None and all(p is not None for p in parsed.values()):
        files = []
        for name, proto in parsed.items():
            assert proto is not None
            if not proto.name:
                proto.name = name
            files.append(proto)
        files.append(main_file)
    else:
        texts = {name: ref.schema for name, ref in references.items() if parsed[name] is None}
        given = [proto for proto in parsed.values() if proto is not None]
        files = _protoc(schema_id, main.schema, texts, given)
        main_file = files[-1]
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    by_name = {proto.name: proto for proto in files}

    def add(proto: descriptor_pb2.FileDescriptorProto) -> None:
        if proto.name in added:
            return
        added.add(proto.name)
        for dependency in proto.dependency:
            known = by_name.get(dependency) or _well_known(dependency)
            if known is None:
                raise WireError(f"{schema_key_text(schema_id)}: missing import {dependency}")
            add(known)
        pool.Add(proto)

    try:
        for proto in files:
            add(proto)
        pool.FindFileByName(main_file.name)
    except (TypeError, KeyError) as exc:
        raise WireError(
            f"{schema_key_text(schema_id)}: not a valid Protobuf schema ({exc})"
        ) from None
    if not main_file.message_type:
        raise WireError(f"{schema_key_text(schema_id)}: no message in the Protobuf schema")
    return ProtobufSchema(schema_id, pool, main_file, subject, version)
