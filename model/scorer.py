"""Score comments with an exported bundle: onnxruntime + tokenizers + numpy, no torch.

    scorer = Scorer.load()                       # default bundle, int8, 1 thread
    scorer.score(["you are an idiot"])[0].scores["insult"]

Pipeline per text: cap at ``max_chars`` characters (``truncated=True`` beyond), normalise
(``civility.model.normalize``), tokenise. A text longer than the bundle's ``max_length`` tokens
is cut into overlapping windows (``windows.overlap_tokens`` shared) and each label takes its
maximum over the windows, so abuse late in a long comment still counts. Windows of all texts
are sorted by length and run in batches padded only to the longest window in the batch.
If the bundle was trained with context (``manifest.metrics["uses_context"]``), the optional
context (parent comment or article title, cut to ``windows.context_max_tokens`` tokens) is the
tokenizer's second segment; otherwise it is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from pydantic import BaseModel
from tokenizers import Encoding, Tokenizer

from civility.model.bundle import BundleError, Manifest
from civility.model.calibration import Calibrator
from civility.model.language import detect_language
from civility.model.normalize import Normalized, Vocabulary, normalize
from civility.model.registry import LoadedBundle, Precision, Registry
from civility.model.scoring_config import ScoringConfig, load_scoring_config

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class ScoringError(ValueError):
    """Bad input to the scorer (unknown label, mismatched contexts, wrong type)."""


class Span(BaseModel):
    """A stretch of the original text that drives a label (character offsets, end exclusive)."""

    begin: int
    end: int
    score: float
    text: str


class ScoreResult(BaseModel):
    scores: dict[str, float]
    flagged: dict[str, bool]
    spans: dict[str, list[Span]] | None = None
    language: str | None = None
    english: bool = True
    truncated: bool = False


def uses_context(manifest: Manifest) -> bool:
    return bool(manifest.metrics.get("uses_context", False))


class Scorer:
    """A loaded bundle ready to score. Thread-safe for concurrent ``score`` calls."""

    def __init__(
        self,
        bundle: LoadedBundle,
        *,
        threads: int | None = None,
        config: ScoringConfig | None = None,
    ) -> None:
        self.config = config or load_scoring_config()
        self.bundle = bundle
        self.manifest: Manifest = bundle.info.manifest
        self.labels: list[str] = list(self.manifest.labels)
        self.ref: str = self.manifest.ref
        self.precision: Precision = bundle.precision
        self.thresholds = np.array([self.manifest.thresholds.get(lb, 0.5) for lb in self.labels])
        self.calibrator = Calibrator(self.labels, self.manifest.calibration)
        self.uses_context = uses_context(self.manifest)
        self.max_length = self.manifest.max_length
        tokenizer_path = bundle.info.path / self.manifest.tokenizer_dir / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise BundleError(f"{self.ref}: {tokenizer_path} is missing")
        # Separate tokenizers per configuration: enable_truncation mutates a tokenizer, and a
        # scorer is shared between threads.
        self.tokenizer = _tokenizer(tokenizer_path)
        stride = min(self.config.windows.overlap_tokens, self.max_length // 2)
        self._single = _tokenizer(tokenizer_path)
        self._single.enable_truncation(self.max_length, stride=stride)
        self._pair = _tokenizer(tokenizer_path)
        self._pair.enable_truncation(self.max_length, stride=stride, strategy="only_first")
        self.vocabulary = Vocabulary.from_wordpiece(self.tokenizer.get_vocab())
        self._pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.session = _session(bundle.onnx_path, threads or self.config.serve_threads)
        self._check_graph()

    @classmethod
    def load(
        cls,
        ref: str | Path | None = None,
        precision: Precision = "int8",
        threads: int | None = None,
        *,
        registry: Registry | None = None,
        config: ScoringConfig | None = None,
    ) -> Scorer:
        """Load a bundle by reference (``None`` = the default bundle); see ``Registry``."""
        bundle = (registry or Registry()).load(ref, precision)
        return cls(bundle, threads=threads, config=config)

    def _check_graph(self) -> None:
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if not set(ONNX_INPUTS) >= inputs or "logits" not in outputs:
            raise BundleError(
                f"{self.ref}: ONNX graph has inputs {sorted(inputs)} and outputs {outputs}; "
                f"expected inputs within {list(ONNX_INPUTS)} and an output 'logits'"
            )
        self._inputs = [name for name in ONNX_INPUTS if name in inputs]

    # -- preparing text -------------------------------------------------------------------

    def prepare(self, text: str) -> tuple[Normalized, bool]:
        """Cap and normalise one text; returns (normalised, truncated)."""
        if not isinstance(text, str):
            raise ScoringError(f"text must be a string, not {type(text).__name__}")
        truncated = len(text) > self.config.max_chars
        if truncated:
            text = text[: self.config.max_chars]
        return normalize(text, self.vocabulary), truncated

    def _context(self, context: str | None) -> str | None:
        if not self.uses_context or not context:
            return None
        context = normalize(context[: self.config.max_chars], self.vocabulary).text
        encoding = self.tokenizer.encode(context, add_special_tokens=False)
        limit = self.config.windows.context_max_tokens
        if len(encoding.offsets) > limit:
            context = context[: encoding.offsets[limit - 1][1]]
        return context

    # -- running the model ----------------------------------------------------------------

    def run(self, windows: Sequence[Encoding]) -> NDArray[np.float32]:
        """Logits for every window, batched by length and padded per batch."""
        out = np.empty((len(windows), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        size = self.config.int8_batch_size if self.precision == "int8" else self.config.batch_size
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            width = max(len(windows[i].ids) for i in batch)
            feeds = {name: np.zeros((len(batch), width), dtype=np.int64) for name in ONNX_INPUTS}
            feeds["input_ids"].fill(self._pad_id)
            for row, i in enumerate(batch):
                enc = windows[i]
                n = len(enc.ids)
                feeds["input_ids"][row, :n] = enc.ids
                feeds["attention_mask"][row, :n] = enc.attention_mask
                feeds["token_type_ids"][row, :n] = enc.type_ids
            (logits,) = self.session.run(["logits"], {k: feeds[k] for k in self._inputs})
            out[batch] = logits
        return out

    def encode(
        self, texts: Sequence[str], contexts: Sequence[str | None]
    ) -> tuple[list[Encoding], list[int]]:
        """Token windows of every text (several for a text over ``max_length``) and their owners."""
        windows: list[Encoding] = []
        owners: list[int] = []
        plain = [i for i, c in enumerate(contexts) if c is None]
        paired = [i for i, c in enumerate(contexts) if c is not None]
        encodings: dict[int, Encoding] = {}
        if plain:
            encodings.update(zip(plain, self._single.encode_batch([texts[i] for i in plain]), strict=True))
        if paired:
            pairs = [(texts[i], contexts[i]) for i in paired]
            encodings.update(zip(paired, self._pair.encode_batch(pairs), strict=True))
        for i in range(len(texts)):
            encoding = encodings[i]
            for window in (encoding, *encoding.overflowing):
                windows.append(window)
                owners.append(i)
        return windows, owners

    def max_logits(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> NDArray[np.float32]:
        """Per text and label, the largest logit over the text's windows (texts already normalised)."""
        best = np.full((len(texts), len(self.labels)), -np.inf, dtype=np.float32)
        if texts:
            windows, owners = self.encode(texts, contexts or [None] * len(texts))
            np.maximum.at(best, np.asarray(owners), self.run(windows))
        return best

    def predict_normalized(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]:
        """Calibrated probabilities ``(n, n_labels)`` for texts that are already normalised.

        Calibration is monotone, so the maximum logit over windows gives the maximum score.
        """
        return self.calibrator(self.max_logits(texts, contexts))

    def predict_proba(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> NDArray[np.float64]:
        """Calibrated probabilities ``(n, n_labels)``, columns in ``self.labels`` order."""
        texts = _as_list(texts)
        prepared = [self.prepare(t)[0].text for t in texts]
        return self.predict_normalized(prepared, self._contexts(contexts, len(texts)))

    def _contexts(self, contexts: Sequence[str | None] | None, n: int) -> list[str | None]:
        if contexts is None:
            return [None] * n
        if isinstance(contexts, str) or len(contexts) != n:
            raise ScoringError(f"contexts must be a list with one entry (or None) per text ({n})")
        return [self._context(c) for c in contexts]

    def score(
        self,
        texts: Sequence[str],
        *,
        spans: bool = False,
        labels: Sequence[str] | None = None,
        contexts: Sequence[str | None] | None = None,
    ) -> list[ScoreResult]:
        """Scores, decisions, language and (optionally) spans for each text, in input order."""
        from civility.model.spans import occlusion_spans

        texts = _as_list(texts)
        wanted = self._label_indices(labels)
        prepared = [self.prepare(t) for t in texts]
        ctx = self._contexts(contexts, len(texts))
        probs = self.predict_normalized([n.text for n, _ in prepared], ctx)
        results: list[ScoreResult] = []
        for i, (normalized, truncated) in enumerate(prepared):
            row = probs[i]
            language = detect_language(normalized.text)
            result = ScoreResult(
                scores={self.labels[j]: float(row[j]) for j in wanted},
                flagged={self.labels[j]: bool(row[j] >= self.thresholds[j]) for j in wanted},
                language=language.code,
                english=language.english,
                truncated=truncated,
            )
            if spans:
                result.spans = occlusion_spans(self, normalized, row, wanted, ctx[i])
            results.append(result)
        return results

    def _label_indices(self, labels: Sequence[str] | None) -> list[int]:
        if labels is None:
            return list(range(len(self.labels)))
        if isinstance(labels, str):
            labels = [labels]
        unknown = [lb for lb in labels if lb not in self.labels]
        if unknown:
            raise ScoringError(f"unknown label(s) {unknown}; this model has {self.labels}")
        return [self.labels.index(lb) for lb in dict.fromkeys(labels)]


def _as_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ScoringError("texts must be a list of strings, not a single string")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ScoringError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    return texts


def _tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise BundleError(f"cannot load ONNX model {path}: {exc}") from exc
