"""The parameter form, generated from an experiment's schema: preset, device, seed, then one
field per Param. Every change is validated by the lab's own rules (``Param.parse`` and
``Experiment.resolve``); the form reports whether it is valid so the app can gate Run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select

from lab.spec import SEED, Experiment, ParamError, Params
from tui.widgets.field import ParamField, as_text


class ParamForm(Vertical):
    class Validity(Message):
        def __init__(self, form: ParamForm, valid: bool) -> None:
            super().__init__()
            self.form, self.valid = form, valid

    def __init__(self, experiment: Experiment, *, devices: list[tuple[str, str]],
                 device: str = "cpu", preset: str | None = None) -> None:
        super().__init__(id="form")
        self.experiment = experiment
        self._devices, self._device = devices, device
        names = list(experiment.presets)
        self._preset = preset if preset in names else names[0]
        self.valid = True

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label("preset", classes="field-name")
            yield Select([(name, name) for name in self.experiment.presets], value=self._preset,
                         allow_blank=False, compact=True, id="preset")
        with Horizontal(classes="field-row"):
            yield Label("device", classes="field-name")
            yield Select(self._device_options(), value=self._device, allow_blank=False,
                         compact=True, id="device")
        yield ParamField(SEED, SEED.default)
        defaults = self.experiment.defaults(self._preset)
        for param in self.experiment.params:
            yield ParamField(param, defaults[param.name])

    def on_mount(self) -> None:
        self.revalidate(force=True)

    def _device_options(self) -> list[tuple[str, str]]:
        options = [(label, name) for name, label in self._devices]
        if self._device not in {name for name, _ in self._devices}:
            options.insert(0, (self._device, self._device))
        return options

    # -- reading ------------------------------------------------------------------------------

    @property
    def preset(self) -> str:
        return str(self.query_one("#preset", Select).value)

    @property
    def device(self) -> str:
        return str(self.query_one("#device", Select).value)

    @property
    def fields(self) -> list[ParamField]:
        return list(self.query(ParamField))

    def field(self, name: str) -> ParamField:
        return self.query_one(f"#field-{name}", ParamField)

    def overrides(self) -> dict[str, str]:
        """The experiment's parameters as the text the user sees (the seed excluded)."""
        return {f.param.name: f.text for f in self.fields if f.param is not SEED}

    def resolve(self) -> tuple[Params, int]:
        """Validated params and seed; raises ParamError like the CLI's ``--set`` would."""
        seed = SEED.parse(self.field("seed").text)
        return self.experiment.resolve(self.preset, self.overrides()), int(seed)

    # -- changing -----------------------------------------------------------------------------

    def fill(self, preset: str) -> None:
        """Refill the parameters with a preset's values (user edits are replaced)."""
        for name, value in self.experiment.defaults(preset).items():
            self.field(name).set_text(as_text(value))
        self.revalidate()

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        current = self.device
        self._devices, self._device = devices, current
        self.query_one("#device", Select).set_options(self._device_options())
        self.query_one("#device", Select).value = current

    def revalidate(self, force: bool = False) -> bool:
        errors: dict[str, str] = {}
        for f in self.fields:
            rule = f.check()
            if rule:
                errors[f.param.name] = rule
        if not errors:
            try:  # the whole configuration, exactly as a run will resolve it
                self.resolve()
            except ParamError as err:
                errors[err.name] = err.rule
        for f in self.fields:
            f.show_error(errors.get(f.param.name))
        valid = not errors
        if force or valid != self.valid:
            self.valid = valid
            self.post_message(self.Validity(self, valid))
        return valid

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.revalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "preset" and event.value != self._preset:
            self._preset = str(event.value)
            self.fill(self._preset)
        elif event.select.id != "device":
            self.revalidate()
