"""The tests' shared helpers, one home for each (imported as `support.…`: tests/ is on sys.path
because tests/conftest.py is the root conftest, in pytest's default prepend import mode).

- data: the repository's paths, tiny corpora and tiny model configurations;
- pilot: driving the app under Textual's Pilot, and a fake training process;
- processes: running the CLI in a child process or in this one, mounting a small filesystem;
- fake_events: a synthesised training run's events, for feeding the app.

conftest.py files hold fixtures only, built from these.
"""
