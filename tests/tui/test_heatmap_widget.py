"""The heatmap widget driven like a learner drives it: browsing keys, the cursor, the mouse, live
updates, and the full-size view of a matrix too large for its pane."""

from __future__ import annotations

import math

from textual.app import App, ComposeResult

from lab.events import EpochEnd, Heatmap
from lab.heatmaps import number
from tui.widgets.heatmap import EMPTY, HeatmapView

TOKENS = ["i'm", "home", ".", "<eos>"]
KINDS = ["encoder self-attention", "decoder self-attention", "encoder-decoder attention"]
SIZE = (80, 24)


def weights(seed: int, n: int = 4) -> list[list[float]]:
    """Rows that sum to 1, different for every seed and row."""
    rows = []
    for i in range(n):
        scores = [math.exp(math.sin(seed * 7.1 + i * 3.3 + j * 1.7) * 2) for j in range(n)]
        rows.append([s / sum(scores) for s in scores])
    return rows


def attention_maps(epoch: int = 1) -> list[Heatmap]:
    return [Heatmap(kind, f"layer {layer}, head {head}", weights(10 * k + 3 * layer + head + epoch),
                    TOKENS, TOKENS, epoch=epoch)
            for k, kind in enumerate(KINDS) for layer in (1, 2) for head in (1, 2)]


class Host(App):
    CSS = "HeatmapView { width: 50; height: 15; }"  # the pane it gets at 80×24

    def compose(self) -> ComposeResult:
        yield HeatmapView()


def lines(view: HeatmapView) -> list[str]:
    return [view.render_line(y).text for y in range(view.size.height)]


async def test_browsing_keys_change_the_title_shown() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HeatmapView)
        assert lines(view)[0].startswith(EMPTY[:20])
        view.add(EpochEnd(1, 2, {"loss": 1.0}, 10.0, 1.0))  # not a heatmap: ignored
        for heatmap in attention_maps():
            view.add(heatmap)
        view.focus()
        await pilot.pause()
        assert lines(view)[0].startswith("encoder self-attention · layer 1, head 1")
        assert "[ ] 1/4" in view.status and "{ } group 1/3" in view.status
        await pilot.press("]")
        assert (view.group, view.title) == (KINDS[0], "layer 1, head 2")
        assert "layer 1, head 2" in lines(view)[0] and "[ ] 2/4" in view.status
        await pilot.press("[", "[")  # back past the first: the last
        assert view.title == "layer 2, head 2"
        await pilot.press("}")  # another kind, the same layer and head
        assert (view.group, view.title) == (KINDS[1], "layer 2, head 2")
        assert lines(view)[0].startswith("decoder self-attention · layer 2, head 2")
        await pilot.press("{", "{")
        assert view.group == KINDS[2]


async def test_the_cursor_shows_the_value_under_it() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HeatmapView)
        maps = attention_maps()
        for heatmap in maps:
            view.add(heatmap)
        view.focus()
        await pilot.pause()
        assert view.cursor is None and view.status.startswith("arrows")
        await pilot.press("down")  # the first press shows it, top left
        matrix = maps[0].matrix
        assert view.status.startswith(f"i'm → i'm: {number(matrix[0][0])}")
        await pilot.press("down", "right", "right")
        assert view.cursor == (1, 2)
        assert view.status.startswith(f"home → .: {number(matrix[1][2])}")
        await pilot.press("right", "right", "right")  # stops at the edge
        assert view.status.startswith(f"home → <eos>: {number(matrix[1][3])}")
        await pilot.press("]")  # another head: the same cell, its value
        assert view.status.startswith(f"home → <eos>: {number(maps[1].matrix[1][3])}")
        await pilot.press("escape")
        assert view.cursor is None


async def test_the_mouse_moves_the_cursor() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HeatmapView)
        heatmap = attention_maps()[0]
        view.add(heatmap)
        await pilot.pause()
        layout = view.layout()
        assert layout is not None
        k, w = layout.plan.zoom, layout.cell_width
        await pilot.hover(HeatmapView, offset=(layout.x0 + 3 * w, 1 + 2 * k))
        assert view.cursor == (2, 3)
        assert view.status.startswith(f". → <eos>: {number(heatmap.matrix[2][3])}")


async def test_a_new_epoch_redraws_the_map_shown() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HeatmapView)
        for heatmap in attention_maps(epoch=1):
            view.add(heatmap)
        await pilot.pause()
        before = lines(view)
        assert "epoch 1" in before[0]
        for heatmap in attention_maps(epoch=2):
            view.add(heatmap)
        await pilot.pause()
        after = lines(view)
        assert "epoch 2" in after[0] and after[1:-1] != before[1:-1]
        assert len(view.data) == 12  # replaced, not added
        view.reset()
        await pilot.pause()
        assert view.current is None and lines(view)[0].startswith(EMPTY[:20])


async def test_a_large_matrix_is_averaged_to_fit_and_z_shows_it_full_size() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HeatmapView)
        n, d = 60, 32
        matrix = [[math.sin(i / 10000 ** (j / d)) if j % 2 == 0
                   else math.cos(i / 10000 ** ((j - 1) / d)) for j in range(d)] for i in range(n)]
        view.add(Heatmap("positional encoding", "sin/cos", matrix, [str(i) for i in range(n)],
                         [str(j) for j in range(d)], "position", "dimension"))
        view.focus()
        await pilot.pause()
        fit = view.layout()
        assert fit is not None and fit.resampled and "z full size" in view.status
        shown = lines(view)
        assert len(shown) == 15 and all(len(line) == 50 for line in shown)
        await pilot.press("z")
        full = view.layout()
        assert full is not None and not full.resampled and "z fit" in view.status
        await pilot.press("down", *["down"] * 50)  # down the rows: the view scrolls along
        assert view.cursor == (50, 0) and view.top > 0
        assert view.status.startswith(f"50 → 0: {number(matrix[50][0])}")
        assert any(line.lstrip().startswith("50 ") for line in lines(view)[1:-3])
        await pilot.press("z")
        assert view.layout() is fit and view.cursor == fit.cell_of(50, 0)
