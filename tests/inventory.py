"""The test inventory: every test module with its purpose and every test with what it checks,
read from the code (a module's docstring; a test's docstring, else its name in words).

    python tests/inventory.py           # print it
    python tests/inventory.py --write   # put it into tests/README.md (make inventory)

tests/test_inventory.py fails when tests/README.md misses a test, so the table cannot go stale.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BEGIN, END = "<!-- inventory -->", "<!-- /inventory -->"


def modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def tests_of(path: Path) -> Iterator[tuple[str, str, list[str]]]:
    """(name, what it checks, markers) of each test function in ``path``, in order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                node.name.startswith("test_"):
            yield node.name, _what(node), _markers(node)


def _what(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    doc = ast.get_docstring(node)
    words = node.name.removeprefix("test_").replace("_", " ")
    if doc:
        first = " ".join(doc.split("\n\n")[0].split())
        return f"{words}: {first}"
    return words


def _markers(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    found = []
    for decorator in node.decorator_list:
        text = ast.unparse(decorator)
        if text.startswith("pytest.mark."):
            name = text.removeprefix("pytest.mark.").split("(")[0]
            if name in ("slow", "xfail", "skipif", "parametrize"):
                found.append(name)
    return found


def table() -> str:
    lines = []
    for path in modules():
        rel = path.relative_to(TESTS.parent).as_posix()
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines += [f"### `{rel}`", "", " ".join(doc.split("\n\n")[0].split()), "",
                  "| test | checks |", "|---|---|"]
        for name, what, markers in tests_of(path):
            tags = "".join(f" `{m}`" for m in markers if m != "parametrize")
            many = " (×N)" if "parametrize" in markers else ""
            lines.append(f"| `{name}`{many}{tags} | {what.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def write(readme: Path = TESTS / "README.md") -> None:
    """Replace what stands between the markers of ``readme`` with the table."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        print(table())
