"""The network and what it does with text: the recurrent model, sampling, sweeps, scoring,
evaluation and the neuron explorer's activations.

May import: tui_gen.core, tui_gen.data, torch. Nothing about run folders or processes."""
