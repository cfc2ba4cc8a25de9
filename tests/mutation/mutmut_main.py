"""``mutmut`` with one change: a string literal gets one mutant (``"XXtextXX"``), not three.

mutmut also makes a lower-case and an upper-case variant of every string. In this code almost every
string is an AWS parameter name, an error code compared exactly, or a message, so the case variants
add hundreds of mutants that tell nothing the ``XX`` variant does not, and they would triple the run time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import libcst as cst
from mutmut.mutation import mutators


def _one_string_mutant(node: cst.BaseString) -> Iterable[cst.BaseString]:
    for mutant in mutators.operator_string(node):
        yield mutant  # the first is the "XX" variant
        return


mutators.mutation_operators[:] = [
    (kind, _one_string_mutant if operator is mutators.operator_string else operator)
    for kind, operator in mutators.mutation_operators
]

if __name__ == "__main__":
    from mutmut.__main__ import cli

    sys.exit(cli())
