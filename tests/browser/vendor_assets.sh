#!/usr/bin/env bash
# Re-create book/_static/offline/: MathJax 3 and the Jupyter widgets embed script, served with the book so
# that its pages render with no network (the defaults load both from a CDN). Run by hand when updating a
# version, then commit the result: the build never downloads anything. Needs npm (packs from the npm registry).
#   bash tests/browser/vendor_assets.sh
set -euo pipefail
MATHJAX=3.2.2              # MathJax 3: the version Sphinx 7's mathjax3_config and myst's settings target
HTML_MANAGER=1.0.15        # @jupyter-widgets/html-manager 1.x renders ipywidgets 8 (and 7) state
FONTAWESOME=5.15.4         # the Font Awesome Free whose CSS the html-manager bundle embeds

root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/book/_static/offline"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" \
  "@fortawesome/fontawesome-free@$FONTAWESOME" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done

rm -rf "$dest/mathjax" "$dest/jupyter-widgets"
# MathJax: the combined TeX+MathML -> CommonHTML component, the TeX extensions it autoloads on demand
# (\boldsymbol, \cancel, \color, ...), and the CommonHTML fonts (woff-v2 is the only format it asks for).
mj="mathjax-$MATHJAX/package"
mkdir -p "$dest/mathjax/input/tex" "$dest/mathjax/output/chtml/fonts"
cp "$mj/es5/tex-mml-chtml.js" "$mj/LICENSE" "$dest/mathjax/"
cp -r "$mj/es5/input/tex/extensions" "$dest/mathjax/input/tex/"
cp -r "$mj/es5/output/chtml/fonts/woff-v2" "$dest/mathjax/output/chtml/fonts/"

# Widgets: the standalone embed bundle (no RequireJS needed; it renders every saved widget of the page on
# load) with its third-party notices, and the Font Awesome fonts its CSS refers to (woff2 only: every
# browser that runs the bundle reads woff2 first).
hm="jupyter-widgets-html-manager-$HTML_MANAGER/package/dist"
fa="fortawesome-fontawesome-free-$FONTAWESOME/package"
mkdir -p "$dest/jupyter-widgets"
cp "$hm/embed.js" "$hm/embed.js.LICENSE.txt" "$dest/jupyter-widgets/"
cp "$hm"/*.woff2 "$dest/jupyter-widgets/"
cp "$fa/LICENSE.txt" "$dest/jupyter-widgets/LICENSE-fontawesome.txt"
# The npm package carries no licence file; its licence is ipywidgets' (BSD-3-Clause), shipped by ipywidgets.
"${PYTHON:-$root/.venv/bin/python}" - "$dest/jupyter-widgets/LICENSE" <<'PY'
import sys
from importlib.metadata import distribution

dist = distribution("ipywidgets")
text = next(f for f in dist.files if f.name == "LICENSE").read_text()
open(sys.argv[1], "w").write(text)
PY
echo "vendored into $dest:"
du -sh "$dest"/*
