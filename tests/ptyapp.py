"""The lab in a real pseudo-terminal, as a learner's terminal window (or SSH) runs it: a given
size and environment, keys written as a terminal sends them, and every byte the app writes kept
with the time it arrived. Used by tests/tui/test_terminals.py and benchmarks/terminal_io.py."""

from __future__ import annotations

import fcntl
import os
import random
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from rich.cells import get_character_cell_size

ROOT = Path(__file__).resolve().parents[1]
LAB = [sys.executable, "-m", "lab.cli"]

# What an xterm-like terminal (and tmux/screen) sends for each key.
KEYS = {
    "ctrl+q": b"\x11", "ctrl+r": b"\x12", "ctrl+t": b"\x14", "ctrl+x": b"\x18",
    "ctrl+y": b"\x19", "tab": b"\t", "enter": b"\r", "escape": b"\x1b", "f1": b"\x1bOP",
    "backspace": b"\x7f", "end": b"\x1b[F", "shift+tab": b"\x1b[Z",
}
ENTER_ALT_SCREEN, LEAVE_ALT_SCREEN = b"\x1b[?1049h", b"\x1b[?1049l"
# What Textual writes besides text: OSC strings, CSI sequences (cursor moves, colours, modes),
# other escapes, and line breaks.
CONTROL = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                     rb"|\x1b\[([?<>=]?)([\d;]*)[ -/]*([@-~])|\x1b.|[\r\n]", re.DOTALL)


def screen_text(output: bytes, size: tuple[int, int]) -> list[str]:
    """The text a terminal of ``size`` shows after ``output``, one string a row: enough of a
    terminal for what Textual writes (it places every run of text with a cursor move)."""
    columns, rows = size
    grid = [[" "] * columns for _ in range(rows)]
    row = col = pos = 0
    for match in CONTROL.finditer(output):
        for char in output[pos:match.start()].decode(errors="replace"):
            width = get_character_cell_size(char)
            if 0 <= row < rows and col + width <= columns:
                grid[row][col:col + width] = [char] + [""] * (width - 1)
            col += width
        pos = match.end()
        token, (private, args, final) = match.group(), match.groups()
        if token == b"\r":
            col = 0
        elif token == b"\n":
            row = min(row + 1, rows - 1)
        elif final == b"H" and not private:
            at = [int(n) if n else 1 for n in args.split(b";")] + [1, 1]
            row, col = at[0] - 1, at[1] - 1
        elif token == ENTER_ALT_SCREEN:
            grid = [[" "] * columns for _ in range(rows)]
    return ["".join(cells) for cells in grid]


def _take_terminal() -> None:
    """In the child, after setsid: the pty becomes its controlling terminal (as for a login
    shell), so SIGWINCH and SIGHUP reach it as they would in a real session."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyApp:
    """``python -m lab.cli ARGS`` on the slave side of a pty of ``size`` (columns, rows)."""

    def __init__(self, *args: str, env: dict[str, str], size: tuple[int, int] = (80, 24)) -> None:
        master, slave = os.openpty()
        columns, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.size = size
        self.proc = subprocess.Popen(
            [*LAB, *args], stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
            env={**env, "COLUMNS": str(columns), "LINES": str(rows)},
            start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.fd = master
        self.output = bytearray()
        self.arrivals: list[tuple[int, float]] = []  # (end offset in output, monotonic time)
        self.closed = False  # the app's side of the pty is gone

    def __enter__(self) -> PtyApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.fd)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def screen(self) -> list[str]:
        """What the terminal shows now (the rows of text)."""
        return screen_text(bytes(self.output), self.size)

    def _read_once(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for output and keep it; False once nothing more can come."""
        if self.closed:
            time.sleep(max(timeout, 0))
            return False
        if select.select([self.fd], [], [], max(timeout, 0))[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every process on the other side has closed it
                data = b""
            if not data:
                self.closed = True
                return False
            self.output += data
            self.arrivals.append((len(self.output), time.monotonic()))
        return True

    def read(self, seconds: float) -> int:
        """Keep reading for ``seconds`` (the app must never block on a full pty); the number of
        bytes it wrote meanwhile."""
        start, end = len(self.output), time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._read_once(left)
        return len(self.output) - start

    def wait_for(self, pattern: bytes | re.Pattern[bytes], timeout: float, start: int = 0,
                 what: str = "") -> float:
        """Read until ``pattern`` is in the output after offset ``start``; when the bytes that
        completed it arrived."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while (found := regex.search(self.output, start)) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_once(min(left, 0.5)) and self.closed:
                shown = self.text[-3000:]
                raise AssertionError(f"no {what or regex.pattern!r} after {timeout} s (exit "
                                     f"{self.proc.poll()}); the terminal's last output:\n{shown}")
        return next(at for end, at in self.arrivals if end >= found.end())

    def press(self, *keys: str) -> float:
        """Type keys as the terminal sends them; when the last was written."""
        for key in keys:
            os.write(self.fd, KEYS.get(key, key.encode()))
        return time.monotonic()

    def type(self, *keys: str, settle: float = 0.15) -> None:
        """Type as a person does, looking at the screen: each key once the app has drawn what
        the last one did and gone quiet. Textual routes a key typed while an earlier one is
        still on its way (a Tab moving focus, a field's own Backspace) by the focus of the
        moment, so keys typed faster than the app keeps up can land in the wrong field."""
        for key in keys:
            start = len(self.output)
            self.press(key)
            deadline = time.monotonic() + 5
            while len(self.output) == start and time.monotonic() < deadline:
                self._read_once(deadline - time.monotonic())
            self.settle(settle)

    def settle(self, quiet: float = 0.15, most: float = 2.0) -> None:
        """Read until the app has written nothing for ``quiet`` s (or ``most`` s have passed)."""
        end = time.monotonic() + most
        while (self._read_once(quiet) and time.monotonic() < end
               and self.arrivals and self.arrivals[-1][1] > time.monotonic() - quiet):
            pass

    def wait_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Keep reading until ``done()`` (checked every 0.1 s)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
            self.read(0.1)

    def has_loaded(self, library: str) -> bool:
        """Whether the app's process has mapped a shared library (``libtorch``: torch is in)."""
        try:
            return library in Path(f"/proc/{self.proc.pid}/maps").read_text()
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """CPU time the app's process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float, window: float = 0.5, busy: float = 0.05) -> None:
        """Read until the app's process uses under ``busy`` s of CPU in ``window`` s: what it
        does in the background after the first paint (importing torch) is done."""
        deadline = time.monotonic() + timeout
        while True:
            used = self.cpu_seconds()
            self.read(window)
            if self.cpu_seconds() - used < busy:
                return
            assert time.monotonic() < deadline, f"still busy after {timeout} s"

    def wait_exit(self, timeout: float) -> int:
        """Read until the process exits (at most ``timeout`` s); its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running {timeout} s later; last output:\n"
                                     f"{self.text[-2000:]}")
            self._read_once(0.02)
        self.read(0.05)  # what it wrote just before leaving
        return self.proc.returncode


# -- the lab's main flow, shared by tests/tui/test_terminals.py and benchmarks/terminal_io.py --

LONG_RUN = {"batch_size": "1", "epochs": "200"}  # linreg-scratch then trains for about a minute
SETUP_SHOWN = b"Shapes ^o"  # a button only the Setup tab has
TRAIN_SHOWN = re.compile(rb"epoch \d+/200")  # the long run's status line, on the Train tab only


def open_lab(env: dict[str, str], size: tuple[int, int] = (80, 24)) -> PtyApp:
    """The lab opened at linreg-scratch, once its first screen is painted."""
    app = PtyApp("open", "linreg-scratch", env=env, size=size)
    app.wait_for(b" Setup/Train", 30, what="the first paint (the footer)")
    app.settle()
    return app


def start_long_run(app: PtyApp) -> None:
    """Set batch_size and epochs by keyboard (Tab from the catalog to the fields; a focused
    field's text is selected, so typing replaces it), then ctrl+r; returns once it trains."""
    # catalog → tabs → form scroll → preset → device → seed → lr → batch_size → epochs
    app.type(*["tab"] * 7, *LONG_RUN["batch_size"], "tab", *LONG_RUN["epochs"])
    app.press("ctrl+r")
    app.wait_for(TRAIN_SHOWN, 30, what="the long run's status line")


def stop_run(app: PtyApp) -> None:
    """ctrl+x, and wait for the run to say it stopped and the screen to settle: quiet for longer
    than the plot may wait before drawing the last data (a rebuild at most every DATA_REDRAW s,
    looked for every RESIZE_CHECK s)."""
    from tui.widgets.plot import DATA_REDRAW, RESIZE_CHECK

    mark = len(app.output)
    app.press("ctrl+x")
    app.wait_for(b"stopped", 10, start=mark, what="the run to stop")
    app.settle(DATA_REDRAW + RESIZE_CHECK + 0.25, most=5.0)


def tab_switch_latencies(app: PtyApp, presses: int) -> list[float]:
    """Press ctrl+t ``presses`` times, from the Train tab of a running long run: seconds from
    writing each key to the terminal receiving the other tab's text."""
    latencies = []
    for i in range(presses):
        mark = len(app.output)
        pressed = app.press("ctrl+t")
        arrived = app.wait_for(SETUP_SHOWN if i % 2 == 0 else TRAIN_SHOWN, 5, start=mark)
        latencies.append(arrived - pressed)
        app.read(random.uniform(0.05, 0.2))  # not in step with the plot's timer
    return latencies
