"""The full-size rehearsal (``--config preset=scale``): a synthetic FairFace release at the real
size (:mod:`~clipfair.rehearsal.release`), served by a Google-Drive-like server on 127.0.0.1
(:mod:`~clipfair.rehearsal.drive_server`) and fetched through the real downloader. Tests use
the server too; no real data source does."""
