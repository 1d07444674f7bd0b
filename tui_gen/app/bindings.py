"""Key bindings as data: the app, the playground and the dialogs take theirs from here, and the help
screen (`?`) is built from the same lists, so it can never disagree with what the keys do.

Focus rules: single-letter keys (q, p, r, digits) are not priority bindings, so typing them into the
seed box types the letter. Ctrl+C and Ctrl+Q are priority bindings: they quit from anywhere,
dialogs included. `description` is the footer's word; `tooltip` is the help screen's sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

if TYPE_CHECKING:
    from textual.app import App

APP_BINDINGS: list[Binding] = [
    Binding("q", "quit", "Quit", tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)"),
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True,
            tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)"),
    Binding("ctrl+q", "quit", "Quit", show=False, priority=True,
            tooltip="Quit (stops training cleanly; asks first if there is unsaved progress)"),
    Binding("p", "pause", "Pause", tooltip="Pause or resume training"),
    Binding("p", "resume", "Resume", tooltip="Pause or resume training"),
    Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint of the training run now"),
    Binding("ctrl+o", "open_run", "Open", tooltip="Open a saved run in the playground (and resume training from it)"),
    Binding("ctrl+n", "new_run", "New run",
            tooltip="A new run: corpus, model, training settings, budget and device"),
    Binding("r", "restart", "Restart",
            tooltip="Restart training after its process died, or train on from an opened run"),
    Binding("t", "train_more", "Train more",
            tooltip="Continue a finished run for another budget (minutes or steps)"),
    # Not in the footer (it is full at 80 columns): in `?` and the command palette.
    Binding("b", "change_budget", "Budget", show=False,
            tooltip="While training: change how long the run trains (minutes or steps from its start)"),
    Binding("f1,1", "show_tab('train')", "Train", show=False, tooltip="Show the training panel and loss plot"),
    Binding("f2,2", "show_tab('playground')", "Playground", show=False, tooltip="Show the playground"),
    Binding("f3,3", "show_tab('samples')", "Samples", show=False, tooltip="Show the samples from each evaluation"),
    Binding("escape", "stop_generation", "Stop", tooltip="Stop generating"),
    Binding("escape", "leave_input", "Leave box", tooltip="Leave the text box, so that letter keys are commands again"),
    Binding("question_mark", "help", "Keys", tooltip="Show every key (this screen)"),
] + [  # comparing runs (tui_gen/app/compare.py): not in the footer either, which is full at 80 columns
    Binding("c", "compare", "Compare", show=False,
            tooltip="Compare runs: list the runs in the models folder, overlay some on the plot"),
    Binding("x", "plot_axis", "X axis", show=False,
            tooltip="Loss plot: x axis by step, characters seen or training time"),
    Binding("s", "plot_smoothing", "Smoothing", show=False,
            tooltip="Loss plot: train curve smoothing (EMA 0.9, 0.97, 0.99, raw, 0.6)"),
    Binding("l", "plot_log", "Log scale", show=False, tooltip="Loss plot: log scale on or off"),
    Binding("v", "plot_overlay_train", "Train curves", show=False,
            tooltip="Loss plot: the compared runs' train curves, or validation only"),
] + [  # the playground as a lens (tui_gen/app/lens.py); their screens' keys are in their own footers
    Binding("w", "sweep", "Sweep", show=False,
            tooltip="Sweep: samples from the seed side by side, one per temperature or N alike"),
    Binding("n", "neurons", "Neurons", show=False,
            tooltip="Neuron explorer: units ranked by what they track, the text coloured by one"),
]

# One line each: the help screen is full at 120x60 (its dialog is 98% tall for these rows). The
# cursor's keys (← → home end, a click) are in the README; digits are the pane keys everywhere else.
PICK_HELP = "Output or next-char focused: branch on candidate 1-5 there (F1-F3: panes)"

PLAYGROUND_BINDINGS: list[Binding] = [
    Binding("enter", "generate", "Generate", tooltip="Generate from the seed (Enter in any playground box)"),
    Binding("ctrl+up", "temperature(1)", "Hotter", show=False,
            tooltip="Raise the temperature by 0.05, even while typing"),
    Binding("ctrl+down", "temperature(-1)", "Colder", show=False,
            tooltip="Lower the temperature by 0.05, even while typing"),
    # priority: the text boxes' own ctrl+e (end of line) would take it first
    Binding("ctrl+e", "toggle_score", "Score", show=False, priority=True,
            tooltip="Score mode: colour any text by the model's surprise; again: back to writing"),
    *(Binding(str(k), f"pick({k - 1})", f"Pick {k}", show=False, tooltip=PICK_HELP) for k in range(1, 6)),
    Binding("left_square_bracket", "branch(-1)", "Prev branch", tooltip="The branch before / after (branch 2 of 3)"),
    Binding("right_square_bracket", "branch(1)", "Next branch", tooltip="The branch before / after (branch 2 of 3)"),
]

# The score mode's text box: escape leaves it for the coloured view (the app's "leave the text box").
SCORE_BOX_BINDINGS: list[Binding] = [
    Binding("escape", "leave_box", "Leave box", show=False,
            tooltip="Leave the text box, so that letter keys are commands again"),
]

SLIDER_HELP: list[tuple[str, str]] = [
    ("← →", "Temperature down / up by 0.05 (when the slider has focus)"),
    ("shift+← → or pgdn pgup", "Temperature down / up by 0.25"),
    ("home end", "Coldest / hottest"),
    ("mouse", "Click or drag the slider; the wheel moves it by 0.05"),
]

# The app's own commands in the command palette (ctrl+p), beside Textual's (theme, quit, keys):
# (title, what it does, the action it runs).
PALETTE_COMMANDS: list[tuple[str, str, str]] = [
    ("New run", "Choose the corpus, model, optimisation, budget and device, and start training", "new_run"),
    ("Open a run", "Load a saved run into the playground, and optionally train on from it", "open_run"),
    ("Save a checkpoint", "Save the training run now", "save"),
    ("Pause or resume training", "Pause the training run, or resume it when paused", "toggle_pause"),
    ("Restart training", "After the training process died, or from an opened run", "restart"),
    ("Train more", "Continue a finished run for another budget, from its last checkpoint", "train_more"),
    ("Change the budget", "While training: extend or shorten the run (minutes or steps from its start)",
     "change_budget"),
    ("Show the training panel", "The training panel and the loss plot", "show_tab('train')"),
    ("Show the playground", "Type a seed and let the model write", "show_tab('playground')"),
    ("Score text", "The playground's score mode: a text coloured by the model's surprise, with its bits/char",
     "toggle_score"),
    ("Show the samples", "The samples from each evaluation", "show_tab('samples')"),
    ("Show every key", "The help screen", "help"),
    ("Compare runs", "List every run under the models folder and overlay some on the loss plot", "compare"),
    ("Clear the compared runs", "Take the overlaid runs off the loss plot", "clear_compare"),
    ("Loss plot: next x axis", "Step, characters seen or training time", "plot_axis"),
    ("Loss plot: smoothing", "The train curves' EMA: 0.9, 0.97, 0.99, raw, 0.6", "plot_smoothing"),
    ("Loss plot: log scale", "A logarithmic bits/char axis, or a linear one", "plot_log"),
    ("Loss plot: overlaid train curves", "Show or hide the overlaid runs' train curves", "plot_overlay_train"),
    ("Sweep temperatures", "Samples from the playground's seed side by side: one per temperature, or N alike",
     "sweep"),
    ("Neuron explorer", "Which units track quotes, brackets, line position...: the text coloured by one",
     "neurons"),
]

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
    Binding("w", "watch", "Watch", tooltip="In the open dialog: watch the highlighted run live while another "
                                           "process trains it"),
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
]

NEURON_BINDINGS: list[Binding] = [
    Binding("ctrl+r", "explore", "Explore", tooltip="Read the text (and the regex) again: rank the units"),
    Binding("left_square_bracket", "unit(-1)", "Unit-", tooltip="The previous unit of this layer"),
    Binding("right_square_bracket", "unit(1)", "Unit+", tooltip="The next unit of this layer"),
    Binding("left_curly_bracket", "layer(-1)", "Layer-", tooltip="The same unit of the previous layer"),
    Binding("right_curly_bracket", "layer(1)", "Layer+", tooltip="The same unit of the next layer"),
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
        ("Playground", rows(PLAYGROUND_BINDINGS)),
        ("Temperature slider", SLIDER_HELP),
        ("Dialogs", DIALOG_HELP),
        ("New run (ctrl+n)", NEW_RUN_HELP + rows(NEW_RUN_BINDINGS)),
    ]
