"""Writing what a registry-backed producer writes, independently of edamon's decode path.

Schemas are registered with plain HTTP calls to the real registry; payloads are encoded with
fastavro's writer and protobuf's own serializer (message classes from protoc, as a producer's
generated code would be); the Confluent framing is done here, byte by byte.
"""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastavro import parse_schema, schemaless_writer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def register(
    url: str,
    subject: str,
    schema: str | dict[str, Any],
    schema_type: str = "AVRO",
    references: Iterable[tuple[str, str, int]] = (),
) -> int:
    """Register a schema under `subject` (references as (name, subject, version)); its id."""
    text = schema if isinstance(schema, str) else __import__("json").dumps(schema)
    body: dict[str, Any] = {"schema": text}
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    refs = [{"name": n, "subject": s, "version": v} for n, s, v in references]
    if refs:
        body["references"] = refs
    response = httpx.post(
        f"{url}/subjects/{quote(subject, safe='')}/versions",
        json=body,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def frame(schema_id: int, payload: bytes, indexes: tuple[int, ...] | None = None) -> bytes:
    """The Confluent wire format: 0, the id (4 bytes big-endian), Protobuf message indexes
    (zigzag varints: count then indexes; [0] is the single byte 0), the payload."""
    out = bytearray(b"\x00")
    out += struct.pack(">I", schema_id)
    if indexes is not None:
        if indexes == (0,):
            out += b"\x00"
        else:
            for number in (len(indexes), *indexes):
                out += _zigzag_varint(number)
    return bytes(out + payload)


def apicurio_ids(url: str, subject: str, version: int = 1) -> tuple[int, int]:
    """(globalId, contentId) of a subject's version, from Apicurio's core v3 API (the subject
    is the artifact id in the default group)."""
    core = url.replace("/apis/ccompat/v7", "/apis/registry/v3")
    response = httpx.get(
        f"{core}/groups/default/artifacts/{quote(subject, safe='')}/versions/{version}",
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return int(body["globalId"]), int(body["contentId"])


def apicurio_id_header(part: str, kind: str, number: int) -> tuple[str, bytes]:
    """What Apicurio's DefaultHeadersHandler writes: `apicurio.<part>.<kind>`, an 8-byte
    big-endian long."""
    return f"apicurio.{part}.{kind}", struct.pack(">q", number)


def apicurio_ref(message_name: str) -> bytes:
    """What Apicurio's ProtobufSerializer writes before a message: `Ref { string name = 1; }`
    (the message's simple name), length-delimited (a varint length, then the Ref)."""
    name = message_name.encode("utf-8")
    ref = b"\x0a" + _varint(len(name)) + name
    return _varint(len(ref)) + ref


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag_varint(number: int) -> bytes:
    return _varint((number << 1) ^ (number >> 63))


def avro(schema: dict[str, Any], record: Any) -> bytes:
    """`record` encoded with fastavro's writer (no header)."""
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return buffer.getvalue()


def proto_classes(files: Mapping[str, str], main: str) -> tuple[dict[str, Any], Any]:
    """Message classes of `main` (and the FileDescriptorSet) compiled from .proto texts with
    protoc, as a producer's build would: {full name: class}."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        out = root / "set.pb"
        with resources.as_file(resources.files("grpc_tools") / "_proto") as include:
            code = protoc.main(
                ["protoc", f"-I{root}", f"-I{include}", f"--descriptor_set_out={out}",
                 "--include_imports", main]
            )  # fmt: skip
        assert code == 0, f"protoc failed on {main}"
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    classes: dict[str, Any] = {}
    file = pool.FindFileByName(main)

    def walk(descriptor: Any) -> None:
        classes[descriptor.full_name] = message_factory.GetMessageClass(descriptor)
        for nested in descriptor.nested_types:
            walk(nested)

    for descriptor in file.message_types_by_name.values():
        walk(descriptor)
    return classes, fds


def descriptor_base64(fds: Any, name: str) -> str:
    """One file of a FileDescriptorSet as base64 (what Confluent's serializer registers)."""
    file = next(f for f in fds.file if f.name == name)
    return base64.b64encode(file.SerializeToString()).decode("ascii")


async def until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Wait for a condition (polled every 50 ms), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.05)


class TcpProxy:
    """A TCP forwarder to a real registry that can be taken down and brought back on the same
    port: a registry that stops answering (connections refused), then returns."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with suppress(asyncio.CancelledError):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        tasks = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        self._pipes.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._pipes.difference_update(tasks)


def subjects(url: str) -> list[str]:
    """The registry's subjects, as its API lists them."""
    response = httpx.get(f"{url}/subjects", timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json())
