"""Kafka record -> envelope; DLQ header conventions."""
