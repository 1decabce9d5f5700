"""Write README.md from nbs/index.ipynb, the project's front page.

nbdev's own `nbdev-readme` renders through Quarto, which this project does not install; the README only
needs the index notebook's prose and code, so this script writes it directly: markdown cells as they are,
code cells as Python blocks, short text outputs as plain blocks, `#| hide` cells and nbdev directives left out.
"""
import argparse, json
from pathlib import Path

HEADER = "<!-- WARNING: generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook, not this file -->\n\n"

def cell_source(cell: dict) -> str:
    "The cell's text as one string."
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src

def is_hidden(code: str) -> bool:
    "Whether a code cell carries an nbdev directive that keeps it out of the docs."
    lines = [l.strip().replace(" ", "") for l in code.splitlines() if l.strip().startswith("#|")]
    return any(l in ("#|hide", "#|exporti", "#|include:false", "#|echo:false") for l in lines)

def strip_directives(code: str) -> str:
    "Drop `#| ...` directive lines."
    return "\n".join(l for l in code.splitlines() if not l.strip().startswith("#|")).strip("\n")

def text_outputs(cell: dict, max_lines: int = 20) -> str:
    "Short text outputs of a code cell (streams and text/plain results)."
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream": out.append("".join(o.get("text", "")))
        elif "text/plain" in o.get("data", {}): out.append("".join(o["data"]["text/plain"]))
    text = "".join(out).strip("\n").splitlines()
    return "\n".join(text[:max_lines])

def notebook_to_markdown(nb: dict) -> str:
    "Markdown for a whole notebook."
    parts = []
    for cell in nb["cells"]:
        src = cell_source(cell)
        if cell["cell_type"] == "markdown": parts.append(src.strip())
        elif cell["cell_type"] == "code" and not is_hidden(src):
            code = strip_directives(src)
            if code: parts.append(f"```python\n{code}\n```")
            out = text_outputs(cell)
            if out: parts.append(f"```\n{out}\n```")
    return HEADER + "\n\n".join(p for p in parts if p) + "\n"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb", default="nbs/index.ipynb")
    ap.add_argument("--out", default="README.md")
    args = ap.parse_args()
    text = notebook_to_markdown(json.loads(Path(args.nb).read_text(encoding="utf-8")))
    if not Path(args.out).exists() or Path(args.out).read_text(encoding="utf-8") != text:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")

if __name__ == "__main__": main()
