"""The app's training process: the spec the parent hands the child (spec), the parent's handle that
starts it, sends commands and reads events (parent), and what runs in the child (child).

May import: the layers below (core, data, model, runs, training). parent and spec import no torch at
module level; the child imports the trainer only once it runs."""
