"""InstructEd: soft-instruction prefixes in a band of attention layers, with relevance re-weighting."""

from editor.instructed.config import InstructEdConfig
from editor.instructed.editor import SHIPPED_PREFIXES, InstructEdEditor
from editor.instructed.layer import register_instructed_attention
from editor.instructed.model import InstructEdModel

__all__ = [
    "SHIPPED_PREFIXES",
    "InstructEdConfig",
    "InstructEdEditor",
    "InstructEdModel",
    "register_instructed_attention",
]
