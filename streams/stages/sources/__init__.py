"""Decoders, one module per source format, each turning one Kafka message into normalized usage."""
