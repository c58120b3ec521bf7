"""Data: the demo release generator, acquisition, ingestion into the shared image cache."""
