"""What a weights file may ask mqnet-int8 to build: MQNet's own bounds plus the int8 keys."""
from livehdr.models import mqnet_bounds  # noqa: F401 - MQNet's bounds, declared on import
from livehdr.models.mqnet_int8 import FLOAT_CHOICES
from livehdr.models.registry import OneOf, Range, config_bounds, declare_config_bounds


class SubsetOf:
    """A list of distinct names, each one of ``choices``."""

    def __init__(self, *choices):
        self.choices = choices

    def problem(self, value) -> str | None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"must be a list of module names, got {value!r}"
        bad = [v for v in value if v not in self.choices]
        if bad or len(set(value)) != len(value):
            return f"names {bad[0] if bad else 'a module twice'!r}; allowed: {', '.join(self.choices)}"
        return None


declare_config_bounds(
    "mqnet-int8",
    **{k: v for k, v in (config_bounds("mqnet") or {}).items() if k not in ("output", "head_norm")},
    output=OneOf("luma_chroma"),  # the int8 variant exists only for the current head
    head_norm=OneOf("none"),
    observers=Range(1, 2000, integer=True),  # one activation range per observer of the prepared graph (~120)
    float_modules=SubsetOf(*FLOAT_CHOICES),
    reduce_range=OneOf(True, False),  # activations 0..127 (any x86) or 0..255 (exact with VNNI)
)
