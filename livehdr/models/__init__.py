"""Learned ITM architectures, one file each (``mqnet.py``, ...), and their weights files.

``create_model(name, **cfg)`` builds an architecture registered with ``@register_model``; ``weights`` reads
and writes safetensors (with the architecture and config in the metadata) and the JSON model cards.
The operator that runs a model under the colour contract lives in ``livehdr.operators.learned``.
"""
from livehdr.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
