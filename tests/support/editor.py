"""An $EDITOR for tests of the commands that open one: a script that
writes what the test says, as an editor would save it."""

from __future__ import annotations

import json
import sys
from pathlib import Path


class Editor:
    """An $EDITOR: a script that, on its n-th run, keeps the file it was
    given (``seen(n)``) and writes ``texts[n]`` over it (the last one again
    on later runs); None quits without saving."""

    def __init__(self, folder: Path, *texts: str | None) -> None:
        self.folder = folder
        folder.mkdir()
        (folder / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
        self.command = folder / "editor"
        self.command.write_text(
            f"#!{sys.executable}\n"
            "import json, pathlib, sys\n"
            f"here = pathlib.Path({str(folder)!r})\n"
            "runs = len(list(here.glob('seen-*.md')))\n"
            "target = pathlib.Path(sys.argv[1])\n"
            "(here / f'seen-{runs}.md').write_text(target.read_text('utf-8'), 'utf-8')\n"
            "texts = json.loads((here / 'texts.json').read_text('utf-8'))\n"
            "text = texts[min(runs, len(texts) - 1)]\n"
            "if text is not None:\n"
            "    target.write_text(text, 'utf-8')\n",
            encoding="utf-8",
        )
        self.command.chmod(0o755)

    def seen(self, run: int = 0) -> str:
        return (self.folder / f"seen-{run}.md").read_text(encoding="utf-8")

    @property
    def runs(self) -> int:
        return len(list(self.folder.glob("seen-*.md")))
