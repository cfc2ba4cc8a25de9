"""``photosort local sort``: a whole library through the embedded stack, streaming, on every core, resumable.

- :mod:`.workers`: worker processes, each with its own embedded stack (the real template, ASL and handlers).
- :mod:`.state`: the SQLite state in ``OUT/.photosort/state.sqlite`` and the journalled placement of files.
- :mod:`.run`: the job: hash, skip what is known, route to a worker through a bounded window, place, record.
"""
