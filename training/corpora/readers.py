"""Reading corpus files into pandas frames: generic table formats, named special readers, text decoders.

Generic files are read by :func:`read_table`. A corpus whose raw layout does not fit one row per
text (per-rater annotation tables, label files joined by id, Python-escaped text) names a small
reader or decoder here from its mapping file (``reader:`` / ``text_decoder:``).
"""

from __future__ import annotations

import codecs
import csv
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from civility.training.corpora.spec import CorpusSpec, FileSpec, MappingError
from civility.training.corpora.templates import read_contrast_templates

Reader = Callable[[Path, CorpusSpec], pd.DataFrame]
TextDecoder = Callable[[str], str]

_SEPARATORS = {"csv": ",", "tsv": "\t", "ssv": ";"}


def read_table(path: Path, spec: CorpusSpec, text_column: str | None = None) -> pd.DataFrame:
    """Read one CSV / TSV / semicolon-separated / JSON Lines / Parquet file or a saved ``datasets`` folder.

    Delimited files keep the text column as strings (so "123" stays text); other columns are parsed
    as numbers where they look like numbers.
    """
    if not path.exists():
        raise MappingError(f"{spec.name}: file not found: {path}")
    fmt = spec.format
    if fmt == "jsonl":
        return _read_jsonl(path, spec)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "hf_disk":
        return _read_saved_dataset(path, spec)
    names = spec.column_names
    return pd.read_csv(
        path,
        sep=_SEPARATORS[fmt],
        header=0 if spec.header else None,
        names=names,
        encoding=spec.encoding,
        keep_default_na=False,
        na_values=[""],
        quoting=csv.QUOTE_MINIMAL if spec.quoted else csv.QUOTE_NONE,
        dtype={text_column: str} if text_column else None,
        low_memory=False,
    )


def _read_jsonl(path: Path, spec: CorpusSpec) -> pd.DataFrame:
    """JSON Lines; nested objects become dotted columns (``{"labels": {"insult": 1}}``: ``labels.insult``)."""
    records = []
    with path.open(encoding=spec.encoding) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MappingError(f"{spec.name}: {path}:{number}: invalid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise MappingError(f"{spec.name}: {path}:{number}: expected a JSON object per line")
            records.append(record)
    return pd.json_normalize(records)


def _read_saved_dataset(path: Path, spec: CorpusSpec) -> pd.DataFrame:
    """A ``datasets`` directory (``save_to_disk``); a DatasetDict gets a ``split`` column per row."""
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise MappingError(f"{spec.name}: {path} is not a saved datasets directory ({exc})") from exc
    if isinstance(loaded, Dataset):
        return loaded.to_pandas()
    if not isinstance(loaded, DatasetDict):
        raise MappingError(f"{spec.name}: {path} holds a {type(loaded).__name__}, not a Dataset(Dict)")
    return pd.concat([ds.to_pandas().assign(split=name) for name, ds in loaded.items()], ignore_index=True)


# --------------------------------------------------------------------------- text decoders


def decode_python_escapes(text: str) -> str:
    """Kaggle insults: text wrapped in double quotes and Python-escaped (``\\n``, ``\\xa0``, ``\\xc2\\xa0``).

    Undo the escapes; where the escapes spelled UTF-8 bytes (``\\xc2\\xa0``) re-decode them as UTF-8.
    """
    body = text.strip()
    if len(body) >= 2 and body[0] == '"' and body[-1] == '"':
        body = body[1:-1]
    try:
        with warnings.catch_warnings():  # stray backslashes ("\\p") are kept as they are
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    except UnicodeDecodeError:
        return body
    try:
        return decoded.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return decoded


def fix_mac_roman_mojibake(text: str) -> str:
    """Reddit exports where UTF-8 bytes were read as Mac Roman (``‚Äô`` for ``’``); unchanged otherwise."""
    if not any(ord(ch) > 127 for ch in text):
        return text
    try:
        return text.encode("mac_roman").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


TEXT_DECODERS: dict[str, TextDecoder] = {
    "python_escapes": decode_python_escapes,
    "mac_roman_mojibake": fix_mac_roman_mojibake,
}


# --------------------------------------------------------------------------- special readers


def read_toxic_spans_raw(directory: Path, spec: CorpusSpec) -> pd.DataFrame:
    """ACL-2022 TOXICSPANS raw files -> one row per post with per-rater fractions.

    Columns: ``comment_id``, ``text``, ``raters``, ``not_toxic`` (fraction of raters who ticked
    "not toxic"), one ``span_<type>`` column per span type (fraction of raters who marked at least
    one span of that type), and ``official_split`` (``test`` for posts in the SemEval-2021 test file,
    whose texts are a subset of the raw posts; ``auto`` otherwise).
    Options: ``max_raters`` drops quiz/probe posts with implausibly many annotations.
    """
    options = spec.reader_options
    comments = pd.read_csv(directory / "comments.csv", dtype={"comment_text": str})
    annotations = pd.read_csv(directory / "annotations.csv")
    spans = pd.read_csv(directory / "spans.csv", dtype={"type": str})
    annotations["not toxic"] = annotations["not toxic"].astype(str).str.lower().eq("true")
    per_post = annotations.groupby("comment_id").agg(
        raters=("annotation", "size"), not_toxic=("not toxic", "mean")
    )
    span_types: dict[str, str] = options.get("span_types", {})
    spans = spans.dropna(subset=["type"]).merge(annotations[["annotation", "comment_id"]], on="annotation")
    for source_type, column in span_types.items():
        marked = spans.loc[spans["type"].str.strip() == source_type, ["annotation", "comment_id"]]
        raters_marking = marked.drop_duplicates("annotation").groupby("comment_id").size()
        per_post[column] = (raters_marking.reindex(per_post.index).fillna(0) / per_post["raters"]).clip(0, 1)
    frame = comments.rename(columns={"comment_text": "text"}).merge(
        per_post, left_on="comment_id", right_index=True
    )
    max_raters = options.get("max_raters")
    if max_raters is not None:
        frame = frame[frame["raters"] <= int(max_raters)]
    frame["official_split"] = "auto"
    test_file = options.get("official_test_file")
    if test_file:
        test_texts = set(pd.read_csv(directory.parent / test_file, dtype={"text": str})["text"].str.strip())
        frame.loc[frame["text"].str.strip().isin(test_texts), "official_split"] = "test"
    return frame.reset_index(drop=True)


_CONVABUSE_FIELDS = (
    "is_abuse.1",
    "is_abuse.0",
    "is_abuse.-1",
    "is_abuse.-2",
    "is_abuse.-3",
    "ableist",
    "homophobic",
    "intellectual",
    "racist",
    "sexist",
    "sex_harassment",
    "transphobic",
    "target.generalised",
    "target.individual",
    "target.system",
    "explicit",
    "implicit",
)


def read_convabuse_split(path: Path, spec: CorpusSpec) -> pd.DataFrame:
    """ConvAbuse split files (one row per example, 17 columns per annotator) -> per-example fractions.

    Annotator blocks are read by position because some headers in the source are misnumbered.
    Only annotators who gave an ``is_abuse`` judgement count. Output columns: ``example_id``,
    ``conv_id``, ``user``, ``raters``, ``abusive`` (severity -1..-3), ``severe`` (-3),
    ``intellectual``, ``identity`` (ableist/homophobic/racist/sexist/transphobic),
    ``sex_harassment``, ``targeted`` (target individual or system, or sexual harassment).
    """
    raw = pd.read_csv(path, header=None, skiprows=1, dtype=str, keep_default_na=False)
    header = pd.read_csv(path, nrows=0).columns.tolist()
    first = header.index("Annotator1_is_abuse.1")
    width = len(_CONVABUSE_FIELDS)
    blocks = (raw.shape[1] - first) // width
    base = raw.iloc[:, :first].copy()
    base.columns = header[:first]

    def block(i: int) -> pd.DataFrame:
        part = raw.iloc[:, first + i * width : first + (i + 1) * width].copy()
        part.columns = list(_CONVABUSE_FIELDS)
        return part.apply(pd.to_numeric, errors="coerce").fillna(0.0)

    parts = [block(i) for i in range(blocks)]
    rated = [p[[c for c in _CONVABUSE_FIELDS if c.startswith("is_abuse")]].sum(axis=1) > 0 for p in parts]
    raters = sum(r.astype(float) for r in rated)

    def fraction(values: Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
        total = sum(values(p).clip(0, 1).where(r, 0.0) for p, r in zip(parts, rated, strict=True))
        return total / raters.where(raters > 0)

    identity_cols = ["ableist", "homophobic", "racist", "sexist", "transphobic"]
    out = base[["example_id", "conv_id", "user"]].copy()
    out["raters"] = raters
    out["abusive"] = fraction(lambda p: p[["is_abuse.-1", "is_abuse.-2", "is_abuse.-3"]].max(axis=1))
    out["severe"] = fraction(lambda p: p["is_abuse.-3"])
    out["intellectual"] = fraction(lambda p: p["intellectual"])
    out["identity"] = fraction(lambda p: p[identity_cols].max(axis=1))
    out["sex_harassment"] = fraction(lambda p: p["sex_harassment"])
    out["targeted"] = fraction(
        lambda p: p[["target.individual", "target.system", "sex_harassment"]].max(axis=1)
    )
    return out[out["raters"] > 0].reset_index(drop=True)


def read_olid_test(directory: Path, spec: CorpusSpec) -> pd.DataFrame:
    """OLID test set: ``testset-levela.tsv`` joined with the three gold label files by id.

    Output columns match the training file: ``id``, ``tweet``, ``subtask_a``, ``subtask_b``, ``subtask_c``.
    """
    tweets = pd.read_csv(
        directory / "testset-levela.tsv", sep="\t", dtype={"tweet": str}, quoting=csv.QUOTE_NONE
    )
    for level in ("a", "b", "c"):
        labels = pd.read_csv(directory / f"labels-level{level}.csv", dtype={"label": str})
        labels = labels.rename(columns={"label": f"subtask_{level}"})
        tweets = tweets.merge(labels, on="id", how="left")
    return tweets


SPECIAL_READERS: dict[str, Reader] = {
    "toxic_spans_raw": read_toxic_spans_raw,
    "convabuse_split": read_convabuse_split,
    "olid_test": read_olid_test,
    "contrast_templates": read_contrast_templates,
}


def read_file(path: Path, spec: CorpusSpec, file: FileSpec) -> pd.DataFrame:
    """Read one declared file with its named special reader, or as a plain table."""
    reader = file.reader or spec.reader
    if reader is None:
        return read_table(path, spec, file.text or spec.text)
    try:
        function = SPECIAL_READERS[reader]
    except KeyError as exc:
        raise MappingError(
            f"{spec.name}: unknown reader {reader!r}; known: {sorted(SPECIAL_READERS)}"
        ) from exc
    if not path.exists():
        raise MappingError(f"{spec.name}: path not found: {path}")
    return function(path, spec)


def text_decoder(name: str | None) -> TextDecoder | None:
    if name is None:
        return None
    try:
        return TEXT_DECODERS[name]
    except KeyError as exc:
        raise MappingError(f"unknown text decoder {name!r}; known: {sorted(TEXT_DECODERS)}") from exc
