"""One form field for a Param: label, control, range, help and an inline error.

The field has no rules of its own: ``check`` asks ``Param.parse``, the rule the CLI and the saved
configs use too, and shows the rule it reports. A number field may hold a list, "0.1, 0.3, 0.9":
each value passes the same rule and the form runs them as a sweep (lab/sweep.py).
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from lab.spec import Param, ParamError, Value
from lab.sweep import listable, parse_values, split_values


def as_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FieldInput(Input):
    """An Input whose editing keys (backspace, end, arrows…) act in the order they were typed.
    Textual runs an Input's bindings only after the key bubbles up to the app, so characters
    typed meanwhile (while torch loads, say) went in first (Textual issue #6605); here its own
    bindings run at once, as its characters do."""

    async def _on_key(self, event: events.Key) -> None:
        own = [b for b in self._bindings.key_to_bindings.get(event.key, ()) if not b.priority]
        if own and not event.is_printable:
            event.stop()
            event.prevent_default()
            await self.run_action(own[0].action)
            return
        await super()._on_key(event)


class ParamField(Vertical):
    def __init__(self, param: Param, value: Value) -> None:
        super().__init__(classes="field", id=f"field-{param.name}")
        self.param = param
        self._initial = as_text(value)

    @property
    def choices(self) -> tuple[str, ...]:
        return self.param.choices or (("true", "false") if self.param.type is bool else ())

    def compose(self) -> ComposeResult:
        control_id = f"param-{self.param.name}"
        with Horizontal(classes="field-row"):
            yield Label(self.param.name, classes="field-name")
            if self.choices:
                yield Select([(c, c) for c in self.choices], value=self._initial,
                             allow_blank=False, compact=True, id=control_id)
            else:
                text = "text" if self.param.type is str else ""  # free text: a wider box
                yield FieldInput(self._initial, compact=True, select_on_focus=True,
                                 id=control_id, classes=text)
                yield Label(self.param.describe_range(), classes="field-range")
        yield Static(self.param.help, classes="field-help")
        # Not markup: the rule quotes what the user typed, and "[/]" typed must show as typed.
        yield Static("", classes="field-error", markup=False)

    @property
    def control(self) -> Input | Select[str]:
        control = self.query_one(f"#param-{self.param.name}")
        assert isinstance(control, Input | Select)
        return control

    @property
    def text(self) -> str:
        control = self.control
        if isinstance(control, Input):
            return control.value
        return "" if control.selection is None else str(control.selection)

    def set_text(self, text: str) -> None:
        self.control.value = text

    @property
    def values(self) -> list[str]:
        """The text split into its values: one, or several for a list ("0.1, 0.3")."""
        if listable(self.param) and isinstance(self.control, Input):
            return split_values(self.text)
        return [self.text]

    @property
    def is_list(self) -> bool:
        return len(self.values) > 1

    def check(self) -> str | None:
        """The rule the current text (each value of a list) breaks, or None when it is valid."""
        try:
            parse_values(self.param, self.values)
        except ParamError as err:
            return err.rule
        return None

    def show_error(self, rule: str | None) -> None:
        error = self.query_one(".field-error", Static)
        error.update(f"✗ {rule}" if rule else "")
        error.display = bool(rule)
        self.set_class(bool(rule), "-invalid")
        self.set_class(self.is_list, "-list")
        ranges = self.query(".field-range")
        if ranges:  # a list says it is one: each of its values is a run of the sweep
            hint = f"{len(self.values)} values: sweep" if self.is_list and not rule else ""
            ranges.first(Label).update(" · ".join(filter(None, (self.param.describe_range(),
                                                                 hint))))
