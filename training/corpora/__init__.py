"""Public labelled corpora mapped onto Civility's labels: mapping files, readers, the mapping engine."""

from civility.training.corpora.loader import load_corpus
from civility.training.corpora.spec import CorpusSpec, LabelRule, MappingError, load_corpus_spec

__all__ = ["CorpusSpec", "LabelRule", "MappingError", "load_corpus", "load_corpus_spec"]
