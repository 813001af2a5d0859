"""From a trained RGB model to identities: embed RGB sequences, match probes against a gallery, export the
inference model. Sits beside :mod:`gaitedge.experiment` (it loads checkpoints the way ``gaitedge eval`` does)."""

from .embed import EmbedResult, ModelSpec, embed_batch, embed_sequences, load_rgb_model, rgb_sequence_loaders
from .embeddings import EmbeddingSet, read_embeddings, write_embeddings
from .match import MatchResult, match_embeddings

__all__ = ["ModelSpec", "EmbedResult", "load_rgb_model", "embed_batch", "embed_sequences", "rgb_sequence_loaders",
           "EmbeddingSet", "read_embeddings", "write_embeddings", "MatchResult", "match_embeddings"]
