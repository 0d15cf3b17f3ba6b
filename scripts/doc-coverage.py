#!/usr/bin/env python3
"""Lists the public symbols of the package's modules that have no doc comment of their own.

Usage: scripts/doc-coverage.py SYMBOL_GRAPH_DIR MODULE...

Reads the symbol graphs (`swift package dump-symbol-graph`) of the named modules and prints every
public or open symbol declared in this package without a `///` comment, as `file:line: name`.
A symbol that implements a protocol requirement and inherits the protocol's documentation counts as
documented (DocC shows the inherited text). Exits 1 when any symbol is missing documentation.
"""
import json
import os
import sys
from urllib.parse import unquote, urlparse


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    directory, modules = sys.argv[1], set(sys.argv[2:])
    root = os.path.realpath(os.getcwd())
    missing = {}
    total = 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".symbols.json"):
            continue
        module = name[: -len(".symbols.json")].split("@")[0]
        if module not in modules:
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as file:
            graph = json.load(file)
        for symbol in graph.get("symbols", []):
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            location = symbol.get("location")
            if not location:
                continue  # synthesized or implicit: nothing to document in source
            path = os.path.realpath(unquote(urlparse(location["uri"]).path))
            if not path.startswith(root + os.sep) or "/.build/" in path:
                continue
            total += 1
            if symbol.get("docComment", {}).get("lines"):
                continue
            line = location.get("position", {}).get("line", 0) + 1
            title = ".".join(symbol.get("pathComponents", [])) or symbol["names"]["title"]
            missing[(os.path.relpath(path, root), line, title)] = True
    for path, line, title in sorted(missing):
        print(f"{path}:{line}: {title} has no doc comment")
    print(f"{total - len(missing)} of {total} public symbols documented", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
