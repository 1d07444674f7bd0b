"""Key bindings as data: the app, the playground and the dialogs take theirs from here, and the help
screen (`?`) is built from the same lists, so it can never disagree with what the keys do.

Focus rules: single-letter keys (q, p, r, digits) are not priority bindings, so typing them into the
seed box types the letter. Ctrl+C and Ctrl+Q are priority bindings: they quit from anywhere,
dialogs included. `description` is the footer's word; `tooltip` is the help screen's sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

if TYPE_CHECKING:
    from textual.app import App


@dataclass(frozen=True)
class Pane:
    keys: tuple[str, ...]  # F1 and 1: a digit is typed into a text box, a function key never is
    word: str
    tooltip: str


# The app's three panes, in tab order: their keys, their show_tab bindings and PANE_KEYS come from here.
PANES: dict[str, Pane] = {
    "train": Pane(("f1", "1"), "Train", "Show the training panel and loss plot"),
    "playground": Pane(("f2", "2"), "Playground", "Show the playground"),
    "samples": Pane(("f3", "3"), "Samples", "Show the samples from each evaluation"),
}
PANE_KEYS = {key: name for name, pane in PANES.items() for key in pane.keys}  # "2" -> "playground"

APP_BINDINGS: list[Binding] = (
    [
        Binding("q", "quit", "Quit", tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)"),
        Binding(
            "ctrl+c",
            "quit",
            "Quit",
            show=False,
            priority=True,
            tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            show=False,
            priority=True,
            tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)",
        ),
        Binding("p", "pause", "Pause", tooltip="Pause or resume training"),
        Binding("p", "resume", "Resume", tooltip="Pause or resume training"),
        Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint of the training run now"),
        Binding(
            "ctrl+o", "open_run", "Open", tooltip="Open a saved run in the playground (and resume training from it)"
        ),
        Binding(
            "ctrl+n", "new_run", "New run", tooltip="A new run: corpus, model, training settings, budget and device"
        ),
        Binding(
            "r", "restart", "Restart", tooltip="Restart training after its process died, or train on from an opened run"
        ),
        Binding(
            "t", "train_more", "Train more", tooltip="Continue a finished run for another budget (minutes or steps)"
        ),
        # Not in the footer (it is full at 80 columns): in `?` and the command palette.
        Binding(
            "b",
            "change_budget",
            "Budget",
            show=False,
            tooltip="While training: change how long the run trains (minutes or steps from its start)",
        ),
        *(
            Binding(",".join(pane.keys), f"show_tab('{name}')", pane.word, show=False, tooltip=pane.tooltip)
            for name, pane in PANES.items()
        ),
        Binding("escape", "stop_generation", "Stop", tooltip="Stop generating"),
        Binding(
            "escape", "leave_input", "Leave box", tooltip="Leave the text box, so that letter keys are commands again"
        ),
        Binding("question_mark", "help", "Keys", tooltip="Show every key (this screen)"),
    ]
    + [  # comparing runs (tui_gen/app/compare.py): not in the footer either, which is full at 80 columns
        Binding(
            "c",
            "compare",
            "Compare",
            show=False,
            tooltip="Compare runs: list the runs in the models folder, overlay some on the plot",
        ),
        Binding(
            "x",
            "plot_axis",
            "X axis",
            show=False,
            tooltip="Loss plot: x axis by step, characters seen or training time",
        ),
        Binding(
            "s",
            "plot_smoothing",
            "Smoothing",
            show=False,
            tooltip="Loss plot: train curve smoothing (EMA 0.9, 0.97, 0.99, raw, 0.6)",
        ),
        Binding("l", "plot_log", "Log scale", show=False, tooltip="Loss plot: log scale on or off"),
        Binding(
            "g",
            "plot_gradient",
            "Gradient",
            show=False,
            tooltip="Plot the gradient's norm before clipping, and the clipping threshold, instead of the loss",
        ),
        Binding(
            "v",
            "plot_overlay_train",
            "Train curves",
            show=False,
            tooltip="Loss plot: the compared runs' train curves, or validation only",
        ),
    ]
    + [  # the playground as a lens (tui_gen/app/lens.py); their screens' keys are in their own footers
        Binding(
            "w",
            "sweep",
            "Sweep",
            show=False,
            tooltip="Sweep: samples from the seed side by side, one per temperature or N alike",
        ),
        Binding(
            "n",
            "neurons",
            "Neurons",
            show=False,
            tooltip="Neuron explorer: units ranked by what they track, the text coloured by one",
        ),
    ]
)

# Text you can take out: the same two keys for the playground's output, the highlighted sample and the
# sweep (tui_gen/app/takeout.py). Control keys, so that they work from a text box too: ctrl+c quits.
COPY_KEY, SAVE_KEY = "ctrl+y", "ctrl+f"
TAKEOUT_BINDINGS: list[Binding] = [
    Binding(
        COPY_KEY,
        "copy_text",
        "Copy",
        show=False,
        tooltip="Copy the output, highlighted sample or sweep (or the mouse's selection) to the clipboard",
    ),
    Binding(
        SAVE_KEY, "save_text", "Save text", show=False, tooltip="Save it to a new file in the run's samples/ folder"
    ),
]
OSC52_HELP = ("", "The copy goes as OSC 52: a terminal without it (macOS Terminal) receives nothing")

# One line each: the help screen is full at 120x60 (its dialog is 98% tall for these rows). The
# cursor's keys (← → home end, a click) are in the README; digits are the pane keys everywhere else.
PICK_HELP = "Output or next-char focused: branch on candidate 1-5 there (F1-F3: panes)"

PLAYGROUND_BINDINGS: list[Binding] = [
    Binding("enter", "generate", "Generate", tooltip="Generate from the seed (Enter in any playground box)"),
    Binding(
        "ctrl+up", "temperature(1)", "Hotter", show=False, tooltip="Raise the temperature by 0.05, even while typing"
    ),
    Binding(
        "ctrl+down", "temperature(-1)", "Colder", show=False, tooltip="Lower the temperature by 0.05, even while typing"
    ),
    # priority: the text boxes' own ctrl+e (end of line) would take it first
    Binding(
        "ctrl+e",
        "toggle_score",
        "Score",
        show=False,
        priority=True,
        tooltip="Score mode: colour any text by the model's surprise; again: back to writing",
    ),
    *(Binding(str(k), f"pick({k - 1})", f"Pick {k}", show=False, tooltip=PICK_HELP) for k in range(1, 6)),
    Binding("left_square_bracket", "branch(-1)", "Prev branch", tooltip="The branch before / after (branch 2 of 3)"),
    Binding("right_square_bracket", "branch(1)", "Next branch", tooltip="The branch before / after (branch 2 of 3)"),
    *TAKEOUT_BINDINGS,
]

# The score mode's text box: escape leaves it for the coloured view (the app's "leave the text box").
SCORE_BOX_BINDINGS: list[Binding] = [
    Binding(
        "escape",
        "leave_box",
        "Leave box",
        show=False,
        tooltip="Leave the text box, so that letter keys are commands again",
    ),
]

SLIDER_HELP: list[tuple[str, str]] = [
    ("← →", "Temperature down / up by 0.05 (when the slider has focus)"),
    ("shift+← → or pgdn pgup", "Temperature down / up by 0.25"),
    ("home end", "Coldest / hottest"),
    ("mouse", "Click or drag the slider; the wheel moves it by 0.05"),
]

# The app's own commands in the command palette (ctrl+p), beside Textual's (theme, quit, keys): each a
# title and the action it runs. What one does is its binding's tooltip (palette_commands), written
# once; PALETTE_ONLY says it for the few actions no key runs.
PALETTE: list[tuple[str, str]] = [
    ("New run", "new_run"),
    ("Open a run", "open_run"),
    ("Save a checkpoint", "save"),
    ("Pause or resume training", "toggle_pause"),
    ("Restart training", "restart"),
    ("Train more", "train_more"),
    ("Change the budget", "change_budget"),
    ("Show the training panel", "show_tab('train')"),
    ("Show the playground", "show_tab('playground')"),
    ("Score text", "toggle_score"),
    ("Show the samples", "show_tab('samples')"),
    ("Show every key", "help"),
    ("Compare runs", "compare"),
    ("Clear the compared runs", "clear_compare"),
    ("Loss plot: next x axis", "plot_axis"),
    ("Loss plot: smoothing", "plot_smoothing"),
    ("Loss plot: log scale", "plot_log"),
    ("Loss plot: overlaid train curves", "plot_overlay_train"),
    ("Sweep temperatures", "sweep"),
    ("Neuron explorer", "neurons"),
    ("Gradient reach", "gradient_reach"),
]
PALETTE_ONLY: dict[str, str] = {
    "toggle_pause": "Pause the training run, or resume it when paused",
    "clear_compare": "Take the overlaid runs off the loss plot",
    "gradient_reach": "How far back the gradient reaches (vanishing gradients), beside training's window",
}


def palette_commands() -> list[tuple[str, str, str]]:
    """(title, what it does, action) for each palette command: the help is the tooltip of the binding
    that runs the same action, so the palette and the help screen say the same thing."""
    tooltips = {b.action: b.tooltip for b in (*APP_BINDINGS, *PLAYGROUND_BINDINGS) if b.tooltip}
    return [(title, PALETTE_ONLY.get(action) or tooltips[action], action) for title, action in PALETTE]


DIALOG_HELP: list[tuple[str, str]] = [
    ("tab shift+tab", "Move between the fields and buttons"),
    ("enter", "Choose the highlighted button or run"),
    ("escape", "Close the dialog without doing anything"),
    ("w", "In the open dialog (ctrl+o): watch the highlighted run live while another process trains it"),
]

CONFIRM_BINDINGS: list[Binding] = [
    Binding("escape", "cancel", "Cancel", tooltip="Close the dialog without doing anything"),
    Binding("left", "app.focus_previous", show=False),
    Binding("right", "app.focus_next", show=False),
]

DIALOG_BINDINGS: list[Binding] = [
    Binding("escape", "cancel", "Close", tooltip="Close the dialog without doing anything"),
]

OPEN_RUN_BINDINGS: list[Binding] = DIALOG_BINDINGS + [
    Binding(
        "w",
        "watch",
        "Watch",
        tooltip="In the open dialog: watch the highlighted run live while another process trains it",
    ),
]

NEW_RUN_BINDINGS: list[Binding] = [
    Binding("ctrl+n", "start", "Start", tooltip="Start the new run (so does enter in a text box)"),
    Binding("escape", "cancel", "Cancel", tooltip="Close the form without starting anything"),
]

NEW_RUN_HELP: list[tuple[str, str]] = [
    ("tab shift+tab", "Move between the fields"),
    ("a letter", "On a choice (cell, schedule, ...): the next option starting with it, so l picks lstm"),
    ("enter", "Open a choice's list; in a text box, start the run"),
]

# The runs screen's keys are in its own footer (the help screen is full at 120x60).
RUNS_BINDINGS: list[Binding] = [
    Binding("space", "mark", "Mark", tooltip="Mark or unmark the highlighted run for the plot"),
    Binding("enter", "show", "Show", tooltip="Overlay the marked runs (or the highlighted one) on the loss plot"),
    Binding("delete,backspace", "clear", "Clear", tooltip="Unmark every run (enter then takes them off the plot)"),
    Binding("r,f5", "refresh", "Refresh", tooltip="Read the models folder again"),
    Binding("escape", "cancel", "Close", tooltip="Back to the app, the plot as it was"),
]

# The sweep (w) and the neuron explorer (n): their keys are in their own footers, as the runs screen's.
SWEEP_BINDINGS: list[Binding] = [
    Binding("ctrl+r", "again", "Again", tooltip="Draw the samples again with the same settings"),
    Binding("escape", "cancel", "Close", tooltip="Back to the app"),
    *(Binding(b.key, b.action, b.description, tooltip=b.tooltip) for b in TAKEOUT_BINDINGS),  # in its footer
]

# The samples panel: up and down pick the sample that the copy and save keys take.
SAMPLES_BINDINGS: list[Binding] = [
    Binding(
        "up", "highlight(-1)", "Previous", show=False, tooltip="The sample above / below (the one copied or saved)"
    ),
    Binding("down", "highlight(1)", "Next", show=False, tooltip="The sample above / below (the one copied or saved)"),
    *TAKEOUT_BINDINGS,
]

NEURON_BINDINGS: list[Binding] = [
    Binding("ctrl+r", "explore", "Explore", tooltip="Read the text (and the regex) again: rank the units"),
    Binding("left_square_bracket", "unit(-1)", "Unit-", tooltip="The previous unit of this layer"),
    Binding("right_square_bracket", "unit(1)", "Unit+", tooltip="The next unit of this layer"),
    Binding("left_curly_bracket", "layer(-1)", "Layer-", tooltip="The same unit of the previous layer"),
    Binding("right_curly_bracket", "layer(1)", "Layer+", tooltip="The same unit of the next layer"),
    Binding("g", "gates", "Gates", tooltip="The gates (GRU z r, LSTM i f o) instead of the hidden units, and back"),
    Binding("escape", "cancel", "Close", tooltip="Back to the app"),
]

# The gradient reach screen (the palette's "Gradient reach"): its keys are in its own footer.
REACH_BINDINGS: list[Binding] = [
    Binding("space", "mark", "Overlay", tooltip="Overlay the highlighted run's reach, or take it off"),
    Binding("ctrl+r", "measure", "Measure", tooltip="Measure the current model again (training's newest weights)"),
    Binding("escape", "cancel", "Close", tooltip="Back to the app"),
]

HELP_SCREEN_BINDINGS: list[Binding] = [
    Binding("escape,question_mark,q", "close", "Close", tooltip="Close this screen"),
]


def help_rows(app: App[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections of (keys, what they do) for the help screen. Bindings whose help sentence is the same
    (pause/resume, the three quit keys) are merged into one row."""

    def rows(bindings: list[Binding]) -> list[tuple[str, str]]:
        merged: dict[str, list[str]] = {}
        for b in bindings:
            text = b.tooltip or b.description
            keys = merged.setdefault(text, [])
            for key in b.key.split(","):
                shown = app.get_key_display(Binding(key.strip(), b.action))
                if shown not in keys:
                    keys.append(shown)
        return [(" ".join(keys), text) for text, keys in merged.items()]

    palette = [("^p", "The command palette: every command by name, and the theme")]
    return [
        ("Anywhere", rows(APP_BINDINGS) + palette),
        ("Playground", rows(PLAYGROUND_BINDINGS) + [OSC52_HELP]),
        ("Samples", rows(SAMPLES_BINDINGS[:2])),
        ("Temperature slider", SLIDER_HELP),
        ("Dialogs", DIALOG_HELP),
        ("New run (ctrl+n)", NEW_RUN_HELP + rows(NEW_RUN_BINDINGS)),
    ]
