"""The parameter form, generated from an experiment's schema: preset, device, seed, then one
field per Param. Every change is validated by the lab's own rules (``Param.parse`` and
``Experiment.resolve``); the form reports whether it is valid so the app can gate Run.

Number fields (the seed too) may hold lists, "0.1, 0.3, 0.9": the form then holds a sweep
(``is_sweep``), one run per combination of the lists (``sweep_points``), checked as a whole
before any run starts, the rules of ``d2l-lab sweep --grid``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select

from lab import dist
from lab.spec import SEED, Experiment, ParamError, Params
from lab.sweep import SweepPoint, expand
from tui.widgets.field import ParamField, as_text
from tui.widgets.schedule import SchedulePreview


def data_parallel(exp: Experiment) -> bool:
    """Whether ``exp`` can train on several processes (lab/dist.py)."""
    return exp.entry in dist.DATA_PARALLEL


def parallel_options(names: list[str]) -> list[tuple[str, str]]:
    """Device choices that train one run on several processes: their value names one device per
    process, as ``d2l-lab run --devices`` does."""
    options = [("2 cpu processes · data-parallel (gloo)", "cpu,cpu")]
    gpus = [name for name in names if name.startswith("cuda:")]
    if len(gpus) > 1:
        options.append((f"{len(gpus)} GPUs · data-parallel (NCCL)", ",".join(gpus)))
    return options


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
        self.runs = 1  # how many runs Run would start: 1, a sweep's size, or 0 while invalid

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
        if "lr_schedule" in defaults:
            yield SchedulePreview(id="schedule")

    def on_mount(self) -> None:
        self.revalidate(force=True)

    def _device_options(self) -> list[tuple[str, str]]:
        options = [(label, name) for name, label in self._devices]
        if data_parallel(self.experiment):
            options += parallel_options([name for name, _ in self._devices])
        if self._device not in {name for _, name in options}:
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
        """Validated params and seed of one run; raises ParamError like the CLI's ``--set``
        would, and for a field holding a list (see ``sweep_points``)."""
        for f in self.fields:
            if f.is_list:
                raise ParamError(f.param.name, f"holds {len(f.values)} values: run them as a "
                                 "sweep")
        seed = SEED.parse(self.field("seed").text)
        return self.experiment.resolve(self.preset, self.overrides()), int(seed)

    def grid(self) -> dict[str, list[str]]:
        """The fields holding lists, by name (the seed's too), each as its values' text."""
        return {f.param.name: f.values for f in self.fields if f.is_list}

    @property
    def is_sweep(self) -> bool:
        """Some field holds a list: Run starts a sweep (``sweep_points``), not one run."""
        return any(f.is_list for f in self.fields)

    def sweep_points(self) -> list[SweepPoint]:
        """Every run of the form's grid, in order (the first list varies slowest), each with
        its validated params, seed and a label like "lr=0.3 batch_size=128"; a form without
        lists gives one point. Raises ParamError naming the field and the value."""
        grid = self.grid()
        fixed = {name: text for name, text in self.overrides().items() if name not in grid}
        return expand(self.experiment, self.preset, fixed, grid, self.field("seed").text)

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
        runs = 0
        params = None
        if not errors:
            try:  # the whole configuration, exactly as the run (or each run) will resolve it
                if self.is_sweep:
                    runs = len(self.sweep_points())
                else:
                    params, _ = self.resolve()
                    runs = 1
            except ParamError as err:
                errors[err.name] = err.rule
        for preview in self.query(SchedulePreview):
            preview.show(params)
        for f in self.fields:
            f.show_error(errors.get(f.param.name))
        valid = not errors
        # Also when a sweep grows or shrinks, so the app can say how many runs Run starts.
        if force or valid != self.valid or runs != self.runs:
            self.valid, self.runs = valid, runs
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
