"""ITM operators behind one contract (``base``): the classical table (``classical``) and the learned models
(``learned``), by name through the registry (``--model``, ``--list-models``)."""
from livehdr.operators.base import Operator, OperatorConfig, adjust_saturation
from livehdr.operators.registry import (OperatorEntry, create_operator, default_operator_name, list_operators,
                                        register_operator)

__all__ = ["Operator", "OperatorConfig", "OperatorEntry", "adjust_saturation", "create_operator",
           "default_operator_name", "list_operators", "register_operator"]
