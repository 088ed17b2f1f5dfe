"""The demo's saga definitions and its packaged config file (a copy of config/demo.toml)."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from edamon.config import SagaDefinition, SagaStep

PACKAGED_CONFIG = "demo.toml"


def packaged_config() -> Traversable:
    """The demo config shipped inside the package (identical to config/demo.toml)."""
    return resources.files("edamon.demo").joinpath(PACKAGED_CONFIG)


def demo_sagas(prefix: str = "demo.") -> list[SagaDefinition]:
    """The two sagas the demo runs, as in config/demo.toml.

    Sagas match the envelope's eventType, which the demo never prefixes, so the definitions are
    the same for every topic `prefix` (accepted so callers need not know that).
    """
    del prefix  # event types are not prefixed; see the docstring
    return [
        SagaDefinition(
            name="order-fulfilment",
            start=["OrderPlaced"],
            timeout_s=30.0,
            steps=[
                SagaStep(
                    name="reserve-stock",
                    success=["StockReserved"],
                    failure=["StockReservationFailed"],
                    compensation=["StockReleased"],
                ),
                SagaStep(
                    name="process-payment", success=["PaymentProcessed"], failure=["PaymentFailed"]
                ),
                SagaStep(name="schedule-shipment", success=["ShipmentScheduled"]),
            ],
        ),
        SagaDefinition(
            name="checkout",
            start=["CheckoutStarted"],
            timeout_s=30.0,
            steps=[
                SagaStep(
                    name="reserve-stock",
                    command=["ReserveStock"],
                    success=["StockReserved"],
                    failure=["StockReservationFailed"],
                    compensation=["StockReleased"],
                ),
                SagaStep(
                    name="charge-payment",
                    command=["ChargePayment"],
                    success=["PaymentCharged"],
                    failure=["PaymentDeclined"],
                    compensation=["PaymentRefunded"],
                ),
                SagaStep(
                    name="schedule-shipment",
                    command=["ScheduleShipment"],
                    success=["ShipmentScheduled"],
                    failure=["ShipmentFailed"],
                ),
            ],
        ),
    ]
