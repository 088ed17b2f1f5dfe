"""TLS on the real broker: the harness's SSL and SASL_SSL listeners (certificates from a test CA,
scripts/kafka.py `tls_files()`), and certificates a client must refuse at once, with one line:
an unknown CA, an expired certificate, another host's certificate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_check import edamon
from test_collector import settings_for, until

from edamon.model.status import ConnectionState
from kafka_helpers import KafkaTls, MakeTopic, Produce, UniqueName, running_collector

pytestmark = pytest.mark.kafka


def ssl_env(bootstrap: str, cafile: str) -> dict[str, str]:
    return {
        "EDAMON_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "EDAMON_KAFKA__SECURITY_PROTOCOL": "SSL",
        "EDAMON_KAFKA__SSL_CAFILE": cafile,
    }


def sasl_ssl_env(tls: KafkaTls) -> dict[str, str]:
    return {
        "EDAMON_KAFKA__BOOTSTRAP_SERVERS": tls.sasl_ssl_bootstrap,
        "EDAMON_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "EDAMON_KAFKA__SSL_CAFILE": tls.cafile,
        "EDAMON_KAFKA__SASL_MECHANISM": tls.mechanism,
        "EDAMON_KAFKA__USERNAME": tls.username,
        "EDAMON_KAFKA__PASSWORD": tls.password,
    }


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
async def test_check_and_collector_connect_over_tls(
    protocol: str,
    kafka_tls: KafkaTls,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix = unique_name("tls")
    topic = await make_topic(f"{prefix}.orders")
    await produce(topic, [("k", b'{"eventId": "e-1", "eventType": "OrderPlaced"}')])
    if protocol == "SSL":
        env = ssl_env(kafka_tls.ssl_bootstrap, kafka_tls.cafile)
    else:
        env = sasl_ssl_env(kafka_tls)

    run = await edamon("check", cwd=tmp_path, env=env)
    assert run.code == 0, run.stderr
    assert f"kafka at {env['EDAMON_KAFKA__BOOTSTRAP_SERVERS']}: reachable" in run.stdout
    assert f"security            {protocol}" in run.stdout

    kafka = {k.removeprefix("EDAMON_KAFKA__").lower(): v for k, v in env.items()}
    settings = settings_for(kafka["bootstrap_servers"], prefix, kafka=kafka)
    async with running_collector(settings) as collector:
        await until(
            lambda: collector.snapshot().totals.events == 1, 30, f"the event, read over {protocol}"
        )
        assert collector.snapshot().connection.state == ConnectionState.CONNECTED


BAD_CERTIFICATES = {
    "unknown CA": ("ssl", "other", "is not signed by a CA in"),
    "expired": ("expired", "ca", "the broker's certificate has expired"),
    "hostname mismatch": ("localhost", "ca", "the broker's certificate is for another host name"),
}


def bad_settings(case: str, tls: KafkaTls) -> dict[str, str]:
    listener, ca, _ = BAD_CERTIFICATES[case]
    bootstrap = {
        "ssl": tls.ssl_bootstrap,
        "expired": tls.expired_bootstrap,
        "localhost": tls.ssl_bootstrap.replace("127.0.0.1", "localhost"),
    }[listener]
    return ssl_env(bootstrap, tls.other_cafile if ca == "other" else tls.cafile)


@pytest.mark.parametrize("case", list(BAD_CERTIFICATES))
async def test_refused_certificate_fails_at_once_with_one_line(
    case: str, kafka_tls: KafkaTls, unique_name: UniqueName, tmp_path: Path
) -> None:
    env = bad_settings(case, kafka_tls)
    expected = BAD_CERTIFICATES[case][2]

    run = await edamon("check", "--timeout", "20", cwd=tmp_path, env=env)
    assert run.code == 1, run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "TLS failed at" in lines[0] and expected in lines[0], lines[0]
    assert run.seconds < 10, f"took {run.seconds:.1f}s: a timeout, not a refusal"

    kafka = {k.removeprefix("EDAMON_KAFKA__").lower(): v for k, v in env.items()}
    settings = settings_for(kafka["bootstrap_servers"], unique_name("tls"), kafka=kafka)
    started = time.monotonic()
    async with running_collector(settings) as collector:
        await until(
            lambda: collector.snapshot().connection.state == ConnectionState.ERROR,
            10,
            "the collector to refuse the certificate",
        )
        connection = collector.snapshot().connection
    assert time.monotonic() - started < 5
    assert "TLS failed at" in connection.message and expected in connection.message
    assert "\n" not in connection.message
