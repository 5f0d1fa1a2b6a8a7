"""The catalog: experiments grouped by chapter, chosen with the arrow keys and Enter."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from lab import catalog
from lab.spec import Experiment


def leaf_label(exp: Experiment) -> Text:
    return Text.assemble((f"{exp.lecture:02d} ", "dim"), (exp.id, "bold"), f" · {exp.title_en}")


class CatalogTree(Tree[Experiment]):
    """Chapters (both titles) with their experiments; Enter on a leaf posts ``Chosen``."""

    class Chosen(Message):
        def __init__(self, experiment: Experiment) -> None:
            super().__init__()
            self.experiment = experiment

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("experiments", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._leaves: dict[str, TreeNode[Experiment]] = {}
        for chapter, exps in catalog.by_chapter().items():
            label = Text.assemble((chapter.title_en, "bold"), " ", (chapter.title_zh, "italic"))
            branch = self.root.add(label, expand=True)
            for exp in exps:
                self._leaves[exp.id] = branch.add_leaf(leaf_label(exp), data=exp)

    def move_to(self, exp_id: str) -> None:
        """Put the cursor on an experiment's leaf."""
        node = self._leaves.get(exp_id)
        if node is not None:
            self.move_cursor(node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Experiment]) -> None:
        if event.node.data is not None:
            event.stop()
            self.post_message(self.Chosen(event.node.data))
