#!/usr/bin/env bash
# Build the baseline classifiers' own environment, .venv-baselines, beside the product venv.
# Idempotent: a stamp records what was installed; re-running with nothing changed does nothing.
#
#   bash benchmarks/baselines/setup.sh            # then: civility evaluate ... --baselines
#
# - alt-profanity-check, hatesonar (and their old scikit-learn/joblib pins) from requirements.txt;
# - offensivetext with --no-deps (it depends on the PyPI name "sklearn", which refuses to build) plus nltk;
# - an en_US.UTF-8 locale for hatesonar's ONNX graph (LOCPATH=.venv-baselines/locale);
# - WordNet for offensivetext's lemmatiser, from Debian's wordnet-base + wordnet-sense-index
#   (NLTK would download it at import, which fails offline), as NLTK_DATA=.venv-baselines/nltk_data.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CIVILITY_BASELINES_VENV:-$root/.venv-baselines}"
python="${PYTHON:-python3.11}"
offensivetext="offensivetext==1.3.9"
stamp="$venv/.civility-baselines-stamp"
want="$(cat "$here/requirements.txt" "$here/setup.sh" | sha256sum | cut -c1-16)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "baselines venv is up to date: $venv"
  exit 0
fi

echo "== venv $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$offensivetext"

echo "== en_US.UTF-8 locale for hatesonar"
mkdir -p "$venv/locale"
[ -d "$venv/locale/en_US.UTF-8" ] || localedef -i en_US -f UTF-8 "$venv/locale/en_US.UTF-8"

echo "== WordNet for offensivetext"
wordnet=/usr/share/wordnet
if [ ! -f "$wordnet/index.sense" ] || [ ! -f "$wordnet/data.noun" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null 2>&1 || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null; }
  else
    echo "WordNet missing: install Debian's wordnet-base and wordnet-sense-index (as root), then re-run." >&2
    echo "offensivetext will be reported as not runnable until then." >&2
  fi
fi
if [ -f "$wordnet/index.sense" ]; then
  target="$venv/nltk_data/corpora/wordnet"
  rm -rf "$target" && mkdir -p "$target"
  # copies, not links: NLTK refuses paths that leave its data root
  find "$wordnet" -maxdepth 1 -type f -exec cp {} "$target"/ \;
  # NLTK's reader also wants lexnames (number, lexicographer file, syntactic category), which
  # Debian ships only as the table in the lexnames(5WN) manual page; the list is fixed in WordNet 3.0.
  i=0
  for name in adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute \
      noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group \
      noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession \
      noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time \
      verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption \
      verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession \
      verb.social verb.stative verb.weather adj.ppl; do
    case "$name" in noun.*) cat=1 ;; verb.*) cat=2 ;; adj.*) cat=3 ;; *) cat=4 ;; esac
    printf '%02d\t%s\t%d\n' "$i" "$name" "$cat"
    i=$((i + 1))
  done > "$target/lexnames"
  [ "$(wc -l < "$target/lexnames")" = 45 ] || { echo "could not build WordNet lexnames" >&2; exit 1; }
fi

echo "$want" > "$stamp"
echo "baselines venv ready: $venv"
