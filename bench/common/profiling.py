"""pyinstrument for our side of a benchmark: around a block of this process, or around a whole
server process (see `server.serve`). Each profile is written as text: first the functions that
took the most time themselves, then the call tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session

# Library frames are folded away by default, but strawberry's and graphql-core's are where the
# API's own time goes (parsing, validation, execution, subscriptions), so they stay visible.
SHOW_REGEX = r".*/(strawberry|graphql)/(schema|validation|execution|language|http|subscriptions)/.*"
TOP_FUNCTIONS = 25


def server_arguments(session_file: Path) -> list[str]:
    """How to run a server under pyinstrument's command line, saving its session to a file."""
    return ["-m", "pyinstrument", "--renderer", "pyisession", "--outfile", str(session_file)]


def write_session(session_file: Path, path: Path) -> None:
    """Render a saved session as text into `path`, then drop the (large) session file."""
    write(Session.load(session_file), path)
    session_file.unlink()


def write(session: Session, path: Path) -> None:
    options = {"show_regex": SHOW_REGEX}
    flat = _frames(ConsoleRenderer(flat=True, processor_options=options).render(session))
    tree = _frames(ConsoleRenderer(processor_options=options).render(session))
    header = ConsoleRenderer().render(session).splitlines()[:6]  # when, how long, what ran
    path.write_text("\n".join([*header, "", f"Own time, top {TOP_FUNCTIONS} functions:", *flat[:TOP_FUNCTIONS], "",
                               "Call tree:", *tree, ""]))


def _frames(rendered: str) -> list[str]:
    """The lines of a rendering from its first timed frame on, without pyinstrument's banner."""
    lines = [line for line in rendered.splitlines() if line.strip()]
    first = next(index for index, line in enumerate(lines) if line[:1].isdigit())
    return lines[first:]


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    """Profile the block into `path`; without a path, just run it."""
    if path is None:
        yield
        return
    # "enabled": time a coroutine spends awaiting counts as its own, so waiting on Elasticsearch
    # or SQLite shows up where it is awaited rather than as idle event-loop time.
    profiler = Profiler(async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        session = profiler.stop()
        write(session, path)
