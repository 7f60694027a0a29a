"""zslbench: a benchmark suite for zero-shot image classification.

The harness (this package) knows datasets, the evaluation protocol and the records; it never knows a
method's insides. Methods live in ``zslbench.methods`` (the top-level ``methods/`` folder), one family
per file, and register themselves in :data:`zslbench.registry.METHODS`.
"""

__version__ = "0.1.0"
