"""Method families, one per file; installed as ``zslbench.methods``. Each module registers its classes
with :func:`zslbench.registry.register_method`; :data:`zslbench.registry.METHODS` imports them lazily."""
