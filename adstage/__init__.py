"""adstage: nightly staging of catalog product photos into ad images.

The package holds the stage logic; `jobs/` are thin spark-submit entry points, `dags/` wire them,
`schemas/` is the single source of table contracts and `models/` holds shipped model files.
"""
__version__ = "0.1.0"
