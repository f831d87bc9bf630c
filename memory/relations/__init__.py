"""The relation scorer: does this relation, after this path so far, belong to the question's chain?

A small head over the frozen sentence embedder, trained on the training files only
(`python -m memory.relations.train`), shipped as safetensors with its config.
"""

from memory.relations.config import RelationScorerConfig
from memory.relations.model import RelationScorer, relation_phrase

__all__ = ["RelationScorer", "RelationScorerConfig", "relation_phrase"]
